"""Autograded assignments: student notebooks and autograders from the masters, and grading.

Each chapter's assignment is a master notebook in ``notebooks/exercises/`` written in
otter-grader's format (an ``ASSIGNMENT CONFIG`` raw cell; ``BEGIN/END QUESTION``, ``SOLUTION``
and ``TESTS`` raw cells; hidden tests start with ``# HIDDEN``). The masters are not pages of the
book (``_toc.yml`` does not list them). ``make assignments`` runs::

    python -m dlbook.assignments make                 # -> _build/assignments/<chapter>/...
    python -m dlbook.assignments make --only 01       # one chapter
    python -m dlbook.assignments grade _build/assignments/01_convolution_and_pooling/autograder.zip \\
        submissions/ --csv grades.csv                 # a folder of .ipynb files -> one CSV

``make`` calls ``otter assign`` on every master, which writes ``<chapter>/student`` (the notebook
without solutions, and the public tests in ``tests/``) and ``<chapter>/autograder`` (the
solutions, all tests, and the autograder zip, renamed here to ``autograder.zip``), and which
checks that the solutions pass every test. Then it replaces otter's own Colab cell (an unpinned
``%pip install otter-grader``) with the book's install cell (:func:`dlbook.colab.install_cell`):
otter-grader at the version ``requirements.txt`` pins and ``dlbook`` at the commit the
assignment was made from. In Colab the same cell writes the public tests beside the notebook,
so the student notebook is the only file a student needs there.

``grade`` scores every submission with otter's Python API (``otter.api.grade_submission``),
which runs the notebook in a local Jupyter kernel: no Docker, no network. It needs the packages
of ``requirements.txt`` (``make install``).

Heavy imports (otter, nbformat) live inside the functions: ``import dlbook`` stays light.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MASTERS = ROOT / "notebooks" / "exercises"
OUT = ROOT / "_build" / "assignments"
OTTER_PIP_CELL = "%pip install -q otter-grader"
"""The first cell otter assign writes for ``runs_on: colab``; replaced by :func:`colab_cell`."""


class AssignmentError(RuntimeError):
    """A master, an output folder or a submission is not usable; the message says how to fix it."""


def masters(only: str | None = None, folder: Path = MASTERS) -> list[Path]:
    """The master notebooks, sorted; ``only`` keeps those whose name starts with it ("01").

    >>> [p.name for p in masters("01")]
    ['01_convolution_and_pooling.ipynb']
    """
    found = sorted(p for p in Path(folder).glob("*.ipynb"))
    if only:
        found = [p for p in found if p.name.startswith(only)]
    if not found:
        raise AssignmentError(f"no master notebook in {folder}" + (f" starting with {only!r}" if only else "")
                              + "; masters are notebooks/exercises/NN_<chapter>.ipynb.")
    return found


def pinned_version(package: str, requirements: Path = ROOT / "requirements.txt") -> str:
    """``package==version`` as ``requirements.txt`` pins it.

    >>> pinned_version("otter-grader")
    'otter-grader==7.0.0'
    """
    for line in Path(requirements).read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == package.lower() and version:
            return f"{name.strip()}=={version.strip()}"
    raise AssignmentError(f"{package} is not pinned with == in {requirements}; add it there.")


def repository_book(root: Path = ROOT, log=print):
    """A :class:`dlbook.colab.Book` with the repository of ``_config.yml`` and the current commit."""
    import yaml

    from dlbook import colab

    url = yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"].rstrip("/")
    return colab.Book(colab.site_url_from_repository(url), url, colab.git_ref(root, "main", log))


def colab_cell(book, public_tests: dict[str, str]) -> str:
    """The student notebook's first cell: in Colab, install and write the public tests.

    ``public_tests`` maps file names (``q1_x.py``) to their text, as in the student's ``tests/``.

    >>> from dlbook.colab import Book
    >>> cell = colab_cell(Book("", "https://github.com/o/r", "abc"), {"q1.py": "x = 1\\n"})
    >>> "otter-grader==" in cell and "git+https://github.com/o/r@abc" in cell and "'q1.py'" in cell
    True
    >>> compile(cell, "cell", "exec") and None
    """
    from dlbook import colab

    lines = [colab.install_cell(book, [pinned_version("otter-grader")]),
             "    # The public checks of this assignment, for grader.check() below.",
             "    import pathlib",
             "",
             f"    PUBLIC_TESTS = {public_tests!r}",
             "    for name, text in PUBLIC_TESTS.items():",
             '        path = pathlib.Path("tests") / name',
             "        path.parent.mkdir(exist_ok=True)",
             "        path.write_text(text)"]
    return "\n".join(lines)


def _replace_pip_cell(notebook: Path, source: str) -> None:
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == OTTER_PIP_CELL]
    if len(cells) != 1:
        raise AssignmentError(
            f"{notebook}: expected one {OTTER_PIP_CELL!r} cell from otter assign (runs_on: colab in "
            f"the master's ASSIGNMENT CONFIG); found {len(cells)}.")
    cells[0].source = source
    nbformat.write(nb, notebook)


def assign(master: Path, out: Path = OUT, run_tests: bool = True, book=None, log=print) -> Path:
    """Run ``otter assign`` on ``master`` into ``out/<chapter>``; return that folder.

    ``run_tests`` lets otter execute the solutions and check that they pass every test.
    """
    master = Path(master).resolve()
    if not master.is_file():
        raise AssignmentError(f"{master} does not exist; masters are in {MASTERS}.")
    dest = Path(out).resolve() / master.stem
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "otter", "assign", str(master), str(dest)]
    if not run_tests:
        cmd.append("--no-run-tests")
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=master.parent)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise AssignmentError(f"otter assign failed on {master.name}:\n{tail}")
    zips = sorted((dest / "autograder").glob("*-autograder_*.zip"))
    if len(zips) != 1:
        raise AssignmentError(f"otter assign wrote {len(zips)} autograder zips in {dest / 'autograder'}; "
                              "expected one.")
    zips[0].rename(dest / "autograder" / "autograder.zip")
    book = book or repository_book(log=log)
    tests = {p.name: p.read_text() for p in sorted((dest / "student" / "tests").glob("*.py"))}
    cell = colab_cell(book, tests)
    for kind in ("student", "autograder"):
        _replace_pip_cell(dest / kind / master.name, cell)
    return dest


def make(only: str | None = None, out: Path = OUT, run_tests: bool = True, log=print) -> list[Path]:
    """Student notebooks and autograders for every master (or those starting with ``only``)."""
    book = repository_book(log=log)
    made = []
    for master in masters(only):
        dest = assign(master, out, run_tests=run_tests, book=book, log=log)
        log(f"{master.stem}: hand out {dest / 'student'} (or just its notebook, for Colab); "
            f"grade with {dest / 'autograder' / 'autograder.zip'}")
        made.append(dest)
    log(f"{len(made)} assignments in {Path(out).resolve()} (dlbook pinned to {book.ref})")
    return made


def submissions(paths) -> list[Path]:
    """The ``.ipynb`` files among ``paths`` (files or folders, searched one level deep), sorted."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb"))
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise AssignmentError(f"{path} is neither a folder nor an .ipynb file; pass the folder "
                                  "of collected notebooks.")
    if not found:
        raise AssignmentError(f"no .ipynb submissions in {', '.join(map(str, paths))}.")
    return found


def grade_one(submission: Path, autograder: Path) -> dict[str, float]:
    """Per-question scores of one submission (``{question: score}``), plus ``total``/``possible``.

    Manually graded questions have no tests, so they are not in the result.
    """
    from otter.api import grade_submission

    results = grade_submission(str(submission), str(autograder), quiet=True)
    scores = {name: float(tf.score) for name, tf in sorted(results.results.items())}
    scores["total"], scores["possible"] = float(results.total), float(results.possible)
    return scores


def grade(autograder: Path, paths, csv_path: Path, log=print) -> list[dict]:
    """Grade every submission in ``paths`` with ``autograder`` and write one CSV row each."""
    autograder = Path(autograder)
    if not autograder.is_file():
        raise AssignmentError(f"{autograder} does not exist; run `make assignments` first.")
    rows = []
    for path in submissions(paths):
        scores = grade_one(path, autograder)
        row = {"file": path.name, **scores, "percent": round(100 * scores["total"] / scores["possible"], 1)}
        rows.append(row)
        log(f"{path.name}: {scores['total']:g} / {scores['possible']:g}")
    columns = ["file"] + sorted({k for r in rows for k in r} - {"file", "total", "possible", "percent"}) \
        + ["total", "possible", "percent"]
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    log(f"{len(rows)} submissions graded -> {csv_path}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbook.assignments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_make = sub.add_parser("make", help="student notebooks and autograders from the masters")
    p_make.add_argument("--only", help="chapters whose master starts with this, e.g. 01")
    p_make.add_argument("--out", type=Path, default=OUT, help=f"output folder (default: {OUT})")
    p_make.add_argument("--no-run-tests", action="store_true",
                        help="skip otter's check that the solutions pass every test")
    p_grade = sub.add_parser("grade", help="grade a folder of submitted notebooks to a CSV")
    p_grade.add_argument("autograder", type=Path, help="the chapter's autograder.zip")
    p_grade.add_argument("paths", nargs="+", help="submitted .ipynb files or folders of them")
    p_grade.add_argument("--csv", type=Path, default=Path("grades.csv"), help="output CSV (default: grades.csv)")
    args = parser.parse_args(argv)
    try:
        if args.command == "make":
            make(args.only, args.out, run_tests=not args.no_run_tests)
        else:
            grade(args.autograder, args.paths, args.csv)
    except AssignmentError as exc:
        print(f"dlbook.assignments: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
