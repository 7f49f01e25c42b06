"""`make bench`: measure every notebook's fast-mode wall time and peak memory.

Each notebook runs in a fresh child process (``bench/run.py --one NOTEBOOK``) that executes it
top to bottom with nbclient and then reports the peak resident memory of its kernel (the largest
waited-for descendant, ``RUSAGE_CHILDREN``). The parent prints a table and writes
``bench/results.json``. Then ``bench/training.py`` measures training (the reference recipe
against a textbook CNN, throughput) in this process, under ``"training"`` in the same file
(``--no-training`` skips it). Budgets come from the issues; they are reported, not enforced: a
benchmark is not a test.

    python bench/run.py            # all notebooks
    python bench/run.py --quick    # same harness, for `make test` (only checks it works)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
# Fast-mode budgets in seconds, from the issues that introduced each notebook.
BUDGETS = {
    "01_convolution_and_pooling": 60,
    "02_design_patterns": 90,
    "03_classic_convnets": 180,
    "04_residual_networks": 180,
}


def notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "notebooks").glob("*.ipynb"))


def run_one(path: Path, timeout: int) -> dict:
    """Execute one notebook in this process's kernel child; return wall time and peak memory."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as exc:  # report, don't hide: the table shows the failure
        # nbclient's CellExecutionError carries the notebook's own exception name and message.
        name = getattr(exc, "ename", None) or type(exc).__name__
        value = getattr(exc, "evalue", None) or (str(exc).splitlines() or [""])[0]
        error = f"{name}: {value}"[:300]
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    return {"notebook": path.stem, "wall_s": round(wall, 1), "peak_mib": round(peak_kib / 1024, 1),
            "error": error}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget: check the harness only")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-training", action="store_true",
                        help="skip the training benchmark (bench/training.py)")
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(run_one(args.one, args.timeout)))
        return 0

    env = dict(os.environ, DLBOOK_MODE="fast")
    paths = notebooks()
    if args.quick:
        paths = paths[:1]
    rows = []
    for path in paths:
        proc = subprocess.run([sys.executable, __file__, "--one", str(path), "--timeout", str(args.timeout)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode != 0:
            rows.append({"notebook": path.stem, "wall_s": None, "peak_mib": None,
                         "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["budget_s"] = BUDGETS.get(path.stem)
        rows.append(row)

    print(f"{'notebook (fast mode)':34} {'wall s':>8} {'budget s':>9} {'peak MiB':>9}  status")
    for r in rows:
        status = "ERROR " + r["error"] if r.get("error") else (
            "within budget" if r.get("budget_s") and r["wall_s"] <= r["budget_s"] else
            ("OVER BUDGET" if r.get("budget_s") else "no budget"))
        wall = "-" if r["wall_s"] is None else f"{r['wall_s']:.1f}"
        peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
        print(f"{r['notebook']:34} {wall:>8} {str(r.get('budget_s') or '-'):>9} {peak:>9}  {status}")

    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "quick": args.quick,
        "notebooks": rows,
    }
    if not args.no_training:  # parts 2-4: the reference recipe, the textbook CNN, throughput
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import training

        results["training"] = training.main(["--quick"] if args.quick else [])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 1 if any(r.get("error") for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
