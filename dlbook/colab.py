"""Colab-ready copies of the executed chapter notebooks.

Colab and Jupyter render plain Markdown, not MyST: a chapter opened there would show
``{glue:text}`` roles, ``{numref}``, ``{eq}``, ``{doc}``, ``{footcite:p}``, ``{glue:figure}``
fences, colon-fenced admonitions, ``$$ ... $$ (label)`` equations and ``(label)=`` targets.
This module takes the *executed* book build and writes, for every chapter notebook, a copy in
which all of that is resolved, with the cell outputs kept::

    python -m dlbook.colab _build            # -> _build/colab/notebooks/*.ipynb
    python -m dlbook.colab _build --out DIR  # -> DIR/notebooks/*.ipynb

``make book`` runs it after assembling the site (:mod:`dlbook.build`). What it reads from the build:

- the executed notebook with its outputs: the page's own source file, which in an assembled build
  is the chapter's executed notebook (``_build/stage/notebooks/NN_name.ipynb``, a copy of
  ``_build/executed/<mode>/NN_name.ipynb`` with the run line under its title); for a build whose
  sources carry no outputs (a one-step ``jupyter-book build`` that executed them),
  ``jupyter_execute/<doc>.ipynb``; and ``jupyter_execute/<doc>.glue.json``, the glued values;
- the run the outputs come from (``metadata["dlbook"]["run"]``, written by :mod:`dlbook.build`):
  the copy's first Markdown cell says which run it holds and that Colab re-runs it in its own mode;
- ``.doctrees/environment.pickle``: the Sphinx environment, for the figure and equation numbers
  the site shows, page titles, and the configuration (formats, ``stderr`` handling);
- ``book/references.bib`` (from ``bibtex_bibfiles``), formatted with pybtex for the references.

What the copy contains instead of MyST:

- glued values as text, formatted with myst-nb's own ``format_plain_text`` (so ``:,`` and
  ``:.1f`` give exactly what the site shows); glued figures as Markdown images with a
  ``data:`` URI (Colab does not render cell attachments, but it does render data URIs), with an
  HTML anchor and "Fig. N.M: caption";
- ``{numref}`` and ``{eq}`` as links with the site's numbers and the site's formats
  (``numfig_format``: "Fig. 1.3"; ``math_eqref_format``: "Eq. 1.1"), equations with
  ``\\tag{1.1}``; ``{doc}`` and ``{ref}`` as links to the page on the published site
  (``html.baseurl`` if set, else the GitHub Pages address of ``repository.url``);
- ``{footcite:p}`` / ``{footcite:t}`` as author-year text, and ``{footbibliography}`` as the
  chapter's reference list in citation order, with DOI / arXiv / URL links;
- admonitions as block quotes, folded ones (class ``dropdown``) as ``<details>``; code cells
  tagged ``hide-cell`` (computed answers) folded in Colab (``cellView: form``) and Jupyter
  (``jupyter.source_hidden``); ``hide-input`` cells stay visible, as the style guide asks;
- the first code cell (the sources' Colab guard) written as the install of ``dlbook`` from
  ``repository.url`` at the commit the build was made from (``git rev-parse HEAD``, or
  ``$DLBOOK_COLAB_REF``), and a Colab badge pointing at the copy on the branch the launch
  buttons open; the repository URL is written nowhere but ``_config.yml``.

Why not an existing tool: QuantEcon's ``sphinx-tojupyter`` (0.6.0) builds notebooks with a Sphinx
builder of its own, in a second build. It does not keep the outputs of pre-executed notebooks
(its source says "TODO: Support output nodes for pre-executed notebooks"; it re-executes with
dask instead), writes glued images as separate files rather than embedding them, has no
``footcite`` handling, and pulls in dask/distributed and nbdime. Resolving the few MyST
constructs the chapters use, from the build that already exists, is a small converter.

Heavy imports (sphinx, pybtex, nbformat, myst-nb) live inside functions: ``import dlbook`` must
stay light, and Colab installs dlbook without Sphinx.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

COLAB_BRANCH = "colab"
"""The git branch the copies are published on (same paths as on main), unless ``_config.yml``'s
``repository.branch`` (the branch the launch buttons open) names another."""

BADGE = "https://colab.research.google.com/assets/colab-badge.svg"

REF_ENV = "DLBOOK_COLAB_REF"
"""Environment variable that overrides the git ref the install cell pins."""

FIX = "run `make book` (it builds the site and then this converter)"


class ColabError(RuntimeError):
    """The build folder or a notebook cannot be converted; the message says how to fix it."""


# --------------------------------------------------------------------------- the book's facts


@dataclass
class Book:
    """What the converter needs to know about the built book."""

    site_url: str
    repo_url: str
    ref: str
    launch_branch: str = COLAB_BRANCH  # where the copies are published (the launch buttons' branch)
    targets: dict = field(default_factory=dict)  # label -> (docname, anchor id, kind, number)
    sections: dict = field(default_factory=dict)  # label -> (docname, anchor id, title)
    titles: dict = field(default_factory=dict)  # docname -> page title
    sources: dict = field(default_factory=dict)  # docname -> source file
    numfig_format: dict = field(default_factory=lambda: {"figure": "Fig. %s"})
    eqref_format: str = "({number})"
    remove_stderr: bool = True
    bib_files: list = field(default_factory=list)
    _bib: dict | None = None
    _labels: dict | None = None

    def page_url(self, docname: str, anchor: str = "") -> str:
        return self.site_url + docname + ".html" + (f"#{anchor}" if anchor else "")

    def bibliography(self):
        """The BibTeX entries (pybtex), parsed once."""
        if self._bib is None:
            from pybtex.database import BibliographyData, parse_file

            data = BibliographyData()
            for path in self.bib_files:
                for key, entry in parse_file(str(path)).entries.items():
                    data.entries[key] = entry
            self._bib = data.entries
        return self._bib

    def cite_label(self, key: str) -> tuple[str, str]:
        """("He et al.", "2016a"): author-year, with a letter when two works share both."""
        if self._labels is None:
            entries = self.bibliography()
            suffixes = year_suffixes(entries)
            self._labels = {}
            for k, entry in entries.items():
                who, year = author_year(entry)
                self._labels[k] = (who, year + suffixes.get(k, ""))
        return self._labels[key]


def site_url_from_repository(repo_url: str) -> str:
    """GitHub Pages address of a GitHub repository.

    >>> site_url_from_repository("https://github.com/owner/name")
    'https://owner.github.io/name/'
    """
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", repo_url)
    if not m:
        raise ColabError(
            f"repository.url {repo_url!r} in _config.yml is not a GitHub repository, so the "
            "site address cannot be derived; set html.baseurl in _config.yml."
        )
    return f"https://{m.group(1)}.github.io/{m.group(2)}/"


def git_ref(root: Path, fallback: str = "main", log=print) -> str:
    """The ref the install cell pins: ``$DLBOOK_COLAB_REF`` if set, else the commit of ``root``.

    Outside a git clone (a source archive) there is no commit to pin: the copy then installs
    from the branch ``fallback``, and that is announced in one line.
    """
    ref = os.environ.get(REF_ENV, "").strip()
    if ref:
        return ref
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        log(f"dlbook.colab: {root} is not a git clone, so the install cells use the branch "
            f"{fallback!r} instead of a commit (set {REF_ENV} to pin one).")
        return fallback
    return out.stdout.strip()


def load_book(build_dir: Path, log=print, root: Path | None = None) -> Book:
    """Read numbers, titles and settings from the Sphinx environment of an executed build.

    ``root``: the git clone whose commit the install cells pin (default: the build's source
    folder, which for an assembled build lies inside the clone)."""
    import pickle

    build_dir = Path(build_dir)
    env_file = build_dir / ".doctrees" / "environment.pickle"
    if not (build_dir / "jupyter_execute").is_dir() or not env_file.is_file():
        raise ColabError(
            f"{build_dir} is not an executed jupyter-book build (it needs jupyter_execute/ and "
            f".doctrees/environment.pickle); {FIX}, then pass its _build folder."
        )
    with env_file.open("rb") as fh:
        env = pickle.load(fh)
    config = env.config
    html_ctx = config.html_context or {}
    repo_url = (config.html_theme_options or {}).get("repository_url") or html_ctx.get(
        "github_url", "")
    if not repo_url:
        raise ColabError("the build has no repository URL; set repository.url in _config.yml.")
    repo_url = repo_url.rstrip("/")
    base = (config.html_baseurl or "").strip()
    site_url = (base.rstrip("/") + "/") if base else site_url_from_repository(repo_url)

    # The launch buttons open the copies on this branch; the package itself installs from main
    # when there is no commit to pin (the copies' branch holds notebooks only).
    launch_branch = (config.html_theme_options or {}).get("repository_branch") or COLAB_BRANCH
    book = Book(site_url=site_url, repo_url=repo_url, ref=git_ref(Path(root or env.srcdir), "main", log),
                launch_branch=launch_branch)
    book.numfig_format = dict(config.numfig_format or {})
    if config.math_eqref_format:
        book.eqref_format = config.math_eqref_format
    book.remove_stderr = getattr(config, "nb_output_stderr", "show") == "remove"
    book.bib_files = [Path(env.srcdir) / p for p in getattr(config, "bibtex_bibfiles", [])]
    book.titles = {doc: node.astext() for doc, node in env.titles.items()}
    book.sources = {doc: Path(env.doc2path(doc)) for doc in env.found_docs}

    fignumbers = env.toc_fignumbers
    for label, (docname, anchor, title) in env.domaindata["std"]["labels"].items():
        book.sections[label] = (docname, anchor, title)
        for kind, ids in fignumbers.get(docname, {}).items():
            if anchor in ids:
                number = ".".join(str(n) for n in ids[anchor])
                book.targets[label] = (docname, anchor, kind, number)
    for label, (docname, _eqno) in env.domaindata["math"]["objects"].items():
        anchor = f"equation-{label}"
        ids = fignumbers.get(docname, {}).get("displaymath", {})
        if anchor in ids:
            number = ".".join(str(n) for n in ids[anchor])
        else:
            number = str(_eqno)
        book.targets[label] = (docname, anchor, "equation", number)
    return book


# --------------------------------------------------------------------------- glue values


def load_glue(path: Path) -> dict:
    """Glued values of one notebook: name -> MIME bundle (``<doc>.glue.json`` from myst-nb)."""
    if not path.is_file():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {name: output.get("data", {}) for name, output in raw.items()}


def format_text(plain: str, fmt_spec: str) -> str:
    """Format a glued ``text/plain`` value exactly as myst-nb's ``{glue:text}`` does."""
    from myst_nb.core.variables import format_plain_text

    return format_plain_text(plain, fmt_spec)


# --------------------------------------------------------------------------- citations


def _last_names(person) -> str:
    from pybtex.backends.plaintext import Backend
    from pybtex.richtext import Text

    # render(Backend()) rather than render_as("text"): the latter looks the backend up among
    # every installed package's entry points on each call (seconds for a bibliography).
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render(Backend())


def author_year(entry) -> tuple[str, str]:
    """("He et al.", "2016") for a pybtex entry: one, two, or three or more authors."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_names(p) for p in people]
    if not names:
        who = entry.fields.get("organization") or entry.fields.get("title", "Anon.")
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return who.replace("{", "").replace("}", ""), entry.fields.get("year", "n.d.")


def year_suffixes(entries) -> dict[str, str]:
    """Letters that tell apart works with the same author label and year, in .bib file order.

    ``{"he2016deep": "a", "he2016identity": "b"}``: the site (book/_ext) and the Colab copies
    both cite with these, so "He et al., 2016a" means the same work in both.
    """
    labels = {key: author_year(entry) for key, entry in entries.items()}
    suffixes = {}
    for key, label in labels.items():
        same = [other for other in entries if labels[other] == label]
        if len(same) > 1:
            suffixes[key] = "abcdefghijklmnopqrstuvwxyz"[same.index(key)]
    return suffixes


def reference_list(keys: list[str], entries) -> str:
    """The references ``keys`` as a Markdown list (pybtex's plain style, with web links)."""
    from pybtex.plugin import find_plugin

    style = find_plugin("pybtex.style.formatting", "plain")()
    lines = []
    for key in keys:
        formatted = next(iter(style.format_entries([entries[key]])))
        text = formatted.text.render_as("markdown").replace("\n", " ")
        # A bare URL: pybtex escapes its text ("papers\.nips\.cc"), which some renderers show.
        text = re.sub(r"\[([^\]]*)\]\((https?://[^)\s]+)\)",
                      lambda m: f"<{m.group(2)}>" if m.group(1).replace("\\", "") == m.group(2)
                      else m.group(0), text)
        lines.append(f'- <a id="ref-{key}"></a>{text}')
    return "\n".join(lines)


# --------------------------------------------------------------------------- Markdown


ROLE = re.compile(r"\{([a-zA-Z][\w:.-]*)\}`([^`]*)`")
FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:.-]+)\}\s*(?P<arg>.*)$")
PLAIN_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")
TARGET = re.compile(r"^\(([^()\s]+)\)=\s*$", re.M)
LABELLED_EQ = re.compile(r"\$\$(?P<body>(?:(?!\$\$).)+?)\$\$[ \t]*\((?P<label>[^()\s]+)\)[ \t]*$",
                         re.S | re.M)

MYST_LEFTOVER = re.compile(
    r"\{[a-zA-Z][\w:.-]*\}`"  # any role
    r"|^ {0,3}(?:`{3,}|:{3,})\{"  # any directive fence
    r"|^\([^()\s]+\)=\s*$"  # a target
    r"|\$\$[ \t]*\([^()\s]+\)[ \t]*$",  # a labelled equation
    re.M,
)
"""Matches every MyST construct the converter resolves (used by the tests and a final check)."""

ADMONITIONS = {"admonition", "note", "tip", "hint", "important", "warning", "caution",
               "attention", "danger", "error", "seealso"}


@dataclass
class Page:
    """State of one notebook's conversion."""

    docname: str
    book: Book
    glue: dict
    cited: list = field(default_factory=list)  # citation keys in order of first citation

    # ----- helpers
    def _glue_bundle(self, name: str) -> dict:
        if name not in self.glue:
            raise ColabError(
                f"{self.docname}: glue key {name!r} is not in the executed notebook; {FIX}."
            )
        return self.glue[name]

    def _target(self, label: str):
        if label not in self.book.targets:
            raise ColabError(f"{self.docname}: unknown reference label {label!r}; {FIX}.")
        return self.book.targets[label]

    def _href(self, docname: str, anchor: str, label: str) -> str:
        return f"#{label}" if docname == self.docname else self.book.page_url(docname, anchor)

    # ----- roles
    def role(self, name: str, content: str) -> str:
        if name == "glue:text":
            key, fmt = content.rsplit(":", 1) if ":" in content else (content, "s")
            bundle = self._glue_bundle(key)
            if "text/plain" not in bundle:
                raise ColabError(f"{self.docname}: glue key {key!r} has no text/plain value.")
            return format_text(bundle["text/plain"], fmt)
        if name == "glue:md":
            key = content.rsplit(":", 1)[0] if ":" in content else content
            bundle = self._glue_bundle(key)
            if "text/markdown" not in bundle:
                raise ColabError(f"{self.docname}: glue key {key!r} has no text/markdown value.")
            return bundle["text/markdown"].strip()
        if name in ("glue", "glue:any"):
            bundle = self._glue_bundle(content)
            if "text/markdown" in bundle:
                return bundle["text/markdown"].strip()
            for mime in ("image/png", "image/jpeg"):
                if mime in bundle:
                    return f"![{content}](data:{mime};base64,{_b64(bundle[mime])})"
            return format_text(bundle.get("text/plain", ""), "")
        if name == "numref":
            text, label = _explicit(content)
            docname, anchor, kind, number = self._target(label)
            fmt = self.book.numfig_format.get(kind, "%s")
            if text:
                shown = text.replace("%s", number).replace("{number}", number)
            else:
                shown = fmt % number
            return f"[{shown}]({self._href(docname, anchor, label)})"
        if name == "eq":
            docname, anchor, _kind, number = self._target(content.strip())
            shown = self.book.eqref_format.format(number=number)
            return f"[{shown}]({self._href(docname, anchor, content.strip())})"
        if name in ("ref", "doc"):
            text, target = _explicit(content)
            if name == "doc":
                docname = _resolve_doc(self.docname, target)
                if docname not in self.book.titles:
                    raise ColabError(f"{self.docname}: {{doc}} target {target!r} is not a page.")
                return f"[{text or self.book.titles[docname]}]({self.book.page_url(docname)})"
            if target not in self.book.sections:
                raise ColabError(f"{self.docname}: unknown {{ref}} label {target!r}; {FIX}.")
            docname, anchor, title = self.book.sections[target]
            return f"[{text or title or target}]({self._href(docname, anchor, target)})"
        if name in ("footcite:p", "footcite:t", "footcite", "cite:p", "cite:t", "cite"):
            return self.cite(name.endswith(":t"), [k.strip() for k in content.split(",")])
        if name == "math":
            return f"${content}$"
        raise ColabError(
            f"{self.docname}: the MyST role {{{name}}} has no plain-Markdown form yet; add it "
            "to dlbook.colab.Page.role."
        )

    def cite(self, textual: bool, keys: list[str]) -> str:
        entries = self.book.bibliography()
        parts = []
        for key in keys:
            if key not in entries:
                raise ColabError(f"{self.docname}: citation {key!r} is not in the .bib files.")
            if key not in self.cited:
                self.cited.append(key)
            who, year = self.book.cite_label(key)
            parts.append(f"[{who} ({year})](#ref-{key})" if textual else f"[{who}, {year}](#ref-{key})")
        return "; ".join(parts) if textual else "(" + "; ".join(parts) + ")"

    # ----- directives
    def directive(self, name: str, arg: str, options: dict, body: str) -> str:
        if name in ("glue:figure", "glue"):
            return self.figure(arg.strip(), options, body)
        if name == "footbibliography":
            keys, self.cited = self.cited, []
            return reference_list(keys, self.book.bibliography()) if keys else ""
        if name in ADMONITIONS:
            title = arg.strip() if name == "admonition" else (arg.strip() or name.capitalize())
            inner = self.markdown(body).strip()
            classes = options.get("class", "").split()
            if "dropdown" in classes:
                return f"<details>\n<summary>{html.escape(title)}</summary>\n\n{inner}\n\n</details>"
            quoted = "\n".join(("> " + line).rstrip() for line in inner.splitlines())
            return f"> **{title}**\n>\n{quoted}"
        if name == "math":
            label = options.get("label")
            return self.equation(body, label)
        raise ColabError(
            f"{self.docname}: the MyST directive {{{name}}} has no plain-Markdown form yet; add it "
            "to dlbook.colab.Page.directive."
        )

    def figure(self, key: str, options: dict, caption: str) -> str:
        bundle = self._glue_bundle(key)
        mime = next((m for m in ("image/png", "image/jpeg", "image/svg+xml") if m in bundle), None)
        if mime is None:
            raise ColabError(f"{self.docname}: glued figure {key!r} holds no image.")
        data = bundle[mime]
        if mime == "image/svg+xml":
            data = base64.b64encode("".join(data).encode()).decode()
        label = options.get("name", "")
        out = []
        prefix = ""
        if label:
            docname, anchor, kind, number = self._target(label)
            prefix = self.book.numfig_format.get(kind, "%s") % number
            out.append(f'<a id="{label}"></a>\n')
        alt = prefix or key
        out.append(f"![{alt}](data:{mime};base64,{_b64(data)})\n")
        text = self.markdown(caption).strip()
        if text or prefix:
            lead = f"**{prefix}:** " if prefix else ""
            out.append(f"{lead}{text}" if text else lead.strip())
        return "\n".join(out)

    def equation(self, body: str, label: str | None) -> str:
        body = body.strip("\n")
        if not label:
            return f"$$\n{body}\n$$"
        _docname, _anchor, _kind, number = self._target(label)
        return f'<a id="{label}"></a>\n\n$$\n{body} \\tag{{{number}}}\n$$'

    # ----- whole Markdown text
    def markdown(self, text: str) -> str:
        """Resolve every MyST construct in a Markdown cell's text, in reading order."""
        lines = text.split("\n")
        out: list[str] = []
        plain: list[str] = []

        def flush():
            if plain:
                out.append(self._plain("\n".join(plain)))
                plain.clear()

        i = 0
        while i < len(lines):
            line = lines[i]
            m = FENCE_OPEN.match(line)
            if m:
                flush()
                i, chunk = self._directive_block(lines, i, m)
                out.append(chunk)
                continue
            p = PLAIN_FENCE.match(line)
            if p:  # an ordinary code block: copied verbatim
                flush()
                fence = p.group(1)
                j = i + 1
                while j < len(lines) and not lines[j].strip().startswith(fence):
                    j += 1
                out.append("\n".join(lines[i:j + 1]))
                i = j + 1
                continue
            plain.append(line)
            i += 1
        flush()
        return "\n".join(out)

    def _directive_block(self, lines: list[str], i: int, m) -> tuple[int, str]:
        fence = m.group("fence")
        j = i + 1
        options = {}
        while j < len(lines) and OPTION.match(lines[j]):
            k, v = OPTION.match(lines[j]).groups()
            options[k] = v.strip()
            j += 1
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body_start, depth = j, 0
        while j < len(lines):
            if FENCE_OPEN.match(lines[j]) and lines[j].lstrip().startswith(fence[0]):
                depth += 1
            elif close.match(lines[j]):
                if depth == 0:
                    break
                depth -= 1
            j += 1
        if j >= len(lines):
            raise ColabError(
                f"{self.docname}: the directive {{{m.group('name')}}} opened with {fence!r} is "
                f"never closed; close it with a line of {fence!r}."
            )
        body = "\n".join(lines[body_start:j]).strip("\n")
        return j + 1, self.directive(m.group("name"), m.group("arg"), options, body)

    def _plain(self, text: str) -> str:
        text = LABELLED_EQ.sub(lambda m: self.equation(m.group("body"), m.group("label")), text)
        text = TARGET.sub(lambda m: f'<a id="{m.group(1)}"></a>', text)
        return ROLE.sub(lambda m: self.role(m.group(1), m.group(2)), text)


def _b64(data) -> str:
    return "".join(data).replace("\n", "") if isinstance(data, list) else str(data).replace("\n", "")


def _explicit(content: str) -> tuple[str, str]:
    """``"text <target>"`` -> ("text", "target"); ``"target"`` -> ("", "target")."""
    m = re.fullmatch(r"\s*(.*?)\s*<([^<>]+)>\s*", content, re.S)
    return (m.group(1), m.group(2).strip()) if m else ("", content.strip())


def _resolve_doc(current: str, target: str) -> str:
    import posixpath

    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(current), target))


# --------------------------------------------------------------------------- notebooks


def convert_notebook(nb, page: Page, name: str):
    """Return a Colab-ready copy of the executed notebook ``nb`` (an nbformat NotebookNode)."""
    import copy

    from dlbook.build import run_note

    nb = copy.deepcopy(nb)
    book = page.book
    pinned = 0
    meta = nb.metadata.get("dlbook", {})
    site_note = meta.pop("page_note", None)  # the site's run line: replaced by the copy's own
    run = meta.get("run")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            if index == 0 and site_note:
                cell.source = cell.source.replace(f"\n\n{site_note}", "", 1)
            cell.source = page.markdown(cell.source)
            if index == 0:
                cell.source = add_badge(cell.source, book, name,
                                        run_note(run, colab=True) if run else None)
            cell.pop("attachments", None)
        elif cell.cell_type == "code":
            tags = set(cell.metadata.get("tags", []))
            if not pinned and "google.colab" in cell.source:  # the setup cell: install dlbook
                cell.source, pinned = install_cell(book), 1
                # the site folds the source's guard; the copy's install cell is for reading
                tags.discard("hide-cell")
                cell.metadata["tags"] = sorted(tags)
            if tags & {"remove-output", "remove-cell"}:
                cell.outputs = []
            if "hide-cell" in tags:  # folded on the site (worked answers): folded here too
                cell.metadata["cellView"] = "form"  # Colab: code behind "Show code"
                cell.metadata.setdefault("jupyter", {}).update(source_hidden=True,
                                                               outputs_hidden=True)
            cell.outputs = plain_outputs(cell.outputs, page)
    leftovers = [c.source for c in nb.cells if c.cell_type == "markdown" and MYST_LEFTOVER.search(c.source)]
    if leftovers:
        raise ColabError(f"{name}: MyST markup left after conversion: "
                         f"{MYST_LEFTOVER.search(leftovers[0]).group(0)!r}")
    return nb, pinned


def install_cell(book: Book, packages=()) -> str:
    """The copy's first code cell: in Colab, install dlbook at the commit the copy was built from.

    The sources' first cell only points Colab users to the copy: the repository URL lives in
    ``_config.yml`` alone, and the build writes it here. ``packages`` (pip requirement strings)
    are installed in the same command, before dlbook: the assignments (``dlbook.assignments``)
    add their pinned otter-grader this way. The cell ends inside its ``if`` block, so lines
    appended with four spaces of indentation also run in Colab only.

    >>> print(install_cell(Book("https://o.github.io/r/", "https://github.com/o/r", "abc123")))
    ... # doctest: +ELLIPSIS
    # Colab only: install the book's helper package ...
    import subprocess
    import sys
    <BLANKLINE>
    if "google.colab" in sys.modules:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "dlbook @ git+https://github.com/o/r@abc123"], check=True)
    >>> print(install_cell(Book("", "https://github.com/o/r", "abc"), ["otter-grader==7.0.0"])
    ...       .splitlines()[-1].strip())
    "otter-grader==7.0.0", "dlbook @ git+https://github.com/o/r@abc"], check=True)
    """
    extra = "".join(f'"{p}", ' for p in packages)
    what = "the book's helper package" if not packages else "what this notebook needs"
    return (
        f"# Colab only: install {what} at the version this copy was built with\n"
        "# (version ranges for its dependencies keep Colab's TensorFlow and Keras).\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    {extra}"dlbook @ git+{book.repo_url}@{book.ref}"], check=True)'
    )


def add_badge(title_cell: str, book: Book, name: str, note: str | None = None) -> str:
    """The title cell with an *Open in Colab* badge for the copy ``name`` under its title line,
    then ``note`` (the run the copy's outputs come from) as a block quote.

    The sources carry no badge (the site has its launch button); on GitHub's view of the
    copies' branch the badge opens the copy in Colab.

    >>> add_badge("# T\\n\\nText", Book("https://o.github.io/r/", "https://github.com/o/r", "abc"),
    ...           "notebooks/02_x").splitlines()[2]
    '[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/o/r/blob/colab/notebooks/02_x.ipynb)'
    """
    target = (f"https://colab.research.google.com/github/{book.repo_url.split('github.com/', 1)[-1]}"
              f"/blob/{book.launch_branch}/{name}.ipynb")
    title, _, rest = title_cell.partition("\n")
    quote = f"> {note}\n\n" if note else ""
    return f"{title}\n\n[![Open In Colab]({BADGE})]({target})\n\n{quote}{rest.lstrip(chr(10))}"


def keep_output(output, book: Book) -> bool:
    """Whether a copy shows ``output``: not stderr when the site removes it, not a value
    recorded only for glue."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return not book.remove_stderr
    scrap = output.get("metadata", {}).get("scrapbook")
    return not (scrap and scrap.get("mime_prefix"))  # a value recorded only for glue


def plain_outputs(outputs: list, page: Page) -> list:
    """The outputs of a code cell as the copies show them (:func:`keep_output`), Markdown
    outputs with their MyST resolved by ``page`` (changed in place). The slides
    (:mod:`dlbook.slides`) show outputs the same way."""
    kept = [o for o in outputs if keep_output(o, page.book)]
    for output in kept:
        data = output.get("data", {})
        if "text/markdown" in data:
            data["text/markdown"] = page.markdown("".join(data["text/markdown"]))
        output.get("metadata", {}).pop("scrapbook", None)
    return kept


def chapter_docs(build_dir: Path) -> list[str]:
    """Docnames of the executed notebooks in a build, e.g. ``notebooks/01_convolution...``."""
    root = Path(build_dir) / "jupyter_execute"
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def _has_outputs(nb) -> bool:
    return any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def executed_notebook(book: Book, doc: str, executed_path: Path):
    """The executed notebook of ``doc`` with all its outputs.

    In a build assembled by :mod:`dlbook.build` the page's source file is the executed notebook;
    a one-step build that executed the sources wrote it to ``jupyter_execute/`` (``executed_path``).
    """
    import nbformat

    source = book.sources.get(doc)
    if source and source.is_file():
        nb = nbformat.read(source, as_version=4)
        if _has_outputs(nb):
            return nb
    if not executed_path.is_file():
        raise ColabError(f"{executed_path} is missing; {FIX}.")
    nb = nbformat.read(executed_path, as_version=4)
    if not _has_outputs(nb):
        raise ColabError(
            f"{doc}: the build holds no executed outputs for it (none in its source {source} nor "
            f"in {executed_path}); the chapter was not executed: {FIX}.")
    return nb


def convert_build(build_dir, out=None, log=print, root=None) -> list[Path]:
    """Write a Colab-ready copy of every executed notebook of ``build_dir``; return the paths."""
    import nbformat

    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise ColabError(f"{build_dir} does not exist; {FIX}, then pass its _build folder.")
    book = load_book(build_dir, log, root)
    out = Path(out) if out else build_dir / "colab"
    docs = chapter_docs(build_dir)
    if not docs:
        raise ColabError(f"{build_dir}/jupyter_execute holds no executed notebooks; {FIX}.")
    written = []
    for doc in docs:
        src = build_dir / "jupyter_execute" / f"{doc}.ipynb"
        nb = executed_notebook(book, doc, src)
        page = Page(doc, book, load_glue(src.with_name(src.stem + ".glue.json")))
        copy, pinned = convert_notebook(nb, page, doc)
        if not pinned:
            log(f"dlbook.colab: {doc} has no Colab setup cell (a code cell testing for google.colab), "
                "so its copy installs nothing: add the chapter template's first code cell.")
        nbformat.validate(copy)
        dest = out / f"{doc}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(copy, dest)
        written.append(dest)
        log(f"{doc}.ipynb -> {dest}")
    log(f"{len(written)} Colab-ready notebooks in {out} (dlbook pinned to {book.ref}; "
        f"publish them on the {book.launch_branch!r} branch)")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlbook.colab",
        description="Write Colab-ready copies (MyST resolved, outputs kept) of the executed "
                    "chapter notebooks of a jupyter-book build.")
    parser.add_argument("build_dir", type=Path, help="the jupyter-book _build folder")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: BUILD_DIR/colab)")
    args = parser.parse_args(argv)
    try:
        convert_build(args.build_dir, args.out)
    except ColabError as exc:
        print(f"dlbook.colab: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
