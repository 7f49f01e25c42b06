"""Figures of Chapter 1 (convolution and pooling), drawn into ``DL_images/``.

Every number a figure shows -- padding, window positions, pooled values, tensor shapes -- is
computed here, never typed in by hand::

    >>> _windows(13, 6, 5, "same")
    Windows(pad_left=1, pad_right=2, starts=(0, 5, 10), ignored=())
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from dlbook.figures.base import PALETTE, TINTS, _RC, _arrow, _box, _canvas, _poly, _save, _sheet

class _Plane:
    """A grid of unit cells lying in a horizontal plane, seen obliquely from the front.

    Grid coordinates ``(col, row)`` run from the back-left corner (row 0 is the back row).
    ``depth`` is how far (in drawing units per row) the back recedes up and to the right.
    """

    def __init__(self, x0: float, y0: float, nrows: int, ncols: int, kx=0.5, ky=0.42):
        self.x0, self.y0, self.nrows, self.ncols = x0, y0, nrows, ncols
        self.kx, self.ky = kx, ky

    def xy(self, col: float, row: float) -> tuple[float, float]:
        back = self.nrows - row
        return self.x0 + col + self.kx * back, self.y0 + self.ky * back

    def quad(self, col0: float, row0: float, col1: float, row1: float) -> list:
        return [self.xy(col0, row1), self.xy(col1, row1), self.xy(col1, row0), self.xy(col0, row0)]

    def cell(self, row: int, col: int) -> list:
        return self.quad(col, row, col + 1, row + 1)

    def center(self, row: float, col: float) -> tuple[float, float]:
        return self.xy(col + 0.5, row + 0.5)



# ------------------------------------------------------------------------------------------------
# Geometry computed rather than typed in
# ------------------------------------------------------------------------------------------------


class Windows(NamedTuple):
    """Where a 1-D filter lands on an input row (see :func:`_windows`)."""

    pad_left: int
    pad_right: int
    starts: tuple[int, ...]  # first cell of each window, counted in the *padded* row
    ignored: tuple[int, ...]  # input cells (0..I-1) that no window covers


def _windows(input_size: int, filter_size: int, stride: int = 1, padding: str = "valid") -> Windows:
    """Padding and window positions of a 1-D convolution, the way TensorFlow computes them.

    ``"valid"`` adds no padding and drops trailing cells that a full window cannot reach.
    ``"same"`` produces ``ceil(I / S)`` outputs and adds just enough zeros to reach them, putting
    the odd one on the right. Window starts are counted in the padded row (cell 0 is the first
    left-padding zero, if any); subtract ``pad_left`` to get input coordinates.

    >>> _windows(13, 6, 5, "valid")
    Windows(pad_left=0, pad_right=0, starts=(0, 5), ignored=(11, 12))
    >>> _windows(13, 6, 5, "same")
    Windows(pad_left=1, pad_right=2, starts=(0, 5, 10), ignored=())
    """
    i, f, s = int(input_size), int(filter_size), int(stride)
    if min(i, f, s) < 1:
        raise ValueError("input_size, filter_size and stride must be positive")
    padding = padding.lower()
    if padding == "valid":
        pad_left = pad_right = 0
    elif padding == "same":
        n_out = -(-i // s)  # ceil(i / s)
        total = max((n_out - 1) * s + f - i, 0)
        pad_left, pad_right = total // 2, total - total // 2
    else:
        raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")
    padded = i + pad_left + pad_right
    if padded < f:
        return Windows(pad_left, pad_right, (), tuple(range(i)))
    n_out = (padded - f) // s + 1
    starts = tuple(k * s for k in range(n_out))
    covered = set()
    for a in starts:
        covered.update(range(a - pad_left, a - pad_left + f))
    ignored = tuple(c for c in range(i) if c not in covered)
    return Windows(pad_left, pad_right, starts, ignored)


def _pool2d(x: np.ndarray, size: int = 2, stride: int = 2, op: str = "max") -> np.ndarray:
    """Plain VALID 2-D pooling of a single-channel array (the figure's own small reference)."""
    h = (x.shape[0] - size) // stride + 1
    w = (x.shape[1] - size) // stride + 1
    reduce = {"max": np.max, "avg": np.mean}[op]
    out = np.empty((h, w), dtype=float)
    for r in range(h):
        for c in range(w):
            out[r, c] = reduce(x[r * stride : r * stride + size, c * stride : c * stride + size])
    return out


def _fmt(v: float) -> str:
    return f"{v:g}"



def _receptive_field_panel(ax, stride: int, n: int = 7, f: int = 3, pad: int = 1) -> None:
    """One panel of :func:`conv_local_receptive_field`."""
    ink, grid = PALETTE["ink"], PALETTE["grid"]
    size = n + 2 * pad
    n_out = (n + 2 * pad - f) // stride + 1
    base = _Plane(0.0, 0.0, size, size)
    # The output plane floats above the input, centred over it.
    off = (size - n_out) / 2
    top = _Plane(off, 6.2, n_out, n_out)

    # Input layer: real cells and the zero-padding border.
    for r in range(size):
        for c in range(size):
            is_pad = r < pad or c < pad or r >= size - pad or c >= size - pad
            _poly(
                ax,
                base.cell(r, c),
                facecolor=PALETTE["pad"] if is_pad else PALETTE["cell"],
                edgecolor=grid,
                hatch="////" if is_pad else None,
                linewidth=0.6,
                zorder=1,
            )

    # Two neighbouring output neurons in the front row and the fields they see.
    row = n_out - 1
    picks = [(row, 0, "orange"), (row, 1, "blue")]
    for i, j, colour in picks:
        r0, c0 = i * stride, j * stride
        field = base.quad(c0, r0, c0 + f, r0 + f)
        _poly(ax, field, facecolor=PALETTE[colour], alpha=0.35, edgecolor="none", zorder=2)
        _poly(ax, field, facecolor="none", edgecolor=PALETTE[colour], linewidth=2.0, zorder=3)
        target = top.cell(i, j)
        for (x1, y1), (x2, y2) in zip(field, target):
            ax.plot([x1, x2], [y1, y2], color=PALETTE[colour], lw=0.9, alpha=0.8, zorder=4)

    # Output layer, drawn after the connecting lines so it sits in front of them.
    for r in range(n_out):
        for c in range(n_out):
            _poly(ax, top.cell(r, c), facecolor="white", edgecolor=grid, linewidth=0.6, zorder=5)
    for i, j, colour in picks:
        _poly(ax, top.cell(i, j), facecolor=PALETTE[colour], edgecolor=ink, linewidth=1.0, zorder=6)

    # Annotations: layer names to the right of each plane's back-right corner.
    x_in, _ = base.xy(size, 0)
    y_in = base.xy(size, size / 2)[1]
    ax.text(x_in + 0.3, y_in, f"input {n}×{n}\n+ zero padding {pad}", ha="left",
            va="center", fontsize=10, color=ink)
    x_out, _ = top.xy(n_out, 0)
    y_out = top.xy(n_out, n_out / 2)[1]
    ax.text(x_out + 0.3, y_out, f"output {n_out}×{n_out}", ha="left", va="center", fontsize=10,
            color=ink)
    px, py = base.center(size - 1, size - 1)
    ax.annotate("zero padding", xy=(px, py), xytext=(px + 1.2, py - 1.3), fontsize=10,
                color=PALETTE["muted"], ha="left", va="center",
                arrowprops=dict(arrowstyle="-", color=PALETTE["muted"], lw=0.8))
    # Stride: the gap between the two fields' left edges, marked along the front edge.
    xa, ya = base.xy(0, size)
    xb, yb = base.xy(stride, size)
    ax.annotate("", xy=(xb, ya - 0.35), xytext=(xa, ya - 0.35),
                arrowprops=dict(arrowstyle="<->", color=ink, lw=1.0, shrinkA=0, shrinkB=0))
    ax.text((xa + xb) / 2, ya - 0.55, f"$s={stride}$", ha="center", va="top", fontsize=11,
            color=ink)
    # Same limits for every stride, so that side-by-side panels line up.
    y_top = top.y0 + top.ky * n
    ax.text(0.0, y_top + 0.7, f"stride {stride}:  {f}×{f} field, {n}×{n} → {n_out}×{n_out}",
            ha="left", va="bottom", fontsize=11, color=ink, fontweight="bold")
    ax.set_xlim(-0.6, size + base.kx * size + 4.2)
    ax.set_ylim(-1.9, y_top + 1.5)


def conv_local_receptive_field(out_dir: Path | str | None = None) -> Path:
    """Local receptive fields with zero padding, for stride 1 and stride 2.

    Each output neuron sees a 3×3 window of the layer below; a one-cell border of zeros lets the
    windows at the edge exist. With stride 2 neighbouring windows move two cells apart and the
    output shrinks to about half the size.
    """
    with rc_context(_RC):
        fig, (ax1, ax2) = _canvas(10, 4.6, ncols=2)
        _receptive_field_panel(ax1, stride=1)
        _receptive_field_panel(ax2, stride=2)
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.98, wspace=0.08)
        return _save(fig, "conv_local_receptive_field", out_dir)


def _cell_row(ax, y, first, last, *, face, hatch=None, edge=None, lw=0.8):
    for c in range(first, last + 1):
        ax.add_patch(Rectangle((c, y), 1, 1, facecolor=face, edgecolor=edge or PALETTE["grid"],
                               hatch=hatch, linewidth=lw, zorder=2))


def _padding_panel(ax, input_size, filter_size, stride, padding, x_range):
    ink = PALETTE["ink"]
    win = _windows(input_size, filter_size, stride, padding)
    colours = ["orange", "blue", "green", "purple", "red", "teal"]

    _cell_row(ax, 0, 0, input_size - 1, face=PALETTE["cell"])
    if win.pad_left:
        _cell_row(ax, 0, -win.pad_left, -1, face=PALETTE["pad"], hatch="////")
    if win.pad_right:
        _cell_row(ax, 0, input_size, input_size + win.pad_right - 1, face=PALETTE["pad"],
                  hatch="////")
    for c in sorted(set(range(input_size)) - set(win.ignored)):  # cell indices (padding cells
        # stay blank: they hold zeros; ignored cells get their red index below)
        ax.text(c + 0.5, 0.5, str(c), ha="center", va="center", fontsize=10, color=ink, zorder=3)
    for c in win.ignored:
        ax.add_patch(Rectangle((c, 0), 1, 1, facecolor=TINTS["red"], edgecolor=PALETTE["red"],
                               linewidth=1.4, zorder=2.5))
        ax.text(c + 0.5, 0.5, str(c), ha="center", va="center", fontsize=10, color=PALETTE["red"],
                zorder=3)
    if win.ignored:
        a, b = win.ignored[0], win.ignored[-1] + 1
        ax.text((a + b) / 2, -0.3, "ignored", ha="center", va="top", fontsize=10,
                color=PALETTE["red"])
    if win.pad_left:
        ax.text(-win.pad_left / 2, -0.3, f"pad {win.pad_left}", ha="center", va="top",
                fontsize=10, color=PALETTE["muted"])
    if win.pad_right:
        ax.text(input_size + win.pad_right / 2, -0.3, f"pad {win.pad_right}", ha="center",
                va="top", fontsize=10, color=PALETTE["muted"])

    # Windows as brackets above the row, alternating in height where they overlap.
    y_out = 3.55
    for k, padded_start in enumerate(win.starts):
        start = padded_start - win.pad_left  # draw in input coordinates: both panels line up
        colour = PALETTE[colours[k % len(colours)]]
        y = 1.35 + 0.65 * (k % 2)
        x0, x1 = start + 0.06, start + filter_size - 0.06
        ax.add_patch(Rectangle((start, 0), filter_size, 1, facecolor=colour, alpha=0.18,
                               edgecolor="none", zorder=2.6))
        ax.plot([x0, x0, x1, x1], [1.08, y, y, 1.08], color=colour, lw=2.0, zorder=4,
                solid_joinstyle="miter")
        xc = (x0 + x1) / 2
        ax.plot([xc, xc], [y, y_out - 0.32], color=colour, lw=1.2, zorder=4)
        ax.add_patch(Circle((xc, y_out), 0.32, facecolor=colour, edgecolor=ink, lw=0.8, zorder=5))
        ax.text(xc, y_out, str(k), ha="center", va="center", fontsize=10, color="white",
                fontweight="bold", zorder=6)

    n_out = len(win.starts)
    title = "VALID" if padding == "valid" else "SAME"
    if padding == "valid":
        detail = f"no padding: {n_out} outputs, {len(win.ignored)} cells ignored"
    else:
        detail = (f"pad {win.pad_left} left + {win.pad_right} right: "
                  f"{n_out} outputs = ⌈{input_size}/{stride}⌉")
    ax.text(x_range[0], y_out + 0.95, title, ha="left", va="bottom", fontsize=12,
            fontweight="bold", color=ink)
    ax.text(x_range[0] + 1.75, y_out + 0.95, detail, ha="left", va="bottom", fontsize=11,
            color=ink)
    ax.text(x_range[1], y_out, "outputs", ha="right", va="center", fontsize=10,
            color=PALETTE["muted"])
    ax.text(x_range[1], 0.5, "input", ha="right", va="center", fontsize=10,
            color=PALETTE["muted"])
    ax.set_xlim(*x_range)
    ax.set_ylim(-1.0, y_out + 1.6)


def conv_padding_stride(out_dir: Path | str | None = None, input_size: int = 13,
                        filter_size: int = 6, stride: int = 5) -> Path:
    """The 1-D worked example: input 13, filter 6, stride 5, with VALID and with SAME padding.

    Everything drawn (padding on each side, where each window starts, which cells VALID drops) is
    computed by :func:`_windows` from the three sizes.
    """
    valid = _windows(input_size, filter_size, stride, "valid")
    same = _windows(input_size, filter_size, stride, "same")
    left = -max(valid.pad_left, same.pad_left) - 0.4
    right = input_size + max(valid.pad_right, same.pad_right) + 2.2
    with rc_context(_RC):
        fig = Figure(figsize=(9.5, 6.6), facecolor="white")
        axes = [fig.add_subplot(2, 1, k + 1) for k in range(2)]
        for ax, padding in zip(axes, ["valid", "same"]):
            ax.set_axis_off()
            ax.set_aspect("equal")
            _padding_panel(ax, input_size, filter_size, stride, padding, (left, right))
        top_y = axes[0].get_ylim()[1] - 0.65
        axes[0].text(right, top_y, f"input width {input_size}, filter width {filter_size}, "
                     f"stride {stride}", ha="right", va="bottom", fontsize=10,
                     color=PALETTE["muted"])
        fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=1.0, hspace=0.04)
        return _save(fig, "conv_padding_stride", out_dir)



def conv_feature_maps(out_dir: Path | str | None = None) -> Path:
    """A convolutional layer with several input channels and several output feature maps.

    Each output map has its own filter, and that filter spans all input channels (a small box
    through the whole input stack). The same filter slides over every position, so one map is
    computed everywhere with one set of weights.
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    n, c_in, c_out, f = 6, 3, 4, 3
    n_out = n - f + 1  # stride 1, VALID: every output cell has a full window behind it
    cell = 0.62  # drawing units per feature-map cell
    # Consecutive cards are one cell apart sideways, so the last column of every card in the
    # stack stays visible: that is where the neurons of the maps at the back are drawn.
    ddx, ddy = cell, 0.42
    map_colours = ["orange", "blue", "green", "purple"]

    with rc_context(_RC):
        fig, (ax,) = _canvas(10, 4.8)

        # Input stack: C_in cards, back to front.
        x_in, y_in = 0.0, 0.0
        for k in reversed(range(c_in)):
            _sheet(ax, x_in, y_in, n * cell, n * cell, k * ddx, k * ddy, face="#f4f6f8",
                   edge=ink, lw=0.9, z=2 + (c_in - k), grid=n)
        # Output stack: C_out cards, one colour per map, vertically centred on the input.
        x_out = 10.6
        y_out = y_in + (n - n_out) * cell / 2
        for k in reversed(range(c_out)):
            _sheet(ax, x_out, y_out, n_out * cell, n_out * cell, k * ddx, k * ddy,
                   face=TINTS[map_colours[k]], edge=PALETTE[map_colours[k]], lw=1.1,
                   z=2 + (c_out - k), grid=n_out)

        def cell_xy(x0, y0, size, k, row, col):
            """Lower-left corner of cell (row, col) of card k (row 0 at the top)."""
            return x0 + k * ddx + col * cell, y0 + k * ddy + (size - 1 - row) * cell

        # Filters as (map, row, col) of the window's top-left cell: the filter of map 0 at two
        # positions (shared weights), the filter of map 2 at one position in the last column.
        placements = [(0, 0, 0), (0, n_out - 1, 2), (2, 0, n_out - 1)]
        dx_total, dy_total = (c_in - 1) * ddx, (c_in - 1) * ddy
        for m, row, col in placements:
            colour = PALETTE[map_colours[m]]
            # The filter: a box from the front card (k=0) through the back card (k=c_in-1).
            bx, by = cell_xy(x_in, y_in, n, 0, row + f - 1, col)
            _box(ax, bx, by, f * cell, f * cell, dx_total, dy_total, face=colour, edge=colour,
                 alpha=0.45, lw=1.4, z=20)
            # Its output neuron: cell (row, col) of map m.
            ox, oy = cell_xy(x_out, y_out, n_out, m, row, col)
            ax.add_patch(Rectangle((ox, oy), cell, cell, facecolor=colour, edgecolor=ink,
                                   lw=1.0, zorder=30))
            start = (bx + f * cell + dx_total / 2 + 0.05, by + f * cell / 2 + dy_total / 2)
            _arrow(ax, start, (ox - 0.05, oy + cell / 2), color=colour, lw=1.3,
                   mutation_scale=11, zorder=25, connectionstyle="arc3,rad=-0.06")

        # Labels.
        in_right = x_in + n * cell + dx_total
        out_right = x_out + n_out * cell + (c_out - 1) * ddx
        ax.text(x_in + (n * cell + dx_total) / 2, y_in - 0.35,
                f"input: $H \\times W \\times C_{{in}}$\n{n}×{n}×{c_in}",
                ha="center", va="top", fontsize=10.5, color=ink, linespacing=1.3)
        ax.text((x_out + out_right) / 2, y_in - 0.35,
                f"output: {c_out} feature maps\n{n_out}×{n_out}×{c_out}",
                ha="center", va="top", fontsize=10.5, color=ink, linespacing=1.3)
        top_y = n * cell + dy_total
        ax.text(out_right + 0.25, y_out + n_out * cell + (c_out - 1) * ddy,
                "one filter\nper output\nmap", ha="left", va="top", fontsize=10, color=muted)
        mid_x = (in_right + x_out) / 2
        ax.text(mid_x, top_y + 0.35,
                f"each filter is {f}×{f}×$C_{{in}}$: it spans every input channel",
                ha="center", va="bottom", fontsize=10.5, color=ink)
        ax.text(mid_x + 0.2, y_in - 0.35, "the orange filter at two positions:\n"
                "the same weights everywhere", ha="center", va="top", fontsize=10,
                color=PALETTE["orange"], linespacing=1.3)
        ax.set_xlim(-0.3, out_right + 1.6)
        ax.set_ylim(y_in - 1.5, top_y + 1.0)
        return _save(fig, "conv_feature_maps", out_dir)


def pooling_max_avg(out_dir: Path | str | None = None, seed: int = 26) -> Path:
    """2×2, stride-2 max pooling and average pooling of a small integer grid.

    The 4×4 input is drawn at random (seeded) from 0–9; both pooled grids are computed here. Each
    2×2 window has its own colour, and the maximum of each window is circled. (The default seed
    gives a grid whose windows have one clear maximum each, all different.)
    """
    ink = PALETTE["ink"]
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 10, size=(4, 4))
    pooled = {"max": _pool2d(x, 2, 2, "max"), "avg": _pool2d(x, 2, 2, "avg")}
    quad_colours = [["orange", "blue"], ["green", "purple"]]

    def grid(x0, y0, values, tints, *, size=1.0, circle=None, fontsize=14):
        rows, cols = values.shape
        for r in range(rows):
            for c in range(cols):
                colour = tints(r, c)
                xx, yy = x0 + c * size, y0 + (rows - 1 - r) * size
                ax.add_patch(Rectangle((xx, yy), size, size, facecolor=TINTS[colour],
                                       edgecolor="white", linewidth=2.0, zorder=1))
                if circle is not None and circle[r, c]:
                    ax.add_patch(Circle((xx + size / 2, yy + size / 2), 0.34 * size,
                                        facecolor="none", edgecolor=PALETTE[colour], lw=2.0,
                                        zorder=2))
                ax.text(xx + size / 2, yy + size / 2, _fmt(values[r, c]), ha="center",
                        va="center", fontsize=fontsize, color=ink, zorder=3)
        ax.add_patch(Rectangle((x0, y0), cols * size, rows * size, facecolor="none",
                               edgecolor=ink, lw=1.2, zorder=4))

    # Mark one maximum per window (the first, in reading order, if there is a tie).
    is_max = np.zeros_like(x, dtype=bool)
    for r in range(2):
        for c in range(2):
            block = x[2 * r : 2 * r + 2, 2 * c : 2 * c + 2]
            rr, cc = np.unravel_index(np.argmax(block), block.shape)
            is_max[2 * r + rr, 2 * c + cc] = True

    with rc_context(_RC):
        fig, (ax,) = _canvas(9, 4.6)
        grid(0, 0, x, lambda r, c: quad_colours[r // 2][c // 2], circle=is_max)
        # Window borders inside the input.
        ax.plot([2, 2], [0, 4], color=ink, lw=1.2, zorder=4)
        ax.plot([0, 4], [2, 2], color=ink, lw=1.2, zorder=4)
        ax.text(2, -0.3, "4×4 input", ha="center", va="top", fontsize=11, color=ink)

        out_x = 8.3
        positions = {"max": 2.55, "avg": -0.55}
        labels = {"max": "max pooling", "avg": "average pooling"}
        for op, y0 in positions.items():
            grid(out_x, y0, pooled[op], lambda r, c: quad_colours[r][c], size=1.0, fontsize=13)
            sign = 1 if op == "max" else -1
            start, end = (4.35, 2 + 0.55 * sign), (out_x - 0.2, y0 + 1.0)
            _arrow(ax, start, end, lw=1.4)
            ax.text((start[0] + end[0]) / 2 - 0.3, (start[1] + end[1]) / 2 + 0.4 * sign,
                    f"{labels[op]}\n2×2, stride 2", ha="center",
                    va="bottom" if op == "max" else "top", fontsize=10.5, color=ink,
                    linespacing=1.25)
            ax.text(out_x + 2.2, y0 + 1.0, "2×2", ha="left", va="center", fontsize=10,
                    color=PALETTE["muted"])
        kept = pooled["max"].size / x.size
        ax.text(out_x + 1.0, -0.9, f"{x.size} values → {pooled['max'].size}: "
                f"{1 - kept:.0%} dropped", ha="center", va="top", fontsize=10,
                color=PALETTE["muted"])
        ax.set_xlim(-0.2, out_x + 3.0)
        ax.set_ylim(-1.5, 4.8)
        return _save(fig, "pooling_max_avg", out_dir)


#: The concrete stack drawn by :func:`typical_cnn_stack` by default: (kind, label, shape). It is
#: chapter 1's ``small_convnet`` (the chapter draws the figure from the model itself with
#: :func:`stack_from_model`, and the test suite checks the two agree).
CNN_STACK: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("input", "input", (28, 28, 1)),
    ("conv", "conv 3×3\n+ ReLU", (28, 28, 32)),
    ("conv", "conv 3×3\n+ ReLU", (28, 28, 32)),
    ("pool", "max pool\n2×2", (14, 14, 32)),
    ("conv", "conv 3×3\n+ ReLU", (14, 14, 64)),
    ("conv", "conv 3×3\n+ ReLU", (14, 14, 64)),
    ("pool", "max pool\n2×2", (7, 7, 64)),
    ("dense", "dense\n+ ReLU", (128,)),
    ("softmax", "dense\n+ softmax", (10,)),
)


def stack_from_model(model) -> tuple[tuple[str, str, tuple[int, ...]], ...]:
    """The (kind, label, shape) rows of :func:`typical_cnn_stack` for a built Keras model.

    Conv2D, pooling and Dense layers become boxes with the layer's real output shape; Flatten
    and Dropout are not drawn (the flatten width is written under the arrow that enters the first
    dense layer). Any other layer is a ``ValueError``: this figure draws plain stacks only.

    >>> import keras
    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same",
    ...     activation="relu"), keras.layers.MaxPooling2D(), keras.layers.Flatten(),
    ...     keras.layers.Dense(10, activation="softmax")])
    >>> [(kind, shape) for kind, _, shape in stack_from_model(net)]
    [('input', (8, 8, 1)), ('conv', (8, 8, 4)), ('pool', (4, 4, 4)), ('softmax', (10,))]
    """
    import keras

    L = keras.layers
    shape = tuple(int(v) for v in model.input_shape[1:])
    rows = [("input", "input", shape)]
    for layer in model.layers:
        shape = tuple(int(v) for v in layer.output.shape[1:])
        act = getattr(getattr(layer, "activation", None), "__name__", "linear")
        if isinstance(layer, (L.InputLayer, L.Flatten, L.Dropout)):
            continue
        if isinstance(layer, L.Conv2D):
            k = "×".join(str(v) for v in layer.kernel_size)
            rows.append(("conv", f"conv {k}" + ("\n+ ReLU" if act == "relu" else ""), shape))
        elif isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D)):
            kind = "max" if isinstance(layer, L.MaxPooling2D) else "avg"
            p = "×".join(str(v) for v in layer.pool_size)
            rows.append(("pool", f"{kind} pool\n{p}", shape))
        elif isinstance(layer, L.Dense):
            softmax = act == "softmax"
            rows.append(("softmax" if softmax else "dense",
                         "dense\n+ " + ("softmax" if softmax else act.replace("relu", "ReLU")),
                         shape))
        else:
            raise ValueError(f"stack_from_model draws plain conv/pool/dense stacks; layer "
                             f"{layer.name!r} is a {type(layer).__name__}.")
    return tuple(rows)


def typical_cnn_stack(out_dir: Path | str | None = None, stack=None) -> Path:
    """The typical stack: [conv → ReLU]×2 → pool, repeated, then dense layers and softmax.

    Box heights follow the spatial size H×W and box thickness follows the number of channels, for
    ``stack`` (rows as :func:`stack_from_model` returns them), by default :data:`CNN_STACK`
    (28×28×1 → … → 7×7×64 → 128 → 10).
    """
    stack = CNN_STACK if stack is None else tuple(stack)
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    colour = {"input": "muted", "conv": "blue", "pool": "orange", "dense": "purple",
              "softmax": "red"}
    hs = 0.115  # drawing units per pixel of height
    ds = 0.045  # receding depth per pixel of width
    gap = 0.95  # free space between consecutive boxes (room for an arrow)
    min_step = 1.85  # minimum distance between box centres (room for the labels)

    # Geometry first: every box's size, then positions, then the drawing.
    boxes = []
    for kind, label, shape in stack:
        if len(shape) == 3:
            h_px, w_px, ch = shape
            h = h_px * hs
            w = 0.1 + 0.9 * math.log2(ch) / 7  # 1 channel -> 0.1, 128 channels -> 1.0
            dx, dy = w_px * ds, w_px * ds * 0.8
        else:
            (units,) = shape
            h = 0.3 * math.sqrt(units)
            w, dx, dy = 0.22, 0.0, 0.0
        boxes.append(dict(kind=kind, label=label, shape=shape, h=h, w=w, dx=dx, dy=dy))
    x = 0.0
    for k, bx in enumerate(boxes):
        if k:
            prev = boxes[k - 1]
            space = gap * (1.6 if bx["kind"] == "dense" and prev["kind"] == "pool" else 1.0)
            x = max(prev["right"] + space, prev["cx"] + min_step - (bx["w"] + bx["dx"]) / 2)
        bx["x"], bx["right"], bx["cx"] = x, x + bx["w"] + bx["dx"], x + (bx["w"] + bx["dx"]) / 2
    top = max(bx["h"] / 2 + bx["dy"] for bx in boxes)
    bottom = -max(bx["h"] / 2 for bx in boxes)
    label_y, shape_y = top + 0.3, bottom - 0.3

    with rc_context(_RC):
        fig, (ax,) = _canvas(10, 3.9)
        for k, bx in enumerate(boxes):
            c = PALETTE[colour[bx["kind"]]]
            if k:
                _arrow(ax, (boxes[k - 1]["right"] + 0.12, 0.0), (bx["x"] - 0.12, 0.0),
                       color=muted, lw=1.1, mutation_scale=10, zorder=1)
            _box(ax, bx["x"], -bx["h"] / 2, bx["w"], bx["h"], bx["dx"], bx["dy"], face=c,
                 edge=ink, alpha=0.6, lw=0.8, z=5)
            ax.text(bx["cx"], shape_y, "×".join(str(v) for v in bx["shape"]), ha="center",
                    va="top", fontsize=10, color=ink)
            ax.text(bx["cx"], label_y, bx["label"], ha="center", va="bottom", fontsize=10,
                    color=ink if bx["kind"] == "input" else c, linespacing=1.1)
        # "Flatten" sits under the arrow between the last pool and the first dense layer.
        i_dense = next(i for i, bx in enumerate(boxes) if bx["kind"] == "dense")
        flat = math.prod(boxes[i_dense - 1]["shape"])
        xa, xb = boxes[i_dense - 1]["right"], boxes[i_dense]["x"]
        ax.text((xa + xb) / 2, -0.15, f"flatten\n{flat:,}", ha="center", va="top", fontsize=10,
                color=muted, linespacing=1.05)
        # Brackets over each [conv → ReLU]×2 → pool block.
        blocks, start = [], None
        for i, bx in enumerate(boxes):
            if bx["kind"] == "conv" and start is None:
                start = i
            if bx["kind"] == "pool" and start is not None:
                blocks.append((start, i))
                start = None
        yb = label_y + 0.95
        for b, (i0, i1) in enumerate(blocks):
            xa, xb = boxes[i0]["cx"] - 0.55, boxes[i1]["cx"] + 0.55
            ax.plot([xa, xa, xb, xb], [yb - 0.12, yb, yb, yb - 0.12], color=ink, lw=1.0)
            ax.text((xa + xb) / 2, yb + 0.08, f"block {b + 1}: [conv → ReLU]×{i1 - i0} → pool",
                    ha="center", va="bottom", fontsize=10, color=ink)
        right = boxes[-1]["right"]
        ax.text(right + 0.3, shape_y - 0.55, "H×W shrinks, depth grows", ha="right", va="top",
                fontsize=10, color=muted, style="italic")
        ax.set_xlim(-0.6, right + 0.6)
        ax.set_ylim(shape_y - 1.0, yb + 0.6)
        return _save(fig, "typical_cnn_stack", out_dir)



#: This chapter's figures, in the order the chapter shows them.
FIGURES = (conv_local_receptive_field, conv_padding_stride, conv_feature_maps, pooling_max_avg,
           typical_cnn_stack)
