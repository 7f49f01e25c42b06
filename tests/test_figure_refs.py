"""Every figure a chapter draws reaches its page, and every numbered figure is referred to.

Read from the committed notebooks (no execution): a figure glued from a cell whose own output is
hidden (``remove-output``) must be placed by a ``{glue:figure}`` (or ``{glue}``) directive, or
the reader never sees it (chapter 4's lesion figure was lost that way); and each figure given a
``:name:`` must be cited in the chapter's text with ``{numref}`` or ``{ref}``, so the reader
is told when to look at it.
"""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
GLUED_FIGURE = re.compile(r"""glue\(\s*["'](fig_\w+)["']\s*,\s*(\w+)""")
PLACED = re.compile(r"\{glue(?::figure|:any)?\}`?\s*(\w+)")
NAMED = re.compile(r"^:name:\s*([\w-]+)", re.M)
CITED = re.compile(r"\{(?:numref|ref)\}`(?:[^`<]*<)?([\w-]+)>?`")


def unplaced_figures(nb: dict) -> list[str]:
    """Names of figures glued from cells that hide their output and placed nowhere."""
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    placed = set(PLACED.findall(markdown))
    missing = []
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] != "code" or not tags & {"remove-output", "remove-cell"}:
            continue
        missing += [name for name, _ in GLUED_FIGURE.findall("".join(cell["source"]))
                    if name not in placed]
    return missing


def uncited_figures(nb: dict) -> list[str]:
    """Figure labels (``:name: fig-...``) that no ``{numref}``/``{ref}`` of the chapter cites."""
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    cited = set(CITED.findall(markdown))
    return [name for name in NAMED.findall(markdown) if name.startswith("fig-") and name not in cited]


def _nb(*cells):
    return {"cells": [{"cell_type": t, "metadata": {"tags": tags}, "source": src} for t, src, tags in cells]}


def test_the_checks_catch_a_lost_and_an_uncited_figure():
    lost = _nb(("code", 'glue("fig_a", fig, display=True)', ["remove-output"]),
               ("code", 'glue("fig_b", fig, display=True)', ["remove-output"]),
               ("code", 'glue("fig_c", fig, display=True)', []),  # shown under its cell
               ("markdown", "```{glue:figure} fig_b\n:name: fig-b\n\nB.\n```\nSee {numref}`fig-b`.", []),
               ("markdown", "```{glue:figure} fig_d\n:name: fig-d\n\nD.\n```", []))
    assert unplaced_figures(lost) == ["fig_a"]
    assert uncited_figures(lost) == ["fig-d"]


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_drawn_figure_is_placed_and_cited(source):
    nb = json.loads(source.read_text(encoding="utf-8"))
    problems = [f"{name} is glued from a cell whose output is removed, but no {{glue:figure}} "
                "places it: the reader never sees it" for name in unplaced_figures(nb)]
    problems += [f"{name} is never cited: refer to it in the text with {{numref}}`{name}`"
                 for name in uncited_figures(nb)]
    assert not problems, f"{source.name}:\n  " + "\n  ".join(problems)
