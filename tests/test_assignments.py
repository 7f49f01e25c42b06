"""Autograded assignments (dlbook.assignments, notebooks/exercises/): leak-free, and they grade.

One session fixture runs ``otter assign`` once per master. A second one grades, per chapter, a
folder holding the master's solutions and a notebook of plausible wrong answers
(``tests/assignments_wrong/<chapter>.yaml``) with the command ``book/for_instructors.md`` shows,
``python -m dlbook.assignments grade``, which writes a CSV. Grading runs the notebooks in a local
Jupyter kernel through otter's Python API: no Docker, and no network (CI has none). What a student
sees is checked against the master itself, parsed here independently of otter: no solution line
and no line of a hidden test may reach the student's folder or the Colab cell.

While writing one assignment, ``DLBOOK_ASSIGNMENTS_ONLY=07 pytest tests/test_assignments.py`` makes
and grades only that chapter's master (the fixtures otherwise make and grade all of them).
"""

import ast
import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT
from dlbook import assignments

MASTERS = assignments.masters(os.environ.get("DLBOOK_ASSIGNMENTS_ONLY") or None)
WRONG = ROOT / "tests" / "assignments_wrong"
IDS = [m.stem[:2] for m in MASTERS]


# --------------------------------------------------------------------------- the master, parsed


def _raw_marker(cell, word):
    return cell.cell_type == "raw" and cell.source.strip().upper().startswith(f"# {word}")


def parse_master(path):
    """Questions of a master: {name: {"manual", "solution": [lines], "hidden": [lines], "public": [lines]}},
    plus the set of lines the master shows outside solutions and hidden tests."""
    nb = nbformat.read(path, as_version=4)
    questions, shown, question = {}, set(), None
    in_solution = in_tests = False
    for cell in nb.cells:
        if _raw_marker(cell, "BEGIN QUESTION"):
            config = yaml.safe_load(cell.source.split("\n", 1)[1])
            question = questions.setdefault(config["name"], {"manual": bool(config.get("manual")),
                                                             "solution": [], "hidden": [], "public": []})
        elif _raw_marker(cell, "END QUESTION"):
            question = None
        elif _raw_marker(cell, "BEGIN SOLUTION") or _raw_marker(cell, "END SOLUTION"):
            in_solution = "BEGIN" in cell.source
        elif _raw_marker(cell, "BEGIN TESTS") or _raw_marker(cell, "END TESTS"):
            in_tests = "BEGIN" in cell.source
        elif cell.cell_type == "raw":
            continue
        elif in_tests:
            lines = cell.source.splitlines()
            hidden = lines[0].strip().upper() == "# HIDDEN"
            question["hidden" if hidden else "public"] += [l.strip() for l in lines[1 if hidden else 0:]]
            if not hidden:
                shown.update(l.strip() for l in lines)
        elif in_solution and cell.cell_type == "markdown":
            question["solution"] += [l.strip() for l in cell.source.splitlines()]
        elif in_solution:
            block = False
            for line in cell.source.splitlines():
                marker = line.strip()
                if marker.startswith("# BEGIN SOLUTION") or marker == "# END SOLUTION":
                    block = marker.startswith("# BEGIN")
                elif block or re.search(r"#\s*SOLUTION\s*$", line):
                    question["solution"].append(re.sub(r"#\s*SOLUTION\s*$", "", line).strip())
                else:
                    shown.add(marker)
        else:
            shown.update(l.strip() for l in cell.source.splitlines())
    return questions, shown


def secret_lines(path):
    """(question, kind, line) for every solution and hidden-test line a student must not see."""
    questions, shown = parse_master(path)
    trivial = re.compile(r"^[\W_]*$|^(import|from) \w")  # punctuation only, imports
    return [(name, kind, line) for name, q in questions.items() for kind in ("solution", "hidden")
            for line in q[kind] if line and not trivial.match(line) and line not in shown
            and line not in q["public"]]


def student_lines(folder: Path) -> set:
    """Every line a student gets: notebook cells, tests/ files, and the tests in the Colab cell."""
    lines = set()
    for notebook in folder.glob("*.ipynb"):
        for cell in nbformat.read(notebook, as_version=4).cells:
            lines.update(l.strip() for l in cell.source.splitlines())
            m = re.search(r"PUBLIC_TESTS = (\{.*\})\n", cell.source)
            if m:
                for text in ast.literal_eval(m.group(1)).values():
                    lines.update(l.strip() for l in text.splitlines())
    for test in folder.rglob("*.py"):
        lines.update(l.strip() for l in test.read_text().splitlines())
    return lines


def autograded(path):
    return [name for name, q in parse_master(path)[0].items() if not q["manual"]]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    """``otter assign`` once per master (otter's own run of the solutions is left to the grading)."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path_factory.mktemp("assignments")
    book = assignments.repository_book(log=lambda *_: None)
    with ThreadPoolExecutor(2) as pool:  # each otter assign is a subprocess; two cores
        folders = pool.map(lambda m: assignments.assign(m, out, run_tests=False, book=book), MASTERS)
        return {m.stem: folder for m, folder in zip(MASTERS, folders)}


def wrong_notebook(solutions: Path, chapter: str, dest: Path) -> dict:
    """The solutions with every mistake of ``assignments_wrong/<chapter>.yaml`` applied."""
    spec = yaml.safe_load((WRONG / f"{chapter}.yaml").read_text())
    nb = nbformat.read(solutions, as_version=4)
    for question, entry in spec.items():
        for old, new in entry["replace"]:
            hits = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
            assert len(hits) == 1 and hits[0].source.count(old) == 1, (
                f"{chapter}.yaml, {question}: {old!r} must occur exactly once in the solutions")
            hits[0].source = hits[0].source.replace(old, new)
    nbformat.write(nb, dest)
    return spec


@pytest.fixture(scope="session")
def graded(made, tmp_path_factory):
    """Per chapter: the CSV rows of grading {solutions.ipynb, wrong.ipynb}, two chapters at a time."""
    root = tmp_path_factory.mktemp("submissions")
    jobs, results = [], {}
    for chapter, folder in made.items():
        subs = root / chapter
        subs.mkdir()
        solutions = folder / "autograder" / f"{chapter}.ipynb"
        shutil.copy(solutions, subs / "solutions.ipynb")
        wrong_notebook(solutions, chapter, subs / "wrong.ipynb")
        cmd = [sys.executable, "-m", "dlbook.assignments", "grade",
               str(folder / "autograder" / "autograder.zip"), str(subs), "--csv", str(subs / "grades.csv")]
        jobs.append((chapter, cmd, subs / "grades.csv"))
    env = dict(os.environ, DLBOOK_MODE="fast")
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < 2:  # two kernels at a time: the machines have 2 cores
            job = pending.pop(0)
            running.append((job, subprocess.Popen(job[1], stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env)))
        (chapter, _, csv_path), proc = running.pop(0)
        out = proc.communicate()[0]
        assert proc.returncode == 0, f"grading {chapter} failed:\n{out[-3000:]}"
        with csv_path.open() as fh:
            results[chapter] = {row["file"]: row for row in csv.DictReader(fh)}
    return results


# --------------------------------------------------------------------------- the tests


def test_masters_exist_and_are_not_book_pages():
    assert len(assignments.masters()) >= 4, "chapters 1-4 need an assignment master in notebooks/exercises/"
    toc = (ROOT / "_toc.yml").read_text()
    assert "exercises" not in toc
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "notebooks/exercises" in config["exclude_patterns"]


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_master_has_enough_questions_and_hidden_tests(master):
    questions, _ = parse_master(master)
    auto = [q for q in questions.values() if not q["manual"]]
    assert len(auto) >= 4, f"{master.name}: at least four autograded questions"
    assert any(q["manual"] for q in questions.values()), f"{master.name}: add the written questions"
    for name, q in questions.items():
        assert q["manual"] or (q["public"] and q["hidden"]), f"{name}: needs public and hidden tests"
        assert q["solution"], f"{name}: has no solution"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_student_version_leaks_no_solution_or_hidden_test(master, made):
    student = made[master.stem] / "student"
    seen = student_lines(student)
    secrets = secret_lines(master)
    assert secrets, f"{master.name}: the parser found no solution lines; is the master's format right?"
    leaked = [(q, kind, line) for q, kind, line in secrets if line in seen]
    assert not leaked, f"{master.name}: the student version shows {leaked[:5]}"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_student_notebook_runs_in_colab(master, made):
    """Tests in files (Colab cannot read the notebook's metadata), and the first cell installs
    exactly otter-grader and dlbook, pinned, and writes the public tests before otter starts."""
    nb = nbformat.read(made[master.stem] / "student" / master.name, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    packages = re.findall(r'"([^"]+)"', first.split('"install", "-q",', 1)[1].split("check=True")[0])
    assert packages == [assignments.pinned_version("otter-grader"),
                        f"dlbook @ git+{assignments.repository_book(log=lambda *_: None).repo_url}"
                        f"@{packages[1].rsplit('@', 1)[1]}"]
    assert "PUBLIC_TESTS" in first and "otter.Notebook()" in code[1]
    public = {p.name: p.read_text() for p in (made[master.stem] / "student" / "tests").glob("*.py")}
    assert ast.literal_eval(re.search(r"PUBLIC_TESTS = (\{.*\})\n", first).group(1)) == public
    assert not any("%pip" in c for c in code), "otter's unpinned install cell is still there"


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_solutions_get_full_marks(master, graded):
    row = graded[master.stem]["solutions.ipynb"]
    for question in autograded(master):
        assert question in row, f"{question} was not graded"
    assert float(row["total"]) == float(row["possible"]) > 0, row
    assert float(row["percent"]) == 100.0


@pytest.mark.parametrize("master", MASTERS, ids=IDS)
def test_every_question_fails_a_plausible_wrong_answer(master, graded):
    spec = yaml.safe_load((WRONG / f"{master.stem}.yaml").read_text())
    questions = autograded(master)
    assert sorted(spec) == sorted(questions), "one wrong answer per autograded question"
    solutions, wrong = graded[master.stem]["solutions.ipynb"], graded[master.stem]["wrong.ipynb"]
    passed = [q for q in questions if float(wrong[q]) >= float(solutions[q])]
    assert not passed, f"these wrong answers got full marks: {[(q, spec[q]['mistake']) for q in passed]}"


def test_instructors_guide_shows_the_commands_and_chapters_link_to_it():
    guide = (ROOT / "book" / "for_instructors.md").read_text()
    assert "make assignments" in guide and "-m dlbook.assignments grade" in guide and "--csv" in guide
    for master in MASTERS:
        chapter = nbformat.read(ROOT / "notebooks" / master.name, as_version=4)
        exercises = [c.source for c in chapter.cells if "## Exercises" in c.source]
        assert exercises and "{doc}`../book/for_instructors`" in exercises[0], (
            f"{master.name}: the chapter's exercise section should link to the assignment guide")
