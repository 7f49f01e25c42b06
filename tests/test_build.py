"""dlbook.build: the book's execution cache is emptied when the mode or the code changes."""

import pytest

from dlbook import build


@pytest.fixture
def project(tmp_path):
    (tmp_path / "dlbook").mkdir()
    (tmp_path / "dlbook" / "a.py").write_text("x = 1\n")
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")
    return tmp_path


def cached(build_dir):
    """A stand-in for an executed notebook in jupyter-cache."""
    (build_dir / ".jupyter_cache" / "executed").mkdir(parents=True, exist_ok=True)
    (build_dir / ".jupyter_cache" / "executed" / "nb.ipynb").write_text("{}")


def test_same_mode_and_code_keep_the_cache(project, tmp_path):
    out = tmp_path / "_build"
    assert build.guard_cache(out, project, "fast", log=print) is False  # first build: nothing to drop
    cached(out)
    assert build.guard_cache(out, project, "fast", log=print) is False
    assert (out / ".jupyter_cache" / "executed" / "nb.ipynb").is_file()


@pytest.mark.parametrize("change", ["mode", "dlbook", "requirements", "pyproject"])
def test_a_change_of_mode_or_code_empties_the_cache_and_says_so(project, tmp_path, change, capsys):
    out = tmp_path / "_build"
    build.guard_cache(out, project, "fast")
    cached(out)
    mode = "full" if change == "mode" else "fast"
    if change == "dlbook":
        (project / "dlbook" / "a.py").write_text("x = 2\n")
    elif change == "requirements":
        (project / "requirements.txt").write_text("numpy==2.1\n")
    elif change == "pyproject":
        (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    capsys.readouterr()
    assert build.guard_cache(out, project, mode) is True
    assert not (out / ".jupyter_cache").exists()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "emptied the cache" in lines[0]


def test_a_cache_without_a_record_is_not_trusted(project, tmp_path, capsys):
    out = tmp_path / "_build"
    cached(out)  # e.g. made before this guard existed
    assert build.guard_cache(out, project, "full") is True
    assert "unrecorded build" in capsys.readouterr().out


def test_bad_mode_names_the_fix(project, tmp_path):
    with pytest.raises(ValueError, match="DLBOOK_MODE"):
        build.guard_cache(tmp_path / "_build", project, "quick")
