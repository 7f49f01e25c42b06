"""Committed notebooks carry no outputs; chapters follow the chapter template and are in the book.

The assignment masters in notebooks/exercises/ are notebooks too (no outputs either), but not
chapters: they have otter-grader's format and stay out of the book (tests/test_assignments.py)."""

import json

import pytest

from conftest import ROOT

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CHAPTERS = [p for p in NOTEBOOKS if "exercises" not in p.relative_to(ROOT / "notebooks").parts]
TOC = (ROOT / "_toc.yml").read_text()


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs_or_execution_counts(path):
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs or execution counts; clear them"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_template(path):
    nb = json.loads(path.read_text())
    cells = nb["cells"]
    first = "".join(cells[0]["source"])
    assert first.startswith("# "), f"{path.name}: the first cell must be the title"
    code = [c for c in cells if c["cell_type"] == "code"]
    setup = "".join(code[0]["source"])
    # The first code cell is the Colab guard. The repository URL lives in _config.yml alone: the
    # build writes the pinned install of dlbook into the Colab copy's first cell (dlbook.colab).
    assert "google.colab" in setup, f"{path.name}: first code cell lacks the Colab guard"
    # It only matters in Colab, so the site folds it: readers should not meet it first.
    assert "hide-cell" in code[0]["metadata"].get("tags", []), (
        f"{path.name}: tag the Colab guard cell hide-cell, so the site folds it")
    assert "git+" not in setup and "github.com" not in setup, (
        f"{path.name}: the first code cell names a repository; keep the URL in _config.yml only")
    # No Colab badge in the source: on the site the launch button opens the Colab copy, and the
    # copy (made by dlbook.colab) carries its own badge. A badge here would be one more place to
    # keep the repository URL, and an image that does not load on an offline copy of the site.
    assert "colab-badge" not in first and "colab.research.google.com" not in first, (
        f"{path.name}: remove the Colab badge from the title cell (the build adds it to the Colab copy)")
    # The mode / device line comes early: within the first three code cells.
    assert any("runtime.setup(" in "".join(c["source"]) for c in code[:3]), (
        f"{path.name}: call dlbook.runtime.setup() in the first code cells"
    )
    headings = [
        line for c in cells if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()
        if line.startswith("## ")
    ]
    for required in ("Summary", "Exercises", "References"):
        assert any(required in h for h in headings), f"{path.name}: missing a '## {required}' section"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_notebook_is_in_the_table_of_contents(path):
    entry = str(path.relative_to(ROOT).with_suffix(""))
    assert f"file: {entry}" in TOC, f"{entry} is not listed in _toc.yml"


# A code cell the site shows should fit a laptop screen: at most 800 CSS px (tests/test_site.py
# measures that on the built pages). The column's code font (14 px, 17.5 px a line, 35 px of padding)
# gives 43 lines of 77 characters; a longer line wraps onto the next.
SCREEN_LINES = 43
LINE_CHARS = 77


def screen_lines(source: str) -> int:
    """Lines a cell takes on the page once lines longer than LINE_CHARS wrap.

    >>> screen_lines("x = 1\\n" + "y" * 100)
    3
    """
    return sum(max(1, -(-len(line) // LINE_CHARS)) for line in source.splitlines())


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_visible_code_cells_fit_a_screen(path):
    # The lesson's code is read on the page; a cell longer than a screen hides its point. Folded
    # cells (hide-input, hide-cell) hold helpers and bookkeeping and may be longer.
    nb = json.loads(path.read_text())
    long = [(c.get("id"), screen_lines("".join(c["source"]))) for c in nb["cells"]
            if c["cell_type"] == "code"
            and not {"hide-input", "hide-cell", "remove-cell", "remove-input"} & set(c["metadata"].get("tags", []))
            and screen_lines("".join(c["source"])) > SCREEN_LINES]
    assert not long, (f"{path.name}: code cells (id, lines on the page) {long} are longer than "
                      f"{SCREEN_LINES} lines; "
                      "split them where a definition ends, or fold bookkeeping into a hide-input cell")
