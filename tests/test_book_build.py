"""The whole book builds, in fast mode, with warnings treated as errors."""

import os
import subprocess
import sys
from pathlib import Path


from conftest import ROOT


def test_book_builds_without_warnings(tmp_path):
    env = dict(os.environ, DLBOOK_MODE="fast")
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jb), "build", str(ROOT), "--path-output", str(tmp_path), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"jupyter-book build failed:\n{log[-6000:]}"
    html = tmp_path / "_build" / "html"
    chapter = html / "notebooks" / "01_convolution_and_pooling.html"
    assert chapter.is_file()
    page = chapter.read_text()
    # Executed: outputs and glued numbers are in the page, no unresolved glue keys or errors.
    assert "cell_output" in page
    assert "Traceback" not in page
    # Chapter citations render as footnotes defined in the chapter's References section.
    assert 'id="footcite-lecun1998gradient"' in page and 'href="#footcite-lecun1998gradient"' in page
    bib = (html / "book" / "bibliography.html").read_text()
    assert "LeCun" in bib and "Krizhevsky" in bib
    # The how-to-run page renders the recorded benchmark tables, and its marker comments stay hidden.
    how = (html / "book" / "how_to_run.html").read_text()
    assert how.count("<table") >= 3 and "% bench" not in how
    assert "Best test accuracy of the reference recipe" in how
