"""Figures of Chapter 2 (design patterns), drawn into ``DL_images/``.

One generator per figure, named like its PNG and listed in :data:`FIGURES`, which the registry
:mod:`dlbook.figures` collects::

    >>> from dlbook import figures
    >>> "residual_block" in figures.FIGURES
    True

Every count a figure prints (receptive fields, weights of a bottleneck, connections of a grouped
convolution, the cost of a depthwise separable convolution) is computed here with
:mod:`dlbook.calc`, never typed in.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import rc_context
from matplotlib.patches import Circle, Rectangle

from dlbook import calc
from dlbook.figures.base import PALETTE, TINTS, _RC, _arrow, _box, _canvas, _layer_box, _save

__all__ = [
    "residual_block", "receptive_field_growth", "bottleneck_block", "grouped_convolution",
    "depthwise_separable_convolution",
]


# ------------------------------------------------------------------------------------------------
# Residual block
# ------------------------------------------------------------------------------------------------


def residual_block(out_dir: Path | str | None = None) -> Path:
    """A residual block: ``y = ReLU(x + F(x))`` with ``F`` = conv → ReLU → conv.

    The forward pass (black) adds the block's input to the output of its two layers; the backward
    pass (red, below) shows that the addition hands the gradient arriving at the output to the
    input unchanged, next to the path through ``F``.
    """
    ink, muted, red = PALETTE["ink"], PALETTE["muted"], PALETTE["red"]
    with rc_context(_RC):
        fig, (ax,) = _canvas(10, 4.2)
        y0, h = 0.0, 1.0
        # x -> conv -> relu -> conv -> (+) -> relu -> y
        ax.text(0.0, y0 + h / 2, "$x$", ha="center", va="center", fontsize=16, color=ink)
        boxes = [(1.2, "conv 3×3", "blue"), (3.3, "ReLU", "green"), (5.4, "conv 3×3", "blue")]
        w = 1.6
        _arrow(ax, (0.3, y0 + h / 2), (boxes[0][0] - 0.05, y0 + h / 2))
        for k, (bx, label, colour) in enumerate(boxes):
            _layer_box(ax, bx, y0, w, h, label, colour)
            if k + 1 < len(boxes):
                _arrow(ax, (bx + w + 0.05, y0 + h / 2), (boxes[k + 1][0] - 0.05, y0 + h / 2))
        add_x = 8.0
        ax.add_patch(Circle((add_x, y0 + h / 2), 0.3, facecolor="white", edgecolor=ink, lw=1.5,
                            zorder=6))
        ax.text(add_x, y0 + h / 2, "+", ha="center", va="center", fontsize=17, color=ink,
                zorder=7)
        _arrow(ax, (boxes[-1][0] + w + 0.05, y0 + h / 2), (add_x - 0.32, y0 + h / 2))
        _layer_box(ax, 8.9, y0, 1.2, h, "ReLU", "green")
        _arrow(ax, (add_x + 0.32, y0 + h / 2), (8.85, y0 + h / 2))
        _arrow(ax, (10.15, y0 + h / 2), (10.8, y0 + h / 2))
        ax.text(11.05, y0 + h / 2, "$y$", ha="center", va="center", fontsize=16, color=ink)
        # F(x) bracket under the three layers.
        xa, xb = boxes[0][0], boxes[-1][0] + w
        ax.plot([xa, xa, xb, xb], [y0 - 0.15, y0 - 0.3, y0 - 0.3, y0 - 0.15], color=muted, lw=1.0)
        ax.text((xa + xb) / 2, y0 - 0.38, "residual branch $F(x)$", ha="center", va="top",
                fontsize=10.5, color=muted)
        # The shortcut: an arc above the branch from x to the addition.
        top = y0 + h + 1.05
        ax.plot([0.6, 0.6, add_x, add_x], [y0 + h / 2, top, top, y0 + h / 2 + 0.62], color=ink,
                lw=1.6, solid_joinstyle="round")
        _arrow(ax, (add_x, y0 + h / 2 + 0.62), (add_x, y0 + h / 2 + 0.32))
        ax.text((0.6 + add_x) / 2, top + 0.12, "shortcut (identity): $x$ is added unchanged",
                ha="center", va="bottom", fontsize=10.5, color=ink)
        ax.text(add_x + 0.4, y0 + h + 0.2, "$x + F(x)$", ha="left", va="bottom", fontsize=11,
                color=ink)
        # Backward view.
        yb = y0 - 1.35
        _arrow(ax, (10.8, yb), (0.3, yb), color=red, lw=1.5, linestyle="--")
        ax.text(5.5, yb - 0.15,
                r"backward: $\dfrac{\partial L}{\partial x} = \dfrac{\partial L}{\partial y'}"
                r"\left(I + \dfrac{\partial F}{\partial x}\right)$,   $y' = x + F(x)$:"
                "  the identity term passes the gradient through",
                ha="center", va="top", fontsize=10.5, color=red)
        ax.set_xlim(-0.4, 11.4)
        ax.set_ylim(yb - 1.1, top + 0.6)
        return _save(fig, "residual_block", out_dir)


# ------------------------------------------------------------------------------------------------
# Receptive field growth
# ------------------------------------------------------------------------------------------------


def receptive_field_growth(out_dir: Path | str | None = None, layers: int = 3) -> Path:
    """Three stacked 3×3 convolutions (stride 1) see 3, 5 and 7 input pixels.

    Left: a 1-D side view, one neuron of layer 3 traced down to the input. Right: the same nested
    fields on the 2-D input grid. The sizes come from :func:`dlbook.calc.receptive_field_sequence`.
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    fields = calc.receptive_field_sequence([(3, 1)] * layers)  # [3, 5, 7]
    colours = ["orange", "blue", "purple", "green", "red"][:layers]
    n = fields[-1] + 4  # cells per row in the side view
    centre = n // 2
    with rc_context(_RC):
        fig, (ax1, ax2) = _canvas(11, 4.4, ncols=2)
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.98, wspace=0.02)
        # Side view: rows from the input (row 0) to layer `layers` at the top.
        gap = 1.35
        for row in range(layers + 1):
            y = row * gap
            # Cells of this row that the top neuron depends on.
            width = fields[layers - row - 1] if row < layers else 1
            lo, hi = centre - width // 2, centre + width // 2
            colour = colours[layers - row - 1] if row < layers else None
            for c in range(n):
                inside = lo <= c <= hi
                face = TINTS[colour] if (inside and colour) else PALETTE["cell"]
                if row == layers and c == centre:
                    face = PALETTE["red"]
                ax1.add_patch(Rectangle((c, y), 1, 0.8, facecolor=face,
                                        edgecolor=PALETTE[colour] if inside and colour
                                        else PALETTE["grid"], lw=1.2 if inside else 0.6,
                                        zorder=2))
            name = "input" if row == 0 else f"layer {row}"
            ax1.text(-0.3, y + 0.4, name, ha="right", va="center", fontsize=10, color=ink)
            if row < layers:
                ax1.text(n + 0.3, y + 0.4, f"{width} pixels", ha="left", va="center",
                         fontsize=10, color=PALETTE[colour])
            # Connections from every cell of the row above to its 3 inputs here.
            if row < layers:
                above = fields[layers - row - 2] if row + 1 < layers else 1
                a_lo = centre - above // 2
                for c in range(a_lo, a_lo + above):
                    for d in (-1, 0, 1):
                        ax1.plot([c + 0.5, c + d + 0.5], [y + gap, y + 0.8], color=muted,
                                 lw=0.6, alpha=0.7, zorder=1)
        ax1.text(n / 2, (layers + 1) * gap + 0.1, "side view: each 3×3 layer widens the "
                 "field by 2", ha="center", va="bottom", fontsize=10.5, color=ink)
        ax1.set_xlim(-2.6, n + 2.6)
        ax1.set_ylim(-0.5, (layers + 1) * gap + 0.8)
        # 2-D view: nested squares on the input grid.
        g = fields[-1] + 2
        for r in range(g):
            for c in range(g):
                ax2.add_patch(Rectangle((c, r), 1, 1, facecolor=PALETTE["cell"],
                                        edgecolor=PALETTE["grid"], lw=0.5, zorder=1))
        for k in reversed(range(layers)):
            s = fields[k]
            o = (g - s) / 2
            ax2.add_patch(Rectangle((o, o), s, s, facecolor=TINTS[colours[k]], alpha=0.85,
                                    edgecolor=PALETTE[colours[k]], lw=2.0, zorder=2 + layers - k))
            ax2.text(o + s + 0.1 if k == layers - 1 else o + s - 0.1, o + s - 0.1,
                     f"{s}×{s}", ha="left" if k == layers - 1 else "right", va="top",
                     fontsize=10, color=PALETTE[colours[k]], zorder=10, fontweight="bold")
        ax2.add_patch(Rectangle((g / 2 - 0.5, g / 2 - 0.5), 1, 1, facecolor=PALETTE["red"],
                                edgecolor=ink, lw=0.8, zorder=9))
        ax2.text(g / 2, -0.3, f"on the input: after 1, 2, {layers} layers\n"
                 f"one neuron sees {', '.join(f'{f}×{f}' for f in fields)}", ha="center",
                 va="top", fontsize=10.5, color=ink)
        ax2.set_xlim(-1.5, g + 2.2)
        ax2.set_ylim(-2.4, g + 0.6)
        return _save(fig, "receptive_field_growth", out_dir)


# ------------------------------------------------------------------------------------------------
# Bottleneck
# ------------------------------------------------------------------------------------------------


def bottleneck_block(out_dir: Path | str | None = None, channels: int = 256) -> Path:
    """A plain 3×3 convolution (C → C) next to the bottleneck 1×1 (C → C/2), 3×3 (C/2 → C/2),
    1×1 (C/2 → C). Box widths follow the channel counts; the weight counts (without biases) are
    computed for ``channels`` and shown as multiples of C².
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    c, half = channels, channels // 2
    plain = calc.conv_params(3, c, c, use_bias=False)
    layers = [(1, c, half, "teal"), (3, half, half, "blue"), (1, half, c, "teal")]
    counts = [calc.conv_params(k, a, b, use_bias=False) for k, a, b, _ in layers]
    unit = 4.2 / c  # drawing width per channel
    h = 0.85
    with rc_context(_RC):
        fig, (ax,) = _canvas(10, 4.6)
        # Left: plain 3x3.
        xl = 0.0
        ax.text(xl, 3.9, "plain", ha="center", va="bottom", fontsize=12, fontweight="bold",
                color=ink)
        _layer_box(ax, xl - c * unit / 2, 1.3, c * unit, h,
                   f"3×3 conv, C → C\n{plain / c**2:g} C² weights", "blue")
        _arrow(ax, (xl, 3.55), (xl, 1.3 + h + 0.05))
        _arrow(ax, (xl, 1.25), (xl, 0.25))
        ax.text(xl, 3.62, f"C = {c} channels", ha="center", va="bottom", fontsize=10,
                color=muted)
        ax.text(xl, -0.2, f"{plain:,} weights", ha="center", va="top", fontsize=10.5, color=ink)
        # Right: bottleneck, top to bottom.
        xr = 6.2
        ax.text(xr, 3.9, "bottleneck", ha="center", va="bottom", fontsize=12, fontweight="bold",
                color=ink)
        ys = [2.45, 1.3, 0.15]
        bh = 0.72
        _arrow(ax, (xr, 3.55), (xr, ys[0] + bh + 0.05))
        for k, ((ksize, a, b, colour), y, n) in enumerate(zip(layers, ys, counts)):
            width = max(a, b) * unit if ksize == 1 else b * unit
            label_a = "C" if a == c else "C/2"
            label_b = "C" if b == c else "C/2"
            _layer_box(ax, xr - width / 2, y, width, bh, f"{ksize}×{ksize}, {label_a} → {label_b}",
                       colour, fontsize=10)
            ax.text(xr + c * unit / 2 + 0.35, y + bh / 2, f"{n / c**2:g} C²", ha="left",
                    va="center", fontsize=10.5, color=PALETTE[colour])
            if k + 1 < len(layers):
                _arrow(ax, (xr, y - 0.02), (xr, ys[k + 1] + bh + 0.03))
        total = sum(counts)
        _arrow(ax, (xr, ys[-1] - 0.02), (xr, -0.6))
        ax.text(xr + c * unit / 2 + 0.35, -0.35, f"= {total / c**2:g} C²", ha="left",
                va="center", fontsize=11, color=ink, fontweight="bold")
        ax.text(xr, -0.75, f"{total:,} weights ({total / plain:.0%} of the plain layer)",
                ha="center", va="top", fontsize=10.5, color=ink)
        # Shortcut around the bottleneck (as in a ResNet bottleneck block).
        xs = xr - c * unit / 2 - 0.45
        ax.plot([xr, xs, xs, xr - 0.05], [3.3, 3.3, -0.45, -0.45], color=muted, lw=1.2,
                linestyle="--")
        ax.text(xs - 0.1, 1.4, "shortcut\n(in a\nResNet)", ha="right", va="center",
                fontsize=10, color=muted)
        ax.set_xlim(-3.0, xr + c * unit / 2 + 2.2)
        ax.set_ylim(-1.4, 4.4)
        return _save(fig, "bottleneck_block", out_dir)


# ------------------------------------------------------------------------------------------------
# Grouped convolution
# ------------------------------------------------------------------------------------------------


def _channel_links(ax, x0, x1, n, groups, colours, title, caption):
    """Input channels (left column) linked to output channels (right column)."""
    ink = PALETTE["ink"]
    per = n // groups
    step = 0.55
    ys = [(n - 1 - i) * step for i in range(n)]
    for i in range(n):
        g = i // per
        for j in range(n):
            if j // per == g:
                ax.plot([x0 + 0.5, x1], [ys[i] + 0.2, ys[j] + 0.2],
                        color=PALETTE[colours[g]], lw=0.9, alpha=0.75, zorder=1)
    for i in range(n):
        g = i // per
        for x in (x0, x1):
            ax.add_patch(Rectangle((x, ys[i]), 0.5, 0.4, facecolor=TINTS[colours[g]],
                                   edgecolor=PALETTE[colours[g]], lw=1.1, zorder=2))
    ax.text(x0 + 0.25, ys[0] + 0.6, "input\nchannels", ha="center", va="bottom", fontsize=9.5,
            color=ink)
    ax.text(x1 + 0.25, ys[0] + 0.6, "output\nchannels", ha="center", va="bottom", fontsize=9.5,
            color=ink)
    ax.text((x0 + x1 + 0.5) / 2, ys[0] + 1.55, title, ha="center", va="bottom", fontsize=11.5,
            fontweight="bold", color=ink)
    ax.text((x0 + x1 + 0.5) / 2, -0.35, caption, ha="center", va="top", fontsize=10,
            color=ink, linespacing=1.3)


def grouped_convolution(out_dir: Path | str | None = None, channels: int = 8,
                        groups: int = 4) -> Path:
    """A standard convolution (every output channel sees every input channel) next to a grouped
    one with ``groups`` groups (each output channel sees only the input channels of its group).
    Each line is one k×k filter slice; the counts below each panel are computed.
    """
    full = calc.conv_params(3, channels, channels, use_bias=False)
    grouped = calc.conv_params(3, channels, channels, use_bias=False, groups=groups)
    with rc_context(_RC):
        fig, (ax,) = _canvas(10, 4.6)
        _channel_links(ax, 0.0, 3.2, channels, 1, ["blue"], "standard convolution",
                       f"{channels}×{channels} = {channels * channels} channel pairs\n"
                       f"3×3 kernels: {full} weights")
        colours = ["orange", "blue", "green", "purple", "red", "teal"]
        _channel_links(ax, 6.2, 9.4, channels, groups, colours, f"grouped, G = {groups}",
                       f"{groups} groups × {channels // groups}×{channels // groups} = "
                       f"{channels * channels // groups} channel pairs\n"
                       f"3×3 kernels: {grouped} weights ({full // grouped}× fewer)")
        ax.set_xlim(-0.8, 10.6)
        ax.set_ylim(-1.6, (channels - 1) * 0.55 + 2.3)
        return _save(fig, "grouped_convolution", out_dir)


# ------------------------------------------------------------------------------------------------
# Depthwise separable convolution
# ------------------------------------------------------------------------------------------------


def depthwise_separable_convolution(out_dir: Path | str | None = None, m: int = 4, n: int = 6,
                                    k: int = 3, hw: int = 8) -> Path:
    """Standard convolution versus depthwise (one k×k filter per input channel) followed by
    pointwise (1×1 across channels). Costs per output position are computed for the drawn sizes
    (M input channels, N output channels, D_K = k) and the ratio ``1/N + 1/D_K²`` is shown.
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    standard = calc.conv_mult_adds(hw, k, m, n)
    separable = calc.separable_mult_adds(hw, k, m, n)
    depthwise = calc.depthwise_mult_adds(hw, k, m)
    ratio = separable / standard
    cell = 0.17
    side = hw * cell
    dxc, dyc = 0.13, 0.1  # depth offset per channel

    def stack(x, y, channels, colour, label):
        for ch in reversed(range(channels)):
            _box(ax, x + ch * dxc, y + ch * dyc, side, side, 0, 0, face=TINTS[colour],
                 edge=PALETTE[colour], alpha=1.0, lw=0.9, z=2 + channels - ch)
        ax.text(x + (side + (channels - 1) * dxc) / 2, y - 0.2, label, ha="center", va="top",
                fontsize=9.5, color=ink, linespacing=1.2)
        return x + side + (channels - 1) * dxc

    def filt(x, y, depth, colour, size=k):
        s = size * cell
        _box(ax, x, y, s, s, depth * dxc, depth * dyc, face=PALETTE[colour],
             edge=PALETTE[colour], alpha=0.5, lw=1.0, z=20)

    with rc_context(_RC):
        fig, (ax,) = _canvas(11, 5.4)
        # Row 1: standard convolution.
        y1 = 3.8
        ax.text(-0.2, y1 + side + n * dyc + 0.35, "standard convolution", ha="left",
                va="bottom", fontsize=11.5, fontweight="bold", color=ink)
        right = stack(0.0, y1, m, "blue", f"input, {m} channels")
        for j in range(3):
            filt(right + 1.0 + j * 0.9, y1 + 0.4, m, "orange")
        ax.text(right + 2.0, y1 - 0.2, f"{n} filters, each\n{k}×{k}×{m}", ha="center", va="top",
                fontsize=9.5, color=ink)
        ax.text(right + 3.55, y1 + 0.45, "…", fontsize=14, color=ink)
        _arrow(ax, (right + 4.1, y1 + side / 2), (right + 4.8, y1 + side / 2), color=muted)
        out_right = stack(right + 5.0, y1, n, "orange", f"output, {n} channels")
        ax.text(out_right + 0.3, y1 + side / 2, "cost per output position:\n"
                r"$D_K^2 \cdot M \cdot N$", ha="left", va="center", fontsize=10, color=ink)
        # Row 2: depthwise then pointwise.
        y2 = 0.0
        ax.text(-0.2, y2 + side + n * dyc + 0.35, "depthwise separable", ha="left",
                va="bottom", fontsize=11.5, fontweight="bold", color=ink)
        right = stack(0.0, y2, m, "blue", f"input, {m} channels")
        for ch in range(m):
            filt(right + 0.7 + ch * 0.42, y2 + 0.3 + ch * 0.1, 1, "green")
        ax.text(right + 1.45, y2 - 0.2, f"depthwise:\n{m} filters {k}×{k}×1,\none per channel",
                ha="center", va="top", fontsize=9.5, color=ink)
        mid_x = right + 2.9
        mid_right = stack(mid_x, y2, m, "green", f"{m} channels")
        for j in range(3):
            filt(mid_right + 0.6 + j * 0.45, y2 + 0.45 + j * 0.05, m, "purple", size=1)
        ax.text(mid_right + 1.2, y2 - 0.2, f"pointwise:\n{n} filters 1×1×{m}", ha="center",
                va="top", fontsize=9.5, color=ink)
        _arrow(ax, (mid_right + 2.25, y2 + side / 2), (mid_right + 2.75, y2 + side / 2),
               color=muted)
        out2_right = stack(mid_right + 2.9, y2, n, "purple", f"output, {n} channels")
        ax.text(out2_right + 0.3, y2 + side / 2, "cost per output position:\n"
                r"$D_K^2 \cdot M + M \cdot N$", ha="left", va="center", fontsize=10,
                color=ink)
        ax.text((out2_right + 2.4) / 2, -1.25,
                r"ratio separable / standard $= \dfrac{1}{N} + \dfrac{1}{D_K^2}$"
                f" = {ratio:.3f} for the drawn sizes (M = {m}, N = {n}, "
                r"$D_K$" + f" = {k}); the depthwise step alone: {depthwise / standard:.3f}",
                ha="center", va="top", fontsize=10, color=ink)
        ax.set_xlim(-0.4, out2_right + 2.6)
        ax.set_ylim(-2.1, y1 + side + n * dyc + 0.9)
        return _save(fig, "depthwise_separable_convolution", out_dir)


#: This chapter's figures, in the order the chapter shows them.
FIGURES = (residual_block, receptive_field_growth, bottleneck_block, grouped_convolution, depthwise_separable_convolution)
