"""Author–year text for the chapters' footnote citations.

sphinxcontrib-bibtex offers two kinds of citation: ``{cite}``, resolved against one bibliography
for the whole book, and ``{footcite}``, collected at the end of the page that cites it. The
chapters use ``{footcite}``, so each ends with its own reference list (readers of one chapter,
and its Colab copy, see the works it cites), but the only footnote style the package ships shows
a number, while ``{cite}`` on the other pages shows author and year. This extension registers a
footnote style that prints ``(He et al., 2016)`` for ``{footcite:p}`` and ``He et al. (2016)``
for ``{footcite:t}``, each linked to its entry in the chapter's list, so the whole book cites one
way. Two works with the same authors and year get letters, "(He et al., 2016a)", as in the Colab
copies (the same rule, ``dlbook.colab.year_suffixes``). Select it with
``bibtex_foot_reference_style = "author_year_foot"``, and the matching style for ``{cite}``
(round brackets, the same letters) with ``bibtex_reference_style = "author_year_round"``.
"""

from dataclasses import dataclass, field
from typing import List

import docutils.nodes

from pybtex.style.template import join, node
from sphinxcontrib.bibtex.plugin import register_plugin
from sphinxcontrib.bibtex.richtext import BaseReferenceText
from sphinxcontrib.bibtex.style.referencing import (
    BaseReferenceStyle,
    BracketStyle,
    GroupReferenceStyle,
    PersonStyle,
)
from sphinxcontrib.bibtex.style.template import FootReferenceInfo, reference, year


_SUFFIX: dict = {}
"""key -> "a", "b", ... for works sharing author label and year (filled when the build starts)."""


@node
def year_label(children, data):
    """The year of the cited work, with a letter when another work has the same authors and year."""
    assert not children
    return join[year, _SUFFIX.get(data["entry"].key, "")].format_data(data)


def _read_suffixes(app):
    from pathlib import Path

    from pybtex.database import parse_file

    from dlbook.colab import year_suffixes

    entries = {}
    for name in app.config.bibtex_bibfiles:
        entries.update(parse_file(str(Path(app.srcdir) / name)).entries)
    _SUFFIX.clear()
    _SUFFIX.update(year_suffixes(entries))


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")", sep="; ")


class FootLinkText(BaseReferenceText[FootReferenceInfo]):
    """Rich text rendered as a link to the footnote that holds the cited entry."""

    def render(self, backend) -> List[docutils.nodes.Element]:
        info = self.info[0]
        link = docutils.nodes.reference("", "", *super().render(backend), refid=info.refname,
                                        internal=True, classes=["footcite"])
        # Count as a reference to an auto-numbered footnote, so Sphinx does not report the entry
        # as unreferenced; docutils leaves the link's text alone because it already has a refid.
        link["auto"] = 1
        info.document.autofootnote_refs.append(link)
        return [link]


@node
def foot_link(children, data):
    """Template node: its children, linked to the citation's footnote."""
    info = data["reference_info"]
    assert isinstance(info, FootReferenceInfo)
    return FootLinkText(info, *[child.format_data(data) for child in children])


@dataclass
class _Parenthetical(BaseReferenceStyle):
    bracket: BracketStyle = field(default_factory=_round)
    person: PersonStyle = field(default_factory=PersonStyle)
    link: object = field(default_factory=lambda: foot_link)  # template node that makes the link

    def role_names(self):
        return ["p", "ps"]

    def outer(self, role_name, children):
        return self.bracket.outer(children, brackets=True, capfirst=False)

    def inner(self, role_name):
        return self.link[join(sep=", ")[self.person.author_or_editor_or_title(full=role_name == "ps"),
                                         year_label]]


@dataclass
class _Textual(BaseReferenceStyle):
    bracket: BracketStyle = field(default_factory=BracketStyle)
    person: PersonStyle = field(default_factory=PersonStyle)
    link: object = field(default_factory=lambda: foot_link)

    def role_names(self):
        return [f"{cap}t{full}" for cap in ("", "c") for full in ("", "s")]

    def outer(self, role_name, children):
        return self.bracket.outer(children, brackets=False, capfirst="c" in role_name)

    def inner(self, role_name):
        return self.link[join(sep=" ")[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join["(", year_label, ")"],
        ]]


@dataclass
class AuthorYearFootStyle(GroupReferenceStyle):
    """``{footcite:p}`` → "(Author, Year)", ``{footcite:t}`` → "Author (Year)", both linked."""

    #: How author names are shown ("He et al."); the name templates read it from this style.
    person: PersonStyle = field(default_factory=PersonStyle)

    def link(self):
        """The template node that turns the citation text into a link."""
        return foot_link

    def __post_init__(self):
        self.styles.extend([_Parenthetical(person=self.person, link=self.link()),
                            _Textual(person=self.person, link=self.link())])
        super().__post_init__()


@dataclass
class AuthorYearRoundStyle(AuthorYearFootStyle):
    """``{cite}`` on the prose pages: the same text, linked to the entry on the bibliography page."""

    def link(self):
        return reference


def setup(app):
    app.connect("builder-inited", _read_suffixes)
    register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_foot",
                    AuthorYearFootStyle)
    register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_round",
                    AuthorYearRoundStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
