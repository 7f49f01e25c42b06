"""The whole book builds in fast mode with warnings as errors, every notebook runs, pages render right.

All of these read the one build of the ``book_build`` fixture (conftest.py), so each notebook
executes once per test session.
"""

import html as html_lib
import json
import re

import pytest

from conftest import BUILD_ROOT, ROOT, executed_notebook

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
    report = book_build / "html" / "reports" / "notebooks" / f"{source.stem}.err.log"
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
