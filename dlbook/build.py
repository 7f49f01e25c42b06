"""The book build in two steps: chapters executed one by one, then the site assembled once.

**Execute.** A chapter's executed notebook is a build product of its own,
``_build/executed/<mode>/NN_name.ipynb``, with its *content key* beside it in ``NN_name.key``.
The key is a hash of the mode, the notebook's source, every file of ``dlbook/``,
``pyproject.toml`` and ``requirements.txt`` (:func:`content_key`): what the outputs depend on.
A chapter whose product carries the current key is not executed again, so a fast and a full build
live side by side, and a full book can be built over several sittings: each finished chapter stays
finished. The notebook runs in a fresh kernel (nbclient, the per-cell limit of ``_config.yml``),
with ``DLBOOK_MODE`` set; it is written to a temporary file and renamed, and its key after it, so
a run stopped half way leaves only whole products. A chapter that fails leaves no product: its
error goes to ``NN_name.err.log`` and the run ends with it. The product's metadata records the
run (``metadata["dlbook"]["run"]``): mode, ``dlbook.runtime.describe``'s line from the kernel that
ran it, the UTC date, the commit (``+changes`` when the tree had uncommitted changes) and the CPU.

**Assemble.** The site is built by jupyter-book from the products, never re-executing: a staging
tree ``_build/stage/`` mirrors the sources (``_config.yml`` with ``execute_notebooks: "off"``,
``_toc.yml``, a copy of ``book/``, links to ``site/`` and ``DL_images/``, and in ``notebooks/``
the executed notebooks), and ``jupyter-book build`` runs on it into ``_build/html``. Why a staging
tree and not myst-nb pointed at the products: myst-nb reads outputs from the page's own file (or
from jupyter-cache, which keys on code cells alone and executes whatever it misses). With the
executed notebook *as* the page and execution off, myst-nb renders exactly what the one-step build
renders (glue is read from the outputs, numbering, citations and search are Sphinx's), and nothing
can run by accident. The page paths (``notebooks/NN_name``), and so the launch buttons and links,
are those of the sources. Each chapter's title cell gets one line saying which run the page shows
(:func:`run_note`). Then :mod:`dlbook.colab` writes the Colab copies from the staged notebooks.

**The PDF.** :func:`pdf` typesets the book from the same staging tree (the same :func:`plan`, so
the same executed notebooks and run lines) with jupyter-book's LaTeX builder and XeLaTeX, into
``_build/pdf/convnets-in-depth.pdf``, and copies it to the site's root, where the introduction and
the instructors' guide link it. What LaTeX needs beyond the site's settings is in ``_config.yml``
(``latex:``, ``latex_elements``) and ``book/_ext/latex_book.py``.

Commands (``make book`` runs ``book``, ``make pdf`` runs ``pdf``)::

    python -m dlbook.build book [--mode fast|full] [--only NN ...]   # execute what changed, assemble
    python -m dlbook.build execute [--mode ...] [--only NN ...] [--force]
    python -m dlbook.build assemble [--mode ...] [--strict]          # never executes
    python -m dlbook.build pdf [--mode ...] [--strict]               # execute what changed, PDF
    python -m dlbook.build key NN [--mode ...]                       # the content key (CI's cache)
    python -m dlbook.build chapters                                  # the chapters of _toc.yml

With ``--only``, the named chapters execute in the mode asked for; every other chapter is shown
from its product in that mode if it is current, else from its current fast-mode product (the page
says so), else it is executed in fast mode first, announced in one line: the site always holds
every chapter, each showing a run of its current source. ``assemble --strict`` (the workflow's
assembly job) fails instead when a chapter has no current product in the mode asked for.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

MODES = ("fast", "full")
ROOT = Path(__file__).resolve().parents[1]
KEY_VERSION = "dlbook-executed-1"
"""Part of every key: changing it invalidates every product (e.g. when this module changes what
it records)."""

DESCRIBE_CELL = ("from dlbook import runtime as _dlbook_runtime\n"
                 "print(_dlbook_runtime.describe(_dlbook_runtime.setup(quiet=True)))")
"""Run in the chapter's kernel after its last cell, then removed: the device line of the run."""

KERNEL_ARGS = ["--IPKernelApp.capture_fd_output=False"]
"""Options of every chapter's kernel. Native libraries write straight to the process's file
descriptor 2 (TensorFlow's C++ start-up lines on import, whatever ``TF_CPP_MIN_LOG_LEVEL`` says),
and ipykernel forwards that into the running cell's output by default; with this option they go
to the kernel's own stderr, the build's log. Python's ``sys.stderr`` (warnings, tracebacks) still
reaches the cell, where tests/test_outputs.py looks for it. (A kernel started under pytest never
forwards the descriptor, as ipykernel sees ``PYTEST_CURRENT_TEST``; with this option ``make book``
gives the same outputs as the test build.)"""


FIGURES_ZIP = "figures/convnets-in-depth-figures.zip"
"""Where the site serves every figure of ``DL_images/`` as PNG, SVG and PDF, with the licence."""


class BuildError(RuntimeError):
    """A chapter failed or a product is missing; the message names it and the fix."""


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}; pass --mode fast or "
                         "--mode full (make book MODE=full).")
    return mode


# --------------------------------------------------------------------------- chapters and keys


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks ``_toc.yml`` lists (files under ``notebooks/``), in book order.

    >>> [p.stem[:2] for p in chapters()][:3]
    ['01', '02', '03']
    """
    import yaml

    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            file = node.get("file")
            if isinstance(file, str) and file.startswith("notebooks/"):
                found.append(file)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8")))
    return [Path(root) / (f if f.endswith(".ipynb") else f + ".ipynb") for f in found]


def select(notebooks: list[Path], only) -> list[Path]:
    """The notebooks named by ``only`` (chapter numbers such as ``04`` or parts of the name).

    >>> [p.name for p in select([Path("01_a.ipynb"), Path("02_b.ipynb")], ["2"])]
    ['02_b.ipynb']
    """
    if not only:
        return list(notebooks)
    chosen = []
    for want in only:
        want = str(want).strip()
        match = [p for p in notebooks if p.stem.split("_")[0] == want.zfill(2) or
                 (not want.isdigit() and want in p.stem)]
        if not match:
            raise ValueError(f"chapter {want!r} (--only / ONLY=) is not in _toc.yml; the chapters are "
                             + ", ".join(p.stem for p in notebooks) + " (give e.g. 04).")
        chosen += [p for p in match if p not in chosen]
    return [p for p in notebooks if p in chosen]


def key_files(root: Path) -> list[Path]:
    """The files besides the notebook that every key covers: ``dlbook/``, the pinned versions."""
    root = Path(root)
    package = sorted(p for p in (root / "dlbook").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return package + [root / "pyproject.toml", root / "requirements.txt"]


def content_key(root: Path, notebook: Path, mode: str) -> str:
    """A short hash of what a chapter's executed outputs depend on.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); nb = root / "01_a.ipynb"; _ = nb.write_text("{}")
    >>> content_key(root, nb, "fast") == content_key(root, nb, "fast") != content_key(root, nb, "full")
    True
    """
    _check_mode(mode)
    root, notebook = Path(root), Path(notebook)
    digest = hashlib.sha256(f"{KEY_VERSION}\nmode={mode}\n".encode())
    for path in [notebook, *key_files(root)]:
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        data = (notebook_bytes(path) if path == notebook else path.read_bytes()) \
            if path.is_file() else b"<missing>"
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:24]


def notebook_bytes(notebook: Path) -> bytes:
    """What a key covers of a chapter notebook: its file without the marks that only cut the
    lecture decks (:func:`dlbook.slides.strip_marks`), so re-cutting a deck never re-runs a
    chapter; a notebook without marks is covered byte for byte.

    >>> import json, tempfile
    >>> nb = Path(tempfile.mkdtemp()) / "01_a.ipynb"
    >>> cell = {"cell_type": "markdown", "metadata": {}, "source": "# A"}
    >>> _ = nb.write_text(json.dumps({"cells": [cell]}, indent=1) + chr(10))
    >>> plain = notebook_bytes(nb)
    >>> cell["metadata"]["tags"] = ["slide"]
    >>> _ = nb.write_text(json.dumps({"cells": [cell]}, indent=1) + chr(10))
    >>> notebook_bytes(nb) == plain
    True
    """
    import json

    from dlbook.slides import strip_marks

    data = Path(notebook).read_bytes()
    try:
        nb = json.loads(data)
    except ValueError:
        return data
    stripped = strip_marks(nb) if isinstance(nb, dict) else nb
    if stripped == nb:
        return data
    return (json.dumps(stripped, indent=1, ensure_ascii=False) + "\n").encode()


def product(build_dir: Path, mode: str, notebook: Path) -> tuple[Path, Path]:
    """``(executed notebook, key file)`` of a chapter in ``build_dir/executed/<mode>/``."""
    folder = Path(build_dir) / "executed" / mode
    return folder / Path(notebook).name, folder / (Path(notebook).stem + ".key")


def is_current(build_dir: Path, root: Path, mode: str, notebook: Path) -> bool:
    """Whether the chapter has a product made from exactly the current sources in ``mode``."""
    nb_path, key_path = product(build_dir, mode, notebook)
    return (nb_path.is_file() and key_path.is_file()
            and key_path.read_text().strip() == content_key(root, notebook, mode))


# --------------------------------------------------------------------------- executing


def git_commit(root: Path) -> str:
    """``git rev-parse HEAD`` of ``root``, with ``+changes`` when the tree has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git clone)"
    return head + ("+changes" if dirty else "")


def cell_timeout(root: Path) -> int:
    """The per-cell limit of ``_config.yml`` (``execute.timeout``), as the one-step build used."""
    import yaml

    config = yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8"))
    return int((config.get("execute") or {}).get("timeout") or 1800)


def execute_notebook(path: Path, mode: str, timeout: int):
    """Run the notebook at ``path`` top to bottom in a fresh kernel; return it with its outputs
    and the ``dlbook.runtime.describe`` line of that kernel (``"" `` if it printed none).

    Raises nbclient's ``CellExecutionError`` when a cell fails.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DESCRIBE_CELL))
    old = os.environ.get("DLBOOK_MODE")
    os.environ["DLBOOK_MODE"] = mode  # the kernel inherits it
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", extra_arguments=KERNEL_ARGS,
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    finally:
        if old is None:
            os.environ.pop("DLBOOK_MODE", None)
        else:
            os.environ["DLBOOK_MODE"] = old
    last = nb.cells.pop()
    lines = [line for o in last.get("outputs", []) if o.get("name") == "stdout"
             for line in o.get("text", "").splitlines() if line.startswith("dlbook:")]
    return nb, (lines[-1] if lines else "")


def device_of(describe: str) -> str:
    """The device part of a ``dlbook.runtime.describe`` line.

    >>> device_of("dlbook: mode=fast (x) | TensorFlow 2.19.0, Keras 3.9.2 | CPU only (2 cores) | precision float32")
    'CPU only (2 cores)'
    >>> device_of("")
    'device not reported'
    """
    parts = [p.strip() for p in describe.split(" | ")]
    return parts[2] if len(parts) > 2 else (describe or "device not reported")


def run_info(root: Path, mode: str, describe: str, started: datetime.datetime) -> dict:
    """What the product's metadata records about the run that made it."""
    from dlbook import runtime

    model = runtime.cpu_info()[0]
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"mode": mode, "device": device_of(describe), "describe": describe,
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "wall_s": round((now - started).total_seconds(), 1),
            "commit": git_commit(root), "cpu": model or "unknown"}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def store(root: Path, build_dir: Path, mode: str, notebook: Path, nb, describe: str,
          started: datetime.datetime, key: str) -> dict:
    """Keep ``nb``, the executed ``notebook``, as its product in ``build_dir/executed/<mode>/``,
    with the run's record in its metadata and its content key beside it; return the record.

    ``key`` is the content key taken *before* the run started: a chapter (or ``dlbook``) edited
    while it ran gets a product under the old key, which the next build sees as stale, instead of
    old outputs filed under the new source's key.

    ``make book`` and ``make bench`` both store their runs here, so a chapter measured by the
    benchmark is the very run its page shows.
    """
    import nbformat

    root = Path(root)
    nb_path, key_path = product(build_dir, mode, notebook)
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    info = run_info(root, mode, describe, started)
    nb.metadata.setdefault("dlbook", {})["run"] = {**info, "key": key}
    key_path.unlink(missing_ok=True)  # the notebook first, then its key: never a key alone
    _write_atomic(nb_path, nbformat.writes(nb) + "\n")
    _write_atomic(key_path, key + "\n")
    nb_path.with_suffix(".err.log").unlink(missing_ok=True)
    return info


def discard(build_dir: Path, mode: str, notebook: Path, exc: BaseException) -> Path:
    """Remove a failed chapter's stale product and write its error next to where it was;
    return the error file."""
    nb_path, key_path = product(build_dir, mode, notebook)
    nb_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (nb_path, key_path):
        stale.unlink(missing_ok=True)
    # nbclient's CellExecutionError holds the cell's own traceback; anything else (a kernel that
    # died, a timeout) gets ours.
    detail = str(exc) if hasattr(exc, "ename") else "".join(traceback.format_exception(exc))
    err_path = nb_path.with_suffix(".err.log")
    err_path.write_text(detail + "\n", encoding="utf-8")
    return err_path


def execute(root: Path = ROOT, build_dir: Path | None = None, mode: str = "fast", only=None,
            force: bool = False, timeout: int | None = None, log=print,
            runner=execute_notebook) -> dict:
    """Execute every selected chapter whose product is not current; return ``{stem: status}``
    with status ``"reused"``, ``"executed"`` or ``"failed"``.

    Raises :class:`BuildError` at the end, naming every chapter that failed and its error, after
    the other chapters ran (their products are kept).
    """
    _check_mode(mode)
    root = Path(root)
    build_dir = Path(build_dir) if build_dir else root / "_build"
    timeout = timeout or cell_timeout(root)
    status, failures = {}, {}
    for notebook in select(chapters(root), only):
        key = content_key(root, notebook, mode)
        if not force and is_current(build_dir, root, mode, notebook):
            status[notebook.stem] = "reused"
            log(f"dlbook.build: {notebook.stem} ({mode}) is up to date (key {key}): not executed")
            continue
        log(f"dlbook.build: executing {notebook.stem} in {mode} mode (key {key}) ...")
        started = datetime.datetime.now(datetime.timezone.utc)
        try:
            nb, describe = runner(notebook, mode, timeout)
        except Exception as exc:  # the chapter's own error, reported, never hidden
            err_path = discard(build_dir, mode, notebook, exc)
            status[notebook.stem] = "failed"
            failures[notebook.stem] = (err_path, exc)
            log(f"dlbook.build: {notebook.stem} FAILED in {mode} mode; no product kept, the error "
                f"is in {err_path}")
            continue
        info = store(root, build_dir, mode, notebook, nb, describe, started, key)
        status[notebook.stem] = "executed"
        log(f"dlbook.build: {notebook.stem} ({mode}) executed in {info['wall_s']:.0f} s -> "
            f"{product(build_dir, mode, notebook)[0]}")
    if failures:
        detail = "\n\n".join(f"{stem} (log {err}):\n{_tail(err.read_text())}"
                             for stem, (err, exc) in failures.items())
        raise BuildError(f"{len(failures)} chapter(s) failed in {mode} mode: "
                         f"{', '.join(failures)}. The chapters that ran keep their products; fix "
                         f"the error and run again (only what failed or changed runs).\n\n{detail}")
    return status


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------- assembling


def run_note(info: dict, wanted: str | None = None, colab: bool = False) -> str:
    """The one line that says which run a page (or a Colab copy) shows, in Markdown.

    >>> info = {"mode": "full", "device": "CPU only (4 cores)", "date": "2026-12-06 07:00 UTC",
    ...         "commit": "0123456789abcdef"}
    >>> run_note(info)
    'This page shows the **full-mode** run of this chapter: CPU only (4 cores), 2026-12-06 07:00 UTC, commit `0123456789ab`.'
    >>> print(run_note({**info, "mode": "fast", "commit": "0123456789abcdef+changes"}, wanted="full"))
    ... # doctest: +ELLIPSIS
    This page shows the **fast-mode** run ..., commit `0123456789ab` with uncommitted changes (no full-mode run of ...
    """
    mode, commit = info.get("mode", "?"), str(info.get("commit", "unknown"))
    base, changed = commit.partition("+changes")[:2]
    shown = f"`{base[:12]}`" if len(base) >= 12 and " " not in base else base
    what = "copy holds the outputs of" if colab else "page shows"
    text = (f"This {what} the **{mode}-mode** run of this chapter: {info.get('device', '?')}, "
            f"{info.get('date', '?')}, commit {shown}{' with uncommitted changes' if changed else ''}")
    if wanted and wanted != mode:
        text += (f" (no {wanted}-mode run of this chapter's current version exists yet)")
    text += "."
    if colab:
        text += (" Run in Colab, it executes again: on a GPU runtime in full mode, on a CPU runtime "
                 "in fast mode (smaller subsets, fewer epochs), so your numbers will differ.")
    return text


def note_block(info: dict, wanted: str | None = None, deck: str | None = None) -> str:
    """The run line as a MyST note, as it is put under a chapter's title on the site; ``deck``:
    the address of the chapter's lecture slides (:mod:`dlbook.slides`), linked on a line of
    its own."""
    link = f'\n\n<a href="{deck}">Lecture slides of this chapter</a>' if deck else ""
    return "```{note}\n" + run_note(info, wanted) + link + "\n```"


def with_note(nb, note: str):
    """``nb`` with ``note`` under the title line of its first Markdown cell (no cell added, so
    cell indices stay those of the source)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title, _, rest = cell.source.partition("\n")
            cell.source = f"{title}\n\n{note}\n\n{rest.lstrip(chr(10))}".rstrip("\n")
            break
    nb.metadata.setdefault("dlbook", {})["page_note"] = note
    return nb


def plan(root: Path, build_dir: Path, mode: str, strict: bool = False, missing: str = "error",
         log=print) -> dict:
    """Which executed notebook each chapter page shows: ``{notebook: path or None}``.

    The current product in ``mode``; else (unless ``strict``) the current fast-mode product,
    announced; else ``missing="error"`` raises, ``missing="source"`` shows the unexecuted source
    (for the test build, whose tests then name the failed chapter).
    """
    chosen = {}
    for notebook in chapters(root):
        if is_current(build_dir, root, mode, notebook):
            chosen[notebook] = product(build_dir, mode, notebook)[0]
        elif not strict and mode != "fast" and is_current(build_dir, root, "fast", notebook):
            chosen[notebook] = product(build_dir, "fast", notebook)[0]
            log(f"dlbook.build: {notebook.stem} has no current {mode}-mode run; its page shows "
                "the fast-mode run and says so")
        elif missing == "source" and not strict:
            chosen[notebook] = None
            log(f"dlbook.build: {notebook.stem} has no executed notebook; its page shows the "
                "source without outputs")
        else:
            raise BuildError(
                f"{notebook.stem} has no executed notebook of its current version in {mode} mode"
                f"{'' if strict or mode == 'fast' else ' or fast mode'} in "
                f"{Path(build_dir) / 'executed'}; run `python -m dlbook.build execute --mode "
                f"{mode} --only {notebook.stem[:2]}` (or make book MODE={mode} ONLY="
                f"{notebook.stem[:2]}).")
    return chosen


def stage(root: Path, build_dir: Path, mode: str, chosen: dict) -> Path:
    """Write ``build_dir/stage``: the book's sources with the executed notebooks in place."""
    import nbformat
    import yaml

    from dlbook import slides

    root, build_dir = Path(root), Path(build_dir)
    tree = build_dir / "stage"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (tree / "_config.yml").write_text(
        "# Written by dlbook.build from the project's _config.yml: the notebooks here are executed.\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    shutil.copy2(root / "_toc.yml", tree / "_toc.yml")
    shutil.copytree(root / "book", tree / "book")
    for name in ("site", "DL_images"):
        if (root / name).exists():
            (tree / name).symlink_to(root / name, target_is_directory=True)
    for notebook, executed in chosen.items():
        dest = tree / notebook.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if executed is None:
            shutil.copy2(notebook, dest)
            continue
        nb = nbformat.read(executed, as_version=4)
        info = nb.metadata.get("dlbook", {}).get("run", {})
        deck = f"../slides/{slides.deck_name(notebook.stem)}"
        nbformat.write(with_note(nb, note_block(info, wanted=mode, deck=deck)), dest)
    return tree


def assemble(root: Path = ROOT, build_dir: Path | None = None, mode: str = "fast",
             strict: bool = False, missing: str = "error", colab: bool = True, log=print,
             echo: bool = True, warnings_as_errors: bool = True,
             slides: bool = True) -> subprocess.CompletedProcess:
    """Build the site (``build_dir/html``) and the Colab copies from the executed notebooks;
    with ``slides``, the site's lecture decks (``html/slides/``, :mod:`dlbook.slides`) and the
    zip of every figure as PNG, SVG and PDF (``html/figures/``, :func:`dlbook.figures.write_zip`).

    ``build_dir`` must be named ``_build`` (jupyter-book writes ``<path-output>/_build``).
    Returns the jupyter-book process (its output in ``stdout``); raises :class:`BuildError` when
    it fails (with ``warnings_as_errors``, as ``make book`` builds, on any warning).
    """
    _check_mode(mode)
    root = Path(root)
    build_dir = Path(build_dir) if build_dir else root / "_build"
    if build_dir.name != "_build":
        raise ValueError(f"build_dir must be a folder named _build, got {build_dir}; jupyter-book "
                         "writes into <path-output>/_build.")
    tree = stage(root, build_dir, mode, plan(root, build_dir, mode, strict, missing, log))
    for old in ("html", ".doctrees", "jupyter_execute"):  # nothing from an earlier build survives
        shutil.rmtree(build_dir / old, ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(tree), "--path-output",
           str(build_dir.parent)] + (["--warningiserror", "--keep-going"] if warnings_as_errors else [])
    log(f"dlbook.build: assembling the site from the executed notebooks ({mode} mode) ...")
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    if echo:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
    if result.returncode != 0:
        raise BuildError(f"jupyter-book build of {tree} failed (exit status {result.returncode}); "
                         "its warnings are above.")
    if colab:
        from dlbook import colab as colab_mod

        colab_mod.convert_build(build_dir, build_dir / "colab", log=log, root=root)
    if slides:
        from dlbook import figures
        from dlbook import slides as slides_mod

        zipped = figures.write_zip(build_dir / "html" / FIGURES_ZIP, build_dir / "figures")
        log(f"dlbook.build: every figure as PNG, SVG and PDF in {zipped}")
        try:
            slides_mod.build_decks(build_dir, root, log=log)
        except slides_mod.SlidesError as exc:
            raise BuildError(f"the lecture slides: {exc}") from None
    log(f"dlbook.build: the site is in {build_dir / 'html'} (open {build_dir / 'html' / 'index.html'})")
    return result


PDF_NAME = "convnets-in-depth.pdf"
"""The book as one PDF: ``_build/pdf/<this>``, and a copy at the site's root (``_build/html/``)."""


def pdf(root: Path = ROOT, build_dir: Path | None = None, mode: str = "fast", strict: bool = False,
        missing: str = "error", log=print, echo: bool = True,
        warnings_as_errors: bool = True) -> Path:
    """``make pdf``: the book as one PDF, typeset from the executed notebooks the site shows.

    The same staging tree as :func:`assemble` (same :func:`plan`: nothing is executed), built by
    jupyter-book's LaTeX builder (XeLaTeX, ``latex:`` in ``_config.yml``) in ``build_dir/pdf``;
    the PDF is ``build_dir/pdf/convnets-in-depth.pdf``, copied to the site's root when the site has
    been built (the introduction and the instructors' guide link it there). Returns its path;
    raises :class:`BuildError` when Sphinx warns or LaTeX fails (the log is named).
    """
    _check_mode(mode)
    root = Path(root)
    build_dir = Path(build_dir) if build_dir else root / "_build"
    if shutil.which("latexmk") is None or shutil.which("xelatex") is None:
        raise BuildError("make pdf needs XeLaTeX and latexmk, which are not installed; on Debian: "
                         "apt-get install texlive-xetex latexmk texlive-latex-extra "
                         "texlive-fonts-recommended fonts-freefont-otf (as .ci/run does).")
    tree = stage(root, build_dir, mode, plan(root, build_dir, mode, strict, missing, log))
    out = build_dir / "pdf"
    shutil.rmtree(out, ignore_errors=True)  # nothing from an earlier build survives
    out.mkdir(parents=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(tree), "--path-output", str(out),
           "--builder", "pdflatex"] + (["--warningiserror", "--keep-going"] if warnings_as_errors else [])
    log(f"dlbook.build: typesetting the book as a PDF from the executed notebooks ({mode} mode) ...")
    started = datetime.datetime.now(datetime.timezone.utc)
    env = {**os.environ, "LATEXMKOPTS": "-interaction=nonstopmode -halt-on-error"}
    env.pop("MAKEFLAGS", None)  # LaTeX runs under its own make (Sphinx's Makefile), in sequence
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env)
    log_file = out / "build.log"
    log_file.write_text(result.stdout + "\n" + result.stderr, encoding="utf-8")
    if echo:
        sys.stdout.write(result.stdout[-3000:])
        sys.stderr.write(result.stderr)
    built = out / "_build" / "latex" / PDF_NAME
    if result.returncode != 0 or not built.is_file():
        raise BuildError(f"the PDF build of {tree} failed (exit status {result.returncode}); "
                         f"Sphinx's and LaTeX's output is in {log_file}, LaTeX's own log in "
                         f"{built.with_suffix('.log')}.")
    final = out / PDF_NAME
    shutil.copy2(built, final)
    if (build_dir / "html").is_dir():
        shutil.copy2(final, build_dir / "html" / PDF_NAME)
    seconds = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    log(f"dlbook.build: the PDF is {final}, typeset in {seconds:.0f} s"
        + (f" (also in {build_dir / 'html'})" if (build_dir / "html").is_dir() else ""))
    return final


def book(root: Path = ROOT, build_dir: Path | None = None, mode: str = "fast", only=None,
         log=print, runner=execute_notebook) -> None:
    """``make book``: execute what changed (``only``: just those chapters), then assemble."""
    root = Path(root)
    build_dir = Path(build_dir) if build_dir else root / "_build"
    execute(root, build_dir, mode, only, log=log, runner=runner)
    if only:
        named = set(select(chapters(root), only))
        bare = [nb for nb in chapters(root) if nb not in named
                and not is_current(build_dir, root, mode, nb)
                and not is_current(build_dir, root, "fast", nb)]
        for nb in bare:
            log(f"dlbook.build: {nb.stem} has no executed notebook of its current version; "
                "executing it in fast mode so the site has every chapter")
        if bare:
            execute(root, build_dir, "fast", [nb.stem for nb in bare], log=log, runner=runner)
    assemble(root, build_dir, mode, log=log)


# --------------------------------------------------------------------------- command line


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dlbook.build",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, only=True):
        p.add_argument("--mode", default="fast", choices=MODES, help="run mode (default fast)")
        p.add_argument("--build-dir", type=Path, default=ROOT / "_build",
                       help="the _build folder (default: the project's)")
        if only:
            p.add_argument("--only", nargs="+", default=None, metavar="NN",
                           help="chapters by number, e.g. 04 08")

    p_book = sub.add_parser("book", help="execute what changed, then assemble (make book)")
    common(p_book)
    p_exec = sub.add_parser("execute", help="execute the chapters whose key changed")
    common(p_exec)
    p_exec.add_argument("--force", action="store_true", help="execute even if current")
    p_exec.add_argument("--timeout", type=int, default=None,
                        help="per-cell limit in seconds (default: _config.yml's)")
    p_asm = sub.add_parser("assemble", help="build the site and Colab copies, never executing")
    common(p_asm, only=False)
    p_asm.add_argument("--strict", action="store_true",
                       help="fail when a chapter has no current product in this mode")
    p_pdf = sub.add_parser("pdf", help="execute what changed, then typeset the book as one PDF "
                           "from the executed notebooks (make pdf)")
    common(p_pdf, only=False)
    p_pdf.add_argument("--strict", action="store_true",
                       help="execute nothing; fail when a chapter has no current product in this mode")
    p_key = sub.add_parser("key", help="print a chapter's content key")
    p_key.add_argument("chapter", help="chapter number (04) or notebook path "
                       "(notebooks/04_residual_networks.ipynb: needs no PyYAML)")
    p_key.add_argument("--mode", default="fast", choices=MODES)
    sub.add_parser("chapters", help="print the chapter notebooks of _toc.yml")
    args = parser.parse_args(argv)

    try:
        if args.command == "key":
            path = ROOT / args.chapter
            if not (args.chapter.endswith(".ipynb") and path.is_file()):  # a number: from _toc.yml
                path = select(chapters(ROOT), [args.chapter])[0]
            print(content_key(ROOT, path, args.mode))
        elif args.command == "chapters":
            print("\n".join(p.relative_to(ROOT).as_posix() for p in chapters(ROOT)))
        elif args.command == "execute":
            execute(ROOT, args.build_dir, args.mode, args.only, args.force, args.timeout)
        elif args.command == "assemble":
            assemble(ROOT, args.build_dir, args.mode, strict=args.strict)
        elif args.command == "pdf":
            if not args.strict:  # as `book` does: what changed runs first
                execute(ROOT, args.build_dir, args.mode)
            pdf(ROOT, args.build_dir, args.mode, strict=args.strict)
        else:
            book(ROOT, args.build_dir, args.mode, args.only)
    except (BuildError, ValueError) as exc:
        print(f"dlbook.build: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
