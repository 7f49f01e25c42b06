"""What the book's PDF (``make pdf``: Sphinx's LaTeX builder, XeLaTeX) needs beyond the site.

Two things the site gets right on its own come out wrong in LaTeX, and this extension fixes them
for the LaTeX builder only (the HTML pages are untouched):

- **Each chapter's reference list.** The chapters cite with ``{footcite}`` and list the works at
  their end with ``{footbibliography}`` (see ``author_year_footcite.py``, whose citations are links
  to the entries rather than footnote marks). Sphinx's LaTeX writer turns footnotes into
  ``\\footnote`` at their first footnote mark; with no mark, the entries vanish, the References
  section stays empty and every citation link points nowhere. Here the entries become a list
  under the chapter's References heading, each entry the target of its citations.
- **Chapter numbers.** On the site only the parts marked ``numbered`` in ``_toc.yml`` number
  their chapters, so "Convolution and pooling" is chapter 1 and its figures are Fig. 1.1, 1.2,
  ... LaTeX numbers every chapter, which would make it chapter 3 (after "How to run" and
  "Notation") and every figure number disagree with the site. The preamble gets the ``numbered``
  flag of each part from the table of contents, and the chapters of the other parts are set
  unnumbered (LaTeX then does not count them either).

Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

FOOTCITE_PREFIX = "footcite-"
"""sphinxcontrib-bibtex's ids of the entries that ``{footbibliography}`` lists."""


class ChapterReferenceList(SphinxPostTransform):
    """The entries of each ``{footbibliography}`` as a list in place, each one a link target."""

    # Before Sphinx's LaTeXFootnoteTransform (600), which would drop footnotes without a mark.
    default_priority = 590
    formats = ("latex",)

    def run(self, **kwargs) -> None:
        groups: dict[int, list[nodes.footnote]] = {}
        for footnote in self.document.findall(nodes.footnote):
            if any(i.startswith(FOOTCITE_PREFIX) for i in footnote["ids"]):
                groups.setdefault(id(footnote.parent), []).append(footnote)
        for entries in groups.values():
            listing = nodes.bullet_list(classes=["chapter-references"])
            for footnote in entries:
                item = nodes.list_item()
                # The target first, then the entry's text (its number label is dropped: the
                # citations are author-year).
                item += nodes.target("", "", ids=list(footnote["ids"]))
                item += [child.deepcopy() for child in footnote.children
                         if not isinstance(child, nodes.label)]
                listing += item
            entries[0].replace_self(listing)
            for footnote in entries[1:]:
                footnote.parent.remove(footnote)


def part_flags(site_map) -> list[bool]:
    """Whether each part (top-level toctree of a ``jb-book`` table of contents) is numbered.

    >>> from types import SimpleNamespace as NS
    >>> part_flags(NS(root=NS(subtrees=[NS(numbered=False), NS(numbered=True), NS(numbered=2)])))
    [False, True, True]
    """
    return [bool(tree.numbered) for tree in site_map.root.subtrees]


def numbering_preamble(flags: list[bool]) -> str:
    r"""LaTeX that numbers the chapters of the numbered parts only (``flags[i]``: part ``i + 1``).

    Before each ``\part``, ``secnumdepth`` is set for the part that follows: the class's value in
    a numbered part, -1 in the others (their chapters are neither numbered nor counted).

    >>> print(next(line for line in numbering_preamble([False, True]).splitlines() if "ifcase" in line))
    \newcommand{\dlbookpartnumbering}[1]{\ifcase#1\relax\or\dlbookunnumbered\or\dlbooknumbered\else\dlbooknumbered\fi}
    """
    cases = "".join(r"\or\dlbooknumbered" if flag else r"\or\dlbookunnumbered" for flag in flags)
    return "\n".join([
        "% Chapter numbers as on the site (book/_ext/latex_book.py, from the numbered flags of",
        "% the parts in _toc.yml): only the chapters of numbered parts are numbered and counted.",
        r"\makeatletter",
        r"\AtBeginDocument{\edef\dlbook@secnumdepth{\the\value{secnumdepth}}}",
        r"\newcommand{\dlbooknumbered}{\setcounter{secnumdepth}{\dlbook@secnumdepth}}",
        r"\newcommand{\dlbookunnumbered}{\setcounter{secnumdepth}{-1}}",
        r"\newcommand{\dlbookpartnumbering}[1]{\ifcase#1\relax" + cases
        + r"\else\dlbooknumbered\fi}",
        r"\let\dlbook@part\part",
        r"\renewcommand{\part}{\dlbookpartnumbering{\numexpr\value{part}+1\relax}\dlbook@part}",
        r"\makeatother",
        "",
    ])


def _add_numbering(app, config) -> None:
    site_map = getattr(config, "external_site_map", None)
    if site_map is None or site_map.file_format != "jb-book":
        return
    elements = config.latex_elements
    elements["preamble"] = elements.get("preamble", "") + "\n" + numbering_preamble(
        part_flags(site_map))


def setup(app):
    app.add_post_transform(ChapterReferenceList)
    # After sphinx-external-toc has read _toc.yml (its config-inited handler, priority 500).
    app.connect("config-inited", _add_numbering, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
