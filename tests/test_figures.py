"""Tests of :mod:`dlbook.figures`: every static figure has its generator, and every generator
draws a valid, deterministic PNG.

The window geometry behind ``conv_padding_stride`` is checked twice: against
:mod:`dlbook.calc` (output size and SAME padding) and against a brute-force scan that places a
filter at every stride step and keeps the placements that fit.
"""

import functools
import itertools
import math
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from dlbook import figures
from dlbook.runtime import COLUMN_PX

NAMES = sorted(figures.FIGURES)


def test_registry_names_match_functions():
    assert NAMES, "no figures registered"
    for name, fn in figures.FIGURES.items():
        assert fn.__name__ == name
        # Generators live in the chapter modules dlbook.figures.chN.
        assert fn.__module__.startswith("dlbook.figures"), fn.__module__
        assert getattr(sys.modules[fn.__module__], name) is fn


def test_default_dir_is_the_repository_folder():
    assert figures.DEFAULT_DIR == ROOT / "DL_images"


def test_every_committed_png_has_a_generator_and_vice_versa():
    on_disk = {p.stem for p in (ROOT / "DL_images").glob("*.png")}
    assert on_disk - set(NAMES) == set(), "PNG files in DL_images/ that no function draws"
    assert set(NAMES) - on_disk == set(), "figures not generated yet: run `make figures`"


@pytest.mark.parametrize("name", NAMES)
def test_figure_is_a_sensible_png(name, tmp_path):
    path = figures.draw(name, tmp_path)
    assert path == tmp_path / f"{name}.png"
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG"
        width, height = img.size
    assert width >= 600, f"{name} is only {width} px wide"
    assert 150 <= height <= 2 * width, f"{name} has an odd shape: {width}×{height}"
    # Not blank: a drawing has plenty of non-white pixels.
    pixels = np.asarray(Image.open(path).convert("L"))
    assert (pixels < 250).mean() > 0.02


@pytest.mark.parametrize("name", NAMES)
def test_figure_is_deterministic(name, tmp_path):
    first = figures.draw(name, tmp_path / "a")
    second = figures.draw(name, tmp_path / "b")
    a = np.asarray(Image.open(first).convert("RGBA"))
    b = np.asarray(Image.open(second).convert("RGBA"))
    assert a.shape == b.shape
    assert np.array_equal(a, b)


def test_draw_all_and_unknown_name(tmp_path):
    paths = figures.draw_all(tmp_path)
    assert sorted(p.stem for p in paths) == NAMES
    assert all(p.is_file() for p in paths)
    with pytest.raises(KeyError, match="known figures"):
        figures.draw("no_such_figure", tmp_path)


def test_command_line(tmp_path, capsys):
    assert figures.main(["--out", str(tmp_path), "pooling_max_avg"]) == 0
    assert (tmp_path / "pooling_max_avg.png").is_file()
    assert "pooling_max_avg.png" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        figures.main(["--out", str(tmp_path), "no_such_figure"])


# ------------------------------------------------------------------------------ window geometry
def test_worked_example_windows():
    valid = figures._windows(13, 6, 5, "valid")
    assert (valid.pad_left, valid.pad_right) == (0, 0)
    assert valid.starts == (0, 5)
    assert valid.ignored == (11, 12)
    same = figures._windows(13, 6, 5, "same")
    assert (same.pad_left, same.pad_right) == (1, 2)
    assert 13 + same.pad_left + same.pad_right == 16
    assert same.starts == (0, 5, 10)
    assert same.ignored == ()


def _brute_force(i, f, s, pad_left, pad_right):
    """Every stride step at which a filter of width f still fits in the padded row."""
    padded = i + pad_left + pad_right
    return tuple(a for a in range(0, padded, s) if a + f <= padded)


CASES = [(i, f, s) for i, f, s in itertools.product(range(1, 30), range(1, 9), range(1, 7))]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_windows_agree_with_calc_and_brute_force(padding):
    from dlbook import calc

    checked = 0
    for i, f, s in CASES:
        win = figures._windows(i, f, s, padding)
        if padding == "same":
            assert (win.pad_left, win.pad_right) == calc.same_padding(i, f, s)
            assert len(win.starts) == math.ceil(i / s)
        assert win.starts == _brute_force(i, f, s, win.pad_left, win.pad_right)
        if padding == "valid" and f > i:
            assert win.starts == ()  # the filter does not fit; calc refuses such a layer
            continue
        assert len(win.starts) == calc.conv_output_size(i, f, stride=s, padding=padding)
        # Ignored cells: input cells outside every window (at the end, or between windows when
        # the stride is larger than the filter).
        covered = np.zeros(i + win.pad_left + win.pad_right, dtype=bool)
        for a in win.starts:
            covered[a : a + f] = True
        expected = tuple(int(c) for c in np.flatnonzero(~covered[win.pad_left : win.pad_left + i]))
        assert win.ignored == expected
        checked += 1
    assert checked > 500


def test_windows_rejects_bad_arguments():
    with pytest.raises(ValueError):
        figures._windows(13, 6, 0)
    with pytest.raises(ValueError):
        figures._windows(13, 6, 5, "full")


def test_pooling_reference_matches_numpy():
    x = np.random.default_rng(0).integers(0, 10, size=(4, 4))
    blocks = x.reshape(2, 2, 2, 2).swapaxes(1, 2)
    assert np.array_equal(figures._pool2d(x, 2, 2, "max"), blocks.max(axis=(2, 3)))
    assert np.allclose(figures._pool2d(x, 2, 2, "avg"), blocks.mean(axis=(2, 3)))


def test_typical_stack_is_drawn_from_a_models_layers(tmp_path):
    """stack_from_model reads shapes from the layers; a changed network changes the figure."""
    import keras

    from dlbook.figures import ch1

    def stack(width, input_shape=(28, 28, 1)):
        layers = [keras.Input(input_shape)]
        for filters in (width, 2 * width):
            layers += [keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                       keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                       keras.layers.MaxPooling2D(2)]
        layers += [keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                   keras.layers.Dropout(0.5), keras.layers.Dense(10, activation="softmax")]
        return ch1.stack_from_model(keras.Sequential(layers))

    assert stack(32) == ch1.CNN_STACK  # the default figure is the chapter's network
    wide = stack(64)
    assert wide != ch1.CNN_STACK and wide[-3][2] == (7, 7, 128)
    a = ch1.typical_cnn_stack(tmp_path / "a", stack=wide)
    b = ch1.typical_cnn_stack(tmp_path / "b")
    assert a.read_bytes() != b.read_bytes()
    odd = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match="BatchNormalization"):
        ch1.stack_from_model(odd)


# The smallest text a reader should have to read on the page, in CSS pixels as displayed.
MIN_TEXT_PX = 9.0


@functools.cache
def _shown_widths() -> dict[str, int]:
    """The width each chapter asks for when it shows a static figure:
    ``images_hconcat([figure_path("name")], width=W)`` in its notebook, or the column for a
    figure a notebook draws itself (``ch1_figures.name(...)``)."""
    import json
    import re

    widths = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            for match in re.finditer(r'figure_path\("(\w+)"\)\],\s*width=(\d+)', source):
                widths[match.group(1)] = int(match.group(2))
            for match in re.finditer(r"_figures\.(\w+)\(out_dir=", source):
                widths.setdefault(match.group(1), COLUMN_PX)
    return widths


def _drawn(name, tmp_path, monkeypatch):
    """Draw ``name``; return the matplotlib figure it saved and the PNG's pixel width."""
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def keep(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    path = figures.draw(name, tmp_path)
    with Image.open(path) as img:
        return saved[-1], img.size[0]


def _texts(fig):
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_every_figure_is_shown_by_a_chapter():
    assert set(NAMES) - set(_shown_widths()) == set(), "figures no notebook shows"


@pytest.mark.parametrize("name", NAMES)
def test_figure_text_is_readable_at_the_size_shown(name, tmp_path, monkeypatch):
    """Every label, as the page shows it, is at least MIN_TEXT_PX high: the PNG is drawn at
    ``figures.DPI``, shrunk to the width the notebook asks for, then to the column."""
    fig, native = _drawn(name, tmp_path, monkeypatch)
    shown = min(_shown_widths()[name], COLUMN_PX, native)
    scale = shown / native
    small = sorted({(round(t.get_fontsize() * figures.DPI / 72 * scale, 1), t.get_text()[:30])
                    for t in _texts(fig)})
    too_small = [(px, text) for px, text in small if px < MIN_TEXT_PX]
    assert not too_small, (f"{name}: drawn {native} px wide, shown at {shown} px; text below "
                           f"{MIN_TEXT_PX} px as displayed: {too_small[:5]}")


@pytest.mark.parametrize("name", NAMES)
def test_figure_labels_do_not_overlap(name, tmp_path, monkeypatch):
    """No two labels of a figure cover each other (their drawn extents are disjoint)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig, _ = _drawn(name, tmp_path, monkeypatch)
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [(t.get_text()[:25], t.get_window_extent(renderer).expanded(0.98, 0.9))
             for t in _texts(fig)]
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
               if box_a.overlaps(box_b)]
    assert not clashes, f"{name}: labels drawn over each other: {clashes[:5]}"
