"""Figures of Chapter 4 (residual networks), drawn into ``DL_images/``.

One generator per figure, named like its PNG and listed in :data:`FIGURES`, which the registry
:mod:`dlbook.figures` collects::

    >>> from dlbook import figures
    >>> "resnet_blocks_v1_v2" in figures.FIGURES and "unravelled_view" in figures.FIGURES
    True

The path counts and lengths of the unravelled view are enumerated here, never typed in.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from matplotlib import rc_context

from dlbook.figures.base import PALETTE, _RC, _arrow, _canvas, _layer_box, _plus, _save

__all__ = ["resnet_blocks_v1_v2", "unravelled_view"]


_COLOURS = {"conv 3×3": "blue", "BN": "orange", "ReLU": "green"}


def _block_column(ax, x0, layers, after_add, title, note):
    """One block drawn bottom-up: ``x`` → layers → (+) → ``after_add`` → output."""
    ink = PALETTE["ink"]
    w, h, gap = 2.0, 0.55, 0.28
    cx = x0 + w / 2
    ax.text(cx, -0.05, "$x_l$", ha="center", va="top", fontsize=14, color=ink)
    y = 0.55
    _arrow(ax, (cx, -0.02), (cx, y - 0.02))
    for k, label in enumerate(layers):
        _layer_box(ax, x0, y, w, h, label, _COLOURS[label])
        y_next = y + h + gap
        _arrow(ax, (cx, y + h + 0.02), (cx, y_next - (0.02 if k + 1 < len(layers) else 0.29)))
        y = y_next
    add_y = y - gap / 2 + 0.15
    _plus(ax, cx, add_y)
    # The shortcut: from just above x_l, round the left of the layers, into the addition.
    sx = x0 - 0.55
    ax.plot([cx, sx, sx, cx - 0.5], [0.25, 0.25, add_y, add_y], color=ink, lw=1.6,
            solid_joinstyle="round")
    _arrow(ax, (cx - 0.5, add_y), (cx - 0.28, add_y))
    ax.text(sx - 0.12, (0.25 + add_y) / 2, "identity", ha="right", va="center", rotation=90,
            fontsize=10, color=PALETTE["muted"])
    y = add_y + 0.27
    if after_add:
        _arrow(ax, (cx, y), (cx, y + 0.3))
        _layer_box(ax, x0, y + 0.3, w, h, after_add, _COLOURS[after_add])
        y = y + 0.3 + h
    _arrow(ax, (cx, y + 0.02), (cx, y + 0.4))
    ax.text(cx, y + 0.45, "$x_{l+1}$", ha="center", va="bottom", fontsize=14, color=ink)
    ax.text(cx - 0.3, y + 1.25, title, ha="center", va="bottom", fontsize=12, color=ink,
            fontweight="bold")
    ax.text(cx - 0.3, -0.65, note, ha="center", va="top", fontsize=10, color=PALETTE["muted"],
            linespacing=1.3)
    return y + 1.25


def resnet_blocks_v1_v2(out_dir: Path | str | None = None) -> Path:
    """The original ResNet block (v1, post-activation) next to the pre-activation block (v2).

    v1: conv → BN → ReLU → conv → BN, add the shortcut, then ReLU. v2: BN → ReLU → conv, twice,
    then add, with nothing after the addition, so the shortcut path is a pure identity.
    """
    with rc_context(_RC):
        fig, (ax,) = _canvas(8.4, 6.6)
        top1 = _block_column(ax, 1.0, ["conv 3×3", "BN", "ReLU", "conv 3×3", "BN"], "ReLU",
                             "v1: original (2015)",
                             "ReLU after the addition:\nthe shortcut passes\nthrough a nonlinearity")
        top2 = _block_column(ax, 6.0, ["BN", "ReLU", "conv 3×3", "BN", "ReLU", "conv 3×3"], None,
                             "v2: pre-activation (2016)",
                             "nothing after the addition:\n$x_{l+1} = x_l + F(x_l)$ exactly")
        ax.set_xlim(-0.6, 8.6)
        ax.set_ylim(-1.9, max(top1, top2) + 0.6)
        return _save(fig, "resnet_blocks_v1_v2", out_dir)


def unravelled_paths(n_blocks: int = 3) -> list[tuple[int, ...]]:
    """Every path through ``n_blocks`` residual blocks, as 0/1 tuples (1 = through the branch).

    >>> len(unravelled_paths(3)), sum(map(sum, unravelled_paths(3)))
    (8, 12)
    """
    return sorted(itertools.product((0, 1), repeat=n_blocks), key=lambda p: (sum(p), p[::-1]))


def unravelled_view(out_dir: Path | str | None = None, n_blocks: int = 3) -> Path:
    """Three residual blocks (left) and the 2³ = 8 paths they contain (right).

    Each row on the right is one path from the input to the output: at every block it either goes
    through the residual branch ``f_i`` (a box) or takes the shortcut (a straight line). Rows are
    grouped by path length, the number of branches they pass through.
    """
    ink, muted = PALETTE["ink"], PALETTE["muted"]
    paths = unravelled_paths(n_blocks)
    colours = ["blue", "orange", "purple", "green", "teal"]
    with rc_context(_RC):
        fig, (ax,) = _canvas(12, 5.6)
        # Left: the stacked view, drawn bottom-up.
        cx, w, h = 1.3, 1.0, 0.6
        ax.text(cx, -0.1, "$x_0$", ha="center", va="top", fontsize=13, color=ink)
        y = 0.0
        for i in range(n_blocks):
            by = y + 0.5
            _arrow(ax, (cx, y), (cx, by - 0.02))
            ax.plot([cx, cx - 1.0, cx - 1.0, cx - 0.27], [y + 0.22, y + 0.22, by + h + 0.55,
                    by + h + 0.55], color=ink, lw=1.4)
            _layer_box(ax, cx - w / 2, by, w, h, f"$f_{i + 1}$", colours[i], fontsize=12)
            _arrow(ax, (cx, by + h + 0.02), (cx, by + h + 0.28))
            _plus(ax, cx, by + h + 0.55)
            y = by + h + 0.82
            ax.text(cx + 0.45, y + 0.05, f"$x_{i + 1}$", ha="left", va="center", fontsize=12,
                    color=ink)
        _arrow(ax, (cx, y), (cx, y + 0.3))
        ax.text(cx, y + 0.7, f"{n_blocks} blocks, stacked", ha="center", va="bottom",
                fontsize=11.5, color=ink, fontweight="bold")
        top = y + 0.7
        ax.text(3.3, top / 2, "=", ha="center", va="center", fontsize=30, color=muted)
        # Right: one row per path.
        x_start, step, row_h = 4.6, 1.6, top / (len(paths) + 1.2)
        ax.text(x_start + (n_blocks + 1) * step / 2 + 0.3, top, f"{len(paths)} paths, unravelled",
                ha="center", va="bottom", fontsize=11.5, color=ink, fontweight="bold")
        for r, path in enumerate(paths):
            yy = top - (r + 1) * row_h
            ax.text(x_start - 0.2, yy, "in", ha="right", va="center", fontsize=10, color=muted)
            for i, through in enumerate(path):
                xa = x_start + i * step
                if through:
                    ax.plot([xa, xa + 0.3], [yy, yy], color=ink, lw=1.3)
                    _layer_box(ax, xa + 0.3, yy - 0.22, 1.0, 0.44, f"$f_{i + 1}$", colours[i],
                               fontsize=11)
                    ax.plot([xa + 1.3, xa + step], [yy, yy], color=ink, lw=1.3)
                else:
                    ax.plot([xa, xa + step], [yy, yy], color=muted, lw=1.3, ls=(0, (4, 2)))
            xe = x_start + n_blocks * step
            _arrow(ax, (xe, yy), (xe + 0.35, yy), color=ink, lw=1.3, mutation_scale=10)
            ax.text(xe + 0.5, yy, "out", ha="left", va="center", fontsize=10, color=muted)
            ax.text(xe + 1.35, yy, f"length {sum(path)}", ha="left", va="center", fontsize=10.5,
                    color=ink)
        ax.text(x_start + n_blocks * step / 2, -0.1,
                "box: through the residual branch; dashed: along the shortcut",
                ha="center", va="top", fontsize=10, color=muted)
        ax.set_xlim(-0.2, x_start + n_blocks * step + 2.6)
        ax.set_ylim(-0.7, top + 0.6)
        return _save(fig, "unravelled_view", out_dir)


#: This chapter's figures, in the order the chapter shows them.
FIGURES = (resnet_blocks_v1_v2, unravelled_view)
