"""Small helpers that chapters 8 and 9 both use to look at images, boxes and predictions.

- :func:`plain` shows an image in a matplotlib axis without ticks, with an optional small title;
- :func:`draw_box` outlines a box given by its corners ``[x1, y1, x2, y2]`` (exclusive ends, the
  convention of :mod:`dlbook.scenes` and :mod:`dlbook.detect`) on such an axis, with an optional
  label above it;
- :func:`predict` runs a Keras model on an array in batches and returns NumPy arrays (a dict of
  them for a model with named outputs), without ``Model.predict``'s progress bar;
- :func:`log_ticks` labels a logarithmic axis with plain numbers (20, 50, 100) at a spacing that
  fits its span, instead of Matplotlib's minor-tick labels (2×10¹, 3×10¹...), which run into each
  other when the axis covers less than a decade or two.

Text is drawn at sizes that stay at least 9 px high when a figure drawn 7 inches wide at 100 dpi
is shown in the book's content column (``TITLE_SIZE``, ``LABEL_SIZE``, in points).

Example::

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig, ax = plt.subplots()
    >>> plain(ax, np.zeros((8, 8)), "empty", cmap="gray")
    >>> draw_box(ax, [1, 1, 5, 4], "yellow", "item")
    >>> len(ax.patches), ax.get_title()
    (1, 'empty')
    >>> plt.close(fig)
"""

from __future__ import annotations

import numpy as np

from dlbook import checks

__all__ = ["LABEL_SIZE", "TITLE_SIZE", "draw_box", "log_ticks", "plain", "predict"]

TITLE_SIZE = 8
"""Font size (points) of panel titles: 11 px at 100 dpi."""

LABEL_SIZE = 6.5
"""Font size (points) of box labels: 9 px at 100 dpi, the smallest text the book draws."""


def plain(ax, image, title=None, **kwargs):
    """Show ``image`` on ``ax`` without ticks; ``kwargs`` go to ``ax.imshow`` (``cmap``, ``vmin``...)."""
    ax.imshow(image, **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)


def draw_box(ax, box, color, label=None, style="-", linewidth=1.2):
    """Outline the box ``[x1, y1, x2, y2]`` (pixel corners, exclusive ends) on an image axis.

    ``imshow`` centres pixel ``i`` at coordinate ``i``, so the outline runs half a pixel outside
    the box's first and last pixels. ``style`` is a matplotlib line style ("-", "--", ":").

    ``label`` is written in the outline's colour on a dark band, so it stays legible over the
    image and over other outlines. It sits on the box's top edge, outside the box, or inside it
    when the box touches the top of the image; it starts at the box's left corner, or ends at
    its right corner for a box in the right half, so that it stays within the image.
    """
    import matplotlib.pyplot as plt

    x1, y1, x2, y2 = checks.array(box, "box", ndim=1, last=4, shape_hint="(4,)").tolist()
    if x2 < x1 or y2 < y1:
        raise ValueError(f"box is {[x1, y1, x2, y2]}: expected corners [x1, y1, x2, y2] with "
                         "x1 <= x2 and y1 <= y2.")
    ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec=color,
                               lw=linewidth, ls=style))
    if label:
        (left, right), (bottom, top) = sorted(ax.get_xlim()), sorted(ax.get_ylim(), reverse=True)
        # the label's height in data units: LABEL_SIZE points (plus its band) on this axis
        axis_points = ax.get_position().height * ax.figure.get_figheight() * 72
        height = 1.6 * LABEL_SIZE * abs(bottom - top) / axis_points
        above = y1 - 0.5 - height >= top
        x, ha = (x1 - 0.5, "left") if x1 + x2 <= left + right else (x2 - 0.5, "right")
        ax.text(x, y1 - 0.5, label, color=color, fontsize=LABEL_SIZE, ha=ha,
                va="bottom" if above else "top", clip_on=True,
                bbox=dict(facecolor="black", alpha=0.6, edgecolor="none", pad=0.8))


def predict(model, x, batch_size=500):
    """The outputs of ``model`` for ``x``, computed in batches of ``batch_size`` in inference mode.

    Returns one NumPy array, or a dict of arrays for a model whose outputs are a dict.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> predict(model, np.ones((7, 3), "float32"), batch_size=4).shape
    (7, 2)
    """
    from keras import ops

    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    if len(x) == 0:
        raise ValueError("x is empty: predict needs at least one input.")
    parts = [model(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([ops.convert_to_numpy(p[k]) for p in parts]) for k in parts[0]}
    return np.concatenate([ops.convert_to_numpy(p) for p in parts])


def log_ticks(ax, axis: str = "x"):
    """Label the logarithmic ``axis`` ("x" or "y") of ``ax`` with plain numbers, no minor labels.

    Call it after the data are drawn: the ticks sit at 1, 2, 3 and 5 times a power of ten when
    the axis spans at most about a decade, at 1, 2 and 5 up to about two and a half decades,
    and at the powers of ten beyond that, so neighbouring labels do not overlap.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.semilogx([18, 65], [0, 1])
    >>> log_ticks(ax)
    >>> fig.canvas.draw()
    >>> [t.get_text() for t in ax.get_xticklabels() if 18 <= t.get_position()[0] <= 65]
    ['20', '30', '50']
    >>> plt.close(fig)
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if axis not in ("x", "y"):
        raise ValueError(f"axis is {axis!r}: expected 'x' or 'y', the axis whose scale is 'log'.")
    target = ax.xaxis if axis == "x" else ax.yaxis
    if target.get_scale() != "log":
        raise ValueError(f"the {axis} axis has scale {target.get_scale()!r}: log_ticks labels a "
                         f"logarithmic axis; call ax.set_{axis}scale('log') first.")
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    decades = np.log10(high / low)
    subs = (1, 2, 3, 5) if decades <= 1.2 else (1, 2, 5) if decades <= 2.5 else (1,)
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())
