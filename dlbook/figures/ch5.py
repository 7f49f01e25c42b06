"""Figures of Chapter 5 (beyond ResNet), drawn into ``DL_images/``.

One generator per figure, named like its PNG and listed in :data:`FIGURES`, which the registry
:mod:`dlbook.figures` collects::

    >>> from dlbook import figures
    >>> sorted(n for n in figures.FIGURES if n in __all__)  # doctest: +NORMALIZE_WHITESPACE
    ['dense_block', 'inverted_residual', 'resnext_three_forms', 'wrn_block', 'xception_flows']

Channel counts shown in the figures (the dense block's k0 + l·k, the widths of the ResNeXt and
inverted-residual layers) are computed from the arguments, never typed in.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import rc_context
from matplotlib.patches import Rectangle

from dlbook.figures.base import PALETTE, TINTS, _RC, _arrow, _canvas, _layer_box, _plus, _save

__all__ = ["wrn_block", "resnext_three_forms", "dense_block", "inverted_residual",
           "xception_flows"]

_H, _GAP = 0.55, 0.3  # height of a layer box and the gap between boxes
# Every canvas here is at most 9.6 inches wide: the book shows it in a column of about 690 px,
# so a 10-point label is about 9.5 px high on the page (tests/test_figures.py checks >= 9 px).
_WIDTH = 9.6


def _char_width(ax, fontsize=10.0):
    """The room one character of a ``fontsize``-point label takes, in ``ax``'s data units (an
    average DejaVu Sans character is about 0.6 em wide); the axes' limits must be set."""
    box = ax.get_position()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    # Equal aspect: the axes fill their box along the side that binds.
    inches_per_unit = min(box.width * ax.figure.get_figwidth() / abs(x1 - x0),
                          box.height * ax.figure.get_figheight() / abs(y1 - y0))
    return 0.6 * fontsize / 72 / inches_per_unit


def _column(ax, cx, y, layers, width=2.2):
    """Draw ``layers`` (label, colour[, width]) bottom-up centred on ``cx`` from height ``y``,
    with an arrow into each box; return the height of the top of the last box.

    A box drawn to scale can be narrower than its label: the label then stands to the right of
    the box, so the width keeps its meaning (:func:`_char_width` gives the room a 10-point
    label needs; the axes' limits are set before drawing)."""
    char_w = _char_width(ax)
    for k, layer in enumerate(layers):
        label, colour = layer[:2]
        w = layer[2] if len(layer) > 2 else width
        _arrow(ax, (cx, y), (cx, y + _GAP - 0.02))
        y += _GAP
        fits = char_w * max(len(line) for line in label.split("\n")) + 0.1 <= w
        _layer_box(ax, cx - w / 2, y, w, _H, label if fits else "", colour, fontsize=10)
        if not fits:
            ax.text(cx + w / 2 + 0.12, y + _H / 2, label, ha="left", va="center", fontsize=10,
                    color=PALETTE["ink"])
        y += _H
    return y


def _height(layers, y0=0.0):
    """The top of what :func:`_residual` draws for ``layers`` (its return value)."""
    return y0 + len(layers) * (_GAP + _H) + 0.55 + 1.4


def _residual(ax, cx, layers, title, width=2.2, side=1.6, shortcut="identity", y0=0.0):
    """A residual block: input, a column of layers, an addition fed by a shortcut on the left."""
    ink = PALETTE["ink"]
    ax.text(cx, y0 - 0.05, "$x$", ha="center", va="top", fontsize=13, color=ink)
    top = _column(ax, cx, y0, layers, width)
    add_y = top + 0.55
    _arrow(ax, (cx, top), (cx, add_y - 0.27))
    _plus(ax, cx, add_y)
    sx = cx - side
    ax.plot([cx, sx, sx, cx - 0.5], [y0 + 0.15, y0 + 0.15, add_y, add_y], color=ink, lw=1.5)
    _arrow(ax, (cx - 0.5, add_y), (cx - 0.28, add_y))
    ax.text(sx - 0.1, (y0 + add_y) / 2, shortcut, ha="right", va="center", rotation=90,
            fontsize=10, color=PALETTE["muted"])
    _arrow(ax, (cx, add_y + 0.27), (cx, add_y + 0.7))
    ax.text(cx, add_y + 1.0, title, ha="center", va="bottom", fontsize=11.5, color=ink,
            fontweight="bold")
    return add_y + 1.4


def wrn_block(out_dir: Path | str | None = None, k: int = 4, base: int = 16) -> Path:
    """A pre-activation basic block of width ``base`` next to a wide block of width ``base·k``.

    The wide block is the same block with ``k`` times the maps and a dropout layer between the
    two convolutions. Every box is drawn with a width in proportion to the number of maps the
    layer outputs (batch norm, ReLU and dropout output as many maps as they read).
    """
    unit = 1.2 / base
    narrow, broad = base * unit, base * k * unit
    thin = [("BN", "orange", narrow), ("ReLU", "green", narrow),
            (f"conv 3×3, {base}", "blue", narrow),
            ("BN", "orange", narrow), ("ReLU", "green", narrow),
            (f"conv 3×3, {base}", "blue", narrow)]
    wide = [("BN", "orange", narrow), ("ReLU", "green", narrow),
            (f"conv 3×3, {base}·{k} = {base * k}", "blue", broad),
            ("dropout", "red", broad), ("BN", "orange", broad), ("ReLU", "green", broad),
            (f"conv 3×3, {base * k}", "blue", broad)]
    with rc_context(_RC):
        fig, (ax,) = _canvas(9.5, 7.6)
        ax.set_xlim(0.0, 10.5)
        ax.set_ylim(-1.3, _height(wide) + 0.2)  # before drawing: labels are fitted to it
        t1 = _residual(ax, 2.2, thin, "basic block (ResNet v2)", width=1.6)
        t2 = _residual(ax, 7.6, wide, f"wide block, k = {k}", width=1.6, side=max(2.2, k * 0.7))
        ax.text(4.9, -0.9, "box width ∝ maps each layer outputs; the wide block adds dropout "
                "between its convolutions", ha="center", va="top", fontsize=10,
                color=PALETTE["muted"])
        ax.set_xlim(0.0, 10.5)
        ax.set_ylim(-1.3, max(t1, t2) + 0.2)
        return _save(fig, "wrn_block", out_dir)


def resnext_three_forms(out_dir: Path | str | None = None, channels: int = 256,
                        cardinality: int = 32, width: int = 4, shown: int = 3) -> Path:
    """The three equivalent forms of a ResNeXt block (Xie et al. 2017, figure 3).

    (a) ``cardinality`` paths of 1×1 → 3×3 → 1×1, summed; (b) the paths' 3×3 outputs
    concatenated and one 1×1 convolution; (c) one 1×1, one grouped 3×3, one 1×1. ``shown``
    paths are drawn, the rest stand behind the dots.
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    inner = cardinality * width
    with rc_context(_RC):
        fig, axes = _canvas(_WIDTH, 3.25, ncols=3)
        for ax in axes:
            ax.set_xlim(-0.4, 5.6)
            ax.set_ylim(-1.0, 4.9)
        # (a) split, transform, sum
        ax = axes[0]
        xs = [0.9 + 1.55 * i for i in range(shown)]
        for x in xs:
            _column(ax, x, 0.4, [(f"1×1, {width}", "blue"), (f"3×3, {width}", "purple"),
                                 (f"1×1, {channels}", "blue")], width=1.45)
            ax.plot([x, 2.6], [0.4 + 3 * (_GAP + _H), 3.55], color=ink, lw=1.0)
        ax.text(xs[-1] + 1.05, 1.5, "…", fontsize=22, color=muted, ha="center")
        for x in xs:
            ax.plot([2.6, x], [0.05, 0.4], color=ink, lw=1.0)
        _plus(ax, 2.6, 3.8)
        ax.text(2.6, 4.35, f"(a) {cardinality} paths, summed", ha="center", fontsize=11.5,
                color=ink, fontweight="bold")
        # (b) early concatenation
        ax = axes[1]
        for x in xs:
            _column(ax, x, 0.4, [(f"1×1, {width}", "blue"), (f"3×3, {width}", "purple")],
                    width=1.45)
            ax.plot([x, 2.6], [0.4 + 2 * (_GAP + _H), 2.55], color=ink, lw=1.0)
            ax.plot([2.6, x], [0.05, 0.4], color=ink, lw=1.0)
        ax.text(xs[-1] + 1.05, 1.1, "…", fontsize=22, color=muted, ha="center")
        _layer_box(ax, 0.8, 2.55, 3.6, _H, f"concatenate: {cardinality}·{width} = {inner}",
                   "yellow", fontsize=10)
        _column(ax, 2.6, 2.55 + _H, [(f"1×1, {channels}", "blue")], width=2.0)
        ax.text(2.6, 4.35, "(b) early concatenation", ha="center", fontsize=11.5, color=ink,
                fontweight="bold")
        # (c) grouped convolution
        ax = axes[2]
        _column(ax, 2.6, 0.05, [(f"1×1, {inner}", "blue"),
                                (f"3×3, {inner}, groups = {cardinality}", "purple"),
                                (f"1×1, {channels}", "blue")], width=3.6)
        ax.text(2.6, 4.35, "(c) grouped convolution", ha="center", fontsize=11.5, color=ink,
                fontweight="bold")
        for ax in axes:
            ax.text(2.6, -0.05, f"input, {channels} maps", ha="center", va="top", fontsize=10,
                    color=muted)
        axes[1].text(2.6, -0.6, "each form adds the same shortcut to its output",
                     ha="center", va="top", fontsize=10, color=muted)
        return _save(fig, "resnext_three_forms", out_dir)


def dense_block(out_dir: Path | str | None = None, k0: int = 16, k: int = 12,
                layers: int = 4) -> Path:
    """A dense block: each layer reads the concatenation of all earlier maps and adds ``k``.

    The stacked bars are the tensors that the layers read; their channel counts,
    ``k0 + l·k``, are computed here.
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    colours = ["muted", "blue", "orange", "green", "purple", "red", "teal", "yellow"]
    scale = 0.05  # height per channel
    with rc_context(_RC):
        fig, (ax,) = _canvas(_WIDTH, 4.3)
        step = 3.0
        for l in range(layers + 1):
            x = l * step
            y = 0.0
            for j in range(l + 1):
                c = k0 if j == 0 else k
                colour = colours[j % len(colours)]
                face = "#e0e6ea" if colour == "muted" else TINTS[colour]
                edge = PALETTE[colour]
                ax.add_patch(Rectangle((x, y), 0.8, c * scale, facecolor=face, edgecolor=edge,
                                       lw=1.2))
                y += c * scale
            ax.text(x + 0.4, -0.15, f"{k0 + l * k}", ha="center", va="top", fontsize=11,
                    color=ink)
            if l < layers:
                _layer_box(ax, x + 1.25, 0.4, 1.2, _H, f"$H_{l + 1}$", colours[(l + 1)
                           % len(colours)], fontsize=12)
                _arrow(ax, (x + 0.85, 0.4 + _H / 2), (x + 1.22, 0.4 + _H / 2))
                _arrow(ax, (x + 2.48, 0.4 + _H / 2), (x + step - 0.05, 0.4 + _H / 2))
                ax.text(x + 1.85, 0.4 + _H + 0.1, f"+{k}", ha="center", va="bottom",
                        fontsize=10.5, color=PALETTE[colours[(l + 1) % len(colours)]])
        ax.text(layers * step / 2 + 0.4, -0.7,
                f"channels after each concatenation: $k_0 + \\ell k$ with $k_0$ = {k0}, "
                f"$k$ = {k};\nevery earlier map is kept and read again", ha="center", va="top",
                fontsize=10.5, color=muted)
        ax.text(layers * step / 2 + 0.4, (k0 + layers * k) * scale + 0.4,
                f"a dense block of {layers} layers (each $H_\\ell$: BN-ReLU-1×1, BN-ReLU-3×3)",
                ha="center", va="bottom", fontsize=11.5, color=ink, fontweight="bold")
        ax.set_xlim(-0.4, layers * step + 1.2)
        ax.set_ylim(-1.6, (k0 + layers * k) * scale + 1.0)
        return _save(fig, "dense_block", out_dir)


def inverted_residual(out_dir: Path | str | None = None, channels: int = 24,
                      expansion: int = 6, bottleneck_in: int = 256) -> Path:
    """A ResNet bottleneck (wide → narrow → wide) next to MobileNetV2's inverted residual
    (narrow → wide → narrow, linear projection). Box widths ∝ the channels each layer outputs,
    on one scale per panel (the panels' tensors differ tenfold); a label too long for its box
    stands beside it."""
    wide = channels * expansion
    narrow = bottleneck_in // 4
    unit_a, unit_b = 3.2 / bottleneck_in, 3.2 / wide
    resnet = [(f"1×1, {narrow}, ReLU", "blue", narrow * unit_a),
              (f"3×3, {narrow}, ReLU", "purple", narrow * unit_a),
              (f"1×1, {bottleneck_in}", "blue", bottleneck_in * unit_a)]
    mobile = [(f"1×1, {channels}·{expansion} = {wide}, ReLU6", "blue", wide * unit_b),
              (f"3×3 depthwise, {wide}, ReLU6", "teal", wide * unit_b),
              (f"1×1, {channels}, linear", "orange", channels * unit_b)]
    with rc_context(_RC):
        fig, (ax,) = _canvas(_WIDTH, 5.3)
        ax.set_xlim(0.0, 10.6)
        ax.set_ylim(-1.35, _height(mobile) + 0.1)  # before drawing: labels are fitted to it
        _residual(ax, 2.6, resnet, f"bottleneck: {bottleneck_in} → {narrow} → {bottleneck_in}",
                  side=2.0)
        _residual(ax, 8.2, mobile, f"inverted residual: {channels} → {wide} → {channels}",
                  side=2.0)
        ax.text(5.4, -0.6, "box width ∝ channels out (one scale per panel); ResNet's shortcut "
                "joins wide tensors,\nMobileNetV2's joins narrow ones, and no ReLU follows its "
                "projection", ha="center", va="top", fontsize=10, color=PALETTE["muted"])
        return _save(fig, "inverted_residual", out_dir)


#: Xception's three flows as (flow, [(module label, repeats, shortcut)]).
XCEPTION_FLOWS = (
    ("entry flow", [("conv 3×3, 32, stride 2\nconv 3×3, 64", 1, None),
                    ("sep 128, sep 128\nmax-pool /2", 1, "1×1, 128, /2"),
                    ("sep 256, sep 256\nmax-pool /2", 1, "1×1, 256, /2"),
                    ("sep 728, sep 728\nmax-pool /2", 1, "1×1, 728, /2")]),
    ("middle flow", [("sep 728, sep 728\nsep 728", 8, "identity")]),
    ("exit flow", [("sep 728, sep 1024\nmax-pool /2", 1, "1×1, 1024, /2"),
                   ("sep 1536, sep 2048\nglobal average pool", 1, None),
                   ("dense, 1000 (softmax)", 1, None)]),
)


def xception_flows(out_dir: Path | str | None = None) -> Path:
    """Xception as three flows of modules; "sep" is ReLU + 3×3 depthwise separable conv + BN.

    Each module with a shortcut adds it to its output (a strided 1×1 convolution where the size
    changes, the identity in the middle flow, which repeats its module eight times).
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    colours = {"entry flow": "blue", "middle flow": "purple", "exit flow": "green"}
    gap, box_w = 0.6, 3.0  # room for an arrow (and a shortcut's label) between modules
    heights = {label: 0.95 if "\n" in label else 0.65
               for _, modules in XCEPTION_FLOWS for label, _, _ in modules}
    top = max(sum(gap + heights[label] for label, _, _ in modules)
              for _, modules in XCEPTION_FLOWS) + 0.3
    with rc_context(_RC):
        fig, (ax,) = _canvas(_WIDTH, 5.6)
        for f, (flow, modules) in enumerate(XCEPTION_FLOWS):
            cx = 2.1 + f * 4.6
            y = 0.0
            ax.text(cx, -0.1, "299×299×3" if f == 0 else "19×19×728", ha="center", va="top",
                    fontsize=10, color=muted)
            for label, repeats, shortcut in modules:
                h = heights[label]
                _arrow(ax, (cx, y), (cx, y + gap - 0.02))
                y += gap
                _layer_box(ax, cx - box_w / 2, y, box_w, h, label, colours[flow], fontsize=10)
                if repeats > 1:
                    ax.text(cx + box_w / 2 + 0.15, y + h / 2, f"× {repeats}", ha="left",
                            va="center", fontsize=13, color=ink, fontweight="bold")
                if shortcut:
                    # From the module's input (in the gap below) round to its output.
                    left = cx - box_w / 2 - 0.3
                    ax.plot([cx, left, left, cx - box_w / 2],
                            [y - gap / 2, y - gap / 2, y + h + 0.12, y + h + 0.12],
                            color=ink, lw=1.2)
                    ax.text(left - 0.1, y + (h - gap / 2) / 2, shortcut, ha="right",
                            va="center", fontsize=10, color=muted, rotation=90)
                y += h
            ax.text(cx, top, flow, ha="center", va="bottom", fontsize=12, color=ink,
                    fontweight="bold")
            if f < 2:
                _arrow(ax, (cx + box_w / 2 + 0.15, top / 2 - 0.4),
                       (cx + 4.6 - box_w / 2 - 0.75, top / 2 - 0.4), color=muted)
        ax.set_xlim(-0.5, 13.3)
        ax.set_ylim(-0.6, top + 0.5)
        return _save(fig, "xception_flows", out_dir)


#: This chapter's figures, in the order the chapter shows them.
FIGURES = (wrn_block, resnext_three_forms, dense_block, inverted_residual, xception_flows)
