"""The prose pages and the chapters' exercise sections say what the book really holds.

- The introduction lists the chapters of ``_toc.yml``, in its order and numbered as the site numbers
  them, so a chapter added to the table of contents cannot be missing from the introduction.
- Every exercise of every chapter has a worked answer: the folded answers block after the exercises
  holds an answer ``**N.**`` for each numbered exercise ``N.`` and no answer to an exercise that
  does not exist (the instructors' guide promises one answer per exercise).
"""

import json
import re

import pytest
import yaml

from conftest import ROOT

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [entry["file"] for part in TOC["parts"] if part.get("numbered")
            for entry in part["chapters"]]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_toc_numbers_every_chapter_notebook():
    assert [f"notebooks/{p.stem}" for p in NOTEBOOKS] == CHAPTERS


def test_the_introduction_lists_the_chapters_of_the_toc_in_order():
    intro = (ROOT / "book" / "intro.md").read_text()
    section = intro.split("## What the book covers", 1)[1].split("\n## ", 1)[0]
    items = re.findall(r"^(\d+)\. (.*)$", section, re.M)
    assert [int(n) for n, _ in items] == list(range(1, len(CHAPTERS) + 1)), (
        "the introduction's chapter list is not numbered 1..N like the site's chapters")
    linked = [re.search(r"\{doc\}`\.\./(notebooks/[^`]+)`", text) for _, text in items]
    assert all(linked), "every item of the introduction's chapter list opens with a link to its chapter"
    assert [m.group(1) for m in linked] == CHAPTERS
    # No sentence promising chapters that are "available now" or "being written".
    assert not re.search(r"available now|being written", intro)


def _exercises_and_answers(path):
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "## Exercises" in text, f"{path.name} has no Exercises section"
    exercises = text.split("## Exercises", 1)[1].split("\n## ", 1)[0]
    questions, _, answers = exercises.partition(":::{admonition} Worked answers")
    assert answers, f"{path.name}: no 'Worked answers' admonition after the exercises"
    asked = [int(n) for n in re.findall(r"^(\d+)\. ", questions, re.M)]
    answered = [int(n) for n in re.findall(r"^\*\*(\d+)\.\*\*", answers, re.M)]
    return asked, answered


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_worked_answer(path):
    asked, answered = _exercises_and_answers(path)
    assert asked == list(range(1, len(asked) + 1)) and asked, f"{path.name}: exercises numbered {asked}"
    assert answered == asked, (f"{path.name}: exercises {asked} but worked answers {answered}; "
                               "write an answer for every exercise, in order")
