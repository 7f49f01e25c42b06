"""`make bench`: measure every notebook's wall time and peak memory (fast mode, or full).

Each notebook runs in a fresh child process (``bench/run.py --one NOTEBOOK``) that executes it
top to bottom with nbclient and then reports the peak resident memory of its kernel (the largest
waited-for descendant, ``RUSAGE_CHILDREN``). The parent prints a table and writes
``bench/results.json``. Then ``bench/training.py`` measures training (the reference recipe
against a textbook CNN, throughput) in this process, under ``"training"`` in the same file
(``--no-training`` skips it). Budgets come from the issues; they are reported, not enforced: a
benchmark is not a test.

    python bench/run.py                       # all notebooks, fast mode, then training
    python bench/run.py --quick               # same harness, for `make test` (only checks it works)
    python bench/run.py --mode full --only 01 --no-training   # one chapter in full mode

Full-mode rows go to ``bench/results_full.json`` (fast-mode ones to ``bench/results.json``), so
a full-mode measurement, which can take hours on a CPU, is not overwritten by the next fast run;
a full-mode run of some chapters replaces only their rows there. So does a fast-mode run with
``--only`` (a new chapter measured without re-running the others; with ``--no-training`` it keeps
the file's training benchmark); each row records when it was measured. With the training
benchmark, a run also measures, in a child process, how many scenes per second ``dlbook.data``
makes for chapters 8 and 9 (``"scenes"`` in the results; :func:`measure_scenes`).
``bench/report.py`` turns the results into the tables of the benchmarks page.
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
RESULTS = {"fast": ROOT / "bench" / "results.json", "full": ROOT / "bench" / "results_full.json"}
# Fast-mode budgets in seconds, from the issues that introduced each notebook.
BUDGETS = {
    "01_convolution_and_pooling": 60,
    "02_design_patterns": 90,
    "03_classic_convnets": 180,
    "04_residual_networks": 180,
    "05_beyond_resnet": 180,
    "06_visualizing_convnets": 180,
    "07_generating_images": 180,
    "08_localization_segmentation": 180,
    "09_object_detection": 180,
}
# Full-mode budgets (DESIGN.md, "Modes"): a chapter finishes within 15 minutes on one T4-class GPU
# (issue 6) and within 40 minutes on the 2-core CPU, in at most 8 GiB.
FULL_BUDGET_GPU_S = 15 * 60
FULL_BUDGET_CPU_S = 40 * 60
FULL_PEAK_MIB = 8 * 1024


def notebooks(only: str | None = None) -> list[Path]:
    """The chapters' notebooks in order; ``only`` keeps those whose name contains it."""
    paths = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb"))
    if only:
        chosen = [p for p in paths if only in p.stem]
        if not chosen:
            raise SystemExit(f"bench: --only {only!r} matches no notebook; the notebooks are "
                             + ", ".join(p.stem for p in paths))
        return chosen
    return paths


def budget(stem: str, mode: str, gpus: int) -> int | None:
    """The wall-time budget a notebook's row is compared with, or ``None`` when there is none.

    >>> budget("01_convolution_and_pooling", "fast", gpus=0)
    60
    >>> budget("01_convolution_and_pooling", "full", gpus=1), budget("01_x", "full", gpus=0)
    (900, 2400)
    """
    if mode == "fast":
        return BUDGETS.get(stem)
    return FULL_BUDGET_GPU_S if gpus else FULL_BUDGET_CPU_S


def status(row: dict) -> str:
    """A result row's verdict against its budgets: wall time, and in full mode the peak memory.

    >>> status({"wall_s": 2000, "budget_s": 2400, "peak_mib": 9000, "mode": "full"})
    'OVER MEMORY BUDGET (9,000 MiB > 8,192 MiB)'
    >>> status({"wall_s": 3282, "budget_s": 2400, "peak_mib": 3898, "mode": "full"})
    'OVER BUDGET (3282 s > 2400 s)'
    >>> status({"wall_s": 50, "budget_s": 60, "peak_mib": 1300, "mode": "fast"})
    'within budget'
    """
    if row.get("error"):
        return "ERROR " + row["error"]
    over = []
    if row.get("budget_s") and row["wall_s"] > row["budget_s"]:
        over.append(f"OVER BUDGET ({row['wall_s']:.0f} s > {row['budget_s']} s)")
    if row.get("mode") == "full" and row.get("peak_mib") and row["peak_mib"] > FULL_PEAK_MIB:
        over.append(f"OVER MEMORY BUDGET ({row['peak_mib']:,.0f} MiB > {FULL_PEAK_MIB:,} MiB)")
    if over:
        return "; ".join(over)
    return "within budget" if row.get("budget_s") else "no budget"


def machine_info(cpuinfo: str | None = None, meminfo: str | None = None) -> dict:
    r"""What the timings depend on: CPU model, cores, vector extensions, memory, Python.

    ``cpuinfo`` and ``meminfo`` default to ``/proc/cpuinfo`` and ``/proc/meminfo`` (Linux); on
    other systems the fields that need them are ``None``.

    >>> info = machine_info("model name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16\n",
    ...                     "MemTotal:       24594896 kB\n")
    >>> info["cpu_model"], info["vector_extensions"], info["memory_gib"]
    ('AMD EPYC', ['AVX2', 'AVX-512', 'AVX-512 BF16'], 23.5)
    """
    def read(text, path):
        if text is not None:
            return text
        try:
            return Path(path).read_text()
        except OSError:
            return ""

    cpuinfo, meminfo = read(cpuinfo, "/proc/cpuinfo"), read(meminfo, "/proc/meminfo")
    fields = dict(line.split(":", 1) for line in cpuinfo.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    names = [("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX-512 BF16"),
             ("amx_tile", "AMX")]
    mem = [line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal:")]
    return {"cpus": os.cpu_count(), "cpu_model": fields.get("model name"),
            "vector_extensions": [name for flag, name in names if flag in flags],
            "memory_gib": round(int(mem[0]) / 2**20, 1) if mem else None,
            "platform": platform.platform(), "python": platform.python_version()}


def merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """Rows of ``old`` replaced by ``new`` notebook by notebook, in notebook order.

    Full-mode runs are long, so they are made a chapter at a time (``--only``); each run adds
    its rows to ``bench/results_full.json`` instead of discarding the other chapters'.

    >>> merge_rows([{"notebook": "01_a", "wall_s": 1}, {"notebook": "02_b", "wall_s": 2}],
    ...            [{"notebook": "02_b", "wall_s": 3}, {"notebook": "03_c", "wall_s": 4}])
    [{'notebook': '01_a', 'wall_s': 1}, {'notebook': '02_b', 'wall_s': 3}, {'notebook': '03_c', 'wall_s': 4}]
    """
    rows = {r["notebook"]: r for r in old}
    rows.update({r["notebook"]: r for r in new})
    return [rows[k] for k in sorted(rows)]


def run_one(path: Path, timeout: int, build_dir: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel, a child of this process; return its wall time
    and the kernel's peak memory.

    The run goes through ``dlbook.build``: the executed notebook is kept as the chapter's build
    product in ``build_dir/executed/<mode>/`` (default ``_build``), with its content key, so
    ``make book`` shows the very run that was measured instead of executing the chapter again.
    """
    import datetime

    from dlbook import build

    mode = os.environ.get("DLBOOK_MODE", "fast")
    build_dir = Path(build_dir) if build_dir else ROOT / "_build"
    load_before = os.getloadavg()[0]
    started = datetime.datetime.now(datetime.timezone.utc)
    key = build.content_key(ROOT, path, mode)  # of the source that runs, not of a later edit
    start = time.perf_counter()
    error = nb = None
    try:
        nb, describe = build.execute_notebook(path, mode, timeout)
    except Exception as exc:  # report, don't hide: the table shows the failure
        # nbclient's CellExecutionError carries the notebook's own exception name and message.
        name = getattr(exc, "ename", None) or type(exc).__name__
        value = getattr(exc, "evalue", None) or (str(exc).splitlines() or [""])[0]
        error = f"{name}: {value}"[:300]
        build.discard(build_dir, mode, path, exc)
    wall = time.perf_counter() - start
    if nb is not None:
        build.store(ROOT, build_dir, mode, path, nb, describe, started, key)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB
    # The 1-minute load average before and after: a wall time taken while other work shared
    # the cores (load above the core count) is not comparable with a quiet run.
    return {"notebook": path.stem, "wall_s": round(wall, 1), "peak_mib": round(peak_kib / 1024, 1),
            "error": error, "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def measure_scenes(quick: bool = False) -> dict:
    """Scenes per second of ``dlbook.data``: one vectorised ``make_scenes`` call, and the
    ``tf.data`` pipeline ``scene_dataset`` (batches of 64), both with the default scene settings
    (96×96 canvas, one to three items). Best of three calls; the pipeline after two warm-up
    batches. ``quick``: a few small batches, to check the harness."""
    import inspect

    from dlbook import data

    defaults = {k: p.default for k, p in inspect.signature(data.make_scenes).parameters.items()}
    n, batch, batches = (128, 16, 3) if quick else (2048, 64, 40)
    data.make_scenes(8)  # loads the split once
    best = 0.0
    for seed in range(3):
        start = time.perf_counter()
        data.make_scenes(n, seed=seed)
        best = max(best, n / (time.perf_counter() - start))
    stream = iter(data.scene_dataset(batch, seed=0))
    for _ in range(2):
        next(stream)
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    piped = batches * batch / (time.perf_counter() - start)
    return {"canvas": defaults["canvas"], "items": list(defaults["items"]),
            "make_scenes_per_s": round(best),
            "dataset_per_s": round(piped), "dataset_batch": batch, "quick": quick,
            "load_average_at_start": round(os.getloadavg()[0], 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget: check the harness only")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scenes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    parser.add_argument("--mode", choices=("fast", "full"), default="fast",
                        help="run mode of the notebooks (DLBOOK_MODE); default fast")
    parser.add_argument("--only", help="only the notebooks whose name contains this text")
    parser.add_argument("--out", type=Path, help="results file (default bench/results.json, "
                        "or bench/results_full.json in full mode)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "_build",
                        help="where the executed notebooks are kept as dlbook.build products "
                        "(default _build: make book then shows the measured runs)")
    parser.add_argument("--no-training", action="store_true",
                        help="skip the training benchmark (bench/training.py)")
    args = parser.parse_args(argv)

    if args.one:
        print(json.dumps(run_one(args.one, args.timeout, args.build_dir)))
        return 0
    if args.scenes:
        print(json.dumps(measure_scenes(args.quick)))
        return 0

    out = args.out or RESULTS[args.mode]
    env = dict(os.environ, DLBOOK_MODE=args.mode)
    gpus = _visible_gpus()
    paths = notebooks(args.only)
    if args.quick:
        paths = paths[:1]
    rows = []
    for path in paths:
        proc = subprocess.run([sys.executable, __file__, "--one", str(path), "--timeout", str(args.timeout),
                               "--build-dir", str(args.build_dir)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode != 0:
            rows.append({"notebook": path.stem, "wall_s": None, "peak_mib": None,
                         "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["budget_s"] = budget(path.stem, args.mode, gpus)
        row["mode"] = args.mode
        row["when"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")  # rows of merged full-mode runs differ
        rows.append(row)
        print(f"bench: {path.stem} ({args.mode} mode) took {row['wall_s']} s", flush=True)

    print(f"{f'notebook ({args.mode} mode)':34} {'wall s':>8} {'budget s':>9} {'peak MiB':>9}  status")
    for r in rows:
        wall = "-" if r["wall_s"] is None else f"{r['wall_s']:.1f}"
        peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
        print(f"{r['notebook']:34} {wall:>8} {str(r.get('budget_s') or '-'):>9} {peak:>9}  {status(r)}")

    machine = machine_info()
    # Full-mode runs always add their rows to the file; a fast-mode run of some chapters (--only)
    # does too, and without --no-training's own measurement it keeps the file's training benchmark.
    previous = {}
    if not args.quick and out.exists() and (args.mode == "full" or args.only):
        previous = json.loads(out.read_text())
        if previous.get("mode") == args.mode and not previous.get("quick"):
            if previous.get("machine") not in (None, machine):  # rows from another host say so
                for row in rows:
                    row["machine"] = machine
                machine = previous["machine"]
            rows = merge_rows(previous.get("notebooks", []), rows)
        else:
            previous = {}
    results = {
        "when": previous.get("when") or time.strftime("%Y-%m-%dT%H:%M:%S%z"),  # the first run's
        "machine": machine,
        "quick": args.quick,
        "mode": args.mode,
        "gpus": gpus,
        "notebooks": rows,
    }
    if not args.no_training:  # parts 2-4: the reference recipe, the textbook CNN, throughput
        # The scenes of chapters 8 and 9, in a child process so this one stays light.
        quick = ["--quick"] if args.quick else []
        proc = subprocess.run([sys.executable, __file__, "--scenes", *quick],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode == 0:
            results["scenes"] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"bench: scenes {results['scenes']['make_scenes_per_s']:,}/s in one call, "
                  f"{results['scenes']['dataset_per_s']:,}/s through tf.data", flush=True)
        else:
            results["scenes"] = {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
            print(f"bench: measuring the scenes failed: {results['scenes']['error']}", flush=True)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import training

        results["training"] = training.main(["--quick"] if args.quick else [])
    elif "training" in previous:
        results["training"] = previous["training"]
        if "scenes" in previous:
            results["scenes"] = previous["scenes"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 1 if any(r.get("error") for r in rows) else 0


def _visible_gpus() -> int:
    """How many GPUs TensorFlow sees, asked in a child process so this one stays light."""
    proc = subprocess.run([sys.executable, "-c", "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; "
                           "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"],
                          capture_output=True, text=True)
    try:
        return int(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
