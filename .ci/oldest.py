"""`make oldest`: run every chapter on the oldest versions ``pyproject.toml`` claims to support.

In Colab the notebooks ``pip install`` dlbook with the version *ranges* of ``pyproject.toml``
and keep Colab's own TensorFlow and Keras, which may be older than ``requirements.txt``'s pins.
This check takes those ranges at their word: it reads each dependency's lower bound from
``pyproject.toml``, installs exactly that version (``name==floor``, wheels only) into a separate
virtual environment together with dlbook itself, installed the way Colab installs it (a
non-editable ``pip install`` of the source tree), and executes every chapter notebook in fast
mode there, in a work folder of their own (``_build/oldest``). No ``DL_images/`` lies beside an
installed package, so the figures come from ``dlbook.nb_setup.figure_path``, which draws them,
as in Colab; the check fails if it drew none. A failing cell is reported with its notebook,
number and error; the other notebooks still run.

    python .ci/oldest.py --venv .venv-oldest        # what `make oldest` runs
    python .ci/oldest.py --venv .venv-oldest --only 03

The install step needs only the package registry; the notebooks run offline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Besides dlbook and its dependencies, what executing a notebook needs (any compatible version).
RUNNER_PACKAGES = ["ipykernel", "nbclient", "nbformat"]
# What `pip install <source tree>` does not need from a copy of the repository.
_NOT_COPIED = (".git", ".venv*", "_build", "build", "*.egg-info", "__pycache__", "node_modules",
               ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", "notebooks", "DL_images")


def read_floors(pyproject: Path) -> dict[str, str]:
    """Each dependency of ``[project]`` in ``pyproject`` with the version of its ``>=`` bound.

    Every dependency must have exactly one lower bound (``>=``), the oldest version the book
    claims to work with; other clauses (an upper bound, ``!=``) are allowed beside it.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "pyproject.toml"
    >>> _ = path.write_text('[project]\\ndependencies = ["numpy>=1.26", "Keras >= 3.1, <4"]\\n')
    >>> read_floors(path)
    {'numpy': '1.26', 'keras': '3.1'}
    """
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        project = tomllib.loads(pyproject.read_text())["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise ValueError(f"{pyproject} has no readable [project] table ({error}). "
                         "Run this from the repository root.") from None
    floors = {}
    for text in project.get("dependencies", []):
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise ValueError(f"{pyproject}: dependency {text!r} is not a valid requirement "
                             f"({error}).") from None
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lower) != 1:
            raise ValueError(
                f"{pyproject}: dependency {text!r} needs exactly one lower bound '>=', the "
                f"oldest version it is tested with. Write e.g. '{requirement.name}>=X.Y'.")
        floors[canonicalize_name(requirement.name)] = lower[0]
    if not floors:
        raise ValueError(f"{pyproject} lists no dependencies under [project]; nothing to test.")
    return floors


def install_args(floors: dict[str, str], source: Path) -> list[str]:
    """The ``pip install`` arguments that build the oldest-versions environment.

    Each dependency is pinned to its floor, wheels only (a floor without a wheel for this
    Python fails here instead of compiling for an hour); the package itself is installed from
    ``source`` without ``-e``, as Colab installs it; the notebook runner comes at any version
    that fits the pins.

    >>> install_args({"numpy": "1.26", "keras": "3.1"}, Path("/src"))
    ['--only-binary', 'numpy,keras', 'numpy==1.26', 'keras==3.1', 'ipykernel', 'nbclient', 'nbformat', '/src']
    """
    pins = [f"{name}=={version}" for name, version in floors.items()]
    return ["--only-binary", ",".join(floors), *pins, *RUNNER_PACKAGES, str(source)]


def version_mismatches(floors: dict[str, str], installed: dict[str, str | None]) -> list[str]:
    """Dependencies whose installed version is not their floor, one sentence each.

    >>> version_mismatches({"numpy": "1.26", "keras": "3.1"}, {"numpy": "1.26.0", "keras": "3.2.0"})
    ['keras 3.2.0 is installed, not its floor 3.1']
    """
    from packaging.version import Version

    wrong = []
    for name, floor in floors.items():
        have = installed.get(name)
        if have is None:
            wrong.append(f"{name} is not installed (floor {floor})")
        elif Version(have) != Version(floor):
            wrong.append(f"{name} {have} is installed, not its floor {floor}")
    return wrong


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def build_environment(venv: Path, floors: dict[str, str]) -> float:
    """Create ``venv`` if needed and install the floors and dlbook into it; return seconds."""
    start = time.perf_counter()
    if not venv_python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with tempfile.TemporaryDirectory(prefix="dlbook-src-") as tmp:
        # A copy of the source tree, so `pip install` neither writes build/ into the
        # repository nor picks up stale files from an earlier build there.
        source = Path(tmp) / "dlbook-src"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        command = [str(venv_python(venv)), "-m", "pip", "install", "--quiet",
                   *install_args(floors, source)]
        print("oldest: pip install", " ".join(install_args(floors, Path("."))), flush=True)
        subprocess.run(command, check=True)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- in the oldest venv
def _kernel_dir(tmp: Path) -> Path:
    """A kernelspec for this interpreter, so notebooks cannot run in some other Python."""
    spec = tmp / "kernels" / "dlbook-oldest"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dlbook oldest versions", "language": "python"}))
    return tmp


def first_line(source: str) -> str:
    """The first non-blank line of a cell, shortened, to name it in a report.

    >>> first_line("\\n# Train the model\\nmodel.fit(x)")
    '# Train the model'
    """
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    text = lines[0] if lines else "(empty cell)"
    return text if len(text) <= 70 else text[:67] + "..."


def execute(notebooks: list[Path], workdir: Path, timeout: int) -> list[dict]:
    """Execute ``notebooks`` in ``workdir`` with this interpreter's kernel; one row each."""
    rows, saved = [], os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="dlbook-kernel-") as tmp:
        os.environ["JUPYTER_PATH"] = str(_kernel_dir(Path(tmp)))
        try:
            rows = [_execute_one(path, workdir, timeout) for path in notebooks]
        finally:
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved
    return rows


def _execute_one(path: Path, workdir: Path, timeout: int) -> dict:
    """Execute one notebook; a failure is located by its code cell number (1-based)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="dlbook-oldest",
                            resources={"metadata": {"path": str(workdir)}})
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        cells = [c for c in nb.cells if c.cell_type == "code"]
        failed = next((n for n, c in enumerate(cells, 1)
                       if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
                      None)
        if failed is None:  # a timeout or a dead kernel leaves no error: the last started cell
            failed = max((n for n, c in enumerate(cells, 1)
                          if c.get("execution_count")), default=1)
        name = getattr(exc, "ename", type(exc).__name__)
        value = getattr(exc, "evalue", str(exc).splitlines()[0] if str(exc) else "")
        error = {"cell": failed, "source": first_line(cells[failed - 1].source),
                 "error": f"{name}: {value}"}
    nbformat.write(nb, workdir / path.name)
    row = {"notebook": path.stem, "seconds": round(time.perf_counter() - start, 1),
           "error": error}
    status = "ok" if error is None else f"FAILED at code cell {error['cell']}"
    print(f"oldest: {path.stem}: {status} ({row['seconds']:.0f} s)", flush=True)
    return row


def run_notebooks(floors: dict[str, str], only: str | None, timeout: int) -> int:
    """Check the versions, then execute the chapters in ``_build/oldest``; exit status."""
    from importlib import metadata

    installed = {}
    for name in floors:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    wrong = version_mismatches(floors, installed)
    import dlbook
    package_dir = Path(dlbook.__file__).resolve().parent
    if package_dir == (ROOT / "dlbook").resolve():
        wrong.append(f"dlbook is imported from the repository ({package_dir}), not installed")
    if wrong:
        print("oldest: this is not the oldest-versions environment: " + "; ".join(wrong)
              + ". Rebuild it with `make oldest`.", file=sys.stderr)
        return 2
    print("oldest: " + ", ".join(f"{n} {v}" for n, v in installed.items())
          + f"; dlbook installed in {package_dir}", flush=True)

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if only:
        notebooks = [p for p in notebooks if only in p.stem]
    if not notebooks:
        print(f"oldest: no notebook matches {only!r}", file=sys.stderr)
        return 2
    # No DL_images/ here nor beside the installed dlbook: figure_path must draw the figures.
    workdir = ROOT / "_build" / "oldest"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    os.environ.setdefault("DLBOOK_MODE", "fast")
    rows = execute(notebooks, workdir, timeout)
    drawn = sorted(p.name for p in (workdir / "DL_images").glob("*.png"))
    print(f"oldest: figure_path drew {len(drawn)} figures into {workdir / 'DL_images'}")
    problems = [f"{row['notebook']}, code cell {row['error']['cell']} "
                f"({row['error']['source']}): {row['error']['error']}"
                for row in rows if row["error"]]
    if not drawn and any("figure_path(" in p.read_text() for p in notebooks):
        problems.append("figure_path drew no figure: the notebooks found committed figures, so "
                        "the path an installed package takes went untested")
    for problem in problems:
        print(f"oldest: FAILED {problem}", file=sys.stderr)
    total = sum(row["seconds"] for row in rows)
    passed = sum(row["error"] is None for row in rows)
    print(f"oldest: {passed} of {len(rows)} notebooks ran on the oldest "
          f"versions in {total:.0f} s; executed copies in {workdir}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv-oldest",
                        help="the oldest-versions virtual environment (created if missing)")
    parser.add_argument("--only", help="run only the notebooks whose name contains this")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        floors = read_floors(ROOT / "pyproject.toml")
    except ValueError as error:
        print(f"oldest: {error}", file=sys.stderr)
        return 2
    if args.in_venv:
        return run_notebooks(floors, args.only, args.timeout)
    try:
        seconds = build_environment(args.venv.resolve(), floors)
    except subprocess.CalledProcessError as error:
        print(f"oldest: installing the floors failed (exit {error.returncode}). If a floor has "
              "no wheel for this Python, raise it in pyproject.toml to the oldest version "
              "that has one.", file=sys.stderr)
        return 2
    print(f"oldest: environment ready in {seconds:.0f} s", flush=True)
    command = [str(venv_python(args.venv.resolve())), str(Path(__file__).resolve()), "--in-venv",
               "--timeout", str(args.timeout)] + (["--only", args.only] if args.only else [])
    # The runner's cwd is outside the repository, so `import dlbook` finds the installed copy.
    return subprocess.run(command, cwd=tempfile.gettempdir()).returncode


if __name__ == "__main__":
    sys.exit(main())
