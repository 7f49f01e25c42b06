"""The built site as a reader sees it, in Debian's headless Chromium, with no network.

Every page of the fast-mode build is served from 127.0.0.1 and opened in the browser; the test
fails on what a reader would stumble on: a script error, an image that did not load, a request
that leaves the machine (the site must read offline), math that MathJax did not typeset (or
typeset with an error), a raw Markdown table or an unrendered MyST role left in the text, an
output that only echoes a glued value, an internal link or #anchor that leads nowhere, and a
chapter that the site's search cannot find. One full-page screenshot per page goes to
_build/screens/ for a person to look at.

Each check is a function that returns a list of problems; the tests at the top feed each one a
small page broken on purpose, so every check is shown to fail.
"""

from __future__ import annotations

import functools
import html as html_lib
import json
import re
import threading
import time
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a headless Chromium on a machine without network: no background requests to
# Google's services, no component or browser updates, no sandbox (CI runs as root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 860}
SCREENS = ROOT / "_build" / "screens"
MATHJAX_JS = ROOT / "site" / "node_modules" / "mathjax" / "es5" / "tex-mml-chtml.js"


# --------------------------------------------------------------------------------------------
# Serving a folder and driving the browser
# --------------------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the site test drives Debian's Chromium. "
            "Install it with `apt-get install chromium` (.ci/run does)."
        )
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Visit:
    """One page opened in the browser, with what went wrong while it loaded.

    Requests to any host but 127.0.0.1 are blocked and recorded (the site must read offline);
    console errors and uncaught exceptions are recorded too.
    """

    def __init__(self, browser, url: str):
        self.url = url
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=VIEWPORT, service_workers="block")
        self.page = self.context.new_page()
        self.page.route("**/*", self._only_local)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught exception: {exc}"))
        # A script that fails to load (MathJax from a blocked CDN, say) must not be waited for.
        self.page.add_init_script(
            """window.addEventListener('error', event => {
                   const src = event.target && event.target.src;
                   if (src && /mathjax/i.test(src)) window.__mathjaxFailed = true;
               }, true);"""
        )
        self.page.goto(url, wait_until="load", timeout=60_000)
        try:
            wait_for_mathjax(self.page)
        except PlaywrightTimeout:
            self.errors.append("MathJax did not finish typesetting within 30 s")

    def _only_local(self, route):
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.errors.append(f"request leaves the machine (blocked): {route.request.url}")
            route.abort()

    def _console(self, message):
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console error: {message.text} {where}".strip())

    def close(self):
        self.context.close()


def wait_for_mathjax(page, timeout_ms: int = 30_000) -> None:
    """Wait until MathJax (if the page loads it) has typeset the page."""
    page.wait_for_function(
        """() => {
            const mj = window.MathJax;
            if (!document.querySelector('script[src*="mathjax"]')) return true;  // no math here
            if (window.__mathjaxFailed) return true;                              // it never will
            if (!mj || !mj.startup || !mj.startup.promise) return false;         // still loading
            if (window.__typeset === undefined) {
                window.__typeset = false;
                mj.startup.promise.then(() => { window.__typeset = true; },
                                        () => { window.__typeset = true; });
            }
            return window.__typeset;
        }""",
        timeout=timeout_ms,
    )


# --------------------------------------------------------------------------------------------
# The checks: each takes an open page (and what it needs) and returns a list of problems
# --------------------------------------------------------------------------------------------

# The text a reader reads: no scripts, no code a cell shows as input, no literal code in prose,
# no typeset math; but a cell's text output is read, so it counts.
_READER_TEXT_JS = """() => {
    const skip = 'script, style, noscript, textarea, template, mjx-container, mjx-assistive-mml, '
               + '.cell_input, pre, code, .highlight, .MathJax_Preview';
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent) continue;
        const inOutput = parent.closest('.cell_output');
        const skipped = parent.closest(skip);
        if (skipped && !(inOutput && inOutput.contains(skipped))) continue;
        out.push(node.textContent);
    }
    return out.join('');
}"""


def reader_text(page) -> str:
    return page.evaluate(_READER_TEXT_JS)


def check_load_errors(visit: Visit) -> list[str]:
    """Console errors, uncaught exceptions and requests that left the machine."""
    return list(visit.errors)


def check_images(page) -> list[str]:
    """Every <img> loaded (a broken one has naturalWidth 0)."""
    broken = page.evaluate(
        """async () => {
            const images = Array.from(document.images);
            for (const img of images) {
                img.loading = 'eager';
                try { await img.decode(); } catch (e) { /* reported below */ }
            }
            return images.filter(img => img.naturalWidth === 0)
                         .map(img => img.getAttribute('src') || '(no src)');
        }"""
    )
    return [f"image did not load: {src}" for src in broken]


def check_readable_width(page) -> list[str]:
    """Nothing squeezed or cut off sideways: no image shown at under half its pixel width (unless
    the book's scroll box shows it wider), no text block whose lines hide behind a scrollbar
    (text drawn with box characters may scroll: it is marked ``dlbook-keep-lines``)."""
    found = page.evaluate(
        """() => {
            const root = document.querySelector('.bd-article') || document.body;
            const squeezed = Array.from(root.querySelectorAll('img'))
                .filter(img => !img.closest('a') && img.naturalWidth > 0)
                .filter(img => img.getBoundingClientRect().width < img.naturalWidth / 2 - 1)
                .map(img => `${img.getAttribute('src')} shown ${Math.round(img.getBoundingClientRect().width)}`
                            + ` of ${img.naturalWidth} px`);
            const hidden = Array.from(root.querySelectorAll('pre'))
                .filter(pre => !pre.classList.contains('dlbook-keep-lines'))
                .filter(pre => pre.scrollWidth > pre.clientWidth + 2)
                .map(pre => pre.textContent.trim().split('\\n')[0].slice(0, 50));
            return {squeezed, hidden};
        }"""
    )
    return [f"image squeezed below half its size: {s}" for s in found["squeezed"]] + [
        f"lines hidden behind a scrollbar in the text block {h!r}" for h in found["hidden"]
    ]


def check_fits_column(page) -> list[str]:
    """No table, display equation or figure wider than the column: a table whose right-hand columns
    hide behind a scrollbar, an equation clipped at the edge, a figure overflowing the article."""
    found = page.evaluate(
        """() => {
            const root = document.querySelector('.bd-article') || document.body;
            const width = root.getBoundingClientRect().width;
            const clipped = el => el.scrollWidth > el.clientWidth + 2;
            const text = el => el.textContent.replace(/\\s+/g, ' ').trim().slice(0, 60);
            const tables = Array.from(root.querySelectorAll('table'))
                .filter(t => t.getBoundingClientRect().width > width + 2 || clipped(t.parentElement))
                .map(t => `table ${Math.round(t.scrollWidth)} px wide in a ${Math.round(width)} px `
                          + `column: ${text(t)}`);
            const equations = Array.from(root.querySelectorAll('mjx-container[display="true"]'))
                .filter(m => clipped(m) || m.getBoundingClientRect().width > width + 2)
                .map(m => `equation ${Math.round(m.scrollWidth)} px wide in ${Math.round(m.clientWidth)} px: `
                          + (m.getAttribute('aria-label') || text(m.closest('.math') || m)));
            const figures = Array.from(root.querySelectorAll('figure'))
                .filter(f => f.getBoundingClientRect().width > width + 2)
                .map(f => `figure ${Math.round(f.getBoundingClientRect().width)} px wide: ${text(f)}`);
            return [...tables, ...equations, ...figures];
        }"""
    )
    return [f"wider than the column: {f}" for f in found]


# A visible code cell taller than this (CSS px, lines wrapped as the column wraps them) does not
# fit a laptop screen beside its heading: split it where a definition ends, or fold bookkeeping
# into a hide-input cell. tests/test_notebooks_clean.py estimates the same from the source.
MAX_CODE_PX = 800


def check_code_heights(page) -> list[str]:
    """No code cell the page shows open is taller than MAX_CODE_PX (a folded one is not shown)."""
    tall = page.evaluate(
        """(limit) => Array.from(document.querySelectorAll('div.cell_input'))
            .filter(el => el.checkVisibility() && el.getBoundingClientRect().height > limit)
            .map(el => [Math.round(el.getBoundingClientRect().height),
                        el.textContent.trim().split('\\n')[0].slice(0, 60)])""",
        MAX_CODE_PX,
    )
    return [f"code cell {h} px tall (at most {MAX_CODE_PX}): {first!r}" for h, first in tall]


def check_images_once(page) -> list[str]:
    """No image shown twice on a page (a figure left bare under its cell and glued again)."""
    counts = page.evaluate(
        """() => {
            const root = document.querySelector('.bd-article') || document.body;
            const seen = {};
            for (const img of root.querySelectorAll('img')) {
                if (img.closest('a')) continue;  // badges and icons may repeat
                const src = img.getAttribute('src');
                seen[src] = (seen[src] || 0) + 1;
            }
            return Object.entries(seen).filter(([src, n]) => n > 1);
        }"""
    )
    return [f"image shown {n} times: {src}" for src, n in counts]


_RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\\begin\{|(?<![\\$])\$[^$\s][^$\n]*\$")


def check_math(page) -> list[str]:
    """Math typeset by MathJax: no error, no element left untypeset, no raw TeX in the text."""
    state = page.evaluate(
        """() => ({
            math: document.querySelectorAll('.math').length,
            untypeset: Array.from(document.querySelectorAll('.math'))
                .filter(el => !el.querySelector('mjx-container'))
                .map(el => el.textContent.trim().slice(0, 60)),
            errors: Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                .map(el => (el.getAttribute('data-mjx-error') || el.textContent).slice(0, 80)),
            // An undefined macro is not an error to MathJax: it shows the macro name in red. Find
            // those in MathJax's own parse trees and report the TeX they came from.
            undefined: (window.MathJax && MathJax.startup && MathJax.startup.document)
                ? Array.from(MathJax.startup.document.math).filter(item => {
                      let bad = false;
                      if (item.root) item.root.walkTree(node => {
                          if (node.isKind('mtext') && node.attributes.get('mathcolor')
                              && (node.getText ? node.getText() : '').startsWith(String.fromCharCode(92)))
                              bad = true;
                      });
                      return bad;
                  }).map(item => item.math.slice(0, 80))
                : [],
        })"""
    )
    problems = [f"MathJax error: {e}" for e in state["errors"]]
    problems += [f"MathJax error, undefined macro in: {t}" for t in state["undefined"]]
    problems += [f"math not typeset: {t}" for t in state["untypeset"]]
    for match in _RAW_TEX.finditer(reader_text(page)):
        problems.append(f"raw TeX in the text: {match.group(0)[:60]!r}")
    return problems


_RAW_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")


def check_markdown_tables(page) -> list[str]:
    """No Markdown table left as text (a "|---|" rule shown to the reader)."""
    text = reader_text(page)
    return [
        f"raw Markdown table: {text[max(0, m.start() - 40):m.end() + 10]!r}"
        for m in _RAW_TABLE.finditer(text)
    ]


# MyST roles and directives that must never reach a reader as text, and {{ substitutions }}.
_MYST_NAMES = (
    r"glue(?::\w+)?|numref|ref|eq|doc|term|download|math|abbr|sub|sup|cite(?::\w+)?"
    r"|footcite(?::\w+)?|bibliography|footbibliography|figure|image|code-cell|note|warning"
    r"|tip|admonition|dropdown|toctree|table|list-table|prf:\w+|exercise|solution"
)
_RAW_MYST = re.compile(r"\{(?:%s)\}|\{\{\s*[\w.-]+\s*\}\}" % _MYST_NAMES)


def check_myst_roles(page) -> list[str]:
    """No MyST role, directive or substitution shown as text (e.g. "{glue:text}", "{numref}")."""
    text = reader_text(page)
    return [
        f"unrendered MyST markup: {text[max(0, m.start() - 30):m.end() + 30]!r}"
        for m in _RAW_MYST.finditer(text)
    ]


def check_glue_echoes(page, glued: set[str]) -> list[str]:
    """No cell output whose whole text only repeats a value glued on that page.

    ``glued`` holds the plain-text form of every value the page's notebook glued (see
    ``glued_values``); an output equal to one of them is a stray echo such as ``Out[3]: 42``.
    """
    if not glued:
        return []
    outputs = page.evaluate(
        """() => Array.from(document.querySelectorAll('.cell_output > .output, .cell_output > div'))
                 .map(el => el.innerText.trim()).filter(t => t.length > 0)"""
    )
    normal = {" ".join(v.split()) for v in glued}
    return [f"output only echoes a glued value: {t[:60]!r}" for t in outputs if " ".join(t.split()) in normal]


def glued_values(notebook: Path) -> set[str]:
    """Plain-text forms of the values an executed notebook glued.

    myst-nb keeps them in ``<notebook>.glue.json`` beside the executed notebook (and a glued
    figure shown with ``display=True`` stays in the notebook as a scrapbook output).
    """
    records = []
    store = notebook.with_suffix(".glue.json")
    if store.is_file():
        records += json.loads(store.read_text()).values()
    if notebook.is_file():
        for cell in json.loads(notebook.read_text()).get("cells", []):
            records += [o for o in cell.get("outputs", []) if "scrapbook" in o.get("metadata", {})]
    values = set()
    for record in records:
        for key, value in record.get("data", {}).items():
            if key.endswith("text/plain"):
                text = "".join(value) if isinstance(value, list) else value
                if text.strip():
                    values.add(text.strip())
    return values


@functools.lru_cache(maxsize=None)
def _ids_in(file: Path) -> frozenset[str]:
    text = file.read_text(errors="replace")
    return frozenset(html_lib.unescape(i) for i in re.findall(r'\b(?:id|name)="([^"]*)"', text))


def check_links(page, html_root: Path, base_url: str) -> list[str]:
    """Every same-site link leads to a file that exists, and its #anchor to an element there."""
    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    problems = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base_url):
            continue  # another site (repository, Colab, papers): not ours to check offline
        parts = urlsplit(href)
        path = unquote(parts.path)
        target = html_root / path.lstrip("/")
        if path.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"link to a missing page: {href}")
        elif parts.fragment and target.suffix == ".html":
            if unquote(parts.fragment) not in _ids_in(target):
                problems.append(f"link to a missing anchor: {href}")
    return problems


def search_results(browser, base_url: str, word: str, screenshot: Path | None = None) -> list[str]:
    """The pages (paths relative to the site) that the site's own search lists for ``word``."""
    visit = Visit(browser, f"{base_url}search.html?q={word}")
    try:
        visit.page.wait_for_function(
            """() => {
                const s = document.querySelector('#search-results .search-summary, #search-results p');
                return s && /found|did not match/i.test(s.textContent);
            }""",
            timeout=30_000,
        )
        hrefs = visit.page.evaluate(
            "() => Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)"
        )
        if screenshot:
            visit.page.screenshot(path=str(screenshot), full_page=True)
        if visit.errors:
            raise AssertionError(f"search page for {word!r}: {visit.errors}")
    finally:
        visit.close()
    return [urlsplit(h).path.lstrip("/") for h in hrefs]


# --------------------------------------------------------------------------------------------
# Each check fails on a page broken on purpose (and passes a clean one)
# --------------------------------------------------------------------------------------------

_BROKEN = {
    "script_error.html": "<p>hi</p><script>notDefinedAnywhere();</script>",
    "external.html": '<p>hi</p><script src="https://cdn.example.org/x.js"></script>',
    "broken_image.html": '<p>hi</p><img src="missing.png" alt="gone">',
    "raw_math.html": r'<p>Inline <span class="math">\(x^2\)</span> and $y_1$ as text.</p>',
    "table.html": "<p>| a | b |<br>|---|---:|<br>| 1 | 2 |</p>",
    "role.html": '<p>As in {numref}<code>fig-x</code>, we have {glue:text}<code>n</code>.</p>',
    "echo.html": '<div class="cell_output"><div class="output"><pre>  1,234 </pre></div></div>',
    "links.html": '<a href="clean.html#nowhere">a</a> <a href="missing.html">b</a>'
    ' <a href="clean.html#here">c</a> <a href="https://example.org/x">d</a>',
    "overflow.html": '<div class="bd-article" style="width: 300px">'
    '<div style="overflow-x: auto"><table><tr>' + "<td>column&nbsp;of&nbsp;numbers</td>" * 6
    + '</tr></table></div>'
    '<mjx-container display="true" style="display: block; overflow-x: auto">'
    '<span style="display: inline-block; width: 500px">a + b</span></mjx-container>'
    '<figure style="width: 400px"><p>a wide figure</p></figure>'
    '<img src="wide.png" style="width: 100px"><img src="wide.png" style="width: 100px"></div>',
    "squeezed.html": '<img src="wide.png" style="width: 300px">'
    '<div style="width: 200px"><pre>' + "x = 1  # " * 40 + "</pre></div>",
    "tall_code.html": '<div class="cell_input"><pre>' + "x = 1\n" * 60 + "</pre></div>"
    '<details><div class="cell_input"><pre>' + "y = 2\n" * 60 + "</pre></div></details>"
    '<div class="cell_input"><pre>' + "z = 3\n" * 10 + "</pre></div>",
    "clean.html": '<h1 id="here">Clean</h1><img src="wide.png" style="width: 700px">'
    '<div style="width: 200px"><pre style="white-space: pre-wrap">' + "x = 1  # " * 40 + "</pre></div>"
    '<a href="clean.html"><img src="wide.png" style="width: 100px"></a><p>Costs $5 or more.</p>'
    '<div class="cell_output"><div class="output"><pre>1,235</pre></div></div>'
    '<pre>| a |\n|---|</pre><p><code>{numref}</code></p>',
}


def _page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("broken_site")
    for name, body in _BROKEN.items():
        (folder / name).write_text(_page(body))
    from PIL import Image

    Image.new("RGB", (1200, 100), "white").save(folder / "wide.png")  # 1,200 px wide
    # MathJax itself, served as the book serves it, given TeX with an error in it.
    if MATHJAX_JS.is_file():
        (folder / "mathjax").symlink_to(MATHJAX_JS.parents[1], target_is_directory=True)
        head = '<script defer src="mathjax/es5/tex-mml-chtml.js"></script>'
        (folder / "mathjax_error.html").write_text(
            _page(r'<p><span class="math">\(\frac{1}{\undefinedmacro}\)</span> and '
                  r'<span class="math">\(x^{2}}\)</span></p>', head)
        )
    with serve(folder) as base:
        yield folder, base


@pytest.fixture
def opened(browser, broken_site):
    folder, base = broken_site
    visits = []

    def open_(name):
        visits.append(Visit(browser, base + name))
        return visits[-1]

    yield open_
    for v in visits:
        v.close()


def test_clean_page_passes_every_check(opened, broken_site):
    folder, base = broken_site
    page = opened("clean.html").page
    assert check_load_errors(opened("clean.html")) == []
    assert check_images(page) == []
    assert check_readable_width(page) == []  # a linked badge may be small; 700 of 1,200 px reads
    assert check_math(page) == []
    assert check_markdown_tables(page) == []  # a table inside <pre> that is not an output is code
    assert check_myst_roles(page) == []  # {numref} inside <code> is prose about MyST, not markup
    assert check_glue_echoes(page, {"1,234"}) == []
    assert check_links(page, folder, base) == []
    assert check_fits_column(page) == []  # a 700 px image in a 1,280 px window fits
    assert check_images_once(page) == []  # the same image in a link (a badge) may repeat
    assert check_code_heights(page) == []


def test_tall_code_cell_fails(opened):
    problems = check_code_heights(opened("tall_code.html").page)  # the folded one is not shown
    assert len(problems) == 1 and "'x = 1'" in problems[0], problems


def test_wide_table_equation_figure_and_twice_shown_image_fail(opened):
    page = opened("overflow.html").page
    problems = check_fits_column(page)
    assert [p.split(":")[1].split()[0] for p in problems] == ["table", "equation", "figure"], problems
    assert check_images_once(page) == ["image shown 2 times: wide.png"]


def test_script_errors_and_external_requests_fail(opened):
    assert any("notDefinedAnywhere" in p for p in check_load_errors(opened("script_error.html")))
    assert any("cdn.example.org" in p for p in check_load_errors(opened("external.html")))


def test_broken_image_fails(opened):
    assert check_images(opened("broken_image.html").page) == ["image did not load: missing.png"]


def test_squeezed_image_and_hidden_lines_fail(opened):
    problems = check_readable_width(opened("squeezed.html").page)
    assert problems == [
        "image squeezed below half its size: wide.png shown 300 of 1200 px",
        "lines hidden behind a scrollbar in the text block 'x = 1  # x = 1  # x = 1  # x = 1  # x = 1  # x = 1'",
    ]


def test_raw_tex_fails(opened):
    problems = check_math(opened("raw_math.html").page)
    assert any("not typeset" in p for p in problems)
    assert any("\\\\(" in p for p in problems) and any("$y_1$" in p for p in problems)


@pytest.mark.skipif(not MATHJAX_JS.is_file(), reason="site/node_modules is installed by make install")
def test_mathjax_error_fails(opened):
    problems = check_math(opened("mathjax_error.html").page)
    assert any("undefined macro" in p and "undefinedmacro" in p for p in problems), problems
    assert any(p.startswith("MathJax error: ") and "close brace" in p for p in problems), problems


def test_raw_markdown_table_fails(opened):
    assert len(check_markdown_tables(opened("table.html").page)) == 1


def test_unrendered_myst_role_fails(opened):
    problems = check_myst_roles(opened("role.html").page)
    assert len(problems) == 2 and "{numref}" in problems[0] and "{glue:text}" in problems[1]


def test_echoed_glue_value_fails(opened):
    assert check_glue_echoes(opened("echo.html").page, {"1,234", "7"}) == [
        "output only echoes a glued value: '1,234'"
    ]


def test_missing_page_and_anchor_fail(opened, broken_site):
    folder, base = broken_site
    problems = check_links(opened("links.html").page, folder, base)
    assert problems == [f"link to a missing anchor: {base}clean.html#nowhere", f"link to a missing page: {base}missing.html"]


def test_glued_values_reads_scrapbook_outputs(tmp_path):
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {"output_type": "display_data", "metadata": {"scrapbook": {"name": "n"}},
                     "data": {"application/papermill.record/text/plain": "42"}},
                    {"output_type": "execute_result", "metadata": {}, "data": {"text/plain": "42"}},
                ],
            }
        ]
    }
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    store = {"ratio": {"data": {"text/plain": "3.5"}, "metadata": {"scrapbook": {"name": "ratio"}}}}
    path.with_suffix(".glue.json").write_text(json.dumps(store))
    assert glued_values(path) == {"42", "3.5"}


# --------------------------------------------------------------------------------------------
# The built site
# --------------------------------------------------------------------------------------------


_REDIRECT = re.compile(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', re.I)


def _site_pages(html: Path) -> list[Path]:
    """Every page of the site but the redirect stubs (the root index.html points to the intro)
    and the lecture decks in slides/ (tests/test_slides.py opens those)."""
    pages = sorted(p for p in html.rglob("*.html") if not any(part.startswith("_") or part == "slides"
                                                               for part in p.relative_to(html).parts))
    return [p for p in pages if not _REDIRECT.search(p.read_text(errors="replace")[:2000])]


def test_redirect_stubs_lead_to_pages(book_build):
    html = book_build / "html"
    stubs = {p: _REDIRECT.search(p.read_text()[:2000]) for p in html.glob("*.html")}
    targets = [(p, (p.parent / m.group(1)).resolve()) for p, m in stubs.items() if m]
    assert targets, "the root index.html should redirect to the first page"
    assert all(t.is_file() for _, t in targets), targets


def _chapters(html: Path) -> list[Path]:
    return sorted((html / "notebooks").glob("[0-9][0-9]_*.html"))


@pytest.fixture(scope="module")
def site(book_build):
    html = book_build / "html"
    assert (html / "index.html").is_file(), f"no site in {html}"
    with serve(html) as base:
        yield html, base


def test_every_page_reads_well(browser, site, book_build):
    html, base = site
    pages = _site_pages(html)
    assert len(pages) >= 8 and _chapters(html), f"too few pages in {html}: {pages}"
    SCREENS.mkdir(parents=True, exist_ok=True)
    report, started = {}, time.monotonic()
    for file in pages:
        rel = file.relative_to(html).as_posix()
        glued = glued_values(book_build / "jupyter_execute" / Path(rel).with_suffix(".ipynb"))
        visit = Visit(browser, base + rel)
        try:
            page = visit.page
            problems = (
                check_images(page)
                + check_readable_width(page)
                + check_fits_column(page)
                + check_images_once(page)
                + check_code_heights(page)
                + check_math(page)
                + check_markdown_tables(page)
                + check_myst_roles(page)
                + check_glue_echoes(page, glued)
                + check_links(page, html, base)
            )
            page.screenshot(path=str(SCREENS / (rel.replace("/", "__")[:-5] + ".png")), full_page=True)
            problems += check_load_errors(visit)  # last: includes anything the checks set off
        finally:
            visit.close()
        if problems:
            report[rel] = problems
    print(f"site: {len(pages)} pages checked in {time.monotonic() - started:.1f} s, screenshots in {SCREENS}")
    assert not report, "pages a reader would stumble on:\n" + "\n".join(
        f"{page}:\n  " + "\n  ".join(problems[:15]) for page, problems in report.items()
    )


def test_math_is_typeset_by_the_sites_own_mathjax(book_build):
    html = book_build / "html"
    chapter = _chapters(html)[0].read_text()
    assert "_static/mathjax/es5/tex-mml-chtml.js" in chapter, "chapters must load the site's own MathJax"
    assert (html / "_static" / "mathjax" / "es5" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_search_finds_each_chapter(browser, site):
    html, base = site
    SCREENS.mkdir(parents=True, exist_ok=True)
    assert search_results(browser, base, "zqxjvkw") == []  # the check can fail
    missing = {}
    for chapter in _chapters(html):
        title = re.search(r"<h1>(.*?)(?:<a|</h1>)", chapter.read_text(), re.S).group(1)
        word = max(re.findall(r"[A-Za-z]{4,}", html_lib.unescape(re.sub("<[^>]+>", "", title))), key=len)
        found = search_results(browser, base, word, SCREENS / f"search_{word}.png")
        if chapter.relative_to(html).as_posix() not in found:
            missing[chapter.name] = (word, found)
    assert not missing, f"search does not list the chapter for a word of its title: {missing}"


def test_site_extension_writes_each_script_once(monkeypatch):
    from sphinx.builders.html._assets import _JavaScript

    monkeypatch.syspath_prepend(str(ROOT / "site"))
    import dlbook_site

    body = 'const THEBE_JS_URL = "x";'
    scripts = [_JavaScript("a.js"), _JavaScript(None, body=body), _JavaScript("", body=body), _JavaScript("a.js")]
    context = {"script_files": scripts}
    dlbook_site._page_context(None, "notebooks/x", "page.html", context, None)
    assert [s.attributes.get("body") for s in context["script_files"]] == [None, body]
    assert context["script_files"] is scripts  # changed in place: Sphinx restores its list after each page
