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

from dlbook.figures import base, ch1, ch2, ch4, ch5
from dlbook.figures.base import DEFAULT_DIR, DPI, FORMATS, PALETTE
from dlbook.figures.ch1 import _pool2d, _windows  # noqa: F401  (geometry the tests check)

__all__ = ["CHAPTERS", "DEFAULT_DIR", "DPI", "FIGURES", "FORMATS", "PALETTE", "draw", "draw_all", "main",
           "write_zip"]

#: The chapter modules, in book order.
CHAPTERS = (ch1, ch2, ch4, ch5)

FigureFn = Callable[..., Path]
#: Every figure of the book: name -> generator function.
FIGURES: dict[str, FigureFn] = {fn.__name__: fn for module in CHAPTERS for fn in module.FIGURES}


def draw(name: str, out_dir: Path | str = DEFAULT_DIR, formats: Sequence[str] = ("png",)) -> Path:
    """Draw the figure ``name`` into ``out_dir`` in each of ``formats`` (of :data:`FORMATS`:
    ``png``, ``svg``, ``pdf``) and return the path of the PNG.

    >>> draw("pooling_max_avg", "/tmp/figs", formats=FORMATS).name  # doctest: +SKIP
    'pooling_max_avg.png'
    """
    try:
        fn = FIGURES[name]
    except KeyError:
        known = ", ".join(sorted(FIGURES))
        raise KeyError(f"no figure named {name!r}; known figures: {known}") from None
    formats = tuple(formats)
    if "png" not in formats or set(formats) - set(FORMATS):
        raise ValueError(f"formats must include 'png' and come from {FORMATS}, got {formats}; "
                         "the book shows the PNG (e.g. formats=('png', 'svg', 'pdf')).")
    token = base._formats.set(formats)
    try:
        return fn(out_dir=out_dir)
    finally:
        base._formats.reset(token)


def draw_all(out_dir: Path | str = DEFAULT_DIR, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Draw every figure in :data:`FIGURES` into ``out_dir`` (in ``formats``, as :func:`draw`);
    return the paths of the PNGs."""
    return [draw(name, out_dir, formats) for name in sorted(FIGURES)]


LICENCE = """The figures of "ConvNets in Depth" (https://github.com/convnets-in-depth/convnets-in-depth),
drawn by dlbook/figures in that repository, as PNG, SVG and PDF.

Like the rest of the book (text, code, figures), they are original work of the project, under the
MIT licence: you may use, copy, modify and share them, in your slides too, provided this notice
is kept with them.
"""


def write_zip(dest: Path | str, work_dir: Path | str) -> Path:
    """Draw every figure in every format of :data:`FORMATS` into ``work_dir`` and pack them, with
    a licence file, into the zip ``dest`` (the one the instructors' guide links); return ``dest``.

    >>> import tempfile, zipfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> sorted(zipfile.ZipFile(write_zip(tmp / "f.zip", tmp / "w")).namelist())[:3]  # doctest: +SKIP
    ['LICENSE.txt', 'bottleneck_block.pdf', 'bottleneck_block.png']
    """
    import zipfile

    dest, work_dir = Path(dest), Path(work_dir)
    paths = draw_all(work_dir, FORMATS)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("LICENSE.txt", date_time=(2026, 1, 1, 0, 0, 0)), LICENCE)
        for png in paths:
            for fmt in FORMATS:
                file = png.with_suffix(f".{fmt}")
                info = zipfile.ZipInfo(file.name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, file.read_bytes())
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.figures",
        description="Draw the book's static figures (all of them, or the ones named).",
    )
    known = ", ".join(sorted(FIGURES))
    parser.add_argument("names", nargs="*", help=f"figures to draw (default: all of {known})")
    parser.add_argument("--out", default=str(DEFAULT_DIR),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="comma-separated file formats, png first (default: %(default)s; the "
                             "SVG and PDF files are not committed: they are built)")
    args = parser.parse_args(argv)
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    if "png" not in formats or set(formats) - set(FORMATS):
        parser.error(f"--formats {args.formats!r}: give png and any of {', '.join(FORMATS)}")
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}; known figures: {known}")
    names = args.names or sorted(FIGURES)
    for name in names:
        print(draw(name, args.out, formats))
    return 0
