"""Every sentence that judges a result is glued from the numbers, or allow-listed with a reason.

A sentence such as "the wide network trained faster" is true of one run and false of the next; typed
by hand, it survives a re-run that contradicts it. So every sentence of a chapter's Markdown that
compares or judges (the words below) must carry a glued value, a ``{glue:text}``, ``{glue:md}`` or
``{glue:}`` role, normally the verdict itself computed from the numbers and their spread
(:mod:`dlbook.stats`); or it must have an entry in ``tests/claims_allowed.yml`` that gives the
chapter, an exact fragment of the sentence and the reason it need not be glued (a statement about a
paper, a definition, a fact of arithmetic, a question asked of the reader).

What counts as a sentence: the text of every Markdown cell of the chapters of ``_toc.yml`` (body,
Summary, exercises and answers alike), with headings, list items and table rows each taken on their
own, and the body of a MyST directive that holds prose (the caption of a ``{glue:figure}`` or
``{figure}``, an admonition) treated as Markdown. Left out: fenced code, display math (``$$``), the
options of a directive (``:name: ...``), label lines ``(label)=``, HTML comments, and, when looking
for the judging words only, inline code spans, inline math and the targets of roles (so
``{numref}`fig-higher``` or ```lower_is_better``` do not count).

What counts as judging: a word of :data:`JUDGING` at word boundaries, case-insensitive, in any of
the inflections listed there: comparatives (higher, lower, faster, slower, better, worse, best,
worst, easier, harder, stronger, weaker, larger, smaller, superior, inferior, "ahead"); the verbs
raise, lower, beat, win, outperform, exceed, surpass, improve, agree, disagree, confirm,
contradict, match, rise, fall, drop, rank, increase, decrease, grow, shrink, succeed, fail and
favour; and phrases such as "more accurate", "fewer errors", "about as well". "Smaller" and
"larger" are in because "a smaller error" judges as surely as "a lower one"; the allow-list carries
the sizes of layers and windows that they also describe.

What the test cannot see: a sentence that holds one glued value passes whatever else it says, so
"{glue:text}`acc`%, 21 points higher" passes with a typed "higher". Glue the verdict word itself,
not only the numbers around it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

ALLOWED = ROOT / "tests" / "claims_allowed.yml"

_WORDS = [
    r"high(?:er|est)", r"low(?:er|est)", r"lower(?:s|ed|ing)", r"rais(?:e|es|ed|ing)",
    r"fast(?:er|est)", r"slow(?:er|est)", r"better", r"worse",
    r"best", r"worst", r"eas(?:ier|iest)", r"hard(?:er|est)", r"strong(?:er|est)", r"weak(?:er|est)",
    r"larg(?:er|est)", r"small(?:er|est)", r"superior", r"inferior",
    r"beat(?:s|en|ing)?", r"win(?:s|ning|ner|ners)?", r"won", r"outperform(?:s|ed|ing)?",
    r"exceed(?:s|ed|ing)?", r"surpass(?:es|ed|ing)?", r"improve(?:s|d|ment|ments)?", r"improving",
    r"agree(?:s|d|ing|ment)?", r"disagree(?:s|d|ing|ment)?", r"confirm(?:s|ed|ing)?",
    r"contradict(?:s|ed|ing)?", r"match(?:es|ed|ing)?",
    r"rise(?:s|n)?", r"rose", r"rising", r"fall(?:s|en|ing)?", r"fell", r"drop(?:s|ped|ping)?",
    r"rank(?:s|ed|ing|ings)?", r"increas(?:e|es|ed|ing)", r"decreas(?:e|es|ed|ing)",
    r"gr[eo]w(?:s|n|ing)?", r"shr[iu]nk(?:s|ing)?", r"shrank",
    r"succeed(?:s|ed|ing)?", r"fail(?:s|ed|ing)?", r"favou?r(?:s|ed|ing)?", r"ahead",
    r"(?:more|less) (?:accurate|robust|reliable)", r"(?:fewer|more) errors",
    r"(?:about|nearly|almost|roughly|just|equally) as (?:well|good|fast|accurate|often)",
]
#: The judging words, as one regular expression matched case-insensitively at word boundaries.
JUDGING = re.compile(r"\b(?:" + "|".join(_WORDS) + r")\b", re.IGNORECASE)

_GLUED = re.compile(r"\{glue(?::text|:md|:any)?\}`")
_ROLE = re.compile(r"\{[\w:+-]+\}`[^`]*`")
_CODE = re.compile(r"``.+?``|`[^`]*`")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$")
_FENCE = re.compile(r"^\s*(`{3,}|:{3,})\s*(?:\{([\w:-]+)\})?")
#: Directives whose body is prose; every other fenced block (code, math, glue:md ...) is left out.
PROSE_DIRECTIVES = {"glue:figure", "figure", "admonition", "note", "tip", "hint", "important",
                    "warning", "caution", "attention", "danger", "error", "seealso", "margin",
                    "sidebar", "dropdown", "exercise", "solution", "epigraph", "table"}
_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "Fig.", "Figs.", "Eq.", "Eqs.", "vs.", "cf.", "Sec.",
                  "approx.", "No.", "resp.", "Ch.")
_PROTECT = "\u2063"  # stands in for the dot of an abbreviation while splitting (invisible separator)


@dataclass(frozen=True)
class Sentence:
    chapter: str  # the notebook's stem, e.g. "05_beyond_resnet"
    cell: int     # index of the Markdown cell among all cells of the notebook
    text: str     # whitespace normalised; roles, code and math as written

    @property
    def glued(self) -> bool:
        return bool(_GLUED.search(self.text))

    @property
    def judging(self) -> list[str]:
        """The judging words of the sentence outside roles, code spans and math."""
        bare = _MATH.sub(" ", _CODE.sub(" ", _ROLE.sub(" ", self.text)))
        return [m.group(0) for m in JUDGING.finditer(bare)]


def prose_blocks(markdown: str) -> list[str]:
    """The prose of one Markdown cell as blocks (paragraphs, headings, list items, table rows).

    >>> prose_blocks("# T\\n\\nA b.\\nC d.\\n\\n```python\\nx = 1\\n```\\n- one\\n- two")
    ['T', 'A b. C d.', 'one', 'two']
    """
    blocks, current, fences = [], [], []  # fences: stack of (fence string, is prose)

    def flush():
        if current:
            blocks.append(" ".join(current))
            current.clear()

    in_math, in_comment = False, False
    for line in markdown.splitlines():
        stripped = line.strip()
        if in_comment:
            in_comment = "-->" not in stripped
            continue
        if stripped.startswith("<!--"):
            flush()
            in_comment = "-->" not in stripped
            continue
        fence = _FENCE.match(line)
        if fence and fences and stripped == fences[-1][0]:  # closes the innermost block
            flush()
            fences.pop()
            continue
        if fence:
            flush()
            opened_prose = fence.group(2) in PROSE_DIRECTIVES
            fences.append((fence.group(1), opened_prose))
            if opened_prose and fence.group(2) in {"admonition", "dropdown", "figure"}:
                title = line[fence.end():].strip()
                if title and fence.group(2) != "figure":
                    blocks.append(title)
            continue
        if fences and not all(prose for _, prose in fences):
            continue
        if in_math or stripped.startswith("$$"):  # display math, on one line or several
            flush()
            in_math = (in_math ^ (stripped.count("$$") % 2 == 1))
            continue
        if not stripped or re.fullmatch(r"\([\w:.-]+\)=", stripped) or (
                fences and re.match(r":[\w-]+:", stripped)):
            flush()
            continue
        if re.match(r"#{1,6} ", stripped) or stripped.startswith("|"):
            flush()
            if not re.fullmatch(r"\|?[\s:|-]+\|?", stripped):  # a table's rule line is not prose
                blocks.append(stripped.lstrip("#").strip().strip("|").strip())
            continue
        item = re.match(r"(?:[-*+]|\d+[.)])\s+", stripped)
        if item:
            flush()
            stripped = stripped[item.end():]
        current.append(stripped.lstrip("> ").strip() if stripped.startswith(">") else stripped)
    flush()
    return [b for b in blocks if b]


def split_sentences(block: str) -> list[str]:
    """Sentences of one block of prose: split after . ! ? followed by a space and no lowercase.

    >>> split_sentences("He et al. (2016) won. It is e.g. fast. Fig. 3 shows it! Yes")
    ['He et al. (2016) won.', 'It is e.g. fast.', 'Fig. 3 shows it!', 'Yes']
    """
    text = re.sub(r"\s+", " ", block).strip()
    # Code spans and math may hold ". " that ends no sentence: protect their dots too.
    text = _MATH.sub(lambda m: m.group(0).replace(".", _PROTECT), text)
    text = _CODE.sub(lambda m: m.group(0).replace(".", _PROTECT), text)
    for abbreviation in _ABBREVIATIONS:
        text = re.sub(r"(?<![\w.])" + re.escape(abbreviation),
                      abbreviation.replace(".", _PROTECT), text)
    parts = re.split(r"(?<=[.!?])(?<![.!?][.!?][.!?])[\"”’*_)]*\s+(?=[^a-z\s])", text)
    return [p.replace(_PROTECT, ".").strip() for p in parts if p.strip()]


def sentences(nb: dict, chapter: str) -> list[Sentence]:
    """Every sentence of every Markdown cell of one notebook (a dict as json.load gives it)."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for block in prose_blocks(source):
            found += [Sentence(chapter, index, s) for s in split_sentences(block)]
    return found


def unglued_claims(nb: dict, chapter: str) -> list[Sentence]:
    """The sentences of a notebook that judge (a word of JUDGING) and carry no glued value."""
    return [s for s in sentences(nb, chapter) if s.judging and not s.glued]


def load_allowed(path: Path = ALLOWED) -> list[dict]:
    entries = yaml.safe_load(path.read_text()) or []
    for i, entry in enumerate(entries):
        missing = {"chapter", "text", "reason"} - set(entry)
        assert not missing, f"{path.name} entry {i} ({entry}) lacks {sorted(missing)}"
        assert str(entry["reason"]).strip(), f"{path.name} entry {i}: give the reason"
    return entries


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def check(notebooks: dict[str, dict], allowed: list[dict]) -> tuple[list[Sentence], list[dict]]:
    """(offending sentences, stale allow-list entries) for notebooks keyed by chapter stem.

    An allow-list entry's ``chapter`` is the chapter number (5) or the stem; it covers each
    unglued judging sentence of that chapter that contains ``text``, and it is stale if it covers
    none.
    """
    def chapter_of(entry):
        key = str(entry["chapter"])
        return next((stem for stem in notebooks
                     if stem == key or (key.isdigit() and stem[:2] == f"{int(key):02d}")), None)

    used = [False] * len(allowed)
    offending = []
    for stem, nb in notebooks.items():
        for sentence in unglued_claims(nb, stem):
            hits = [i for i, e in enumerate(allowed)
                    if chapter_of(e) == stem and _normalised(str(e["text"])) in sentence.text]
            for i in hits:
                used[i] = True
            if not hits:
                offending.append(sentence)
    stale = [e for e, u in zip(allowed, used) if not u]
    return offending, stale


def _report(offending: list[Sentence], stale: list[dict]) -> str:
    lines = []
    if offending:
        lines.append(f"{len(offending)} sentence(s) judge a result without a glued value:")
        lines += [f"  {s.chapter} cell {s.cell} [{', '.join(s.judging)}]: {s.text}" for s in offending]
        lines.append(
            "Fix each: if it is about our run, compute the verdict in a hide-input cell from the "
            "numbers and their spread (dlbook.stats.verdict / compared) and glue it into the "
            "sentence ({glue:text}`name`); if it is about a paper, a definition or arithmetic, add "
            f"an entry to {ALLOWED.relative_to(ROOT)} (chapter, an exact fragment, reason).")
    if stale:
        lines.append(f"{len(stale)} allow-list entr(y/ies) match no unglued judging sentence any "
                     "more; delete them:")
        lines += [f"  chapter {e['chapter']}: {e['text']!r}" for e in stale]
    return "\n".join(lines)


def _chapters() -> dict[str, dict]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for part in toc["parts"] if part.get("numbered")
             for entry in part["chapters"]]
    return {Path(f).name: json.loads((ROOT / f"{f}.ipynb").read_text()) for f in files}


def test_every_judging_sentence_is_glued_or_allowed():
    chapters = _chapters()
    assert len(chapters) == 9, f"expected the nine chapters of _toc.yml, found {sorted(chapters)}"
    offending, stale = check(chapters, load_allowed())
    assert not offending and not stale, _report(offending, stale)


# --- the checker itself, on a small synthetic notebook ------------------------------------------

def _notebook(*markdown: str) -> dict:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": m} for m in markdown]
    cells.insert(1, {"cell_type": "code", "metadata": {}, "source": "glue('v', 'higher')",
                     "outputs": [], "execution_count": None})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


SYNTHETIC = _notebook(
    "# Title\n\n(sec-x)=\n## What we saw\n\nThe wide network trained faster than the deep one. "
    "The wide network's accuracy is {glue:text}`v` than the deep one's.",
    "```{glue:figure} fig-x\n:name: fig-x\n\nThe loss falls in every epoch.\n```\n\n"
    "```python\nbest = max(scores)  # code is not prose\n```\n\n"
    "$$\\text{higher} = 1$$\n\nA `lower_is_better` flag and {numref}`fig-better` judge nothing.",
    "He et al. (2016) report that deeper plain networks train worse.\n\n"
    ":::{admonition} Worked answers\n:class: dropdown\n**1.** Ours ranks first.\n:::",
)


def test_checker_flags_unglued_judging_sentences_and_accepts_glued_ones():
    flagged = {s.text: s.judging for s in unglued_claims(SYNTHETIC, "99_synthetic")}
    assert flagged == {
        "The wide network trained faster than the deep one.": ["faster"],
        "The loss falls in every epoch.": ["falls"],  # a figure caption is prose
        "He et al. (2016) report that deeper plain networks train worse.": ["worse"],
        "Ours ranks first.": ["ranks"],  # so is an admonition's body
    }


def test_allow_list_covers_a_sentence_and_reports_stale_entries():
    notebooks = {"99_synthetic": SYNTHETIC}
    allowed = [{"chapter": 99, "text": "He et al. (2016) report", "reason": "about the paper"},
               {"chapter": 99, "text": "a sentence that is gone", "reason": "was about a paper"}]
    offending, stale = check(notebooks, allowed)
    assert [s.text for s in offending] == ["The wide network trained faster than the deep one.",
                                           "The loss falls in every epoch.",
                                           "Ours ranks first."]
    assert [s.cell for s in offending] == [0, 2, 3]
    assert stale == [allowed[1]]
    report = _report(offending, stale)
    assert "99_synthetic cell 0 [faster]" in report and "glue" in report and "gone" in report


def test_glued_verdict_clears_the_sentence():
    fixed = _notebook("The wide network ranks {glue:text}`v` than the deep one.")
    assert unglued_claims(fixed, "99") == []
    assert [s.judging for s in sentences(fixed, "99")] == [["ranks"]]
