"""The whole book builds in fast mode with warnings as errors, every notebook runs, pages render right.

All of these but the last read the one build of the ``book_build`` fixture (conftest.py), so each
notebook executes once per test session. The last compares a site assembled from an executed
chapter with the one-step jupyter-book build of the same chapter, on a one-chapter book.
"""

import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD_ROOT, ROOT, executed_notebook
from dlbook import build

NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb"))
# A pipe-table separator row (|---|, |:---:|, |---:|, or with dashes typeset as — or –) left as
# text is a table that did not render.
RAW_TABLE = re.compile(r"\|\s*:?(?:-{3,}|[—–])[-—–:]*\s*\|")


def visible_text(page: str) -> str:
    """The page's text outside <pre>, <code>, <script> and <style> (what prose and outputs show)."""
    page = re.sub(r"<(pre|code|script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def test_book_builds_without_warnings(book_build):
    log = (BUILD_ROOT / "build.log").read_text()
    if not log.startswith("exit status 0"):
        problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
        pytest.fail("jupyter-book build failed:\n" + "\n".join(problems[-40:] or [log[-6000:]]),
                    pytrace=False)
    html = book_build / "html"
    page = (html / "notebooks" / "01_convolution_and_pooling.html").read_text()
    assert "cell_output" in page and "Traceback" not in page
    bib = (html / "book" / "bibliography.html").read_text()
    assert "LeCun" in bib and "Krizhevsky" in bib
    # The benchmarks page renders the recorded tables, and its marker comments stay hidden.
    bench = (html / "book" / "benchmarks.html").read_text()
    assert bench.count("<table") >= 3 and "% bench" not in bench
    assert "Best test accuracy of the reference recipe" in bench


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_of_the_notebook_ran(book_build, source):
    """What nbval checked before, read from the build's own execution: every code cell ran, none failed."""
    report = book_build / "executed" / "fast" / f"{source.stem}.err.log"
    detail = report.read_text()[-4000:] if report.is_file() else "(no execution report)"
    executed = executed_notebook(book_build, source)
    assert executed is not None, f"{source.name} has no successful execution in the build:\n{detail}"
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert len(code) == sum(c["cell_type"] == "code" for c in json.loads(source.read_text())["cells"])
    not_run = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not not_run, f"{source.name}: code cells {not_run} did not run:\n{detail}"
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(code)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{source.name}: cells raised {errors}"


def markdown_tables(executed: dict) -> int:
    """How many pipe tables the notebook's cells display as Markdown outputs."""
    count = 0
    for cell in executed["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/markdown", ""))
            count += sum(1 for block in text.split("\n\n") if RAW_TABLE.search(block))
    return count


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_tables_from_code_render_as_tables(book_build, source):
    executed = executed_notebook(book_build, source)
    page = (book_build / "html" / "notebooks" / f"{source.stem}.html").read_text()
    shown = markdown_tables(executed)
    raw = RAW_TABLE.findall(visible_text(page))
    assert not raw, f"{source.stem}: {len(raw)} Markdown table(s) shown as text, e.g. {raw[0]!r}"
    assert page.count("<table") >= shown, (
        f"{source.stem}: code cells display {shown} Markdown tables but the page has "
        f"{page.count('<table')} HTML tables")


def _shown(data: dict) -> tuple[str, str]:
    """An output's plain text and Markdown. Glue's keys carry a prefix when the value is not
    displayed, hence the suffix match. Both are compared: every IPython Markdown object has the
    same plain text, so a glued sentence fragment and a table shown by the same cell differ only
    in their Markdown."""
    return tuple("".join(next((t for k, t in data.items() if k.endswith(mime)), ""))
                 for mime in ("text/plain", "text/markdown"))


# "± 0.000", "± 0.0 points": a standard error rounded away, which reads as a certainty the run
# does not have (dlbook.stats.plus_minus shows as many decimals as the spread needs).
ZERO_SPREAD = re.compile(r"±\s*0(?:\.0+)?(?![\d.])")


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_spread_is_shown_as_zero(book_build, source):
    page = (book_build / "html" / "notebooks" / f"{source.stem}.html").read_text()
    text = re.sub(r"\s+", " ", visible_text(page))
    zeros = [text[max(0, m.start() - 60):m.end() + 10] for m in ZERO_SPREAD.finditer(text)]
    assert not zeros, (f"{source.stem}: spreads shown as zero (format them with "
                       f"dlbook.stats.plus_minus, or show '—' for a row compared with itself): {zeros}")


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_glue_never_echoes_its_value(book_build, source):
    """A cell that glues a value must not also show it as the cell's result (a stray Out[ ])."""
    executed = executed_notebook(book_build, source)
    echoes = []
    for i, cell in enumerate(executed["cells"]):
        outputs = cell.get("outputs", [])
        # myst-nb's glue records a display output tagged "scrapbook"
        glued = {_shown(o.get("data", {})) for o in outputs if "scrapbook" in o.get("metadata", {})}
        results = [_shown(o["data"]) for o in outputs if o.get("output_type") == "execute_result"]
        echoes += [(i, r[0][:60]) for r in results if r in glued]
    assert not echoes, f"{source.stem}: cells echo a glued value as their result: {echoes}"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_launch_button_opens_the_colab_copy(book_build, source):
    """The site's Colab button opens this chapter's Colab-ready copy in the repository of _config.yml."""
    import yaml

    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    owner_repo = repo["url"].removeprefix("https://github.com/")
    page = (book_build / "html" / "notebooks" / f"{source.stem}.html").read_text()
    links = set(re.findall(r'https://colab\.research\.google\.com/github/[^"\s]+', page))
    assert links == {f"https://colab.research.google.com/github/{owner_repo}/blob/{repo['branch']}/"
                     f"notebooks/{source.name}"}, f"{source.stem}: Colab links {links}"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_page_says_which_run_it_shows(book_build, source):
    """Under the title: the mode, device, date and commit of the run, from the product's metadata."""
    executed = executed_notebook(book_build, source)
    assert executed is not None, f"{source.stem} has no product"
    run = executed.metadata["dlbook"]["run"]
    # The commit the chapter was executed at: HEAD or an earlier commit whose changes left the
    # chapter's key as it is (a reused product keeps its own run's commit).
    commit = run["commit"].partition("+")[0]
    assert run["mode"] == "fast" and re.fullmatch(r"[0-9a-f]{40}", commit), run["commit"]
    assert subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT
                          ).returncode == 0, f"{source.stem}: {commit} is not HEAD or before it"
    assert run["describe"].startswith("dlbook: mode=fast") and run["device"] in run["describe"]
    page = (book_build / "html" / "notebooks" / f"{source.stem}.html").read_text()
    # Right under the chapter's title, the line run_note writes from the product's metadata.
    m = re.search(r'</h1>\s*<div class="admonition note">\s*<p class="admonition-title">Note</p>'
                  r"\s*<p>(.*?)</p>", page, re.S)
    assert m, f"{source.stem}: no run line under the title"
    shown = re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", "", m.group(1)))).strip()
    assert shown == re.sub(r"[*`]", "", build.run_note(run, wanted="fast")), source.stem
    assert page.count("This page shows the") == 1


def test_a_second_build_executes_nothing(book_build):
    """Every chapter's key still holds after the session's build: nothing would run again."""
    def runner(path, mode, timeout):
        raise AssertionError(f"{path.stem} was executed again")

    status = build.execute(ROOT, book_build, "fast", runner=runner, log=lambda line: None)
    assert set(status.values()) == {"reused"} and len(status) == len(NOTEBOOKS)


# --------------------------------------------------------------------------- assembled = one-step

SMALL_CHAPTER = "01_convolution_and_pooling"  # about 20 s in fast mode


def small_book(folder, execute_notebooks):
    """A copy of the book with one chapter in its table of contents (the code linked, not copied)."""
    import yaml

    folder.mkdir(parents=True)
    for name in ("dlbook", "pyproject.toml", "requirements.txt", "site", "DL_images"):
        (folder / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "book", folder / "book")
    (folder / "notebooks").mkdir()
    shutil.copy2(ROOT / "notebooks" / f"{SMALL_CHAPTER}.ipynb", folder / "notebooks")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = execute_notebooks
    (folder / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Foundations\n    numbered: true\n"
        f"    chapters:\n      - file: notebooks/{SMALL_CHAPTER}\n")
    return folder


@pytest.fixture(scope="module")
def one_step_and_assembled(tmp_path_factory):
    """The one-step build (jupyter-book executes the chapter) and the site assembled from that
    same execution by dlbook.build, of a one-chapter book. Same execution, so any difference is
    the assembly's. (The intro's links to the other chapters warn in both: no -W here.)"""
    import datetime

    import nbformat

    from jupyter_cache import get_cache

    tmp = tmp_path_factory.mktemp("assembly")
    one = small_book(tmp / "one", "cache")
    jb = Path(sys.executable).with_name("jupyter-book")
    done = subprocess.run([str(jb), "build", str(one), "--path-output", str(tmp / "one_out")],
                          capture_output=True, text=True, env=dict(os.environ, DLBOOK_MODE="fast"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one_html = tmp / "one_out" / "_build" / "html"
    # The executed notebook, glue outputs included (myst-nb moves those out of the copy it
    # writes to jupyter_execute/), as jupyter-cache holds it.
    source = one / "notebooks" / f"{SMALL_CHAPTER}.ipynb"
    executed = get_cache(one_html.parent / ".jupyter_cache").merge_match_into_notebook(
        nbformat.read(source, as_version=4))[1]

    two = small_book(tmp / "two", "cache")
    source = two / "notebooks" / f"{SMALL_CHAPTER}.ipynb"
    nb_path, key_path = build.product(two / "_build", "fast", source)
    nb_path.parent.mkdir(parents=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    executed.metadata["dlbook"] = {"run": build.run_info(two, "fast", "", now)}
    nbformat.write(executed, nb_path)
    key_path.write_text(build.content_key(two, source, "fast"))
    build.assemble(two, two / "_build", "fast", colab=False, echo=False, warnings_as_errors=False,
                   log=lambda line: None, slides=False)
    return one_html, two / "_build" / "html", executed.metadata["dlbook"]["run"]


NOTE = re.compile(r'<div class="admonition note">\s*<p class="admonition-title">Note</p>\s*'
                  r"<p>This page shows the <strong>fast-mode</strong> run.*?</p>\s*"
                  r'<p><a href="\.\./slides/\d\d\.html">Lecture slides of this chapter</a></p>\s*'
                  r"</div>\n?", re.S)


def test_the_assembled_site_equals_the_one_step_build_page_for_page(one_step_and_assembled):
    one, two, run = one_step_and_assembled
    pages = sorted(p.relative_to(one) for p in one.rglob("*.html"))
    assert sorted(p.relative_to(two) for p in two.rglob("*.html")) == pages and len(pages) >= 3
    chapter = Path("notebooks") / f"{SMALL_CHAPTER}.html"
    for page in pages:
        a, b = (one / page).read_text(), (two / page).read_text()
        notes = NOTE.findall(b)
        assert len(notes) == (page == chapter), f"{page}: {len(notes)} run lines"
        assert NOTE.sub("", b) == a, f"{page} differs from the one-step build"
    # What the equality covers: glued values, numbered figures and links are on the page.
    text = (two / chapter).read_text()
    assert len(re.findall(r'class="pasted-text"', text)) >= 20
    assert len(re.findall(r'<span class="caption-number">Fig\. 1\.\d+', text)) >= 3
    assert len(re.findall(r'class="reference internal" href="#', text)) >= 5 and "footcite" in text
    # Images: the same files (the names are hashes of the content), none missing.
    assert sorted(p.name for p in (one / "_images").iterdir()) == sorted(
        p.name for p in (two / "_images").iterdir())


def test_the_assembled_search_index_finds_what_the_one_step_one_does(one_step_and_assembled):
    one, two, _ = one_step_and_assembled

    def index(html):
        text = (html / "searchindex.js").read_text()
        return json.loads(text[text.index("(") + 1:text.rindex(")")])

    a, b = index(one), index(two)
    assert a["docnames"] == b["docnames"] and a["titles"] == b["titles"]
    missing = set(a["terms"]) - set(b["terms"])
    assert not missing and len(a["terms"]) > 500, sorted(missing)[:20]
