"""dlbook.build: chapters executed one by one into products with a content key, reused while the
key holds, resumed after a stop, failing loudly; the run recorded in each product."""

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from dlbook import build

TOC = """format: jb-book
root: book/intro
parts:
  - caption: Part
    numbered: true
    chapters:
      - file: notebooks/01_a
      - file: notebooks/02_b
  - caption: Other
    chapters:
      - file: book/extra
"""


def notebook(code: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nText."), nbformat.v4.new_code_cell(code)]
    return nbformat.writes(nb)


@pytest.fixture
def project(tmp_path):
    """A small project: two chapters, a dlbook with two files, the pinned versions."""
    root = tmp_path / "project"
    (root / "dlbook" / "sub").mkdir(parents=True)
    (root / "dlbook" / "a.py").write_text("x = 1\n")
    (root / "dlbook" / "sub" / "b.py").write_text("y = 1\n")
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "requirements.txt").write_text("numpy==2.0\n")
    (root / "_toc.yml").write_text(TOC)
    (root / "_config.yml").write_text("execute:\n  timeout: 77\n")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "01_a.ipynb").write_text(notebook("print('a')"))
    (root / "notebooks" / "02_b.ipynb").write_text(notebook("print('b')"))
    return root


class FakeRunner:
    """Stands in for the kernel: records what it ran, returns the notebook with one output."""

    def __init__(self, fail=()):
        self.ran, self.fail = [], set(fail)

    def __call__(self, path, mode, timeout):
        self.ran.append((path.stem, mode, timeout))
        if path.stem in self.fail:
            raise RuntimeError(f"cell 1 of {path.stem} raised ZeroDivisionError")
        nb = nbformat.read(path, as_version=4)
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", text=f"{path.stem} in {mode}\n")]
        return nb, "dlbook: mode=x (y) | TensorFlow 9, Keras 9 | CPU only (3 cores) | precision float32"


class EditingRunner(FakeRunner):
    """A run during which someone edits the chapter (as a maintainer does while a long run goes)."""

    def __call__(self, path, mode, timeout):
        nb, describe = super().__call__(path, mode, timeout)
        path.write_text(notebook("print('edited while it ran')"))
        return nb, describe


def keys(root, mode="fast"):
    return {nb.stem: build.content_key(root, nb, mode) for nb in build.chapters(root)}


def test_chapters_come_from_the_toc_in_order(project):
    assert [p.relative_to(project).as_posix() for p in build.chapters(project)] == [
        "notebooks/01_a.ipynb", "notebooks/02_b.ipynb"]
    assert build.chapters(ROOT) and all(p.is_file() for p in build.chapters(ROOT))


def test_select_by_number_or_name_and_bad_names_say_what_exists(project):
    nbs = build.chapters(project)
    assert [p.stem for p in build.select(nbs, ["2"])] == ["02_b"]
    assert [p.stem for p in build.select(nbs, ["02", "01"])] == ["01_a", "02_b"]
    assert [p.stem for p in build.select(nbs, ["b"])] == ["02_b"]
    with pytest.raises(ValueError, match=r"chapter '07' \(--only / ONLY=\).*01_a, 02_b"):
        build.select(nbs, ["07"])


@pytest.mark.parametrize("change", ["dlbook", "dlbook-subfolder", "dlbook-new-file",
                                    "requirements", "pyproject"])
def test_a_changed_dlbook_file_or_pin_changes_every_key(project, change):
    before = keys(project)
    if change == "dlbook":
        (project / "dlbook" / "a.py").write_text("x = 2\n")
    elif change == "dlbook-subfolder":
        (project / "dlbook" / "sub" / "b.py").write_text("y = 2\n")
    elif change == "dlbook-new-file":
        (project / "dlbook" / "c.py").write_text("")
    elif change == "requirements":
        (project / "requirements.txt").write_text("numpy==2.1\n")
    else:
        (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    after = keys(project)
    assert all(after[stem] != before[stem] for stem in before)


def test_a_changed_notebook_changes_its_key_only_and_the_mode_is_in_the_key(project):
    before = keys(project)
    (project / "notebooks" / "02_b.ipynb").write_text(notebook("print('B')"))
    after = keys(project)
    assert after["01_a"] == before["01_a"] and after["02_b"] != before["02_b"]
    assert keys(project, "full")["01_a"] != after["01_a"]
    (project / "dlbook" / "__pycache__").mkdir()
    (project / "dlbook" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert keys(project) == after  # compiled files are not sources


def test_products_carry_the_key_and_the_run(project):
    runner = FakeRunner()
    status = build.execute(project, project / "_build", "full", runner=runner, log=lambda s: None)
    assert status == {"01_a": "executed", "02_b": "executed"}
    assert runner.ran == [("01_a", "full", 77), ("02_b", "full", 77)]  # _config.yml's limit
    for nb_src in build.chapters(project):
        nb_path, key_path = build.product(project / "_build", "full", nb_src)
        assert nb_path == project / "_build" / "executed" / "full" / nb_src.name
        assert key_path.read_text().strip() == build.content_key(project, nb_src, "full")
        run = nbformat.read(nb_path, as_version=4).metadata["dlbook"]["run"]
        assert run["mode"] == "full" and run["device"] == "CPU only (3 cores)"
        assert run["key"] == key_path.read_text().strip()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", run["date"])
        assert run["commit"] == "unknown (not a git clone)" and run["cpu"]
    assert not list((project / "_build" / "executed" / "full").glob(".*tmp*"))


def test_an_unchanged_chapter_is_not_executed_again(project):
    runner, said = FakeRunner(), []
    build.execute(project, project / "_build", "fast", runner=runner, log=said.append)
    product = build.product(project / "_build", "fast", build.chapters(project)[0])[0]
    written = product.stat().st_mtime_ns
    (project / "notebooks" / "02_b.ipynb").write_text(notebook("print('changed')"))
    status = build.execute(project, project / "_build", "fast", runner=runner, log=said.append)
    assert status == {"01_a": "reused", "02_b": "executed"}
    assert [r[0] for r in runner.ran] == ["01_a", "02_b", "02_b"]
    assert product.stat().st_mtime_ns == written
    assert any("01_a (fast) is up to date" in line for line in said)
    # Another mode is another product: nothing is reused across modes.
    assert set(build.execute(project, project / "_build", "full", runner=runner,
                             log=said.append).values()) == {"executed"}
    assert build.execute(project, project / "_build", "fast", force=True, runner=runner,
                         log=said.append) == {"01_a": "executed", "02_b": "executed"}


def test_a_half_finished_run_resumes_where_it_stopped(project):
    build.execute(project, project / "_build", "fast", runner=FakeRunner(), log=lambda s: None)
    nb_path, key_path = build.product(project / "_build", "fast", build.chapters(project)[1])
    nb_path.unlink()  # stopped before 02_b was written ...
    runner = FakeRunner()
    assert build.execute(project, project / "_build", "fast", runner=runner,
                         log=lambda s: None) == {"01_a": "reused", "02_b": "executed"}
    key_path.unlink()  # ... or between the notebook and its key
    assert build.execute(project, project / "_build", "fast", runner=runner,
                         log=lambda s: None)["02_b"] == "executed"
    assert [r[0] for r in runner.ran] == ["02_b", "02_b"]


def test_a_failed_chapter_leaves_no_product_and_fails_loudly(project):
    build.execute(project, project / "_build", "fast", runner=FakeRunner(), log=lambda s: None)
    (project / "notebooks" / "01_a.ipynb").write_text(notebook("1 / 0"))
    (project / "notebooks" / "02_b.ipynb").write_text(notebook("print('still runs')"))
    runner = FakeRunner(fail={"01_a"})
    with pytest.raises(build.BuildError, match=r"(?s)1 chapter\(s\) failed.*01_a.*ZeroDivisionError"):
        build.execute(project, project / "_build", "fast", runner=runner, log=lambda s: None)
    nb_path, key_path = build.product(project / "_build", "fast", build.chapters(project)[0])
    assert not nb_path.exists() and not key_path.exists()  # the stale product went too
    assert "ZeroDivisionError" in nb_path.with_suffix(".err.log").read_text()
    assert [r[0] for r in runner.ran] == ["01_a", "02_b"]  # the other chapter still ran
    assert build.is_current(project / "_build", project, "fast", build.chapters(project)[1])


def test_plan_uses_the_mode_asked_for_then_current_fast_runs_and_says_so(project):
    said = []
    with pytest.raises(build.BuildError, match=r"01_a has no executed notebook.*--only 01"):
        build.plan(project, project / "_build", "full", log=said.append)
    build.execute(project, project / "_build", "fast", runner=FakeRunner(), log=said.append)
    build.execute(project, project / "_build", "full", only=["02"], runner=FakeRunner(),
                  log=said.append)
    said.clear()
    chosen = build.plan(project, project / "_build", "full", log=said.append)
    assert [p.parent.name for p in chosen.values()] == ["fast", "full"]
    assert len(said) == 1 and "01_a" in said[0] and "fast-mode run" in said[0]
    with pytest.raises(build.BuildError, match="01_a"):
        build.plan(project, project / "_build", "full", strict=True)
    # A stale product is never shown: after a change, the source stands in (test builds only).
    (project / "notebooks" / "01_a.ipynb").write_text(notebook("print('new')"))
    assert build.plan(project, project / "_build", "fast", missing="source",
                      log=said.append)[build.chapters(project)[0]] is None


def test_the_page_says_which_run_it_shows(project):
    info = {"mode": "fast", "device": "CPU only (3 cores)", "date": "2026-01-02 03:04 UTC",
            "commit": "a" * 40 + "+changes"}
    nb = nbformat.reads(notebook("x"), as_version=4)
    staged = build.with_note(nb, build.note_block(info, wanted="full"))
    lines = staged.cells[0].source.splitlines()
    assert lines[0] == "# Title" and lines[2] == "```{note}" and lines[-1] == "Text."
    assert "**fast-mode** run" in lines[3] and "CPU only (3 cores)" in lines[3]
    assert "2026-01-02 03:04 UTC" in lines[3] and "`aaaaaaaaaaaa` with uncommitted changes" in lines[3]
    assert "no full-mode run" in lines[3]
    assert staged.metadata["dlbook"]["page_note"] in staged.cells[0].source
    colab_line = build.run_note(info, colab=True)
    assert "CPU runtime in fast mode" in colab_line and "differ" in colab_line


def test_stage_mirrors_the_sources_with_execution_off(project):
    import yaml

    (project / "book").mkdir()
    (project / "book" / "intro.md").write_text("# Intro\n")
    build.execute(project, project / "_build", "fast", runner=FakeRunner(), log=lambda s: None)
    chosen = build.plan(project, project / "_build", "fast")
    tree = build.stage(project, project / "_build", "fast", chosen)
    config = yaml.safe_load((tree / "_config.yml").read_text())
    assert config["execute"] == {"timeout": 77, "execute_notebooks": "off"}
    assert (tree / "_toc.yml").read_text() == TOC and (tree / "book" / "intro.md").is_file()
    staged = nbformat.read(tree / "notebooks" / "01_a.ipynb", as_version=4)
    assert staged.cells[1].outputs[0]["text"] == "01_a in fast\n"
    assert "```{note}" in staged.cells[0].source


def test_git_commit_marks_uncommitted_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f").write_text("1")
    git("add", "f")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    head = build.git_commit(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    (tmp_path / "f").write_text("2")
    assert build.git_commit(tmp_path) == head + "+changes"


def test_bad_mode_names_the_fix(project):
    with pytest.raises(ValueError, match="--mode fast or --mode full"):
        build.execute(project, project / "_build", "quick")
    with pytest.raises(ValueError, match="named _build"):
        build.assemble(project, project / "out", "fast")


def test_pdf_without_tex_names_what_to_install(project, monkeypatch):
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(build.BuildError, match="apt-get install texlive-xetex latexmk"):
        build.pdf(project, project / "_build", "fast")


def test_pdf_typesets_executed_chapters_only(project, monkeypatch):
    """The PDF never executes: a chapter without a current run stops it before LaTeX, with the
    command that makes one."""
    monkeypatch.setattr(build.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **k: pytest.fail("LaTeX ran"))
    with pytest.raises(build.BuildError, match="01_a has no executed notebook.*--only 01"):
        build.pdf(project, project / "_build", "fast")


def test_key_command_prints_the_key_without_pyyaml_for_a_path():
    chapter = build.chapters(ROOT)[0]
    rel = chapter.relative_to(ROOT).as_posix()
    # -S: no site-packages (no PyYAML), as in the workflow's step before anything is installed.
    out = subprocess.run([sys.executable, "-S", "-m", "dlbook.build", "key", rel, "--mode", "full"],
                         cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == build.content_key(ROOT, chapter, "full")


def test_a_real_kernel_runs_the_chapter_in_its_mode_and_reports_its_device(project, monkeypatch):
    """One end-to-end execution with nbclient: the mode reaches the kernel, the device line is
    the kernel's own, an error is the notebook's, a native library's stderr stays out of it."""
    # ipykernel never forwards file descriptor 2 when it sees this variable (set by pytest, and
    # inherited by the kernel); without it the kernel behaves as under make book
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    (project / "notebooks" / "01_a.ipynb").write_text(notebook(
        "import os, sys\nprint(os.environ['DLBOOK_MODE'])\n"
        "os.write(2, b'native start-up line\\n')\nprint('a Python warning', file=sys.stderr)"))
    (project / "notebooks" / "02_b.ipynb").write_text(notebook("raise KeyError('no such column')"))
    with pytest.raises(build.BuildError, match="KeyError"):
        build.execute(project, project / "_build", "full", log=lambda s: None)
    nb_path = build.product(project / "_build", "full", build.chapters(project)[0])[0]
    nb = nbformat.read(nb_path, as_version=4)
    # a native library's stderr goes to the build's log (build.KERNEL_ARGS), Python's to the cell
    assert [(o["name"], o["text"]) for o in nb.cells[1].outputs] == [
        ("stdout", "full\n"), ("stderr", "a Python warning\n")]
    assert len(nb.cells) == 2  # the device cell is gone again
    run = nb.metadata["dlbook"]["run"]
    assert run["describe"].startswith("dlbook: mode=full") and run["device"] in run["describe"]
    assert "no such column" in (nb_path.parent / "02_b.err.log").read_text()
    assert json.loads(nb_path.read_text())["cells"][1]["execution_count"] == 1


def test_make_book_only_executes_that_chapter_and_gives_the_others_a_current_run(project, monkeypatch):
    """ONLY=02 in full mode from a clean build: 02 runs in full mode; 01, which has no executed
    notebook at all, runs in fast mode (announced) so the site has every chapter; then nothing
    runs again, and the assembly is asked for full mode each time."""
    assembled, said = [], []
    monkeypatch.setattr(build, "assemble", lambda root, build_dir, mode, log: assembled.append(mode))
    runner = FakeRunner()
    build.book(project, project / "_build", "full", only=["02"], log=said.append, runner=runner)
    assert runner.ran == [("02_b", "full", 77), ("01_a", "fast", 77)]
    assert [line for line in said if "executing it in fast mode" in line] == [
        "dlbook.build: 01_a has no executed notebook of its current version; executing it in "
        "fast mode so the site has every chapter"]
    build.book(project, project / "_build", "full", only=["02"], log=said.append, runner=runner)
    assert len(runner.ran) == 2 and assembled == ["full", "full"]
    chosen = build.plan(project, project / "_build", "full", log=said.append)
    assert [p.parent.name for p in chosen.values()] == ["fast", "full"]


def test_a_chapter_edited_while_it_ran_is_stale_afterwards(project):
    source = project / "notebooks" / "01_a.ipynb"
    key_before = build.content_key(project, source, "fast")
    build.execute(project, project / "_build", "fast", only=["01"], runner=EditingRunner(),
                  log=lambda s: None)
    key_path = build.product(project / "_build", "fast", source)[1]
    assert key_path.read_text().strip() == key_before  # the key of the source that ran
    assert not build.is_current(project / "_build", project, "fast", source)
    runner = FakeRunner()
    status = build.execute(project, project / "_build", "fast", only=["01"], runner=runner,
                           log=lambda s: None)
    assert status == {"01_a": "executed"} and runner.ran == [("01_a", "fast", 77)]
