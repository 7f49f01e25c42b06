"""One way of citing across the book, and a bibliography of exactly the works it cites."""

import json
import re

import pytest

from conftest import ROOT

CITE = re.compile(r"\{(foot)?cite(?::\w+)?\}`([^`]+)`")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def bib_keys(path):
    return re.findall(r"^@\w+\{([^,\s]+),", path.read_text(), flags=re.M)


def sources():
    """(name, text) of every page of the book: prose pages and the notebooks' Markdown cells."""
    for page in sorted((ROOT / "book").glob("*.md")):
        yield page.stem, page.read_text()
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        yield nb.stem, "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def cited_keys():
    return {key.strip() for _, text in sources() for m in CITE.finditer(text) for key in m[2].split(",")}


def test_every_entry_is_cited_and_every_citation_has_an_entry():
    keys = bib_keys(ROOT / "book" / "references.bib")
    assert len(keys) == len(set(keys)), "references.bib has duplicate keys"
    cited = cited_keys()
    assert cited, "no citations found: the citation pattern no longer matches the sources"
    assert not cited - set(keys), f"cited but not in references.bib: {sorted(cited - set(keys))}"
    assert not set(keys) - cited, (
        f"in references.bib but cited nowhere: {sorted(set(keys) - cited)}; move such entries to "
        "book/references_upcoming.bib until a page cites them")


def test_upcoming_entries_are_not_in_the_build_and_do_not_clash():
    upcoming = bib_keys(ROOT / "book" / "references_upcoming.bib")
    assert not set(upcoming) & set(bib_keys(ROOT / "book" / "references.bib"))
    assert "references_upcoming" not in (ROOT / "_config.yml").read_text()


def test_bibliography_page_lists_exactly_the_cited_works(book_build):
    page = (book_build / "html" / "book" / "bibliography.html").read_text()
    # sphinxcontrib-bibtex gives each listed entry a <div class="citation" ...> (or <dt>) block.
    entries = re.findall(r'<(?:div|dt) class="citation[^"]*"', page) or re.findall(r'role="doc-biblioentry"', page)
    assert len(entries) == len(cited_keys()), (
        f"the bibliography page lists {len(entries)} works, the book cites {len(cited_keys())}")


@pytest.mark.parametrize("source", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapters_cite_by_author_and_year(book_build, source):
    page = (book_build / "html" / "notebooks" / f"{source.stem}.html").read_text()
    links = re.findall(r'<a class="footcite reference internal" href="#([^"]+)">(.*?)</a>', page)
    text = "\n".join("".join(c["source"]) for c in json.loads(source.read_text())["cells"])
    assert len(links) >= len(re.findall(r"\{footcite", text)), f"{source.stem}: citations did not render"
    labels = {}
    for target, label in links:
        labels.setdefault(re.sub("<[^>]+>", "", label), set()).add(target)
    shared = {label: targets for label, targets in labels.items() if len(targets) > 1}
    assert not shared, f"{source.stem}: one citation text for several works: {shared}"
    for target, label in links:
        assert re.search(r"\b(1[89]|20)\d\d[a-z]?$", re.sub("<[^>]+>", "", label)), (
            f"{source.stem}: citation text {label!r} does not end with a year")
        assert f'id="{target}"' in page, f"{source.stem}: citation link #{target} has no entry"


def test_prose_pages_cite_the_same_way(book_build):
    page = (book_build / "html" / "book" / "intro.html").read_text()
    cites = re.findall(r'<span class="bibtex-citation"[^>]*>(.*?)</span>', page, flags=re.S)
    assert cites, "the introduction's citations did not render"
    for cite in cites:
        text = re.sub("<[^>]+>", "", cite)
        assert re.fullmatch(r"\(.+, (1[89]|20)\d\d[a-z]?\)", text), f"intro citation {text!r} is not (Author, Year)"
