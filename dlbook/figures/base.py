"""Drawing primitives shared by every chapter's figures: palette, canvas, saving, arrows, boxes.

The chapter modules (:mod:`dlbook.figures.ch1`, ``ch2``, ``ch4``, ``ch5``) import from here; this
module imports nothing from them. Everything is drawn with plain matplotlib patches on an Agg
canvas (no pyplot, so drawing never changes a notebook's plotting backend), and anything random is
seeded by the caller, so drawing a figure twice gives identical pixels.
"""

from __future__ import annotations

import contextvars
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon

__all__ = ["DEFAULT_DIR", "DPI", "FORMATS", "PALETTE", "TINTS"]

#: Where the book keeps its static figures (``<repo>/DL_images``).
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "DL_images"

#: Resolution of every PNG written by this module.
DPI = 150

#: One palette for every figure of the book.
PALETTE = {
    "ink": "#263238",  # outlines and text
    "muted": "#78909c",  # secondary text, thin lines
    "grid": "#90a4ae",  # cell borders
    "cell": "#eef3f8",  # a plain input cell
    "pad": "#dcdcdc",  # zero padding
    "blue": "#3b7dd8",
    "orange": "#f28e2b",
    "green": "#59a14f",
    "purple": "#8e6bbf",
    "red": "#e15759",
    "teal": "#2a9d8f",
    "yellow": "#e9c46a",
}

#: Light tints for filled regions (same hues as the strong colours above).
TINTS = {
    "blue": "#cfe0f7",
    "orange": "#fde0c2",
    "green": "#d5ead2",
    "purple": "#e3d9f1",
    "red": "#f8d0d1",
    "teal": "#cbe9e5",
    "yellow": "#f8ecc9",
}

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "mathtext.fontset": "dejavusans",
    "hatch.linewidth": 0.6,
    "svg.hashsalt": "dlbook",
}


def _canvas(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    """A white figure with ``ncols`` blank, equal-aspect axes."""
    fig = Figure(figsize=(width, height), facecolor="white")
    axes = []
    for i in range(ncols):
        ax = fig.add_subplot(1, ncols, i + 1)
        ax.set_axis_off()
        ax.set_aspect("equal")
        axes.append(ax)
    fig.subplots_adjust(left=0.0, right=1.0, bottom=0.0, top=1.0, wspace=0.05)
    return fig, axes


#: The file formats a figure is written in: the PNG the book shows, and vector copies for
#: instructors' own slides. :func:`dlbook.figures.draw` sets them for one drawing.
FORMATS = ("png", "svg", "pdf")
_formats: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("formats", default=("png",))

# No date, tool version or random id in a vector file, so drawing twice gives the same bytes.
_METADATA = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
             "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}


def _save(fig: Figure, name: str, out_dir: Path | str | None) -> Path:
    """Write ``fig`` as ``name`` in every format of the current drawing (PNG unless
    :func:`dlbook.figures.draw` asked for more) into ``out_dir``; return the PNG's path."""
    out = Path(DEFAULT_DIR if out_dir is None else out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for fmt in _formats.get():
        fig.savefig(
            out / f"{name}.{fmt}",
            format=fmt,
            dpi=DPI,
            facecolor="white",
            bbox_inches="tight",
            pad_inches=0.08,
            metadata=_METADATA[fmt],
        )
    return out / f"{name}.png"


def _poly(ax, points, **kwargs) -> Polygon:
    kwargs.setdefault("linewidth", 0.8)
    patch = Polygon(np.asarray(points, dtype=float), closed=True, **kwargs)
    ax.add_patch(patch)
    return patch


def _arrow(ax, start, end, color=None, lw=1.4, style="-|>", mutation_scale=14, **kwargs):
    arrow = FancyArrowPatch(
        start,
        end,
        arrowstyle=style,
        mutation_scale=mutation_scale,
        color=color or PALETTE["ink"],
        linewidth=lw,
        shrinkA=0,
        shrinkB=0,
        **kwargs,
    )
    ax.add_patch(arrow)
    return arrow


def _sheet(ax, x, y, w, h, dx, dy, *, face, edge, lw=1.0, alpha=1.0, z=1, grid=0):
    """A feature map drawn as a flat card at (x, y) of size w×h, its depth offset (dx, dy)."""
    pts = [(x + dx, y + dy), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + dx, y + h + dy)]
    _poly(ax, pts, facecolor=face, edgecolor=edge, linewidth=lw, alpha=alpha, zorder=z)
    if grid:
        step_x, step_y = w / grid, h / grid
        for k in range(1, grid):
            ax.plot([x + dx + k * step_x] * 2, [y + dy, y + dy + h], color=edge, lw=0.35,
                    alpha=0.6, zorder=z)
            ax.plot([x + dx, x + dx + w], [y + dy + k * step_y] * 2, color=edge, lw=0.35,
                    alpha=0.6, zorder=z)


def _box(ax, x, y, w, h, dx, dy, *, face, edge, alpha=0.55, lw=1.2, z=10):
    """A cuboid: front face w×h at (x, y), receding by (dx, dy); three visible faces."""
    front = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    topf = [(x, y + h), (x + w, y + h), (x + w + dx, y + h + dy), (x + dx, y + h + dy)]
    side = [(x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)]
    for pts, shade in ((side, 0.75), (topf, 0.9), (front, 1.0)):
        _poly(ax, pts, facecolor=face, edgecolor=edge, linewidth=lw, alpha=alpha * shade, zorder=z)
    return front, topf, side



def _layer_box(ax, x, y, w, h, text, colour, fontsize=10.5, z=5):
    """A rounded box with a centred label (one layer of a block diagram)."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=TINTS[colour], edgecolor=PALETTE[colour], lw=1.4,
                                zorder=z))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize,
            color=PALETTE["ink"], zorder=z + 1, linespacing=1.2)


def _plus(ax, x, y, r=0.27):
    """The circled plus of an addition."""
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor=PALETTE["ink"], lw=1.5, zorder=6))
    ax.text(x, y, "+", ha="center", va="center", fontsize=16, color=PALETTE["ink"], zorder=7)
