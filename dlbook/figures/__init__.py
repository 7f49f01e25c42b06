"""Code that draws every static figure of the book into ``DL_images/``.

A package with one module per chapter and the drawing primitives they share:

- :mod:`dlbook.figures.base`: palette, canvas, saving, arrows, boxes (imports no chapter);
- :mod:`dlbook.figures.ch1`, ``ch2``, ``ch4``, ``ch5``: one generator per figure, named exactly
  like the file it writes (``conv_padding_stride()`` writes ``DL_images/conv_padding_stride.png``),
  listed in the module's ``FIGURES`` tuple;
- this module, the registry: it imports the chapter modules (never the other way round) and maps
  every name to its function in :data:`FIGURES`. :func:`draw` draws one figure and
  :func:`draw_all` draws them all. From a shell::

    python -m dlbook.figures                      # every figure into DL_images/
    python -m dlbook.figures --out /tmp/figs conv_padding_stride

(``make figures`` runs the first line.) A new chapter adds a module and one entry to
:data:`CHAPTERS`.

Example::

    >>> from dlbook import figures
    >>> "conv_padding_stride" in figures.FIGURES
    True
    >>> figures.FIGURES["conv_padding_stride"].__module__
    'dlbook.figures.ch1'
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Sequence

from dlbook.figures import ch1, ch2, ch4, ch5
from dlbook.figures.base import DEFAULT_DIR, DPI, PALETTE
from dlbook.figures.ch1 import _pool2d, _windows  # noqa: F401  (geometry the tests check)

__all__ = ["CHAPTERS", "DEFAULT_DIR", "DPI", "FIGURES", "PALETTE", "draw", "draw_all", "main"]

#: The chapter modules, in book order.
CHAPTERS = (ch1, ch2, ch4, ch5)

FigureFn = Callable[..., Path]
#: Every figure of the book: name -> generator function.
FIGURES: dict[str, FigureFn] = {fn.__name__: fn for module in CHAPTERS for fn in module.FIGURES}


def draw(name: str, out_dir: Path | str = DEFAULT_DIR) -> Path:
    """Draw the figure ``name`` into ``out_dir`` and return the path of the PNG.

    >>> draw("pooling_max_avg", "/tmp/figs").name  # doctest: +SKIP
    'pooling_max_avg.png'
    """
    try:
        fn = FIGURES[name]
    except KeyError:
        known = ", ".join(sorted(FIGURES))
        raise KeyError(f"no figure named {name!r}; known figures: {known}") from None
    return fn(out_dir=out_dir)


def draw_all(out_dir: Path | str = DEFAULT_DIR) -> list[Path]:
    """Draw every figure in :data:`FIGURES` into ``out_dir``; return the paths written."""
    return [draw(name, out_dir) for name in sorted(FIGURES)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.figures",
        description="Draw the book's static figures (all of them, or the ones named).",
    )
    known = ", ".join(sorted(FIGURES))
    parser.add_argument("names", nargs="*", help=f"figures to draw (default: all of {known})")
    parser.add_argument("--out", default=str(DEFAULT_DIR),
                        help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}; known figures: {known}")
    names = args.names or sorted(FIGURES)
    for name in names:
        print(draw(name, args.out))
    return 0
