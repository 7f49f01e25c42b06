"""Lecture slides: one reveal.js deck per chapter, made from the chapter's executed notebook.

What goes on a slide is marked in the chapter's source with cell tags (:data:`TAGS`); a cell with
no slide tag stays in the book only. Exactly one *placement* tag says where a marked cell goes:

- ``slide``: starts a new slide; ``subslide``: a new slide below the current one (reveal.js's
  vertical stack); ``slide-continue``: joins the current slide; ``fragment``: joins the current
  slide and appears on the next click; ``notes``: the current slide's speaker notes (Markdown
  cells only; the prose a lecturer says rather than shows).

and *modifiers* say how:

- ``slide-extract`` (Markdown): only the cell's headings, figures with their captions, display
  equations and tables go on the slide; its prose becomes the slide's speaker notes. Most
  section slides are a section's opening cell with this tag, so the slides quote the book;
- ``slide-only`` (Markdown): a short cell written for the deck alone (a slide title, two
  bullets); it must also carry ``remove-cell``, so the book never shows it;
- ``slide-no-input`` / ``slide-no-output`` (code): show only the output / only the code. By
  default a code cell shows what the book shows: its code unless the book folds it
  (``hide-input``, ``hide-cell``, ``remove-input``), its outputs unless the book removes them.

Every deck starts with a title slide (the chapter's title, the run it shows, a link to the
chapter page). The decks are made from the same executed notebooks the site shows, with MyST
resolved exactly as in the Colab copies (:mod:`dlbook.colab`'s ``Page``: glued values, figure
and equation numbers, citations), so every number and figure on a slide is the run's own. The
tags are read from the *source* notebook and matched to the executed cells by cell id, and the
content key of a chapter ignores them (:func:`strip_marks`, used by
:func:`dlbook.build.content_key`): re-cutting a deck never re-runs a chapter.

nbconvert's reveal exporter writes the decks with the template in ``site/templates/
dlbook_slides``: reveal.js 5.2.1 and MathJax 3 come from the site's own npm copies
(``site/package.json``, served from ``_static/``), so a deck reads offline and asks no other host
for anything; figures are embedded in the HTML. Commands (``make slides``)::

    python -m dlbook.slides                    # decks of the assembled build _build/ -> _build/html/slides/
    python -m dlbook.slides --check            # only check the tags of every chapter

``make book`` (:func:`dlbook.build.assemble`) writes the decks too, since every chapter page
links its deck.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "site" / "templates"
TEMPLATE = "dlbook_slides"
DECK_DIR = "slides"
"""Folder of the site that holds the decks: ``/slides/NN.html``."""
REVEAL = "../_static/reveal.js"
MATHJAX = "../_static/mathjax/es5/tex-mml-chtml.js"
"""Where a deck finds reveal.js and MathJax: the copies the site already serves (Sphinx copies
``site/node_modules`` into ``_static``; see ``html_static_path`` in ``_config.yml``)."""

PLACEMENT = {
    "slide": "slide",
    "subslide": "subslide",
    "slide-continue": "-",
    "fragment": "fragment",
    "notes": "notes",
}
"""Placement tags and the ``slideshow.slide_type`` nbconvert's reveal exporter reads."""
MODIFIERS = {"slide-extract", "slide-only", "slide-no-input", "slide-no-output"}
TAGS = set(PLACEMENT) | MODIFIERS
"""Every tag that marks a cell for the slides."""
BOOK_TAGS = {"hide-input", "hide-output", "hide-cell", "remove-input", "remove-output",
             "remove-cell", "remove-stderr", "raises-exception", "skip-execution", "full-width",
             "margin", "nbval-ignore-output", "nbval-skip", "nbval-raises-exception", "wide-figure"}
"""The other tags a chapter may carry: myst-nb's display tags, nbval's, and the book's
``wide-figure`` (a figure drawn wider than the column on purpose; tests/test_outputs.py)."""
HIDDEN_INPUT = {"hide-input", "hide-cell", "remove-input", "remove-cell"}
REMOVED_OUTPUT = {"remove-output", "remove-cell"}
BOOK_ONLY_SECTIONS = ("Exercises", "References")
"""Sections that a marked cell may run into but the decks leave to the book."""
SLIDES_PER_DECK = (10, 45)
"""A sane deck: at least 10 and at most 45 slides (the title slide included)."""


class SlidesError(RuntimeError):
    """The build or a chapter's tags cannot make a deck; the message says how to fix it."""


# --------------------------------------------------------------------------- the tags


def check_tags(nb, name: str = "notebook") -> list[str]:
    """Problems with the slide tags of the notebook ``nb`` (empty when they are valid).

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"),
    ...     nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["slide", "notes"]}),
    ...     nbformat.v4.new_markdown_cell("Hi", metadata={"tags": ["slide-only", "slide"]}),
    ...     nbformat.v4.new_markdown_cell("Hi", metadata={"tags": ["slide-typo"]})])
    >>> for problem in check_tags(nb, "x"): print(problem)
    x cell 1: more than one placement tag (notes, slide); give one of fragment, notes, slide, slide-continue, subslide
    x cell 1: 'notes' is for Markdown cells, not code cells
    x cell 2: 'slide-only' needs 'remove-cell' too, so the book does not show the cell
    x cell 3: unknown tag 'slide-typo'; slide tags are fragment, notes, slide, slide-continue, slide-extract, slide-no-input, slide-no-output, slide-only, subslide (dlbook.slides.TAGS); book tags are ...
    """
    problems = []
    placements = ", ".join(sorted(PLACEMENT))
    for index, cell in enumerate(nb.cells):
        tags = list(cell.get("metadata", {}).get("tags", []))
        where = f"{name} cell {index}"
        for tag in tags:
            if tag not in TAGS | BOOK_TAGS:
                problems.append(f"{where}: unknown tag {tag!r}; slide tags are "
                                f"{', '.join(sorted(TAGS))} (dlbook.slides.TAGS); book tags are "
                                f"{', '.join(sorted(BOOK_TAGS))}")
        placed = sorted(set(tags) & set(PLACEMENT))
        modifiers = set(tags) & MODIFIERS
        if len(placed) > 1:
            problems.append(f"{where}: more than one placement tag ({', '.join(placed)}); "
                            f"give one of {placements}")
        if modifiers and not placed:
            problems.append(f"{where}: {', '.join(sorted(modifiers))} without a placement tag; "
                            f"add one of {placements}")
        kind = cell.get("cell_type")
        markdown_only = {"notes", "slide-extract", "slide-only"} & set(tags)
        code_only = {"slide-no-input", "slide-no-output"} & set(tags)
        for tag in sorted(markdown_only if kind != "markdown" else ()):
            problems.append(f"{where}: {tag!r} is for Markdown cells, not {kind} cells")
        for tag in sorted(code_only if kind != "code" else ()):
            problems.append(f"{where}: {tag!r} is for code cells, not {kind} cells")
        if "slide-only" in tags and "remove-cell" not in tags:
            problems.append(f"{where}: 'slide-only' needs 'remove-cell' too, so the book does "
                            "not show the cell")
        if "remove-cell" in tags and placed and "slide-only" not in tags:
            problems.append(f"{where}: a cell the book removes (remove-cell) is on the slides; "
                            "tag it slide-only if it is written for the deck")
    return problems


def strip_marks(nb: dict) -> dict:
    """The notebook ``nb`` (plain JSON) without its slide marks: no ``slide-only`` cells, no
    slide tags, an emptied ``tags`` list removed. What a chapter's outputs depend on, so
    :func:`dlbook.build.content_key` hashes this.

    >>> nb = {"cells": [{"metadata": {"tags": ["slide"]}, "source": "a"},
    ...                 {"metadata": {"tags": ["hide-input", "notes"]}, "source": "b"},
    ...                 {"metadata": {"tags": ["remove-cell", "slide-only", "slide"]}, "source": "c"}]}
    >>> strip_marks(nb)["cells"]
    [{'metadata': {}, 'source': 'a'}, {'metadata': {'tags': ['hide-input']}, 'source': 'b'}]
    """
    out = copy.deepcopy(nb)
    cells = []
    for cell in out.get("cells", []):
        meta = cell.get("metadata", {})
        tags = meta.get("tags")
        if not tags:
            cells.append(cell)
            continue
        if "slide-only" in tags:
            continue
        kept = [t for t in tags if t not in TAGS]
        if kept:
            meta["tags"] = kept
        else:
            del meta["tags"]
        cells.append(cell)
    out["cells"] = cells
    return out


# --------------------------------------------------------------------------- Markdown for a slide


def blocks(text: str) -> list[str]:
    """``text`` split into Markdown blocks at blank lines, never inside a code fence or a
    ``$$`` display equation.

    >>> blocks("Para one\\nline two\\n\\n$$\\na\\n\\nb\\n$$\\n\\n```\\nx\\n\\ny\\n```")
    ['Para one\\nline two', '$$\\na\\n\\nb\\n$$', '```\\nx\\n\\ny\\n```']
    """
    out, current, fence, in_math = [], [], None, False
    for line in text.split("\n"):
        stripped = line.strip()
        if fence:
            current.append(line)
            if stripped.startswith(fence):
                fence = None
            continue
        if in_math:
            current.append(line)
            if stripped.endswith("$$"):
                in_math = False
            continue
        m = re.match(r"(`{3,}|~{3,})", stripped)
        if m:
            fence = m.group(1)
            current.append(line)
            continue
        if stripped.startswith("$$") and (stripped == "$$" or stripped.count("$$") == 1):
            in_math = True
            current.append(line)
            continue
        if not stripped:
            if current:
                out.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        out.append("\n".join(current))
    return out


def is_visual(block: str) -> bool:
    """Whether a Markdown block belongs on a slide under ``slide-extract``: a heading, an image,
    a figure's caption, a display equation, a table, a list or an anchor.

    >>> [is_visual(b) for b in ["## Pooling", "Some prose.", "$$\\nx\\n$$", "| a |\\n|---|",
    ...                         "**Fig. 1.2:** Max pooling", '<a id="x"></a>', "![a](b.png)",
    ...                         "- a point\\n- another", "**What you will learn**"]]
    [True, False, True, True, True, True, True, True, True]
    """
    first = block.lstrip()
    if re.fullmatch(r"\*\*[^*\n]+\*\*", first.strip()):  # a bold line alone: a run-in heading
        return True
    return (first.startswith(("#", "$$", "|", "\\begin{", "![", "**Fig. ", "**Table ", "- ", "* "))
            or re.match(r"\\d+\\. ", first) is not None
            or re.fullmatch(r'<a id="[^"]*"></a>', first.strip()) is not None)


def prose(block: str) -> str:
    """A block as speaker notes: images dropped (notes are read, not shown)."""
    return re.sub(r"!\[[^\]]*\]\([^)]*\)", "", block).strip()


# --------------------------------------------------------------------------- notebooks to decks


def _slide_page(page_cls):
    """A :class:`dlbook.colab.Page` whose links lead to the site's pages (a deck has no anchors
    of its own) and whose citations are plain author-year text."""

    class SlidePage(page_cls):
        def _href(self, docname, anchor, label):
            return self.book.page_url(docname, anchor)

        def cite(self, textual, keys):
            return re.sub(r"\[([^\]]*)\]\(#ref-[^)]*\)", r"\1", super().cite(textual, keys))

    return SlidePage


def deck_name(doc: str) -> str:
    """The deck file of a chapter: ``notebooks/04_residual_networks`` -> ``04.html``.

    >>> deck_name("notebooks/04_residual_networks")
    '04.html'
    """
    return Path(doc).name.split("_")[0] + ".html"


def marked_cells(source, executed, name: str):
    """``[(cell, tags, section)]``: the executed notebook's cells that the source marks for the
    slides, in order, with the source's tags (``slide-only`` cells come from the source itself)
    and the title of the section each starts in (``""`` before the first ``##`` heading)."""
    by_id = {c.get("id"): c for c in executed.cells}
    out, section = [], ""
    for cell in source.cells:
        tags = list(cell.metadata.get("tags", []))
        before = section
        headings = re.findall(r"^##\s+(.+)$", cell.source, re.M) if cell.cell_type == "markdown" else []
        if headings and "slide-only" not in tags:
            section = headings[-1].strip()
        if not set(tags) & set(PLACEMENT):
            continue
        if "slide-only" in tags:
            out.append((cell, tags, before))
            continue
        done = by_id.get(cell.get("id"))
        if done is None or done.cell_type != cell.cell_type:
            raise SlidesError(
                f"{name}: the cell {cell.get('id')!r} marked for the slides is not in the executed "
                "notebook (it is older than the source); run `make book` to execute the chapter.")
        out.append((done, tags, before))
    return out


def slide_notebook(source, executed, page, name: str, run: dict | None = None):
    """The deck of one chapter as a notebook for nbconvert's reveal exporter: a title slide, then
    every marked cell with its ``slideshow.slide_type``, MyST resolved by ``page``."""
    import nbformat

    from dlbook.build import run_note
    from dlbook.colab import plain_outputs

    problems = check_tags(source, name)
    if problems:
        raise SlidesError("\n".join(problems))
    first = next((c.source for c in source.cells if c.cell_type == "markdown"), f"# {name}")
    title, _, opening = first.partition("\n")
    intro = [title, ""]
    if run:
        intro.append('<p class="dlbook-run">' + _inline(run_note(run)).replace(
            "This page shows", "These slides show", 1) + "</p>")
    intro.append(f'<p class="dlbook-run">The chapter: <a href="../{name}.html">{name}.html</a>. '
                 "Press S for the speaker notes.</p>")
    # The title slide also lists what the chapter teaches (its opening's lists); its opening
    # prose is the notes.
    opening = blocks(page.markdown(opening))
    intro += [""] + [b for b in opening if is_visual(b)]
    cells = [_cell(nbformat.v4.new_markdown_cell("\n\n".join(intro).replace("\n\n\n", "\n\n")), "slide")]
    said = [prose(b) for b in opening if not is_visual(b) and prose(b)]
    if said:
        cells.append(_cell(nbformat.v4.new_markdown_cell("\n\n".join(said)), "notes"))
    bare = False  # the last slide holds only a heading: the next slide's content joins it

    def place(new, placement: str, heading_first: bool, section: str) -> None:
        if placement in ("slide", "subslide") and bare and not heading_first:
            placement = "-"
        elif placement in ("slide", "subslide") and not heading_first and section:
            cells.append(_cell(nbformat.v4.new_markdown_cell(_section_line(section)), placement))
            placement = "-"
        cells.append(_cell(new, placement))

    for cell, tags, section in marked_cells(source, executed, name):
        placement = PLACEMENT[next(t for t in tags if t in PLACEMENT)]
        cell = copy.deepcopy(cell)
        if cell.cell_type == "markdown":
            text = page.markdown(cell.source)
            if placement == "notes":
                cells.append(_cell(nbformat.v4.new_markdown_cell(
                    "\n\n".join(prose(b) for b in blocks(text) if prose(b))), "notes"))
                continue
            # A section heading inside the cell starts a slide of its own; the exercises (and
            # the references) stay in the book.
            for k, segment in enumerate(_segments(blocks(text))):
                if k and _heading(segment[0]) in BOOK_ONLY_SECTIONS:
                    break
                where = placement if k == 0 else "slide"
                if segment and _heading(segment[0]):
                    section = _heading(segment[0])
                if "slide-extract" in tags:
                    kept = [b for b in segment if is_visual(b)]
                    notes = [prose(b) for b in segment if not is_visual(b) and prose(b)]
                else:
                    kept, notes = segment, []
                if kept:
                    place(nbformat.v4.new_markdown_cell("\n\n".join(_caption(b) for b in kept)),
                          where, bool(_heading(kept[0])), section)
                    bare = ((where in ("slide", "subslide") or bare)
                            and all(_heading(b) or _anchor(b) for b in kept))
                if notes:
                    cells.append(_cell(nbformat.v4.new_markdown_cell("\n\n".join(notes)), "notes"))
        elif cell.cell_type == "code":
            book_tags = set(tags)
            show_input = not (book_tags & HIDDEN_INPUT) and "slide-no-input" not in book_tags
            show_output = not (book_tags & REMOVED_OUTPUT) and "slide-no-output" not in book_tags
            outputs = plain_outputs(cell.get("outputs", []), page) if show_output else []
            new = nbformat.v4.new_code_cell(cell.source, outputs=outputs)
            if not show_input:
                new.metadata["transient"] = {"remove_source": True}
            place(new, placement, False, section)
            bare = False
    # nbconvert's Markdown parser crawls through megabytes of embedded figures: each data URI
    # waits outside the Markdown under a short name until export() puts it back in the HTML.
    images: dict[str, str] = {}

    def stash(m):
        key = f"dlbook-image-{len(images)}"
        images[key] = m.group(1)
        return f"]({key})"

    for c in cells:
        if c.cell_type == "markdown":
            c.source = re.sub(r"\]\((data:image/[^)\s]+)\)", stash, c.source)
    meta = {"title": re.sub(r"^#+\s*", "", title), "dlbook_images": images}
    meta.update({k: executed.metadata[k] for k in ("kernelspec", "language_info")
                 if k in executed.metadata})
    return nbformat.v4.new_notebook(cells=cells, metadata=meta)


def _heading(block: str) -> str:
    """The title of a ``#`` or ``##`` heading block, else ``""``."""
    m = re.match(r"#{1,2}\s+(.+)", block.strip())
    return m.group(1).strip() if m and "\n" not in block.strip() else ""


def _anchor(block: str) -> bool:
    return re.fullmatch(r'<a id="[^"]*"></a>', block.strip()) is not None


def _segments(parts: list[str]) -> list[list[str]]:
    """Blocks grouped so that each ``#``/``##`` heading after the first block starts a group."""
    groups: list[list[str]] = [[]]
    for part in parts:
        if _heading(part) and groups[-1]:
            groups.append([])
        groups[-1].append(part)
    return [g for g in groups if g]


def _caption(block: str) -> str:
    """A figure's or table's caption block ("**Fig. 1.2:** ...") as one small paragraph; any
    other block as it is."""
    if not re.match(r"\*\*(?:Fig|Table)\. [\d.]+:\*\*", block):
        return block
    return '<small class="dlbook-caption">' + " ".join(block.split("\n")) + "</small>"


def _section_line(section: str) -> str:
    """The small line that names the section at the top of a slide that has no heading."""
    import html

    return f'<p class="dlbook-section">{html.escape(section)}</p>'


def _inline(markdown: str) -> str:
    """The run line's Markdown (bold, code) as HTML, for the title slide."""
    import html

    text = html.escape(markdown, quote=False)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _cell(cell, slide_type: str):
    cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def count_slides(deck) -> int:
    """The number of slides (horizontal and vertical) of a deck notebook."""
    return sum(c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide")
               for c in deck.cells)


def export(deck) -> str:
    """The HTML of a deck notebook (nbconvert's reveal exporter, the book's offline template)."""
    from nbconvert import SlidesExporter

    exporter = SlidesExporter(template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATES)],
                              reveal_url_prefix=REVEAL, reveal_theme="white",
                              reveal_transition="none", reveal_number="c/t",
                              exclude_input_prompt=True, exclude_output_prompt=True,
                              reveal_width="1280", reveal_height="720")
    # The exporter's CDN addresses are never used by the template; blank them so no stray use can
    # reach another host.
    exporter.require_js_url = exporter.jquery_url = exporter.mathjax_url = ""
    exporter.mermaid_js_url = ""
    images = deck.metadata.get("dlbook_images", {})
    deck = copy.copy(deck)
    deck.metadata = {k: v for k, v in deck.metadata.items() if k != "dlbook_images"}
    body, _ = exporter.from_notebook_node(deck, resources={
        "dlbook": {"mathjax_url": MATHJAX, "css_url": "slides.css"}})
    body = re.sub(r'src="(dlbook-image-\d+)"', lambda m: f'src="{images[m.group(1)]}"', body)
    leaks = sorted(set(remote_loads(body)))
    if leaks:
        raise SlidesError(f"the deck loads from other hosts: {leaks}; the template "
                          f"{TEMPLATES / TEMPLATE} must load everything from the site.")
    return body


def remote_loads(html: str) -> list[str]:
    """Addresses on other hosts that a page would load by itself (scripts, images, style
    sheets, imports), not the links a reader may follow.

    >>> remote_loads('<script src="https://cdn.x/a.js"></script><a href="https://x.org">x</a>'
    ...              '<link rel="stylesheet" href="http://f.x/c.css"><img src="data:image/png;base64,AA">')
    ['https://cdn.x/a.js', 'http://f.x/c.css']
    """
    found = re.findall(r"""\bsrc=["']((?:https?:)?//[^"']+)""", html)
    found += re.findall(r"""<link\b[^>]*\bhref=["']((?:https?:)?//[^"']+)""", html)
    found += re.findall(r"""@import\s+(?:url\()?["']?((?:https?:)?//[^"')\s]+)""", html)
    found += re.findall(r"""\bimport\s[^;]*?from\s+["']((?:https?:)?//[^"']+)""", html)
    return found


def build_decks(build_dir: Path, root: Path = ROOT, log=print) -> dict:
    """Write a deck for every executed chapter of the assembled build ``build_dir`` into
    ``build_dir/html/slides/``; return ``{deck path: number of slides}``.

    Raises :class:`SlidesError` naming every chapter whose deck could not be made (the others are
    written).
    """
    import nbformat

    from dlbook import colab

    build_dir, root = Path(build_dir), Path(root)
    html = build_dir / "html"
    if not (html / "_static" / "reveal.js" / "dist" / "reveal.js").is_file():
        raise SlidesError(
            f"{html / '_static' / 'reveal.js'} is missing: the decks load reveal.js from the "
            "site. Run `make install` (npm ci in site/ installs reveal.js 5.2.1), then `make book`.")
    try:
        book = colab.load_book(build_dir, log, root)
    except colab.ColabError as exc:
        raise SlidesError(str(exc).replace("this converter", "the slides")) from None
    book = dataclasses.replace(book, site_url="../")
    page_cls = _slide_page(colab.Page)
    out = html / DECK_DIR
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(TEMPLATES / TEMPLATE / "slides.css", out / "slides.css")
    written, failed = {}, {}
    for doc in colab.chapter_docs(build_dir):
        src = build_dir / "jupyter_execute" / f"{doc}.ipynb"
        try:
            executed = colab.executed_notebook(book, doc, src)
            source = nbformat.read(root / f"{doc}.ipynb", as_version=4)
            page = page_cls(doc, book, colab.load_glue(src.with_name(src.stem + ".glue.json")))
            run = executed.metadata.get("dlbook", {}).get("run")
            deck = slide_notebook(source, executed, page, doc, run)
            path = out / deck_name(doc)
            path.write_text(export(deck), encoding="utf-8")
        except (SlidesError, colab.ColabError) as exc:
            failed[doc] = str(exc).replace("this converter", "the decks")
            log(f"dlbook.slides: no deck for {doc}: {exc}")
            continue
        written[path] = count_slides(deck)
        log(f"dlbook.slides: {doc} -> {path} ({written[path]} slides)")
    if failed:
        raise SlidesError(f"{len(failed)} chapter(s) have no deck: " + "; ".join(
            f"{doc}: {why}" for doc, why in failed.items()))
    return written


def check_all(root: Path = ROOT) -> list[str]:
    """Tag problems of every chapter of ``_toc.yml`` (empty when all are valid)."""
    import nbformat

    from dlbook.build import chapters

    problems = []
    for path in chapters(root):
        problems += check_tags(nbformat.read(path, as_version=4), path.stem)
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlbook.slides",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "_build",
                        help="the assembled build (default: the project's _build)")
    parser.add_argument("--check", action="store_true", help="only check the slide tags")
    args = parser.parse_args(argv)
    problems = check_all(ROOT)
    if problems:
        print("dlbook.slides: error: bad slide tags:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    if args.check:
        print("dlbook.slides: the slide tags of every chapter are valid")
        return 0
    try:
        written = build_decks(args.build_dir)
    except SlidesError as exc:
        print(f"dlbook.slides: error: {exc}", file=sys.stderr)
        return 1
    print(f"dlbook.slides: {len(written)} decks in {args.build_dir / 'html' / DECK_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
