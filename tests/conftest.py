"""Shared test settings (quiet TensorFlow, fast mode, the repository root) and the one book build.

Every notebook executes exactly once per test session: the ``book_build`` fixture builds the whole
book in fast mode the way ``make book`` does (:mod:`dlbook.build`: each chapter executed into its
own product, then the site assembled once from them), and the tests of notebook execution, the
rendered pages, the Colab copies and the browser all read that one build.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hypothesis import settings as hypothesis_settings  # noqa: E402

# Property tests draw their examples from a fixed seed, so CI gives the same result on every run
# (the book seeds everything random); HYPOTHESIS_PROFILE=explore draws fresh examples each run,
# to hunt for counterexamples locally.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
os.environ.setdefault("DLBOOK_MODE", "fast")

ROOT = Path(__file__).resolve().parents[1]
# `jupyter-book build --path-output X` writes X/_build/{html,jupyter_execute,.doctrees,...}; the
# executed chapters are in X/_build/executed/fast/.
BUILD_ROOT = ROOT / "_build" / "test"
BUILD_LOG = BUILD_ROOT / "build.log"


def build_book(path_output: Path, fresh: bool = True) -> Path:
    """Build the book in fast mode into ``path_output/_build`` as ``make book`` does: execute every
    chapter whose product is not current, then assemble the site with warnings as errors. The
    execution log and jupyter-book's output go to ``path_output/build.log``, which starts with
    ``exit status 0`` when everything succeeded. Then the PDF, as ``make pdf`` typesets it
    (``path_output/pdf.log``, which starts the same way).

    ``fresh`` removes an earlier build first, so every chapter executes with the code under test.
    A chapter that fails leaves no product; the site is assembled anyway (its page then shows the
    source without outputs), so the other chapters' tests still run and the failed one's tests
    name it.
    """
    import shutil

    from dlbook import build

    if fresh and path_output.exists():
        shutil.rmtree(path_output)
    build_dir = path_output / "_build"
    build_dir.mkdir(parents=True, exist_ok=True)
    lines, status = [], 0
    try:
        build.execute(ROOT, build_dir, "fast", log=lines.append)
    except build.BuildError as exc:
        lines.append(str(exc))
        status = 1
    try:
        result = build.assemble(ROOT, build_dir, "fast", missing="source", colab=False,
                                log=lines.append, echo=False)
        lines += [result.stdout, result.stderr]
    except build.BuildError as exc:
        lines.append(str(exc))
        status = status or 2
    (path_output / "build.log").write_text(f"exit status {status}\n" + "\n".join(lines))
    # The PDF (make pdf), typeset from the same executed notebooks, into the site, which links it.
    # Its own log, pdf.log (tests/test_pdf.py): a failed PDF fails the PDF tests, not the site's.
    pdf_lines, pdf_status = [], 0
    try:
        build.pdf(ROOT, build_dir, "fast", missing="source", log=pdf_lines.append, echo=False)
    except build.BuildError as exc:
        pdf_lines.append(str(exc))
        pdf_status = 1
    (path_output / "pdf.log").write_text(f"exit status {pdf_status}\n" + "\n".join(pdf_lines))
    return build_dir


@pytest.fixture(scope="session")
def book_build() -> Path:
    """The fast-mode build of the whole book (``_build/test/_build``), made once per session.

    Set ``DLBOOK_REUSE_BUILD=1`` to keep the earlier build's executed chapters while iterating on
    tests (only chapters whose content key changed execute again, and the site is assembled
    anew); ``make test`` and CI always build afresh.
    """
    return build_book(BUILD_ROOT, fresh=os.environ.get("DLBOOK_REUSE_BUILD") != "1")


def executed_notebook(build: Path, source: Path):
    """The notebook ``source`` as the build executed it (outputs, execution counts), or None.

    It is the chapter's product, ``executed/fast/<name>.ipynb``, when its key is that of the
    current source; a chapter whose execution failed has none (its error is in
    ``executed/fast/<name>.err.log``).
    """
    import nbformat

    from dlbook import build as dlbuild

    path = dlbuild.product(build, "fast", source)[0]
    if not dlbuild.is_current(build, ROOT, "fast", source):
        return None
    return nbformat.read(path, as_version=4)
