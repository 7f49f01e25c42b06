"""What a reader sees under the code: no stray log output, and figures drawn for the column.

Read from the executed chapters of the one fast-mode build (``book_build``, conftest.py):

* **Clean output.** No cell writes to stderr, no cell prints a Python or TensorFlow warning
  (``UserWarning``, "retracing", ``WARNING:``...), and no output shows an absolute path of the
  machine that ran it (``/root/.cache/...``, ``/tmp/...``, a ``site-packages`` path): a reader's
  paths differ, and the book's own announcements name ``$DLBOOK_CACHE`` and relative paths.
* **Figures drawn for the column.** Every Matplotlib figure a visible cell draws (at the inline
  backend's 100 dpi) is at most :data:`MAX_DRAWN_PX` pixels wide, so the 688-pixel content column
  shows it at 90% of its drawn size or more and its 9-pixel labels stay readable. A figure meant
  to be opened large (a grid of many small images) carries the cell tag ``wide-figure``; the site
  shows it in the column and opens it at full size on a click. The diagrams of ``DL_images/``
  (drawn at 150 dpi, shown by ``nb_setup``) and model graphs are high-resolution images, not
  checked here: the site's own browser test checks that none is squeezed below half its size.
* **Text readable as shown.** ``runtime.setup`` records with every Matplotlib plot the height its
  smallest label has on the page (font size × dpi, shrunk to the column); it must be at least
  :data:`MIN_TEXT_PX` (9 px: a 6.5-point label at 100 dpi), for a plot under a cell and a glued one
  (a ``wide-figure`` is read at full size, where a click opens it).
* **Each image once.** A figure glued into a caption is not also left bare under its cell.
* **Every glued value is shown.** A value the code glues and no Markdown cell uses is dead
  bookkeeping at best; at worst it is the verdict a static sentence should have used instead.

The checkers are plain functions of a notebook dict, tested first on small synthetic notebooks
so each can be seen to fail.
"""

from __future__ import annotations

import base64
import re
import struct

import pytest

from conftest import ROOT, executed_notebook

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
from dlbook.runtime import COLUMN_PX  # the article column of the site at a 1280-pixel window
MAX_DRAWN_PX = round(COLUMN_PX / 0.9)  # shown at >= 90% of its drawn width
WIDE_TAG = "wide-figure"
HIDDEN_OUTPUT_TAGS = {"remove-output", "remove-cell"}

# Absolute paths of the machine that ran the notebook. A path in a code listing the chapter prints
# on purpose would be Markdown, not an output.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~$}])/(?:root|home|tmp|work|usr|opt|var|private|Users|content)"
                           r"/[\w.-]+|site-packages|dist-packages")
WARNING = re.compile(r"\b\w*Warning\b:|\bWARNING\b|retracing|\bDeprecated\b", re.I)


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    data = output.get("data", {})
    return "".join(data.get("text/plain", "")) if "text/html" not in data else "".join(data["text/html"])


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def stray_output(nb: dict) -> list[str]:
    """Every output a reader should not see: stderr, warnings, absolute paths (cell numbers count
    code cells from 0)."""
    found = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            text = _text(out)
            first = (text.strip().splitlines() or [""])[0][:100]
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"code cell {i} writes to stderr: {first!r}")
                continue
            if (m := WARNING.search(text)):
                line = next(ln for ln in text.splitlines() if m.group(0) in ln)
                found.append(f"code cell {i} prints a warning: {line.strip()[:120]!r}")
            if (m := ABSOLUTE_PATH.search(text)):
                line = next(ln for ln in text.splitlines() if m.group(0) in ln)
                found.append(f"code cell {i} shows an absolute path: {line.strip()[:120]!r}")
    return found


def png_width(data: str) -> int:
    """Pixel width of a base64 PNG (from its IHDR chunk).

    >>> import base64, struct
    >>> png_width(base64.b64encode(b"\\x89PNG\\r\\n\\x1a\\n" + b"\\0\\0\\0\\rIHDR" + struct.pack(">II", 640, 480)).decode())
    640
    """
    head = base64.b64decode("".join(data)[:64] + "=" * (-len("".join(data)[:64]) % 4))
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">I", head[16:20])[0]


def drawn_by_matplotlib(data: str) -> bool:
    """Whether a base64 PNG carries Matplotlib's ``Software`` text chunk (an inline figure)."""
    return b"Software\x00Matplotlib" in base64.b64decode("".join(data))[:400]


def shown_images(nb: dict) -> list[tuple[int, str, int, set[str]]]:
    """``(code cell number, PNG data, width, tags)`` of every image a reader sees under a cell
    (outputs of cells tagged remove-output/remove-cell are not shown; glue outputs are shown only
    where a ``{glue:figure}`` places them, so they are left out here)."""
    found = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        tags = _tags(cell)
        if tags & HIDDEN_OUTPUT_TAGS:
            continue
        for out in cell.get("outputs", []):
            if "scrapbook" in out.get("metadata", {}):  # a glue output: placed by {glue:...}
                continue
            png = out.get("data", {}).get("image/png")
            if png:
                found.append((i, "".join(png), png_width(png), tags))
    return found


def glue_outputs(nb: dict):
    """``(code cell number, glue name, output, cell)`` for every glued output of the notebook."""
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                yield i, name, out, cell


def glued_images(nb: dict) -> dict[str, str]:
    """``{glue name: PNG data}`` of every glued figure."""
    return {name: "".join(out["data"]["image/png"]) for _, name, out, _ in glue_outputs(nb)
            if out.get("data", {}).get("image/png")}


def too_wide(nb: dict) -> list[str]:
    """Figures drawn wider than the column shows them at 90% (unless tagged wide-figure)."""
    found = [f"code cell {i}: a figure drawn {w} px wide (the column shows {COLUMN_PX} px; draw it "
             f"at most {MAX_DRAWN_PX} px, e.g. figsize width <= 7 inches at 100 dpi, or tag the "
             f"cell {WIDE_TAG!r} if it is meant to be opened large)"
             for i, png, w, tags in shown_images(nb)
             if w > MAX_DRAWN_PX and WIDE_TAG not in tags and drawn_by_matplotlib(png)]
    found += [f"glued figure {name!r} drawn {png_width(png)} px wide (at most {MAX_DRAWN_PX} px)"
              for name, png in glued_images(nb).items()
              if png_width(png) > MAX_DRAWN_PX and name not in _wide_glue_names(nb)
              and drawn_by_matplotlib(png)]
    return found


MIN_TEXT_PX = 9.0


def small_text(nb: dict) -> list[str]:
    """Matplotlib plots whose smallest label is under MIN_TEXT_PX on the page, or that carry no
    record of it (a plot drawn before ``runtime.setup`` installed the recorder)."""
    from dlbook.runtime import TEXT_KEY

    found = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            glued = "scrapbook" in out.get("metadata", {})  # shown where {glue:figure} puts it
            if _tags(cell) & HIDDEN_OUTPUT_TAGS and not glued:
                continue
            data = out.get("data", {})
            key = next((k for k in data if k.endswith("image/png")), None)
            if key is None or not drawn_by_matplotlib(data[key]):
                continue
            what = out.get("metadata", {}).get("scrapbook", {}).get("name") or f"code cell {i}"
            record = out.get("metadata", {}).get("image/png", {})
            if TEXT_KEY not in record:
                found.append(f"{what}: a plot with no record of its text size (call "
                             "runtime.setup() before plotting)")
                continue
            px = record[TEXT_KEY]
            if px is not None and WIDE_TAG in _tags(cell):  # read where a click opens it, full size
                px *= max(1.0, png_width(data[key]) / COLUMN_PX)
            if px is not None and px < MIN_TEXT_PX:
                found.append(f"{what}: its smallest label is {px:.1f} px high on the page (at "
                             f"least {MIN_TEXT_PX:.0f}: a larger fontsize, or a narrower figure "
                             "that the column does not shrink)")
    return found


def _wide_glue_names(nb: dict) -> set[str]:
    return {name for _, name, _, cell in glue_outputs(nb) if WIDE_TAG in _tags(cell)}


def shown_twice(nb: dict) -> list[str]:
    """Images a reader sees twice: bare under a cell and again where a glue directive puts them,
    or bare twice."""
    glued = {png: name for name, png in glued_images(nb).items()}
    found, seen = [], {}
    for i, png, _, _ in shown_images(nb):
        if png in glued:
            found.append(f"code cell {i} shows the figure glued as {glued[png]!r} bare as well "
                         "(tag the cell remove-output, or glue with display=False)")
        elif png in seen:
            found.append(f"code cells {seen[png]} and {i} show the same image")
        seen.setdefault(png, i)
    return found


GLUE_REFERENCE = re.compile(r"\{glue(?::\w+)?\}(?:`|\s+)([A-Za-z_][\w]*)")


def unused_glue(nb: dict) -> list[str]:
    """Names glued by a code cell that no Markdown cell of the notebook shows (``{glue}`name```,
    ``{glue:text}`name:fmt```, ``{glue:md}``, a ``{glue:figure} name`` directive...)."""
    glued = {}
    for i, name, _, _ in glue_outputs(nb):
        glued.setdefault(name, i)
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    shown = set(GLUE_REFERENCE.findall(markdown))
    return [f"code cell {i} glues {name!r}, which no Markdown cell shows (use it in the text or "
            "drop the glue)" for name, i in glued.items() if name not in shown]


# --------------------------------------------------------------------------- the checkers fail


def _png(width: int, salt: bytes = b"", software: bytes = b"Matplotlib version3.10") -> str:
    raw = (b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + struct.pack(">II", width, 100) + b"\0" * 9
           + b"\0\0\0\x20tEXt" + b"Software\0" + software + salt)
    return base64.b64encode(raw).decode()


def _nb(*cells) -> dict:
    return {"cells": [{"cell_type": "code", "metadata": {"tags": tags}, "outputs": outs}
                      for outs, tags in cells]}


def test_the_checkers_catch_each_defect():
    stderr = {"output_type": "stream", "name": "stderr", "text": "W0000 something\n"}
    warn = {"output_type": "stream", "name": "stdout", "text": "x.py:3: UserWarning: careful\n"}
    path = {"output_type": "execute_result", "data": {"text/plain": "'/root/.cache/dlbook/w.h5'"}}
    retrace = {"output_type": "stream", "name": "stdout",
               "text": "5 out of the last 5 calls triggered tf.function retracing.\n"}
    fine = {"output_type": "stream", "name": "stdout", "text": "saved to $DLBOOK_CACHE/w.h5 (12 MB)\n"}
    found = stray_output(_nb(([stderr], []), ([warn], []), ([path], []), ([retrace], []), ([fine], [])))
    assert [" ".join(f.split(" ")[:3]) for f in found] == [f"code cell {i}" for i in range(4)], found

    def image(w, salt=b"", glue=None, software=b"Matplotlib version3.10"):
        out = {"output_type": "display_data", "data": {"image/png": _png(w, salt, software)},
               "metadata": {}}
        if glue:
            out["metadata"]["scrapbook"] = {"name": glue}
        return out

    wide = _nb(([image(1185)], []), ([image(700)], []), ([image(1400)], [WIDE_TAG]),
               ([image(1300)], ["remove-output"]), ([image(900, glue="fig_a")], []),
               ([image(1500, software=b"PIL")], []))  # a high-resolution diagram: not checked
    assert [f.split(" ")[2] for f in too_wide(wide)] == ["0:", "'fig_a'"], too_wide(wide)

    twice = _nb(([image(600, b"a"), image(600, b"a", glue="fig_b")], []),
                ([image(600, b"c")], []), ([image(600, b"c")], []), ([image(600, b"d")], []))
    assert len(shown_twice(twice)) == 2 and "fig_b" in shown_twice(twice)[0]

    def glued(name):
        return {"output_type": "display_data", "data": {"text/plain": "1"},
                "metadata": {"scrapbook": {"name": name}}}

    def plot(px, glue=None):
        out = image(600, glue=glue)
        out["metadata"]["image/png"] = {} if px == "none" else {"dlbook_min_text_px": px}
        return out

    small = _nb(([plot(9.7), plot(None), plot(6.9, glue="fig_small")], []),
                ([plot("none")], []), ([plot(4.0), plot(5.0, glue="fig_hidden_cell")], ["remove-output"]))
    assert [f.split(":")[0] for f in small_text(small)] == ["fig_small", "code cell 1",
                                                            "fig_hidden_cell"], small_text(small)

    nb = _nb(([glued("a"), glued("b_c"), glued("fig_d"), glued("e"), glued("orphan")], []))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": [
        "{glue:text}`a:.1f` and {glue}`b_c`\n", "```{glue:figure} fig_d\n:name: x\n```\n",
        "{glue:md}`e`, and orphan in plain words"]})
    assert [f.split("'")[1] for f in unused_glue(nb)] == ["orphan"], unused_glue(nb)


# --------------------------------------------------------------------------- the chapters


def _executed(book_build, source):
    nb = executed_notebook(book_build, source)
    if nb is None:
        pytest.fail(f"{source.name} has no successful execution in the build (see "
                    "test_every_cell_of_the_notebook_ran)", pytrace=False)
    return nb


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_stray_output(book_build, source):
    found = stray_output(_executed(book_build, source))
    assert not found, f"{source.name}: output a reader should not see:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_are_drawn_for_the_column(book_build, source):
    found = too_wide(_executed(book_build, source))
    assert not found, f"{source.name}: figures squeezed into the column:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_plot_text_is_readable_as_shown(book_build, source):
    found = small_text(_executed(book_build, source))
    assert not found, f"{source.name}: text too small to read:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_image_is_shown_once(book_build, source):
    found = shown_twice(_executed(book_build, source))
    assert not found, f"{source.name}:\n  " + "\n  ".join(found)


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glued_value_is_shown(book_build, source):
    found = unused_glue(_executed(book_build, source))
    assert not found, f"{source.name}:\n  " + "\n  ".join(found)
