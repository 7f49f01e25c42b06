"""The tables of ``book/benchmarks.md``, written from recorded `make bench` results.

``make bench`` writes ``bench/results.json`` (fast mode and the training benchmark) and
``bench/results_full.json`` (full mode). Copies of a run on the machine the book is tested on are
kept in ``bench/recorded/``. This script turns those records into the machine description, the
two tables and the summary of the benchmarks page, between marker comments of the form
``% bench: NAME`` and ``% end bench: NAME``, so that every number there comes from a measurement;
``tests/test_cost_tables.py`` checks that the page holds exactly what the records give.

    python bench/report.py                    # print what the page should hold (bench/recorded/)
    python bench/report.py --dir bench        # ... from your own latest `make bench`
    python bench/report.py --record --write   # copy bench/results*.json to bench/recorded/ and
                                              # rewrite the page's tables from them
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "recorded"
PAGE = HERE.parent / "book" / "benchmarks.md"
SECTIONS = ("machine", "cost", "training", "epochs", "summary")
PROSE = ("machine", "summary")  # sections of sentences, wrapped like the rest of the page
WIDTH = 100  # the page's line length
# Full-mode budgets of a whole chapter (DESIGN.md, "Modes"; the same as bench/run.py's, which a
# test checks): 15 minutes on one T4-class GPU (issue 6), 40 minutes and 8 GiB on the 2-core CPU.
GPU_BUDGET_MIN = 15
CPU_BUDGET_MIN = 40
PEAK_BUDGET_MIB = 8 * 1024


def load(directory: Path = RECORDED) -> tuple[dict, dict | None]:
    """``(fast, full)`` results from ``directory``; ``full`` is ``None`` when not measured."""
    fast_path, full_path = directory / "results.json", directory / "results_full.json"
    if not fast_path.exists():
        raise FileNotFoundError(f"{fast_path} is missing: run `make bench` first (it writes "
                                "bench/results.json), or pass --dir with a folder that has one.")
    fast = json.loads(fast_path.read_text())
    full = json.loads(full_path.read_text()) if full_path.exists() else None
    return fast, full


def _cpu(m: dict) -> str:
    """``"2 CPU cores (AMD EPYC; AVX2, AVX-512)"`` from a machine record."""
    details = "; ".join(x for x in (m.get("cpu_model"), ", ".join(m.get("vector_extensions") or [])) if x)
    return f"{m['cpus']} CPU cores" + (f" ({details})" if details else "")


def _machine(row: dict, record: dict | None) -> dict:
    """The machine a row was measured on: its own record, else its file's (rows added later from
    another host carry their own; a full-mode file may come from another host than the fast one).
    """
    return row.get("machine") or (record or {}).get("machine") or {}


def machine_text(fast: dict, full: dict | None) -> str:
    """One sentence naming the machine and the dates of the recorded runs, and one more for each
    chapter measured later on another host (``make bench ONLY=..`` adds its row to the record).

    >>> fast = {"when": "2026-11-25T13:00:00+0000", "gpus": 0, "machine": {"cpus": 2,
    ...         "cpu_model": "AMD EPYC", "vector_extensions": ["AVX2", "AVX-512"],
    ...         "memory_gib": 23.5}, "notebooks": [{"notebook": f"0{n}_x", "when": "2026-12-01T01:00",
    ...         "machine": {"cpus": 2, "cpu_model": "AMD EPYC", "vector_extensions": ["AVX2"]}}
    ...         for n in (5, 6)]}
    >>> print(machine_text(fast, None))
    Measured with `make bench` on 2026-11-25 on 2 CPU cores (AMD EPYC; AVX2, AVX-512), no GPU, 23.5 GiB of memory. Chapters 5 and 6 in fast mode: on 2026-12-01 on another host, 2 CPU cores (AMD EPYC; AVX2).
    """
    m = fast["machine"]
    parts = [_cpu(m)]
    parts.append("no GPU" if not fast.get("gpus") else f"{fast['gpus']} GPU(s)")
    if m.get("memory_gib"):
        parts.append(f"{m['memory_gib']} GiB of memory")
    here = _cpu(m)
    dates = sorted({fast["when"][:10]} | {r["when"][:10] for r in (full or {}).get("notebooks", [])
                                         if r.get("when") and _cpu(_machine(r, full)) == here})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    text = f"Measured with `make bench` on {when} on " + ", ".join(parts) + "."
    for mode, record in (("fast", fast), ("full", full or {})):
        # chapters measured on the same day on the same other host share one sentence
        groups: dict[tuple[str, str], list[int]] = {}
        for row in record.get("notebooks", []):
            host = _cpu(_machine(row, record))
            if host != here:
                key = (row["when"][:10], host)
                groups.setdefault(key, []).append(int(row["notebook"].partition("_")[0]))
        for (day, cpu), chapters in groups.items():
            names = (f"Chapter {chapters[0]}" if len(chapters) == 1 else
                     "Chapters " + ", ".join(map(str, chapters[:-1])) + f" and {chapters[-1]}")
            text += f" {names} in {mode} mode: on {day} on another host, {cpu}."
    return text


def chapter_title(stem: str) -> str:
    """``"01_convolution_and_pooling"`` → ``"1 · Convolution and pooling"``."""
    number, _, words = stem.partition("_")
    return f"{int(number)} · {words.replace('_', ' ').capitalize()}"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _load_note(row: dict, record: dict | None) -> str:
    """``", at load 3.4"`` when other work shared the cores during the run (the load average
    exceeded the core count of the row's machine), else ``""``.

    >>> two_cores = {"machine": {"cpus": 2}}
    >>> _load_note({"load_average": [0.4, 3.41]}, two_cores)
    ', at load 3.4'
    >>> _load_note({"load_average": [0.4, 1.9]}, two_cores)
    ''
    >>> _load_note({"load_average": [0.4, 1.9], "note": "model cached"}, two_cores)
    ' (model cached)'
    """
    load = max(row.get("load_average") or [0])
    cpus = _machine(row, record).get("cpus")
    text = f", at load {load:.1f}" if cpus and load > cpus else ""
    # A recorded row may carry a note on what the time leaves out (e.g. a cached model).
    return text + (f" ({row['note']})" if row.get("note") else "")


def cost_table(fast: dict, full: dict | None) -> str:
    """Markdown table: each chapter's fast-mode time and memory, full-mode time, GPU budget.

    >>> fast = {"notebooks": [{"notebook": "01_a_b", "wall_s": 55.2, "peak_mib": 1203.4,
    ...                        "error": None}]}
    >>> print(cost_table(fast, None).splitlines()[-1])
    | 1 · A b | 55 s, 1,203 MiB | not measured | 15 min |
    >>> full = {"notebooks": [{"notebook": "01_a_b", "wall_s": 3282.0, "peak_mib": 3898.2}]}
    >>> print(cost_table(fast, full).splitlines()[-1])
    | 1 · A b | 55 s, 1,203 MiB | 54.7 min, 3,898 MiB, **over the 40 min budget** | 15 min |
    """
    full_rows = {r["notebook"]: r for r in (full or {}).get("notebooks", [])}
    lines = ["| chapter | fast mode, 2-core CPU | full mode, 2-core CPU "
             "| full-mode budget, one T4-class GPU |",
             "| --- | --- | --- | --- |"]
    for row in fast["notebooks"]:
        if row.get("error") or row.get("wall_s") is None:
            raise ValueError(f"the recorded fast-mode run of {row['notebook']} failed "
                             f"({row.get('error')}): rerun `make bench` before reporting it.")
        f = full_rows.get(row["notebook"])
        full_cell = (f"{_minutes(f['wall_s'])}, {f['peak_mib']:,.0f} MiB{_load_note(f, full)}"
                     f"{_over_budget(f)}"
                     if f and not f.get("error") and f.get("wall_s") else "not measured")
        lines.append(f"| {chapter_title(row['notebook'])} | {row['wall_s']:.0f} s, "
                     f"{row['peak_mib']:,.0f} MiB{_load_note(row, fast)} | {full_cell} "
                     f"| {GPU_BUDGET_MIN} min |")
    return "\n".join(lines)


def _over_budget(row: dict) -> str:
    """What a full-mode row exceeds of the CPU budgets, as a bold note (empty when within)."""
    over = ([f"{CPU_BUDGET_MIN} min"] if row["wall_s"] > 60 * CPU_BUDGET_MIN else []) + \
        ([f"{PEAK_BUDGET_MIB // 1024} GiB"] if row["peak_mib"] > PEAK_BUDGET_MIB else [])
    return f", **over the {' and '.join(over)} budget**" if over else ""


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _secs(value) -> str:
    return "–" if value is None else f"{value:.0f}"


def _keys(training: dict, prefix: str) -> list[str]:
    """The record's training runs whose key starts with ``prefix``, in the record's order: a
    recipe's extra seeds (``reference_seed1``, ...) or one precision's runs."""
    return [key for key in training if key.startswith(prefix)]


def _runs(training: dict) -> list[tuple[str, str]]:
    """``(key, label)`` of every training run of the record, in the order the tables show them."""
    def seed(key):
        return training[key]["settings"]["seed"]

    runs = [("reference", f"reference recipe, seed {seed('reference')}")]
    runs += [(key, f"the same, seed {seed(key)}") for key in _keys(training, "reference_seed")]
    # bfloat16 runs follow the recipe's own budgets in bfloat16 (the epochs column shows them)
    runs += [(key, f"in bfloat16, seed {seed(key)}")
             for key in _keys(training, "reference_bf16_seed")]
    if "reference_10min" in training:
        runs.append(("reference_10min", f"10-minute settings, seed {seed('reference_10min')}"))
    if "reference_bf16_10min" in training:
        runs.append(("reference_bf16_10min", "10-minute settings in bfloat16, seed "
                     f"{seed('reference_bf16_10min')}"))
        runs += [(key, f"the same, seed {seed(key)}")
                 for key in _keys(training, "reference_bf16_10min_seed")]
    if "textbook" in training:
        runs.append(("textbook", "textbook CNN"))
    return runs


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def training_table(training: dict) -> str:
    """Markdown table of the training benchmark (``bench/training.py``'s results), accuracy and
    time: one row per run, so the table stays as wide as the page however many runs it makes."""
    # several numbers per cell, so that the table fits the page's width without scrolling
    columns = [
        ("epochs", lambda s: str(len(s["test_accuracy"]))),
        ("best", lambda s: _pct(s["best_accuracy"])),
        ("seconds to 91 / 92 / 93 / 94%", lambda s: " / ".join(
            _secs(s["time_to_s"][t]) for t in ("91%", "92%", "93%", "94%"))),
        ("best in 5 / 10 min",
         lambda s: f"{_pct(s['best_accuracy_5min'])} / {_pct(s['best_accuracy_10min'])}"),
    ]
    return _columns_table(training, columns)


def epochs_table(training: dict) -> str:
    """Markdown table of each run's speed, network size and test accuracy after every epoch (the
    second of two tables, so that neither is wider than the page)."""
    runs = _runs(training)
    columns = [
        ("images/s", lambda s: f"{s['images_per_s']:,.0f}"),
        ("of best float32 product" if "yardstick" in training else "of matmul rate",
         lambda s: f"{100 * s['matmul_fraction']:.0f}%"),
    ]
    if all(training[key].get("peak_fraction") is not None for key, _ in runs):
        columns.append(("of float32 peak", lambda s: f"{100 * s['peak_fraction']:.0f}%"))
    columns += [
        ("parameters", lambda s: f"{s['params']:,}"),
        ("multiply–adds per image", lambda s: f"{s['mult_adds_per_image'] / 1e6:.1f} M"),
        ("test accuracy after each epoch (%)",
         lambda s: ", ".join(f"{100 * a:.1f}" for a in s["test_accuracy"])),
    ]
    return _columns_table(training, columns)


def _columns_table(training: dict, columns: list) -> str:
    """One row per run of the record, one column per ``(header, cell of a run's result)``."""
    runs = _runs(training)
    return _table(["run"] + [name for name, _ in columns],
                  [[label] + [cell(training[key]) for _, cell in columns] for key, label in runs])


def training_summary(training: dict) -> str:
    """Sentences on the best accuracies within 5 and 10 minutes, the machine's matmul rate, the
    time-to-91% ratio, the epoch-start pause and XLA."""
    ratio = training.get("ratio_time_to_91")
    ratio_text = ("not defined (one of the two did not reach 91%)" if ratio is None
                  else f"{ratio:.2f}")
    xla = training["xla"]
    ref = training["reference"]
    others = [(key.removeprefix("reference_seed"), training[key])
              for key in _keys(training, "reference_seed")]
    spread = "".join(f" and {_pct(o['best_accuracy_5min'])} with seed {seed}"
                     for seed, o in others)
    long = training.get("reference_10min")
    best = (f"Best test accuracy of the reference recipe within 5 minutes: "
            f"{_pct(ref['best_accuracy_5min'])} with the book's seed {ref['settings']['seed']}"
            f"{spread}" + (f"; within 10 minutes, with the 10-minute settings: "
                           f"{_pct(long['best_accuracy_10min'])}" if long else "") + ". ")
    bf16 = [(key.removeprefix("reference_bf16_seed"), training[key])
            for key in _keys(training, "reference_bf16_seed")]
    if bf16:
        long16 = [(str(training[key]["settings"]["seed"]), training[key])
                  for key in _keys(training, "reference_bf16_10min")]
        best += ("In bfloat16, within 5 minutes: " + ", ".join(
            f"{_pct(o['best_accuracy_5min'])} with seed {seed}" for seed, o in bf16))
        if long16:
            scores = [o["best_accuracy_10min"] for _, o in long16]
            best += ("; within 10 minutes, with the 10-minute settings: " + ", ".join(
                f"{_pct(o['best_accuracy_10min'])} with seed {seed}" for seed, o in long16))
            if len(scores) > 1:
                best += (f" (mean {_pct(statistics.mean(scores))}, spread "
                         f"{100 * (max(scores) - min(scores)):.2f} points)")
        best += ". "
    return best + yardstick_sentences(training) + (
        f"Time to 91% of the reference "
        f"recipe divided by the textbook CNN's: {ratio_text}. Pause at the start of each epoch "
        f"after the first with a finite dataset, beyond the repeated one's: "
        f"{training['stall']['extra_s_per_later_epoch']:.1f} s. The reference network with XLA "
        f"compilation: {xla['xla']:,.0f} training images/s, against {xla['no_xla']:,.0f} "
        f"without (×{xla['speedup']:.2f}); `dlbook.train` compiles with XLA on GPUs and TPUs "
        f"only.")


def yardstick_sentences(training: dict) -> str:
    """What the CPU multiplies at best and at peak, and how bfloat16 compared, as sentences."""
    yard = training.get("yardstick")
    if yard is None:  # a record from before the yardstick had several products
        return (f"Matrix-multiply throughput of the machine in the same run: "
                f"{training['matmul_gflops']:.0f} GFLOP/s (float32). ")
    names = {"tf_matmul": "TensorFlow's matmul", "conv1x1": "a 1×1 convolution",
             "numpy": "NumPy's BLAS", "bf16_matmul": "bfloat16 matmul"}
    rates = ", ".join(f"{names.get(k, k.replace('tf_matmul_onednn', 'matmul with oneDNN='))} "
                      f"{v:.0f}" for k, v in yard["gflops"].items() if v is not None)
    peak = yard["peak"]
    text = (f"The best float32 product in the same run reached {yard['best_gflops']:.0f} GFLOP/s "
            f"({rates} GFLOP/s)")
    if peak.get("fp32_gflops"):
        text += (f"; the CPU's float32 peak is {peak['fp32_gflops']:.0f} GFLOP/s "
                 f"({peak['cores']} cores × {peak['clock_ghz']} GHz × "
                 f"{peak['fp32_ops_per_cycle']} operations per cycle, {peak['isa']})")
        if "implied_clock_ghz" in yard:
            text += (f", at the clock the machine reports; the best product implies the cores ran "
                     f"at {yard['implied_clock_ghz']} GHz or faster, and that clock is the peak "
                     f"used for the shares")
    text += ". "
    pc = training.get("precision_compare")
    if pc:
        verdict = ("faster beyond the spread of repeated runs, so the recipe was also trained in "
                   "bfloat16 (rows above)" if pc["speedup"] > 1 + pc["spread"] else
                   "not faster here, so `dlbook.runtime` keeps float32 on this CPU")
        text += (f"Training the reference network in mixed bfloat16: {pc['mixed_bfloat16']:,.0f} "
                 f"images/s against {pc['float32']:,.0f} in float32 (×{pc['speedup']:.2f}; "
                 f"spread between repeated runs {100 * pc['spread']:.0f}%), {verdict}. ")
    return text


def scenes_summary(scenes: dict | None) -> str:
    """A sentence on how fast ``dlbook.data`` makes the scenes of chapters 8 and 9 (empty when
    the recorded run predates that measurement or it failed).

    >>> scenes_summary({"canvas": 96, "items": [1, 3], "make_scenes_per_s": 15210,
    ...                 "dataset_per_s": 9800, "dataset_batch": 64})
    ' Scenes for chapters 8 and 9 (96×96, 1 to 3 items): 15,210 per second in one call of `dlbook.data.make_scenes`, 9,800 per second through its `tf.data` pipeline in batches of 64.'
    >>> scenes_summary(None)
    ''
    """
    if not scenes or "error" in scenes:
        return ""
    c, (lo, hi) = scenes["canvas"], scenes["items"]
    return (f" Scenes for chapters 8 and 9 ({c}×{c}, {lo} to {hi} items): "
            f"{scenes['make_scenes_per_s']:,} per second in one call of "
            f"`dlbook.data.make_scenes`, {scenes['dataset_per_s']:,} per second through its "
            f"`tf.data` pipeline in batches of {scenes['dataset_batch']}.")


# A word that would turn a wrapped line into something else (a list item, heading, quote, MyST
# comment or label, table row, fence or rule) when it starts the line.
_BLOCK_START = re.compile(r"^(?:[-+*]|#+|>.*|%.*|\|.*|\d{1,9}[.)]|[-=_*]{3,}|`{3,}.*|~{3,}.*"
                          r"|\(.*\)=|:{3,}.*)$")


def wrap(text: str, width: int = WIDTH) -> str:
    """``text`` as lines of at most ``width`` characters, broken at spaces only.

    Markdown joins the lines back into one paragraph. A word that would make a line start a
    different block (``-``, ``1.``, ``#``, ``%`` ...) takes the word before it to the new line,
    and a word longer than ``width`` gets a line of its own.

    >>> print(wrap("alpha beta gamma delta", width=11))
    alpha beta
    gamma delta
    >>> print(wrap("alpha beta - gamma", width=10))  # "-" would start a list
    alpha
    beta -
    gamma
    >>> print(wrap("batches of 64.", width=10))  # so would "64."
    batches
    of 64.
    """
    lines: list[list[str]] = []
    for word in text.split():
        line = lines[-1] if lines else None
        if line is None or len(" ".join(line + [word])) <= width:
            (lines.append([word]) if line is None else line.append(word))
        elif not _BLOCK_START.match(word):
            lines.append([word])
        elif len(line) > 1:  # a block start cannot begin a line: it takes the word before along
            lines.append([line.pop(), word])
        else:
            line.append(word)
    return "\n".join(" ".join(line) for line in lines)


def sections(fast: dict, full: dict | None) -> dict[str, str]:
    """The text of each marked section of the page (:data:`SECTIONS`), from the records.

    The sentences (:data:`PROSE`) are wrapped at :data:`WIDTH` characters like the rest of the
    page, so no line is too long for an editor, a diff or a viewer that shows only the start of
    a long line.
    """
    if "training" not in fast:
        raise ValueError("the recorded fast-mode run has no training benchmark: run the whole "
                         "`make bench` (not --no-training) before recording it.")
    texts = {"machine": machine_text(fast, full), "cost": cost_table(fast, full),
             "training": training_table(fast["training"]),
             "epochs": epochs_table(fast["training"]),
             "summary": training_summary(fast["training"]) + scenes_summary(fast.get("scenes"))}
    return {name: wrap(text) if name in PROSE else text for name, text in texts.items()}


def fill(page: str, texts: dict[str, str]) -> str:
    r"""``page`` with the lines between ``% bench: NAME`` and ``% end bench: NAME`` replaced.

    A blank line separates each marker from the text, so Markdown sees the table as a block.

    >>> page = "intro\n% bench: cost\nold\n% end bench: cost\nmore\n"
    >>> print(fill(page, {"cost": "| a |"}), end="")
    intro
    % bench: cost
    <BLANKLINE>
    | a |
    <BLANKLINE>
    % end bench: cost
    more
    >>> fill("no markers", {"cost": "x"})
    Traceback (most recent call last):
    ...
    ValueError: the page has no section '% bench: cost' ... '% end bench: cost'; add both marker lines where the text belongs.
    """
    for name, text in texts.items():
        pattern = re.compile(rf"^% bench: {name}\n.*?^% end bench: {name}$", re.S | re.M)
        if not pattern.search(page):
            raise ValueError(f"the page has no section '% bench: {name}' ... '% end bench: "
                             f"{name}'; add both marker lines where the text belongs.")
        replacement = f"% bench: {name}\n\n{text}\n\n% end bench: {name}"
        page = pattern.sub(lambda _: replacement, page, count=1)
    return page


def record(source: Path, target: Path = RECORDED) -> list[Path]:
    """Copy a finished ``make bench`` run (``results.json``, ``results_full.json``) into ``target``.

    Refuses a quick run, a run with failed notebooks, and a fast-mode file without the training
    benchmark, naming what to rerun.
    """
    fast, full = load(source)
    if fast.get("quick") or fast.get("mode") != "fast":
        raise ValueError(f"{source / 'results.json'} is a quick or full-mode run; record the "
                         "output of a plain `make bench`.")
    cost_table(fast, full)  # raises on a failed notebook
    sections(fast, full)    # raises without the training benchmark
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in ("results.json", "results_full.json"):
        if (source / name).exists():
            shutil.copyfile(source / name, target / name)
            copied.append(target / name)
    return copied


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=RECORDED,
                        help="folder with results.json (and results_full.json)")
    parser.add_argument("--record", action="store_true",
                        help="first copy bench/results*.json into bench/recorded/")
    parser.add_argument("--write", action="store_true",
                        help=f"rewrite the marked sections of {PAGE.name} instead of printing")
    args = parser.parse_args(argv)
    if args.record:
        for path in record(HERE):
            print(f"recorded {path.relative_to(HERE.parent)}")
        args.dir = RECORDED
    texts = sections(*load(args.dir))
    if args.write:
        PAGE.write_text(fill(PAGE.read_text(), texts))
        print(f"wrote the sections {', '.join(texts)} of {PAGE.relative_to(HERE.parent)}")
    else:
        print("\n\n".join(texts.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
