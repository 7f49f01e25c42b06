"""Tests of dlbook.nb_setup: the ipypublish-compatible image helpers and glue."""

import re

import numpy as np
import pytest
from PIL import Image

from dlbook.nb_setup import glue, images_gridconcat, images_hconcat, images_vconcat, markdown_table


def solid(w, h, colour):
    return Image.new("RGB", (w, h), colour)


@pytest.fixture
def files(tmp_path):
    paths = []
    for i, (w, h) in enumerate([(40, 20), (60, 30), (20, 40)]):
        p = tmp_path / f"im{i}.png"
        solid(w, h, (50 * i, 100, 200)).save(p)
        paths.append(str(p))
    return paths


def test_hconcat_places_images_side_by_side_with_gap(files):
    out = images_hconcat(files, width=None, height=None, gap=7)
    assert out.size == (40 + 60 + 20 + 2 * 7, 40)
    px = np.asarray(out)
    assert tuple(px[0, 0, :3]) == (0, 100, 200)  # first image at the left edge
    assert px[0, 40 + 3, 3] == 0  # the gap is transparent
    assert tuple(px[0, 47, :3]) == (50, 100, 200)  # second image after the gap


def test_vconcat_stacks_images(files):
    out = images_vconcat(files, width=None, height=None, gap=3)
    assert out.size == (60, 20 + 30 + 40 + 2 * 3)


def test_result_is_shrunk_to_fit_box_keeping_aspect(files):
    out = images_hconcat(files, width=60, height=700)
    assert out.width == 60
    assert abs(out.height - round(40 * 60 / 120)) <= 1


def test_width_list_fits_each_image_in_its_own_box(files):
    out = images_hconcat(files, width=[20, 30, 10], height=None)
    assert out.size == (20 + 30 + 10, 20)


def test_height_list_fits_each_image_in_its_own_box_when_stacking(files):
    out = images_vconcat(files, width=None, height=[10, 15, 20])
    assert out.size == (30, 10 + 15 + 20)


def test_gridconcat_rows_and_columns(files):
    grid = images_gridconcat([files[:2], files[2:]], width=None, height=None, hgap=4, vgap=6)
    assert grid.size == (40 + 60 + 4, 30 + 40 + 6)


def test_accepts_pil_images_and_paths_mixed(files):
    out = images_hconcat([files[0], solid(10, 20, "red")], width=None, height=None, aspaths=False)
    assert out.size == (50, 20)


def test_clear_errors(files, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        images_hconcat([str(tmp_path / "nope.png")])
    with pytest.raises(ValueError, match="width has 2 entries for 3 images"):
        images_hconcat(files, width=[10, 20])
    with pytest.raises(ValueError, match="gap=-1"):
        images_vconcat(files, gap=-1)
    with pytest.raises(ValueError, match="empty"):
        images_hconcat([])
    with pytest.raises(TypeError, match="path or a PIL image"):
        images_hconcat([42])


def test_works_on_pillow_without_antialias():
    # ipypublish 0.10.12 crashes here: Pillow >= 10 removed Image.ANTIALIAS.
    assert not hasattr(Image, "ANTIALIAS")
    images_gridconcat([[solid(800, 800, "blue")]], width=100, height=100)


def test_glue_fallback_keeps_values_and_announces_once(monkeypatch, capsys):
    import builtins

    import dlbook.nb_setup as nbs

    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name == "myst_nb":
            raise ImportError("no myst_nb")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst)
    monkeypatch.setattr(nbs, "_GLUE_ANNOUNCED", False)
    monkeypatch.setattr(nbs, "GLUED", {})
    assert glue("answer", 42) is None
    assert glue("other", 7) is None
    out = capsys.readouterr().out
    assert out.count("myst-nb is not installed") == 1
    # Nothing but the one announcement: no "name = value" lines in the reader's notebook.
    assert len(out.strip().splitlines()) == 1 and "42" not in out
    assert nbs.GLUED == {"answer": 42, "other": 7}


def test_glue_records_for_myst_nb_and_echoes_nothing():
    from IPython.core.interactiveshell import InteractiveShell

    import dlbook.nb_setup as nbs

    shell = InteractiveShell.instance()  # myst-nb glue needs a display publisher
    assert glue("pi", 3.14159) is None
    assert nbs.GLUED["pi"] == 3.14159
    # As the last line of a cell, glue(...) leaves no Out[ ] behind.
    result = shell.run_cell("from dlbook.nb_setup import glue\nglue('e', 2.718)", store_history=True)
    assert result.success and result.result is None


def test_glue_turns_numpy_scalars_into_python_numbers():
    import dlbook.nb_setup as nbs

    glue("mean", np.float64(35.5))
    glue("count", np.int64(7))
    value = nbs.GLUED["mean"]
    assert type(value) is float and repr(value) == "35.5"  # {glue:text} parses this repr
    assert type(nbs.GLUED["count"]) is int


def test_figure_path_prefers_the_committed_file():
    import dlbook.nb_setup as nbs
    from dlbook import figures

    name = sorted(figures.FIGURES)[0]
    assert nbs.figure_path(name) == nbs.repo_figures_dir() / f"{name}.png"
    with pytest.raises(ValueError, match="no figure named 'nope'"):
        nbs.figure_path("nope")


def test_figure_path_draws_when_installed_without_the_repo(tmp_path, monkeypatch, capsys):
    import dlbook.nb_setup as nbs
    from dlbook import figures

    name = sorted(figures.FIGURES)[0]
    monkeypatch.setattr(nbs, "repo_figures_dir", lambda: tmp_path / "absent")
    monkeypatch.setattr(nbs, "_FIGURES_ANNOUNCED", False)
    monkeypatch.chdir(tmp_path)
    path = nbs.figure_path(name)
    assert path == tmp_path / "DL_images" / f"{name}.png" and path.is_file()
    assert Image.open(path).width >= 600
    assert "drawing figures into" in capsys.readouterr().out


# --------------------------------------------------------------------------- markdown_table

def _rendered_cells(markdown: str) -> list[list[str]]:
    """The table as markdown-it (the parser under MyST) renders it: a list of rows of cell texts."""
    import re

    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(markdown)
    rows = re.findall(r"<tr>(.*?)</tr>", html, flags=re.S)
    return [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S) for row in rows]


def test_markdown_table_renders_one_cell_per_value_even_with_pipes():
    table = markdown_table(["rule", "score"], [["|map| summed", 0.5], ["plain", 3]])
    cells = _rendered_cells(table.data)
    assert cells == [["rule", "score"], ["|map| summed", "0.5"], ["plain", "3"]]


def test_markdown_table_alignment_per_column():
    text = markdown_table(["a", "b", "c"], [[1, 2, 3]], align="lrc").data
    assert text.splitlines()[1] == "|:---|---:|:---:|"
    assert markdown_table(["a", "b"], [[1, 2]], align="r").data.splitlines()[1] == "|---:|---:|"


@pytest.mark.parametrize("rows, align, words", [
    ([[1]], "-", "row 0 has 1 cells but the header has 2"),
    ([[1, 2]], "lrl", "one letter per column (2 columns)"),
    ([[1, 2]], "x", "give one of l, r, c, -"),
])
def test_markdown_table_bad_input_names_the_fix(rows, align, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        markdown_table(["a", "b"], rows, align=align)


def test_show_source_is_a_python_block_without_the_docstring():
    from dlbook.nb_setup import show_source
    from dlbook.stats import verdict

    text = show_source(verdict).data
    assert text.startswith("```python\ndef verdict(") and text.endswith("\n```")
    assert verdict.__doc__.strip().splitlines()[0] not in text  # the docstring is left out
    body = text.splitlines()[1:-1]
    compile("\n".join(body), "verdict", "exec")  # what is left is still valid Python
    with pytest.raises(TypeError, match="show_source"):
        show_source("verdict")
