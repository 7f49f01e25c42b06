"""Tests of :mod:`dlbook.slides` (the lecture decks) and of the figures as files.

The tags: every chapter's slide tags are valid, every kind of bad tag is reported, and the marks do
not change a chapter's content key. The cutting: a small notebook with every tag becomes the deck
it should (slides, notes, extraction, merged heading slides, exercises left out, stale products
refused). The built decks (the session's one fast-mode build, ``book_build``): each chapter has
one, linked from its page and from the instructors' guide, opened in headless Chromium with no
console error, no request to another host, every image loaded, MathJax typeset where the slides
have math, no slide whose content runs off its bottom, and a sane number of slides; a deck
broken on purpose fails those checks. The figures zip holds every figure as PNG, SVG and PDF.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from dlbook import build, colab, figures, slides
from test_site import (SCREENS, Visit, browser, check_images, check_load_errors,  # noqa: F401
                       check_math, check_myst_roles, serve)

new_md, new_code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5"
           "ErkJggg==")


# --------------------------------------------------------------------------- the tags


def test_every_chapter_has_valid_tags_and_marks_cells_for_slides():
    assert slides.check_all(ROOT) == []
    for path in build.chapters(ROOT):
        nb = nbformat.read(path, as_version=4)
        starts = [c for c in nb.cells if {"slide", "subslide"} & set(c.metadata.get("tags", []))]
        assert len(starts) >= slides.SLIDES_PER_DECK[0] - 1, path.name


@pytest.mark.parametrize("cell, problem", [
    (new_md("x", metadata={"tags": ["slides"]}), "unknown tag 'slides'"),
    (new_md("x", metadata={"tags": ["slide", "fragment"]}), "more than one placement tag"),
    (new_md("x", metadata={"tags": ["slide-extract"]}), "without a placement tag"),
    (new_code("x", metadata={"tags": ["notes"]}), "'notes' is for Markdown cells"),
    (new_md("x", metadata={"tags": ["slide", "slide-no-input"]}), "is for code cells"),
    (new_md("x", metadata={"tags": ["slide", "slide-only"]}), "needs 'remove-cell'"),
    (new_md("x", metadata={"tags": ["slide", "remove-cell"]}), "tag it slide-only"),
])
def test_a_bad_tag_is_reported_with_the_fix(cell, problem):
    nb = nbformat.v4.new_notebook(cells=[new_md("# T"), cell])
    found = slides.check_tags(nb, "ch")
    assert len(found) == 1 and found[0].startswith("ch cell 1: ") and problem in found[0], found
    assert slides.check_tags(nbformat.v4.new_notebook(cells=[new_md("# T")])) == []


def test_slide_marks_do_not_change_the_content_key(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[new_md("# T"), new_code("x = 1")])
    path = tmp_path / "01_a.ipynb"

    def key(notebook):
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        return build.content_key(tmp_path, path, "fast")

    plain = key(nb)
    marked = copy.deepcopy(nb)
    marked.cells[1].metadata["tags"] = ["slide", "slide-no-output"]
    marked.cells.insert(1, new_md("Slide only", metadata={"tags": ["remove-cell", "slide-only", "slide"]}))
    assert key(marked) == plain
    book_tag = copy.deepcopy(nb)
    book_tag.cells[1].metadata["tags"] = ["hide-input"]
    assert key(book_tag) != plain  # a tag the book acts on is content
    changed = copy.deepcopy(nb)
    changed.cells[1].source = "x = 2"
    assert key(changed) != plain


# --------------------------------------------------------------------------- cutting a deck


def _page():
    book = colab.Book(site_url="../", repo_url="https://github.com/o/r", ref="abc")
    book.targets["fig-a"] = ("notebooks/01_x", "fig-a", "figure", "1.1")
    glue = {"fig_a": {"image/png": PNG_1PX}, "n": {"text/plain": "1234"}}
    return slides._slide_page(colab.Page)("notebooks/01_x", book, glue)


def _chapter():
    figure = "```{glue:figure} fig_a\n:name: fig-a\n\nThe caption.\n```"
    cells = [
        new_md("# The title\n\nIntro.\n\n**You will learn**\n\n- one thing"),
        new_md(f"## Section A\n\nProse one.\n\n{figure}\n\nProse two, {{glue:text}}`n:,` of them.",
               metadata={"tags": ["slide", "slide-extract"]}),
        new_code("def f():\n    return 1", metadata={"tags": ["slide"]},
                 outputs=[nbformat.v4.new_output("stream", name="stdout", text="printed\n")]),
        new_code("plot()", metadata={"tags": ["hide-input", "slide"]}),
        new_md("Said aloud.", metadata={"tags": ["notes"]}),
        new_md("## Section B\n\nOnly prose.", metadata={"tags": ["slide", "slide-extract"]}),
        new_md("$$\nx^2\n$$", metadata={"tags": ["slide"]}),
        new_md("Shown on click.", metadata={"tags": ["remove-cell", "slide-only", "fragment"]}),
        new_md("## Summary\n\n- a point\n- another\n\n## Exercises\n\n1. Do it.",
               metadata={"tags": ["slide", "slide-extract"]}),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def _slides_of(deck):
    """Each slide's Markdown and code (notes apart), and the notes, in order."""
    shown, notes = [], []
    for cell in deck.cells:
        kind = cell.metadata["slideshow"]["slide_type"]
        if kind in ("slide", "subslide"):
            shown.append("")
        if kind == "notes":
            notes.append(cell.source)
        else:
            shown[-1] += cell.source + "\n"
    return shown, notes


def test_a_chapter_becomes_its_deck():
    source = _chapter()
    executed = copy.deepcopy(source)
    executed = nbformat.v4.new_notebook(cells=[c for c in executed.cells
                                               if "slide-only" not in c.metadata.get("tags", [])])
    deck = slides.slide_notebook(source, executed, _page(), "notebooks/01_x")
    shown, notes = _slides_of(deck)
    # Title; section A with its figure; the code; the plot; section B's heading with the equation
    # that joins it; the summary (the exercises stay in the book).
    assert len(shown) == slides.count_slides(deck) == 6, shown
    assert shown[0].startswith("# The title") and "../notebooks/01_x.html" in shown[0]
    assert "**You will learn**\n\n- one thing" in shown[0] and "Intro." not in shown[0]
    # The figure is embedded: its data URI waits in the metadata until export() puts it back.
    assert "## Section A" in shown[1] and "![Fig. 1.1](dlbook-image-0)" in shown[1]
    assert deck.metadata["dlbook_images"] == {"dlbook-image-0": f"data:image/png;base64,{PNG_1PX}"}
    assert "**Fig. 1.1:** The caption." in shown[1] and "Prose" not in shown[1]
    assert notes[0] == "Intro."  # the title slide's notes: the chapter's opening prose
    assert "Prose one." in notes[1] and "Prose two, 1,234 of them." in notes[1]
    code = [c for c in deck.cells if c.cell_type == "code"]
    assert code[0].outputs[0]["text"] == "printed\n" and "transient" not in code[0].metadata
    assert code[1].metadata["transient"] == {"remove_source": True}  # the book folds its code
    assert "Section A" in shown[2]  # a slide without a heading names its section
    assert "Said aloud." in notes
    assert "## Section B" in shown[4] and "x^2" in shown[4] and "Shown on click." in shown[4]
    assert [c.metadata["slideshow"]["slide_type"] for c in deck.cells
            if c.source == "Shown on click."] == ["fragment"]
    assert "- a point" in shown[5] and "Exercises" not in "".join(shown) + "".join(notes)


def test_a_product_older_than_the_tags_is_refused():
    source = _chapter()
    executed = copy.deepcopy(source)
    del executed.cells[2]  # the product lacks a cell the source marks
    with pytest.raises(slides.SlidesError, match="make book"):
        slides.slide_notebook(source, executed, _page(), "notebooks/01_x")


def test_bad_tags_stop_the_deck():
    source = _chapter()
    source.cells[2].metadata["tags"] = ["slide", "notes"]
    with pytest.raises(slides.SlidesError, match="more than one placement tag"):
        slides.slide_notebook(source, source, _page(), "notebooks/01_x")


# --------------------------------------------------------------------------- the decks in a browser


_DECK_STATE_JS = """() => {
    const problems = [];
    if (!window.Reveal || !Reveal.isReady()) return {total: 0, problems: ['reveal.js did not start']};
    if (!window.dlbookFitted) problems.push('the slides were not fitted to the slide height');
    const all = Reveal.getSlides();
    all.forEach((slide, i) => {
        const at = Reveal.getIndices(slide);
        Reveal.slide(at.h, at.v);
        const over = slide.scrollHeight - slide.clientHeight;
        if (over > 4) problems.push(`slide ${i + 1}: its content runs ${over} px below the slide`);
        const wide = slide.scrollWidth - slide.clientWidth;
        if (wide > 4) problems.push(`slide ${i + 1}: its content runs ${wide} px past its right edge`);
    });
    Reveal.slide(0, 0);
    return {total: Reveal.getTotalSlides(), math: document.querySelectorAll('mjx-container').length,
            notes: document.querySelectorAll('aside.notes').length, problems};
}"""


def check_deck(visit, expect_math: bool, screens: list[tuple[int, Path]] = (),
               notes: list | None = None) -> tuple[int, list[str]]:
    """Open deck problems (load errors, images, math, MyST left, slides that overflow) and the
    number of slides; takes the screenshots ``screens`` (slide index, file) on the way and puts
    the number of speaker notes into ``notes``."""
    page = visit.page
    try:
        page.wait_for_function("() => window.Reveal && Reveal.isReady() && window.dlbookFitted",
                               timeout=30_000)
    except Exception:  # reported below as "reveal.js did not start"
        pass
    problems = check_images(page) + check_math(page) + check_myst_roles(page)
    state = page.evaluate(_DECK_STATE_JS)
    problems += state["problems"]
    if notes is not None:
        notes.append(state.get("notes", 0))
    if expect_math and not state.get("math"):
        problems.append("the slides have math but MathJax typeset none of it")
    for index, path in screens:
        page.evaluate(f"() => Reveal.slide({index}, 0)")
        page.wait_for_timeout(100)
        page.screenshot(path=str(path))
    return state["total"], problems + check_load_errors(visit)


def _serve_root(tmp: Path) -> Path:
    """A folder laid out like the site: the deck in slides/, reveal.js and MathJax in _static/."""
    (tmp / "slides").mkdir(parents=True)
    (tmp / "_static").symlink_to(ROOT / "site" / "node_modules", target_is_directory=True)
    shutil.copy2(slides.TEMPLATES / slides.TEMPLATE / "slides.css", tmp / "slides" / "slides.css")
    return tmp


@pytest.mark.skipif(not (ROOT / "site" / "node_modules" / "reveal.js").is_dir(),
                    reason="site/node_modules is installed by make install")
def test_a_deck_broken_on_purpose_fails_the_checks(browser, tmp_path):
    import base64
    import io

    from PIL import Image

    root = _serve_root(tmp_path)
    tall = io.BytesIO()
    Image.new("RGB", (900, 1000), "steelblue").save(tall, format="PNG")
    tall = base64.b64encode(tall.getvalue()).decode()
    text = "\n\n".join(f"Point {i} of the slide." for i in range(8))
    good = nbformat.v4.new_notebook(cells=[
        slides._cell(new_md("# A deck\n\nWith $x^2$ in it."), "slide"),
        slides._cell(new_md("## Two\n\n![pixel](data:image/png;base64," + PNG_1PX + ")"), "slide"),
        # A figure too tall for the slide beside text: the deck shrinks the figure to fit.
        slides._cell(new_md(f"## Three\n\n![tall](data:image/png;base64,{tall})\n\n{text}"), "slide"),
    ])
    html = slides.export(good)
    assert slides.remote_loads(html) == []
    (root / "slides" / "good.html").write_text(html)
    broken = copy.deepcopy(good)
    broken.cells.append(slides._cell(new_md("\n\n".join(f"Line {i}." for i in range(40))), "slide"))
    broken.cells.append(slides._cell(new_md("![gone](missing.png) and $\\undefinedmacro{x}$"), "slide"))
    body = slides.export(broken).replace(
        "</head>", '<script src="https://cdn.example.org/x.js"></script></head>', 1)
    (root / "slides" / "broken.html").write_text(body)
    with serve(root) as base:
        visit = Visit(browser, base + "slides/good.html")
        try:
            total, problems = check_deck(visit, expect_math=True)
        finally:
            visit.close()
        assert (total, problems) == (3, [])
        visit = Visit(browser, base + "slides/broken.html")
        try:
            total, problems = check_deck(visit, expect_math=True)
        finally:
            visit.close()
    text = "\n".join(problems)
    assert total == 5
    assert "image did not load: missing.png" in text
    assert "slide 4: its content runs" in text
    assert "MathJax error, undefined macro" in text
    assert "request leaves the machine (blocked): https://cdn.example.org/x.js" in text


def _marked_math(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    return any("$" in c.source for c in nb.cells if c.cell_type == "markdown"
               and set(slides.PLACEMENT) & set(c.metadata.get("tags", [])))


def test_every_deck_reads_well_in_the_browser(browser, book_build):
    html = book_build / "html"
    chapters = build.chapters(ROOT)
    SCREENS.mkdir(parents=True, exist_ok=True)
    report, counts = {}, {}
    with serve(html) as base:
        for path in chapters:
            deck = html / slides.DECK_DIR / slides.deck_name(path.stem)
            if not deck.is_file():
                report[path.stem] = [f"no deck {deck}"]
                continue
            assert slides.remote_loads(deck.read_text()) == [], deck
            shots = [(i, SCREENS / f"slides_{path.stem[:2]}_{i + 1:02d}.png") for i in (0, 3, 7)]
            visit = Visit(browser, f"{base}{slides.DECK_DIR}/{deck.name}")
            visit_notes = []
            try:
                total, problems = check_deck(visit, _marked_math(path), shots, visit_notes)
            finally:
                visit.close()
            counts[path.stem] = total
            if visit_notes[0] < total // 3:
                problems.append(f"speaker notes on only {visit_notes[0]} of {total} slides")
            low, high = slides.SLIDES_PER_DECK
            if not low <= total <= high:
                problems.append(f"{total} slides; a deck should have {low} to {high}")
            if problems:
                report[path.stem] = problems
    print("slides per deck:", counts)
    assert not report, "decks a lecturer would stumble on:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(p[:12]) for name, p in report.items())


def test_chapter_pages_and_the_guide_link_every_deck_and_the_figures(book_build):
    html = book_build / "html"
    guide = (html / "book" / "for_instructors.html").read_text()
    for path in build.chapters(ROOT):
        href = f"../slides/{slides.deck_name(path.stem)}"
        page = (html / "notebooks" / f"{path.stem}.html").read_text()
        assert f'href="{href}"' in page, path.stem
        assert f'href="{href}"' in guide, path.stem
        assert (html / "notebooks" / href).resolve().is_file(), href
    assert 'href="../figures/convnets-in-depth-figures.zip"' in guide
    assert (html / build.FIGURES_ZIP).is_file()


# --------------------------------------------------------------------------- figures as files


def _check_vector_files(files: dict[str, bytes]) -> None:
    pngs = sorted(p.stem for p in (ROOT / "DL_images").glob("*.png"))
    assert pngs
    for stem in pngs:
        for fmt in figures.FORMATS:
            assert f"{stem}.{fmt}" in files, f"{stem}.{fmt} is missing"
        root = ET.fromstring(files[f"{stem}.svg"])
        assert root.tag.endswith("svg") and len(root) > 0, stem
        pdf = files[f"{stem}.pdf"]
        assert pdf.startswith(b"%PDF-") and b"/Type /Page" in pdf and pdf.rstrip().endswith(b"%%EOF"), stem


def test_the_site_zips_every_figure_as_png_svg_and_pdf_with_the_licence(book_build):
    with zipfile.ZipFile(book_build / "html" / build.FIGURES_ZIP) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    _check_vector_files(files)
    assert "MIT licence" in files["LICENSE.txt"].decode()
    with pytest.raises(AssertionError, match="pooling_max_avg.pdf is missing"):
        _check_vector_files({k: v for k, v in files.items() if k != "pooling_max_avg.pdf"})
    with pytest.raises(AssertionError, match="residual_block"):
        _check_vector_files(dict(files, **{"residual_block.svg": b"<html/>"}))
    for png in (ROOT / "DL_images").glob("*.png"):  # the zip's PNGs are the book's
        assert files[png.name] == png.read_bytes(), png.name


def test_figures_draw_svg_and_pdf_identically_twice(tmp_path):
    first = figures.draw("pooling_max_avg", tmp_path / "a", formats=figures.FORMATS)
    second = figures.draw("pooling_max_avg", tmp_path / "b", formats=figures.FORMATS)
    for fmt in figures.FORMATS:
        assert first.with_suffix(f".{fmt}").read_bytes() == second.with_suffix(f".{fmt}").read_bytes()
    figures.draw("pooling_max_avg", tmp_path / "c")  # PNG only by default
    assert sorted(p.suffix for p in (tmp_path / "c").iterdir()) == [".png"]
    with pytest.raises(ValueError, match="formats must include 'png'"):
        figures.draw("pooling_max_avg", tmp_path, formats=("svg",))


def test_the_speaker_view_shows_the_notes_offline(browser, book_build):
    """S opens reveal.js's speaker view (a pop-up with the current and next slide and the notes):
    the second slide's notes hold its section's prose (no MyST left), and nothing leaves the machine."""
    first = build.chapters(ROOT)[0]
    blocked = []
    with serve(book_build / "html") as base:
        visit = Visit(browser, f"{base}{slides.DECK_DIR}/{slides.deck_name(first.stem)}#/1")
        visit.context.route("**/*", lambda route: (
            route.continue_() if route.request.url.startswith((base, "data:", "blob:", "about:"))
            else (blocked.append(route.request.url), route.abort())))
        try:
            visit.page.wait_for_function("() => window.dlbookFitted", timeout=30_000)
            with visit.page.expect_popup() as opened:
                visit.page.keyboard.press("s")
            popup = opened.value
            popup.wait_for_function(
                "() => { const n = document.querySelector('.speaker-controls-notes');"
                " return n && n.innerText.length > 80; }", timeout=30_000)
            notes = popup.evaluate("() => document.querySelector('.speaker-controls-notes').innerText")
            popup.screenshot(path=str(SCREENS / "slides_speaker_view.png"))
        finally:
            visit.close()
    assert notes.startswith("NOTES") and "{" not in notes, notes[:200]
    assert blocked == [] and check_load_errors(visit) == []
