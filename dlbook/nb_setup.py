"""Notebook helpers: figures side by side, and ``glue`` that also works outside the book build.

``images_hconcat``, ``images_vconcat`` and ``images_gridconcat`` take the same arguments as the
functions of the same name in ``ipypublish.nb_setup`` (whose last release, 0.10.12, fails on
Pillow >= 10 because it calls ``PIL.Image.ANTIALIAS``), so existing course notebooks run
unchanged::

    from dlbook.nb_setup import images_hconcat
    images_hconcat(["DL_images/a.png", "DL_images/b.png"], width=800, gap=10)

Each returns a ``PIL.Image.Image``; as the last expression of a cell it displays inline.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

_LANCZOS = Image.Resampling.LANCZOS
_BACKGROUND = (255, 255, 255, 0)


def _as_image(item, aspaths: bool = True) -> Image.Image:
    if isinstance(item, Image.Image):
        image = item
    elif isinstance(item, (str, Path)):
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(
                f"image {str(path)!r} not found (working directory: {Path.cwd()}). Paths are "
                "relative to the notebook's folder; use ../DL_images/... from notebooks/."
            )
        image = Image.open(path)
        image.load()
    else:
        raise TypeError(
            f"expected a path or a PIL image, got {type(item).__name__}; pass file paths "
            "(aspaths=True) or PIL.Image objects."
        )
    return image.convert("RGBA")


def _per_image(value, count: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{name} has {len(value)} entries for {count} images: give one per image.")
        return list(value)
    return [value] * count


def _fit(image: Image.Image, width, height) -> Image.Image:
    """Shrink (never enlarge) to fit in width x height, keeping the aspect ratio."""
    if width is None and height is None:
        return image
    box_w = width if width is not None else image.width
    box_h = height if height is not None else image.height
    if box_w <= 0 or box_h <= 0:
        raise ValueError(f"width and height must be positive, got width={width}, height={height}.")
    fitted = image.copy()
    fitted.thumbnail((box_w, box_h), _LANCZOS)
    return fitted


def _check_gap(gap, name="gap"):
    if gap < 0:
        raise ValueError(f"{name}={gap} is negative: use 0 or more pixels.")


def _concat(images, width, height, gap, aspaths, horizontal: bool) -> Image.Image:
    """Shared body of images_hconcat (``horizontal``) and images_vconcat."""
    _check_gap(gap)
    items = [_as_image(i, aspaths) for i in images]
    if not items:
        raise ValueError("images is empty: pass at least one image.")
    widths = _per_image(width, len(items), "width")
    heights = _per_image(height, len(items), "height")
    items = [_fit(im, w, h) for im, w, h in zip(items, widths, heights)]
    gaps = gap * (len(items) - 1)
    along = [im.width if horizontal else im.height for im in items]
    across = max(im.height if horizontal else im.width for im in items)
    size = (sum(along) + gaps, across) if horizontal else (across, sum(along) + gaps)
    canvas = Image.new("RGBA", size, _BACKGROUND)
    offset = 0
    for im, length in zip(items, along):
        canvas.paste(im, (offset, 0) if horizontal else (0, offset), mask=im)
        offset += length + gap

    def box(value, per_image, stacked):
        """A list of per-image boxes bounds the result by their sum (stacked) or maximum."""
        if not isinstance(value, (list, tuple)):
            return value
        given = [v for v in per_image if v is not None]
        return (sum(given) + gaps if stacked else max(given)) if given else None

    return _fit(canvas, box(width, widths, horizontal), box(height, heights, not horizontal))


def images_hconcat(images, width=700, height=700, gap=0, aspaths=True):
    """Place images left to right, tops aligned; shrink the result to fit width x height.

    ``width``/``height`` may be lists (one box per image, as in ipypublish); the row is then
    limited to their sum.

    >>> from PIL import Image
    >>> images_hconcat([Image.new("RGB", (10, 20)), Image.new("RGB", (30, 20))], gap=5).size
    (45, 20)
    """
    return _concat(images, width, height, gap, aspaths, horizontal=True)


def images_vconcat(images, width=700, height=700, gap=0, aspaths=True):
    """Place images top to bottom, left edges aligned; shrink the result to fit width x height.

    >>> from PIL import Image
    >>> images_vconcat([Image.new("RGB", (10, 20)), Image.new("RGB", (10, 30))], gap=5).size
    (10, 55)
    """
    return _concat(images, width, height, gap, aspaths, horizontal=False)


def images_gridconcat(pathslist, width=700, height=700, aspaths=True, hgap=0, vgap=0):
    """A grid: each inner list is one row (``images_hconcat``), rows stacked (``images_vconcat``).

    >>> from PIL import Image
    >>> tile = Image.new("RGB", (10, 10))
    >>> images_gridconcat([[tile, tile], [tile, tile]], hgap=2, vgap=3).size
    (22, 23)
    """
    _check_gap(hgap, "hgap")
    _check_gap(vgap, "vgap")
    if not pathslist or not all(isinstance(row, (list, tuple)) for row in pathslist):
        raise ValueError("pathslist must be a non-empty list of rows (lists of images).")
    rows = [images_hconcat(row, width=None, height=None, gap=hgap, aspaths=aspaths) for row in pathslist]
    grid = images_vconcat(rows, width=None, height=None, gap=vgap, aspaths=False)
    return _fit(grid, width, height)


# --------------------------------------------------------------------------- glue

_GLUE_ANNOUNCED = False
GLUED: dict = {}
"""Values glued in this kernel, by name (kept in every environment, with or without myst-nb)."""


def _plain(value):
    """NumPy scalars as Python numbers: their repr ``np.float64(...)`` breaks ``{glue:text}``."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value


def glue(name: str, value, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the book's prose (myst-nb ``{glue:text}`name```).

    Uses ``myst_nb.glue`` when myst-nb is installed (the book build, local runs). Without it
    (e.g. in Colab, where the chapter's text already shows the values of the run that built the
    book) the value is only kept in :data:`GLUED`, which is announced once; ``display=True``
    still shows it. Either way the value is also kept in :data:`GLUED`.

    Returns ``None`` on purpose: a cell that ends with ``glue(...)`` shows no stray ``Out[ ]``.

    >>> glue("answer", 42)   # doctest: +SKIP
    >>> GLUED["answer"]   # doctest: +SKIP
    42
    """
    global _GLUE_ANNOUNCED
    value = _plain(value)
    GLUED[name] = value
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:
        if not _GLUE_ANNOUNCED:
            print("dlbook: myst-nb is not installed (only the book build needs it); values for the "
                  "text are kept in dlbook.nb_setup.GLUED.")
            _GLUE_ANNOUNCED = True
        if display:
            from IPython.display import display as ipy_display

            ipy_display(value)
        return None
    _myst_glue(name, value, display=display)
    return None


def glue_md(name: str, text) -> None:
    """:func:`glue` a sentence fragment as Markdown, for ``{glue:md}`name``` in the prose (a
    verdict such as "higher than", or a list of names with emphasis).

    >>> glue_md("verdict", "higher than")   # doctest: +SKIP
    """
    from IPython.display import Markdown

    glue(name, Markdown(str(text)))


def show_source(function):
    """``function``'s code as a highlighted Python block, without its docstring: as the last
    expression of a cell (or through ``display``) it shows the code a chapter discusses the way
    the book shows its own code, instead of printing it as plain output text.

    >>> def double(x):
    ...     '''Twice x.'''
    ...     return 2 * x
    >>> print(show_source(double).data)  # doctest: +SKIP
    ```python
    def double(x):
        return 2 * x
    ```
    """
    import ast
    import inspect
    import textwrap

    from IPython.display import Markdown

    if not callable(function):
        raise TypeError(f"show_source got {type(function).__name__} {function!r}: expected a "
                        "function or class defined in a Python file, e.g. "
                        "show_source(viz.relu_with_rule).")
    source = textwrap.dedent(inspect.getsource(function))
    lines = source.splitlines()
    body = ast.parse(source).body[0].body
    first = body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        del lines[first.lineno - 1:first.end_lineno]
    return Markdown("```python\n" + "\n".join(lines).rstrip() + "\n```")


# --------------------------------------------------------------------------- tables

_ALIGN = {"l": ":---", "r": "---:", "c": ":---:", "-": "---"}


def markdown_table(header, rows, align: str = "-"):
    """A Markdown table from a header and rows; as the last expression of a cell it renders as a
    table in the book, in Jupyter and in Colab.

    ``align`` is one letter for every column (``"l"``, ``"r"``, ``"c"`` or ``"-"`` for the default)
    or a string with one letter per column. Cells are converted with ``str``; a ``|`` inside a cell
    is escaped, since an unescaped one would split the row into extra columns.

    >>> print(markdown_table(["layer", "params"], [["conv", 320], ["a|b", 10]], align="lr").data)
    | layer | params |
    |:---|---:|
    | conv | 320 |
    | a\\|b | 10 |
    """
    from IPython.display import Markdown

    header = [str(h) for h in header]
    if len(align) == 1:
        align = align * len(header)
    if len(align) != len(header) or set(align) - set(_ALIGN):
        raise ValueError(f"align={align!r}: give one of l, r, c, - for all columns or one letter "
                         f"per column ({len(header)} columns).")
    rows = [list(row) for row in rows]
    for number, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} cells but the header has {len(header)}: "
                             "give every row one cell per column.")

    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join(_ALIGN[a] for a in align) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


# --------------------------------------------------------------------------- figures

_FIGURES_ANNOUNCED = False


def repo_figures_dir() -> Path:
    """``DL_images/`` of the repository this package was installed from (editable install)."""
    return Path(__file__).resolve().parents[1] / "DL_images"


def figure_path(name: str) -> Path:
    """Path of the figure ``DL_images/<name>.png``.

    In a clone of the repository that is the committed file. Where the folder is absent (dlbook
    installed with pip, e.g. in Colab) the figure is drawn by :mod:`dlbook.figures` into
    ``./DL_images`` on first use, announced once.

    >>> figure_path("pooling_max_avg").name   # doctest: +SKIP
    'pooling_max_avg.png'
    """
    from dlbook import figures

    if name not in figures.FIGURES:
        raise ValueError(f"no figure named {name!r}: choose one of {', '.join(sorted(figures.FIGURES))}.")
    committed = repo_figures_dir() / f"{name}.png"
    if committed.is_file():
        return committed
    global _FIGURES_ANNOUNCED
    local = Path.cwd() / "DL_images"
    if not _FIGURES_ANNOUNCED:
        print(f"dlbook: DL_images/ is not next to dlbook; drawing figures into {local}")
        _FIGURES_ANNOUNCED = True
    target = local / f"{name}.png"
    if not target.is_file():
        figures.draw(name, out_dir=local)
    return target
