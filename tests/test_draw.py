"""Tests of :mod:`dlbook.draw`: where the box outline lands, and batched prediction."""

import matplotlib

matplotlib.use("Agg")

import keras  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlbook import draw  # noqa: E402


def test_outline_encloses_exactly_the_boxes_pixels():
    fig, ax = plt.subplots()
    draw.plain(ax, np.zeros((10, 10)), "t", cmap="gray")
    draw.draw_box(ax, [2, 3, 6, 8], "red", "label", style="--")
    (rect,) = ax.patches
    # imshow centres pixel i at i: pixels 2..5 span [1.5, 5.5]
    assert rect.get_xy() == (1.5, 2.5) and rect.get_width() == 4 and rect.get_height() == 5
    assert rect.get_linestyle() == "--"
    (text,) = ax.texts
    assert text.get_text() == "label" and text.get_fontsize() >= draw.LABEL_SIZE
    assert ax.get_xticks().size == 0 and ax.get_title() == "t"
    plt.close(fig)


@pytest.mark.parametrize("box", [[1, 2, 3], [5, 0, 2, 4], [0, 0, np.nan, 1]])
def test_bad_boxes_are_refused(box):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="box"):
        draw.draw_box(ax, box, "red")
    plt.close(fig)


def test_predict_in_batches_equals_one_call():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, {"a": keras.layers.Dense(3)(inputs), "b": keras.layers.Dense(1)(inputs)})
    x = np.random.default_rng(0).normal(size=(11, 5)).astype("float32")
    whole = model(x)
    parts = draw.predict(model, x, batch_size=4)
    for key in ("a", "b"):
        np.testing.assert_allclose(parts[key], np.asarray(whole[key]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        draw.predict(model, x, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        draw.predict(model, x, batch_size=2.5)


@pytest.mark.parametrize("span, expected", [((18, 65), ["20", "30", "50"]),
                                            ((0.02, 3), ["0.02", "0.05", "0.1", "0.2", "0.5", "1", "2"]),
                                            ((0.5, 2000), ["1", "10", "100", "1000"])])
def test_log_ticks_are_plain_numbers_that_do_not_crowd(span, expected):
    fig, ax = plt.subplots(figsize=(3.5, 2))
    ax.set_xscale("log")
    ax.set_xlim(*span)
    draw.log_ticks(ax)
    fig.canvas.draw()
    labels = [t for t in ax.get_xticklabels() if t.get_text() and span[0] <= t.get_position()[0] <= span[1]]
    assert [t.get_text() for t in labels] == expected
    boxes = [t.get_window_extent() for t in labels]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:])), "neighbouring labels overlap"
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))
    plt.close(fig)


def test_log_ticks_refuses_a_linear_axis():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="set_yscale"):
        draw.log_ticks(ax, "y")
    plt.close(fig)


def test_labels_stay_inside_the_image():
    # a box at the top edge gets its label inside; a box in the right half, one ending at its
    # right corner: no label crosses the image's border
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
    for ax in axes:
        draw.plain(ax, np.zeros((48, 48)), cmap="gray")
    draw.draw_box(axes[0], [1, 0, 20, 15], "cyan", "T-shirt/top 0.51")
    draw.draw_box(axes[0], [30, 30, 47, 46], "cyan", "Sneaker 0.43")
    draw.draw_box(axes[1], [10, 20, 30, 40], "cyan", "Bag 0.90")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        frame = ax.get_window_extent(renderer)
        for t in ax.texts:
            box = t.get_window_extent(renderer)
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, t.get_text()
            assert frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1, t.get_text()
    top, right, middle = axes[0].texts[0], axes[0].texts[1], axes[1].texts[0]
    assert top.get_va() == "top" and middle.get_va() == "bottom"    # inside, above
    assert right.get_ha() == "right" and middle.get_ha() == "left"
    plt.close(fig)
