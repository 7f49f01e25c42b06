"""Colab-ready copies (dlbook.colab): each MyST construct on small inputs, then the real build."""

import base64
import html as htmlmod
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import ROOT
from dlbook import colab

# A 1x1 PNG, base64.
PNG = base64.b64encode(
    bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                  "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")
).decode()

BIB = r"""
@inproceedings{he2016deep,
  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title = {Deep Residual Learning for Image Recognition},
  booktitle = {CVPR},
  year = {2016},
  doi = {10.1109/CVPR.2016.90}
}
@article{lecun1998gradient,
  author = {LeCun, Yann and Bottou, L{\'e}on},
  title = {Gradient-based learning applied to document recognition},
  journal = {Proceedings of the IEEE},
  year = {1998},
  eprint = {1234.5678},
  archiveprefix = {arXiv},
  url = {https://example.org/a-b_c.pdf}
}
@inproceedings{he2016identity,
  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title = {Identity Mappings in Deep Residual Networks},
  booktitle = {ECCV},
  year = {2016}
}
@article{hubel1959,
  author = {Hubel, David H.},
  title = {Receptive fields of single neurones},
  journal = {J. Physiol.},
  year = {1959}
}
"""


@pytest.fixture
def page(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text(BIB)
    book = colab.Book(
        site_url="https://o.github.io/r/",
        repo_url="https://github.com/o/r",
        ref="0123456789abcdef0123456789abcdef01234567",
        targets={
            "fig-a": ("notebooks/02_x", "fig-a", "figure", "2.3"),
            "fig-far": ("notebooks/01_y", "fig-far", "figure", "1.4"),
            "eq-a": ("notebooks/02_x", "equation-eq-a", "equation", "2.1"),
        },
        titles={"notebooks/02_x": "Design patterns", "book/how_to_run": "How to run"},
        sections={"modes": ("book/how_to_run", "modes", "The two modes")},
        numfig_format={"figure": "Fig. %s"},
        eqref_format="Eq. {number}",
        bib_files=[bib],
    )
    glue = {
        "n": {"text/plain": "1234567"},
        "pi": {"text/plain": "3.14159"},
        "word": {"text/plain": "'shirt'"},
        "verdict": {"text/markdown": "**better** than", "text/plain": "<Markdown>"},
        "fig": {"image/png": PNG, "text/plain": "<Figure>"},
    }
    return colab.Page("notebooks/02_x", book, glue)


# --------------------------------------------------------------------------- roles


def test_glue_text_applies_the_format_spec_like_the_site(page):
    out = page.markdown("{glue:text}`n:,` and {glue:text}`pi:.1f` and {glue:text}`word`.")
    assert out == f"{1234567:,} and {3.14159:.1f} and shirt."


def test_glue_md_pastes_the_markdown(page):
    assert page.markdown("it was {glue:md}`verdict` the rest") == "it was **better** than the rest"


def test_unknown_glue_key_is_a_clear_error(page):
    with pytest.raises(colab.ColabError, match="glue key 'missing'.*make book"):
        page.markdown("{glue:text}`missing`")


def test_numref_gives_the_site_number_and_links(page):
    assert page.markdown("see {numref}`fig-a`") == "see [Fig. 2.3](#fig-a)"
    far = page.markdown("{numref}`fig-far`")
    assert far == "[Fig. 1.4](https://o.github.io/r/notebooks/01_y.html#fig-far)"
    assert page.markdown("{numref}`Figure %s <fig-a>`") == "[Figure 2.3](#fig-a)"


def test_eq_role_and_labelled_equation_carry_the_same_number(page):
    text = "Look:\n\n$$\nx = 1\n$$ (eq-a)\n\nso {eq}`eq-a` holds."
    out = page.markdown(text)
    assert '<a id="eq-a"></a>' in out
    assert re.search(r"\$\$\nx = 1 \\tag\{2\.1\}\n\$\$", out)
    assert "[Eq. 2.1](#eq-a)" in out
    assert not colab.MYST_LEFTOVER.search(out)


def test_doc_and_ref_roles_link_to_the_published_page(page):
    out = page.markdown("see {doc}`../book/how_to_run`.")
    assert out == "see [How to run](https://o.github.io/r/book/how_to_run.html)."
    out = page.markdown("see {ref}`modes` or {ref}`these <modes>`")
    assert out == ("see [The two modes](https://o.github.io/r/book/how_to_run.html#modes) or "
                   "[these](https://o.github.io/r/book/how_to_run.html#modes)")


def test_footcite_is_author_year_and_footbibliography_lists_them_in_order(page):
    out = page.markdown("A {footcite:p}`lecun1998gradient,he2016deep`; {footcite:t}`hubel1959` "
                        "and {footcite:p}`he2016deep` again.\n\n```{footbibliography}\n```")
    assert "([LeCun and Bottou, 1998](#ref-lecun1998gradient); [He et al., 2016a](#ref-he2016deep))" in out
    assert "[Hubel (1959)](#ref-hubel1959)" in out
    refs = [line for line in out.splitlines() if line.startswith("- ")]
    assert [re.search(r'id="ref-([^"]+)"', r).group(1) for r in refs] == [
        "lecun1998gradient", "he2016deep", "hubel1959"]
    assert "https://doi.org/10.1109/CVPR.2016.90" in refs[1]
    assert "arxiv.org/abs/1234.5678" in refs[0]
    assert "URL: <https://example.org/a-b_c.pdf>" in refs[0]  # a bare URL, not escaped text
    assert "Léon" in refs[0] or "L. Bottou" in refs[0] or "Bottou" in refs[0]
    # The next bibliography starts afresh.
    assert page.markdown("```{footbibliography}\n```") == ""


def test_same_authors_and_year_get_letters(page):
    out = page.markdown("{footcite:t}`he2016identity` after {footcite:t}`he2016deep`")
    assert out == "[He et al. (2016b)](#ref-he2016identity) after [He et al. (2016a)](#ref-he2016deep)"


def test_unknown_citation_is_a_clear_error(page):
    with pytest.raises(colab.ColabError, match="citation 'nobody2000'"):
        page.markdown("{footcite:p}`nobody2000`")


# --------------------------------------------------------------------------- directives


def test_glue_figure_embeds_the_image_with_number_caption_and_anchor(page):
    text = ("```{glue:figure} fig\n:name: fig-a\n\nThe caption, with {glue:text}`n:,` "
            "values.\n```\n\nAfter.")
    out = page.markdown(text)
    assert '<a id="fig-a"></a>' in out
    assert f"![Fig. 2.3](data:image/png;base64,{PNG})" in out
    assert "**Fig. 2.3:** The caption, with 1,234,567 values." in out
    assert out.endswith("After.")


def test_dropdown_admonition_becomes_details(page):
    text = ":::{admonition} Worked answers\n:class: dropdown\n\n**1.** It is {glue:text}`pi:.2f`.\n:::"
    out = page.markdown(text)
    assert out.startswith("<details>\n<summary>Worked answers</summary>\n\n")
    assert out.endswith("</details>")
    assert "**1.** It is 3.14." in out


def test_plain_admonition_becomes_a_block_quote(page):
    out = page.markdown(":::{note}\nRead this.\n\nTwice.\n:::")
    assert out == "> **Note**\n>\n> Read this.\n>\n> Twice."


def test_targets_become_anchors_and_code_blocks_are_left_alone(page):
    text = "(sec-a)=\n## A\n\n```python\nx = '{glue:text}`n`'\n```"
    out = page.markdown(text)
    assert out.startswith('<a id="sec-a"></a>\n## A')
    assert "x = '{glue:text}`n`'" in out


def test_unclosed_or_unknown_directive_is_a_clear_error(page):
    with pytest.raises(colab.ColabError, match="never closed"):
        page.markdown("```{glue:figure} fig\n:name: fig-a\ncaption")
    with pytest.raises(colab.ColabError, match="directive \\{tabbed\\}"):
        page.markdown("```{tabbed} A\nx\n```")


def test_leftover_pattern_catches_every_construct():
    for text in ["{glue:text}`a`", "{numref}`f`", "{eq}`e`", "{doc}`d`", "{footcite:p}`k`",
                 "```{glue:figure} f\n```", ":::{admonition} A\n:::", "$$ x $$ (eq-x)",
                 "(label)=", "```{footbibliography}\n```"]:
        assert colab.MYST_LEFTOVER.search(text), text
    assert not colab.MYST_LEFTOVER.search("$x_{in}$ and `code` and ```python\n```")


# --------------------------------------------------------------------------- notebooks


def _synthetic_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# T\n\nWhat this chapter does."),
        nbformat.v4.new_code_cell(
            'import sys\nif "google.colab" in sys.modules:\n    raise RuntimeError("open the copy")',
            execution_count=1, metadata={"tags": ["hide-cell"]},
            outputs=[nbformat.v4.new_output("stream", name="stderr", text="TF noise\n"),
                     nbformat.v4.new_output("stream", name="stdout", text="ok\n")]),
        nbformat.v4.new_code_cell("glue('n', 1)", execution_count=2, outputs=[
            nbformat.v4.new_output("display_data", data={
                "application/papermill.record/text/plain": "1"},
                metadata={"scrapbook": {"name": "n", "mime_prefix": "application/papermill.record/"}}),
            nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=2)]),
        nbformat.v4.new_markdown_cell("N = {glue:text}`n:,`"),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["hide-cell"]}),
        nbformat.v4.new_code_cell("plot()", metadata={"tags": ["hide-input", "remove-output"]},
                                  outputs=[nbformat.v4.new_output("stream", text="x\n")]),
    ]
    return nb


def test_notebook_pins_install_points_badge_and_drops_glue_and_stderr_outputs(page):
    nb = _synthetic_notebook()
    copy, pinned = colab.convert_notebook(nb, page, "x")
    assert pinned == 1
    assert copy.cells[1].source == colab.install_cell(page.book)
    # the site folds the source's guard (hide-cell); the copy's install cell is shown, not folded
    assert "cellView" not in copy.cells[1].metadata and "hide-cell" not in copy.cells[1].metadata["tags"]
    assert "git+https://github.com/o/r@0123456789abcdef0123456789abcdef01234567" in copy.cells[1].source
    title = copy.cells[0].source.splitlines()
    assert title[0] == "# T" and title[-1] == "What this chapter does."
    assert "(https://colab.research.google.com/github/o/r/blob/colab/x.ipynb)" in title[2]
    assert [o.get("name") for o in copy.cells[1].outputs] == ["stdout"]
    assert [o.output_type for o in copy.cells[2].outputs] == ["execute_result"]
    assert copy.cells[3].source == "N = 1,234,567"
    assert copy.cells[4].metadata["cellView"] == "form" and copy.cells[4].metadata["jupyter"]["source_hidden"]
    assert "cellView" not in copy.cells[5].metadata and copy.cells[5].outputs == []
    nbformat.validate(copy)
    assert nb.cells[3].source == "N = {glue:text}`n:,`"  # the input is not modified


def test_executed_notebook_is_the_pages_source_else_jupyter_execute(page, tmp_path):
    """An assembled build's page source is the executed notebook; a one-step build's is not."""
    source, written = tmp_path / "src" / "02_x.ipynb", tmp_path / "02_x.ipynb"
    source.parent.mkdir()
    page.book.sources = {"notebooks/02_x": source}
    nb = _synthetic_notebook()
    nbformat.write(nb, source)
    assert colab.executed_notebook(page.book, "notebooks/02_x", written).cells[1].outputs
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nbformat.write(nb, source)  # the source has no outputs: jupyter_execute/ must have them
    with pytest.raises(colab.ColabError, match="02_x.ipynb is missing.*make book"):
        colab.executed_notebook(page.book, "notebooks/02_x", written)
    nbformat.write(nb, written)
    with pytest.raises(colab.ColabError, match="no executed outputs.*make book"):
        colab.executed_notebook(page.book, "notebooks/02_x", written)
    nbformat.write(_synthetic_notebook(), written)
    assert colab.executed_notebook(page.book, "notebooks/02_x", written).cells[1].outputs


def test_the_copy_says_which_run_it_holds_instead_of_the_sites_line(page):
    from dlbook import build

    run = {"mode": "full", "device": "CPU only (4 cores)", "date": "2026-01-02 03:04 UTC",
           "commit": "b" * 40}
    nb = _synthetic_notebook()
    nb.metadata["dlbook"] = {"run": run}
    staged = build.with_note(nb, build.note_block(run))
    copy, _ = colab.convert_notebook(staged, page, "x")
    title = copy.cells[0].source
    assert "{note}" not in title and "This page shows" not in title
    assert f"> {build.run_note(run, colab=True)}" in title
    assert title.index("colab-badge") < title.index("This copy holds the outputs of the **full-mode**")
    assert "CPU runtime in fast mode" in title and title.endswith("What this chapter does.")
    assert "page_note" not in copy.metadata["dlbook"] and copy.metadata["dlbook"]["run"] == run


def test_site_url_and_ref_override(monkeypatch, tmp_path):
    assert colab.site_url_from_repository("https://github.com/a/b.git") == "https://a.github.io/b/"
    with pytest.raises(colab.ColabError, match="html.baseurl"):
        colab.site_url_from_repository("https://gitlab.com/a/b")
    monkeypatch.setenv(colab.REF_ENV, "v1.2")
    assert colab.git_ref(tmp_path) == "v1.2"
    monkeypatch.delenv(colab.REF_ENV)
    assert re.fullmatch(r"[0-9a-f]{40}", colab.git_ref(ROOT))
    said = []
    assert colab.git_ref(tmp_path, "main", said.append) == "main"  # not a clone: announced
    assert len(said) == 1 and "not a git clone" in said[0] and colab.REF_ENV in said[0]


def test_cli_rejects_a_folder_that_is_not_an_executed_build(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dlbook.colab", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "not an executed jupyter-book build" in result.stderr and "make book" in result.stderr


def test_import_dlbook_colab_stays_light():
    code = ("import sys, dlbook.colab; heavy = [m for m in ('sphinx', 'pybtex', 'nbformat', "
            "'myst_nb') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the real build


@pytest.fixture(scope="session")
def colab_copies(book_build):
    """The Colab copies of the session's one book build, written where `make book` puts them."""
    out = book_build / "colab"
    paths = colab.convert_build(book_build, out, log=lambda line: None)
    assert paths, "no notebooks converted"
    return {p.relative_to(out).with_suffix("").as_posix(): nbformat.read(p, as_version=4)
            for p in paths}


def _site_page(book_build, doc):
    return (book_build / "html" / f"{doc}.html").read_text(encoding="utf-8")


def _markdown(nb):
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_every_chapter_is_converted_valid_and_keeps_its_outputs(book_build, colab_copies):
    executed = sorted(p.stem for p in (book_build / "jupyter_execute" / "notebooks").glob("*.ipynb"))
    assert sorted(Path(d).name for d in colab_copies) == executed and len(executed) >= 4
    for doc, nb in colab_copies.items():
        nbformat.validate(nb)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert len(outputs) >= 5, doc
        assert not [o for o in outputs if o.get("name") == "stderr"], doc  # as on the site
        assert not [o for o in outputs if "scrapbook" in o.get("metadata", {})], doc


def test_no_myst_markup_is_left(colab_copies):
    for doc, nb in colab_copies.items():
        for cell in nb.cells:
            texts = [cell.source] if cell.cell_type == "markdown" else [
                "".join(o.data["text/markdown"]) for o in cell.get("outputs", [])
                if "text/markdown" in o.get("data", {})]
            for text in texts:
                m = colab.MYST_LEFTOVER.search(text)
                assert m is None, f"{doc}: {m.group(0)!r} left in\n{text[:300]}"


def test_figure_and_equation_numbers_match_the_site(book_build, colab_copies):
    checked, kinds, equations = 0, set(), 0
    for doc, nb in colab_copies.items():
        page = _site_page(book_build, doc)
        site_figs = dict(re.findall(
            r'<figure[^>]*id="([^"]+)"[^>]*>.*?<span class="caption-number">([^<]+?)\s*</span>',
            page, re.S))
        site_eqs = dict(re.findall(
            r'<span class="eqno">\(([\d.]+)\)<a class="headerlink" href="#equation-([^"]+)"', page))
        site_eqs = {label: number for number, label in site_eqs.items()}
        text = _markdown(nb)
        copy_figs = dict(re.findall(r'<a id="([^"]+)"></a>\n\n!\[([^\]]+)\]\(data:image', text))
        copy_eqs = dict(re.findall(r'<a id="([^"]+)"></a>\n\n\$\$.*?\\tag\{([\d.]+)\}', text, re.S))
        assert site_figs and copy_figs == site_figs, doc
        assert copy_eqs == site_eqs, doc
        equations += len(site_eqs)
        # Every reference in the text shows the number the site shows for the same target.
        site_refs = {href: htmlmod.unescape(shown) for href, shown in re.findall(
            r'<a class="reference internal" href="#([\w-]+)">(?:<span[^>]*>)?([^<]+)(?:</span>)?</a>',
            page)}
        copy_refs = re.findall(r"\[((?:Fig\.|Eq\.) [\d.]+)\]\(#([\w-]+)\)", text)
        for shown, label in copy_refs:
            assert shown == site_refs.get(label, site_refs.get(f"equation-{label}")), (doc, label)
        kinds |= {shown.split()[0] for shown, _ in copy_refs}
        checked += len(copy_refs)
    assert checked >= 20 and kinds == {"Fig.", "Eq."} and equations >= 4


def test_glued_values_match_the_site(book_build, colab_copies):
    """The n-th {glue:text} of a chapter shows the n-th pasted value of the site's page."""
    checked = 0
    for doc, nb in colab_copies.items():
        source = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
        site = [htmlmod.unescape(v) for v in
                re.findall(r'<span class="pasted-text">([^<]*)</span>', _site_page(book_build, doc))]
        roles = [(i, m.group(1)) for i, c in enumerate(source.cells) if c.cell_type == "markdown"
                 for m in re.finditer(r"\{glue:text\}`([^`]+)`", c.source)]
        assert len(site) == len(roles) > 0, doc
        for (index, key), value in zip(roles, site):
            assert value in nb.cells[index].source, (doc, key, value)
            checked += 1
    assert checked >= 100


def test_every_copy_says_which_run_it_holds(book_build, colab_copies):
    from dlbook import build

    for doc, nb in colab_copies.items():
        run = nbformat.read(build.product(book_build, "fast", ROOT / f"{doc}.ipynb")[0],
                            as_version=4).metadata["dlbook"]["run"]
        first = next(c for c in nb.cells if c.cell_type == "markdown").source
        assert f"> {build.run_note(run, colab=True)}" in first, doc
        assert "fast-mode" in first and "This page shows" not in first, doc


def test_install_cell_pins_the_build_commit_and_badge_opens_the_copy(colab_copies):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    ref = os.environ.get(colab.REF_ENV) or head
    for doc, nb in colab_copies.items():
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        pins = re.findall(r"git\+https://github\.com/[\w.-]+/[\w.-]+@([\w./-]+)", code)
        assert pins == [ref], doc
        badge = re.search(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/([\w-]+)/(\S+?)\)",
                          nb.cells[0].source)
        branch = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]
        assert badge and badge.groups() == (branch, f"{doc}.ipynb"), doc


def test_every_dropdown_answer_is_folded_in_details(colab_copies):
    folded = 0
    for doc, nb in colab_copies.items():
        source = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
        for index, cell in enumerate(source.cells):
            for m in re.finditer(r":::\{admonition\}\s*(.*)\n:class: dropdown\n(.*?)\n:::", cell.source, re.S):
                copy = nb.cells[index].source
                start = copy.index(f"<details>\n<summary>{m.group(1).strip()}</summary>")
                end = copy.index("</details>", start)
                # Every answer of the source ("**1.**", "**2.**", ...) is inside the fold.
                answers = re.findall(r"^\*\*\d+\.\*\*", m.group(2), re.M)
                assert answers, doc
                for answer in answers:
                    assert start < copy.index(answer) < end, (doc, answer)
                folded += 1
    assert folded >= 4


def test_references_list_every_cited_work_with_links(colab_copies, book_build):
    for doc, nb in colab_copies.items():
        source = _markdown(nbformat.read(ROOT / f"{doc}.ipynb", as_version=4))
        cited = {k.strip() for keys in re.findall(r"\{footcite:[pt]\}`([^`]+)`", source)
                 for k in keys.split(",")}
        listed = set(re.findall(r'^- <a id="ref-([^"]+)"></a>', _markdown(nb), re.M))
        assert listed == cited, doc
        # The site's footnotes list the same works.
        site = set(re.findall(r'id="footcite-([^"]+)"', _site_page(book_build, doc)))
        assert site == cited, doc
