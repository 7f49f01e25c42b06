"""Shared test settings (quiet TensorFlow, fast mode, the repository root) and the one book build.

Every notebook executes exactly once per test session: the ``book_build`` fixture builds the whole
book in fast mode, and the tests of notebook execution, the rendered pages, the Colab copies and
the browser all read that one build.
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
# `jupyter-book build --path-output X` writes X/_build/{html,jupyter_execute,.doctrees,...}.
BUILD_ROOT = ROOT / "_build" / "test"
BUILD_LOG = BUILD_ROOT / "build.log"


def build_book(path_output: Path, fresh: bool = True) -> subprocess.CompletedProcess:
    """Build the book in fast mode into ``path_output`` with warnings as errors; log to build.log.

    ``fresh`` removes an earlier build first, so its jupyter-cache cannot hand back outputs made
    by older code (the cache is keyed on the notebook's code cells, not on ``dlbook``).
    """
    import shutil

    if fresh and path_output.exists():
        shutil.rmtree(path_output)
    path_output.mkdir(parents=True, exist_ok=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(path_output), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        env=dict(os.environ, DLBOOK_MODE="fast"),
        cwd=ROOT,
    )
    (path_output / "build.log").write_text(
        f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def book_build() -> Path:
    """The fast-mode build of the whole book (``_build/test/_build``), made once per session.

    Set ``DLBOOK_REUSE_BUILD=1`` to keep an earlier build's execution cache while iterating on
    tests (jupyter-cache then re-executes only notebooks whose code changed); ``make test`` and CI
    always build afresh.
    """
    build_book(BUILD_ROOT, fresh=os.environ.get("DLBOOK_REUSE_BUILD") != "1")
    return BUILD_ROOT / "_build"


def executed_notebook(build: Path, source: Path):
    """The notebook ``source`` as the build executed it (outputs, execution counts), or None.

    myst-nb's copies in ``jupyter_execute/`` carry no outputs when execution is cached, so the
    executed notebook comes from the build's jupyter-cache, matched on the source's code cells.
    A notebook whose execution failed has no cache record: then None.
    """
    from dlbook.colab import cached_execution

    return cached_execution(build / ".jupyter_cache", source)
