"""The book as a PDF (``make pdf``), typeset from the session's fast build (conftest.build_book).

The PDF is read back with poppler's tools, as a reader would meet it: its outline has the parts
and chapters of ``_toc.yml`` in order; every numbered figure of every chapter has its caption,
with the site's number, on a page of that chapter, and on the page rendered with ``pdftoppm`` the
space above the caption holds ink that is not text (the figure itself), with an embedded image on
that page; no placeholder text (an unresolved glue, reference or role), no glyph missing from the
fonts, no undefined reference; the site links the PDF; and each chapter has a sane number of
pages. The checks are shown to fail on a small PDF broken on purpose (the last tests).
"""

import html
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import BUILD_ROOT, ROOT
from dlbook import build

TOOLS = ("pdftotext", "pdftohtml", "pdftoppm", "pdfimages", "pdfinfo")
FIGURE_DIRECTIVE = re.compile(r"^(`{3,}|:{3,})\{(?:glue:figure|figure)\}[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
CAPTION = re.compile(r"(\d+)\.(\d+):$")
# Text that must never reach a reader: unresolved MyST (glue, roles), LaTeX's mark of an
# unresolved reference, a figure printed as its repr, a traceback.
PLACEHOLDERS = ("{glue", "glue:", "{numref}", "{footcite", "{eq}", "??", "<Figure size",
                "<IPython.core", "Traceback (most recent call last)")
DPI = 30  # rendering resolution of the figure check: enough to see a figure, quick for 100 pages
INK_LEVEL = 235  # a pixel darker than this (of 255) is ink: light fills count, paper does not
INK_MIN = 0.02  # least share of ink, text excluded, above a caption


def run(*cmd: str) -> str:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"poppler's {', '.join(missing)} missing: install poppler-utils (.ci/run does)")
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


# --------------------------------------------------------------------------- reading a PDF


def outline(pdf: Path) -> list[tuple[int, str, int]]:
    """``(depth, title, page)`` of every bookmark of ``pdf``, in order (depth 0: top level)."""
    text = run("pdftohtml", "-xml", "-i", "-q", "-stdout", "-l", "1", str(pdf))
    start, end = text.find("<outline"), text.rfind("</outline>")
    if start < 0:
        return []
    found = []

    def walk(node, depth):
        for child in node:
            if child.tag == "item":
                found.append((depth, " ".join("".join(child.itertext()).split()),
                              int(child.get("page", 0))))
            elif child.tag == "outline":
                walk(child, depth + 1)

    walk(ET.fromstring(text[start:end + len("</outline>")]), 0)
    return found


@lru_cache(maxsize=4)
def words(pdf: Path) -> tuple[tuple[tuple[float, float, float, float, str], ...], ...]:
    """Per page (index 0 = page 1), the words of ``pdf`` with their boxes in points."""
    text = run("pdftotext", "-bbox", str(pdf), "-")
    pages = []
    for page in re.split(r"<page\b", text)[1:]:
        pages.append(tuple(
            (float(x0), float(y0), float(x1), float(y1), html.unescape(word))
            for x0, y0, x1, y1, word in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                page)))
    return tuple(pages)


def captions(pdf: Path) -> dict[tuple[int, int], list[tuple[int, tuple]]]:
    """``{(chapter, figure): [(page, box of the word "Fig."), ...]}`` for every caption line
    "Fig. k.m: ..." (the label starts its line; a reference in the prose has no colon)."""
    found: dict = {}
    for number, page in enumerate(words(pdf), start=1):
        for i, (x0, y0, x1, y1, word) in enumerate(page[:-1]):
            m = CAPTION.fullmatch(page[i + 1][4])
            if word != "Fig." or not m:
                continue
            starts_line = not any(abs(w[1] - y0) < 2 and w[0] < x0 - 1 for w in page)
            if starts_line:
                found.setdefault((int(m[1]), int(m[2])), []).append((number, (x0, y0, x1, y1)))
    return found


def render(pdf: Path, page: int, dpi: int = DPI) -> np.ndarray:
    """Page ``page`` of ``pdf`` rendered by pdftoppm in grey levels (0 black, 255 white)."""
    out = subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page),
                          str(pdf)], check=True, capture_output=True).stdout
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", out)
    width, height = int(header[1]), int(header[2])
    return np.frombuffer(out[header.end():header.end() + width * height], np.uint8).reshape(height, width)


def ink_above(pdf: Path, page: int, box: tuple, dpi: int = DPI) -> float:
    """Share of inked pixels, text excluded, between ``box`` (a caption's first word) and the
    nearest text above it, across the text column: the figure, if one is there (0 when the gap
    is too small to hold one)."""
    page_words = words(pdf)[page - 1]
    above = [w[3] for w in page_words if w[3] < box[1] - 4.0]
    top, bottom = (max(above) if above else 0.0), box[1] - 2.0
    if bottom - top < 12.0:
        return 0.0
    pixels = render(pdf, page, dpi)
    scale = dpi / 72.0
    left, right = min(w[0] for w in page_words), max(w[2] for w in page_words)
    band = np.zeros(pixels.shape, bool)
    band[int(top * scale) + 1:int(bottom * scale), int(left * scale):int(right * scale) + 1] = True
    for x0, y0, x1, y1, _ in page_words:  # text is not a figure
        band[max(int(y0 * scale) - 2, 0):int(y1 * scale) + 3,
             max(int(x0 * scale) - 2, 0):int(x1 * scale) + 3] = False
    if not band.any():
        return 0.0
    return float((pixels[band] < INK_LEVEL).mean())


def images_per_page(pdf: Path) -> dict[int, int]:
    """How many images (larger than 40 px both ways) each page embeds."""
    counts: dict[int, int] = {}
    for line in run("pdfimages", "-list", str(pdf)).splitlines()[2:]:
        fields = line.split()
        if len(fields) > 4 and fields[2] == "image" and int(fields[3]) > 40 and int(fields[4]) > 40:
            counts[int(fields[0])] = counts.get(int(fields[0]), 0) + 1
    return counts


def placeholders(text: str) -> list[str]:
    """Each placeholder of PLACEHOLDERS found in ``text``, with some context."""
    return [f"{p!r} in ...{text[max(i - 60, 0):i + 60]!r}..." for p in PLACEHOLDERS
            for i in [text.find(p)] if i >= 0]


def missing_figures(pdf: Path, expected: dict[tuple[int, int], tuple[int, int]]) -> list[str]:
    """What is wrong with each expected figure ``{(k, m): (first page, last page) of its
    chapter}``: its caption not found, not on a page of its chapter, no image on its page, or no
    figure drawn above it."""
    found, images, problems = captions(pdf), images_per_page(pdf), []
    for (k, m), (first, last) in sorted(expected.items()):
        where = [(page, box) for page, box in found.get((k, m), []) if first <= page <= last]
        if not where:
            problems.append(f"Fig. {k}.{m}: no caption in its chapter (pages {first}-{last})")
            continue
        page, box = where[0]
        if images.get(page, 0) < sum(p == page for c in found.values() for p, _ in c):
            problems.append(f"Fig. {k}.{m}: page {page} has fewer images than captions")
        ink = ink_above(pdf, page, box)
        if ink < INK_MIN:
            problems.append(f"Fig. {k}.{m}: nothing drawn above its caption on page {page} "
                            f"(ink {ink:.3f})")
    unexpected = sorted(set(found) - set(expected))
    problems += [f"Fig. {k}.{m}: a caption no chapter has" for k, m in unexpected]
    return problems


# --------------------------------------------------------------------------- the book's sources


def page_title(path: Path) -> str:
    """The first level-1 heading of a page of the book (Markdown or notebook)."""
    if path.suffix == ".ipynb":
        text = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "markdown")
    else:
        text = path.read_text()
    return re.search(r"^# (.+)$", text, re.M).group(1).strip()


def toc_parts() -> list[tuple[str, bool, list[Path]]]:
    """``(caption, numbered, page files)`` of each part of ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    parts = []
    for part in toc["parts"]:
        files = []
        for chapter in part["chapters"]:
            base = ROOT / chapter["file"]
            files.append(next(p for p in (base.with_suffix(".ipynb"), base.with_suffix(".md"))
                              if p.is_file()))
        parts.append((part["caption"], bool(part.get("numbered")), files))
    return parts


def numbered_figures(notebook: Path) -> int:
    """How many figures with a caption (so with a number) the chapter's Markdown holds."""
    count = 0
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for m in FIGURE_DIRECTIVE.finditer("".join(cell["source"])):
            body = [line for line in m[2].splitlines() if line.strip() and not line.startswith(":")]
            count += bool(body)
    return count


def normal(title: str) -> str:
    """A title as the outline and the source both give it: dashes, quotes, markup, spaces."""
    title = re.sub(r"[`*]", "", title)
    title = re.sub(r"[\u2010\u2011\u2012\u2013\u2014]", "-", title)
    return " ".join(title.replace("\u2019", "'").split())


# --------------------------------------------------------------------------- the book's PDF


@pytest.fixture(scope="module")
def pdf(book_build) -> Path:
    log = (BUILD_ROOT / "pdf.log").read_text()
    if not log.startswith("exit status 0"):
        pytest.fail("the PDF build failed:\n" + log[-6000:], pytrace=False)
    path = book_build / "pdf" / build.PDF_NAME
    assert path.is_file(), f"no PDF at {path}"
    return path


@pytest.fixture(scope="module")
def chapter_pages(pdf) -> dict[Path, tuple[int, int]]:
    return chapter_spans(pdf)


def chapter_spans(pdf: Path) -> dict[Path, tuple[int, int]]:
    """``{page file: (first page, last page)}`` from the outline, in book order."""
    marks = outline(pdf)
    tops = [(title, page) for depth, title, page in marks if depth <= 1]
    pages = {}
    chapters = [f for _, _, files in toc_parts() for f in files]
    starts = {normal(title): page for depth, title, page in marks if depth == 1}
    total = int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", str(pdf)))[1])
    for f in chapters:
        first = starts.get(normal(page_title(f)))
        if first is None:
            continue
        later = [page for _, page in tops if page > first]
        pages[f] = (first, (min(later) - 1) if later else total)
    return pages


def test_the_outline_has_the_parts_and_chapters_of_the_toc(pdf):
    """Parts ("II Foundations") with their chapters, in the order of _toc.yml; before the first
    part only front matter (the introduction), with no chapter under it."""
    got, front, current = [], [], None
    for depth, title, _ in outline(pdf):
        part = re.fullmatch(r"[IVXLC]+ (.+)", title) if depth == 0 else None
        if part:
            current = (part[1], [])
            got.append(current)
        elif depth == 0 and current is None:
            front.append(title)
        elif depth == 1:
            assert current is not None, f"{title!r} comes before the first part"
            current[1].append(normal(title))
    expected = [(caption, [normal(page_title(f)) for f in files]) for caption, _, files in toc_parts()]
    assert got == expected
    assert len(front) <= 1, front


def test_chapters_are_numbered_as_on_the_site(pdf):
    """The chapters of numbered parts are 1, 2, ... in order (their first section k.1, as on
    the site), whatever unnumbered pages come before them."""
    text = "\n".join(normal(line) for line in run("pdftotext", str(pdf), "-").splitlines())
    chapters = [f for _, numbered, files in toc_parts() if numbered for f in files]
    for number, f in enumerate(chapters, start=1):
        markdown = "\n".join("".join(c["source"]) for c in json.loads(f.read_text())["cells"]
                             if c["cell_type"] == "markdown")
        section = normal(re.search(r"^## (.+)$", markdown, re.M)[1])
        assert re.search(rf"^{number}\.1 {re.escape(section)}$", text, re.M), \
            f"{f.stem}: no section {number}.1 {section!r}"


def test_every_numbered_figure_is_on_its_chapters_pages(pdf, chapter_pages):
    expected, number = {}, 0
    for _, numbered, files in toc_parts():
        for f in files:
            if not numbered:
                continue
            number += 1
            assert f in chapter_pages, f"{f.stem} is not in the PDF's outline"
            for m in range(1, numbered_figures(f) + 1):
                expected[(number, m)] = chapter_pages[f]
    assert len(expected) >= 40, f"only {len(expected)} numbered figures in the chapters' sources"
    problems = missing_figures(pdf, expected)
    assert not problems, f"{len(problems)} of {len(expected)} figures:\n" + "\n".join(problems)


def test_no_placeholder_missing_glyph_or_undefined_reference(pdf):
    problems = placeholders(run("pdftotext", str(pdf), "-"))
    latex_log = pdf.parent / "_build" / "latex" / pdf.with_suffix(".log").name
    log = latex_log.read_text(errors="replace")
    problems += sorted(set(re.findall(r"Missing character: There is no .*", log)))
    problems += re.findall(r"LaTeX Warning: (?:Reference|Citation|Hyper reference) .*", log)
    assert not problems, "\n".join(problems[:30])


def test_each_chapter_has_a_sane_number_of_pages(pdf, chapter_pages):
    chapters = [f for _, numbered, files in toc_parts() if numbered for f in files]
    spans = {f.stem: last - first + 1 for f, (first, last) in chapter_pages.items() if f in chapters}
    assert len(spans) == len(chapters), sorted(spans)
    wrong = {stem: n for stem, n in spans.items() if not 5 <= n <= 80}
    assert not wrong, f"chapters with fewer than 5 or more than 80 pages: {wrong}"
    total = int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", str(pdf)))[1])
    assert sum(spans.values()) <= total <= 2 * sum(spans.values()) + 60, (total, spans)


def test_each_chapter_ends_with_its_reference_list(pdf, chapter_pages):
    """The chapter's References section lists its works (sphinxcontrib-bibtex's footnotes
    would otherwise vanish in LaTeX): the first author of every work it cites is named there."""
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "book" / "references.bib")).entries
    pages = words(pdf)
    for f, (first, last) in chapter_pages.items():
        if f.suffix != ".ipynb":
            continue
        source = f.read_text()
        keys = sorted(set(re.findall(r"\{footcite:?\w*\}`([^`]+)`", source)))
        keys = sorted({k.strip() for group in keys for k in group.split(",")})
        text = [" ".join(w[4] for w in pages[p - 1]) for p in range(first, last + 1)]
        whole = " ".join(text)
        # The section's heading, "k.n References" (the running footer reads "k.n. References").
        heading = list(re.finditer(r"(?<![\d.])\d+\.\d+ References\b", whole))
        assert heading, f"{f.stem}: no References section"
        listing = whole[heading[-1].end():]
        for key in keys:
            author = entries[key].persons.get("author", entries[key].persons.get("editor"))[0]
            last_name = " ".join(author.last_names).replace("{", "").replace("}", "")
            assert last_name in listing, f"{f.stem}: {key} ({last_name}) not in its References"


def test_the_site_links_the_pdf(pdf, book_build):
    copy = book_build / "html" / build.PDF_NAME
    assert copy.is_file() and copy.read_bytes() == pdf.read_bytes()
    for page in ("book/intro.html", "book/for_instructors.html"):
        text = (book_build / "html" / page).read_text()
        assert f'href="../{build.PDF_NAME}"' in text, f"{page} does not link the PDF"


# --------------------------------------------------------------------------- checks that fail


@pytest.fixture(scope="module")
def broken_pdf(tmp_path_factory) -> Path:
    """Three pages: a figure with its caption (right); a caption with nothing above it (the
    figure missing); a page with an unresolved glue role."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    path = tmp_path_factory.mktemp("broken_pdf") / "broken.pdf"
    rng = np.random.default_rng(0)
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as out:
        for page in range(3):
            fig = plt.figure(figsize=(8.27, 11.69))
            fig.text(0.1, 0.9, "Some prose above the figure, as a chapter has it.")
            if page == 0:
                ax = fig.add_axes([0.1, 0.55, 0.8, 0.3])
                ax.imshow(rng.random((64, 64)), cmap="gray")
                ax.axis("off")
            if page < 2:
                fig.text(0.1, 0.5, f"Fig. 1.{page + 1}: a caption under where the figure is.")
            else:
                fig.text(0.1, 0.5, "The run found {glue:text}`acc` on the test set.")
            out.savefig(fig)
            plt.close(fig)
    return path


def test_the_figure_check_fails_a_caption_without_its_figure(broken_pdf):
    problems = missing_figures(broken_pdf, {(1, 1): (1, 3), (1, 2): (1, 3), (1, 3): (1, 3)})
    assert not any(p.startswith("Fig. 1.1") for p in problems), problems
    assert any(p.startswith("Fig. 1.2: page 2 has fewer images") for p in problems), problems
    assert any(p.startswith("Fig. 1.2: nothing drawn above") for p in problems), problems
    assert any(p.startswith("Fig. 1.3: no caption") for p in problems), problems
    assert missing_figures(broken_pdf, {(1, 1): (2, 3), (1, 2): (1, 3)})[0].startswith(
        "Fig. 1.1: no caption in its chapter"), "a figure on another chapter's pages must fail"


def test_the_placeholder_check_fails_an_unresolved_role(broken_pdf):
    found = placeholders(run("pdftotext", str(broken_pdf), "-"))
    assert found and found[0].startswith("'{glue'"), found


def test_the_outline_and_source_readers(broken_pdf):
    assert outline(broken_pdf) == []  # matplotlib writes no bookmarks: the outline test would fail
    assert normal("Case studies I: from LeNet\u20115 to `GoogLeNet`") == \
        "Case studies I: from LeNet-5 to GoogLeNet"
    counts = {f.stem: numbered_figures(f) for _, numbered, files in toc_parts() if numbered
              for f in files}
    assert all(n > 0 for n in counts.values()), counts
