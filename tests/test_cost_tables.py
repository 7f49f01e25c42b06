"""The tables of the benchmarks page are the recorded `make bench` measurements."""

import doctest
import importlib.util
import json
import re

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

PAGE = ROOT / "book" / "benchmarks.md"
PAGE_WIDTH = 100  # the line length of the book's prose


def test_report_doctests():
    assert doctest.testmod(report).failed == 0


def test_recorded_run_covers_every_notebook_without_errors():
    fast, full = report.load()
    recorded = [r["notebook"] for r in fast["notebooks"]]
    assert recorded == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb")), (
        "bench/recorded/results.json is out of date: run `make bench`, then "
        "`python bench/report.py --record --write`")
    assert not fast["quick"] and all(r["error"] is None for r in fast["notebooks"])
    assert fast["mode"] == "fast" and (full is None or full["mode"] == "full")


def test_page_holds_the_tables_of_the_recorded_run():
    texts = report.sections(*report.load())
    page = PAGE.read_text()
    assert report.fill(page, texts) == page, (
        "book/benchmarks.md does not hold the recorded measurements: run "
        "`python bench/report.py --write`")
    for text in texts.values():  # and each section is on the page, not just its markers
        assert text in page
    # and every section is written whole: tables with every cell, sentences that end, in lines
    # no longer than the page's (a line of hundreds of characters is what a viewer cuts)
    for name in report.SECTIONS:
        lines = _section_on_page(page, name)
        assert lines, f"the section {name!r} of book/benchmarks.md is empty"
        if lines[0].startswith("|"):
            assert all(line.startswith("|") and line.endswith("|") for line in lines), name
            cells = {line.count("|") for line in lines}
            assert len(cells) == 1, f"a row of the {name!r} table has a missing cell"
        else:
            unfinished = _unfinished_sentences(" ".join(lines))
            assert not unfinished, f"the section {name!r} stops mid-sentence: {unfinished}"
            too_long = [line for line in lines if len(line) > PAGE_WIDTH]
            assert not too_long, f"{name!r} has lines longer than {PAGE_WIDTH}: {too_long}"


def _section_on_page(page: str, name: str) -> list[str]:
    """The non-blank lines between the markers of section ``name``, as the page has them."""
    match = re.search(rf"^% bench: {name}\n(.*?)^% end bench: {name}$", page, re.S | re.M)
    assert match, f"book/benchmarks.md has no section {name!r}"
    return [line for line in match.group(1).splitlines() if line.strip()]


# A sentence ends with . ! or ?, perhaps followed by a closing bracket or quote; the next one
# starts after white space with a capital letter, a digit or a code span.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[)\]\"'’]?\s+(?=[A-Z0-9`])")
_SENTENCE_END = re.compile(r"[.!?][)\]\"'’]?$")


def _unfinished_sentences(text: str) -> list[str]:
    """The sentences of ``text`` that do not end as a sentence does (a cut-off text has one)."""
    return [s for s in _SENTENCE_BREAK.split(text.strip()) if not _SENTENCE_END.search(s)]


def test_a_cut_off_summary_is_caught():
    # The check above must fail for a summary cut mid-word, as the page once looked in a viewer
    # that showed 400 characters of its one long line.
    summary = report.training_summary(report.load()[0]["training"])
    assert _unfinished_sentences(summary) == []
    cut = summary[:400]
    assert not cut.endswith((".", ")")) and _unfinished_sentences(cut) == [
        cut[cut.rindex(". ") + 2:]]
    assert _unfinished_sentences("One sentence (with a bracket). Two") == ["Two"]
    assert _unfinished_sentences("It ends (like this.) And `code` starts the next.") == []


def _with_yardstick(training: dict, best: float, bf16_speedup: float) -> dict:
    """The recorded training results plus the yardstick and bfloat16 parts of a newer bench."""
    import copy

    t = copy.deepcopy(training)
    for key in [k for k in t if k.startswith("reference_bf16")]:  # a record may hold some already
        del t[key]
    peak = {"cores": 2, "clock_ghz": 2.0, "isa": "AVX2", "fp32_ops_per_cycle": 32,
            "fp32_gflops": 128.0}
    t["yardstick"] = {"cpu": "Test CPU", "gflops": {"tf_matmul": best - 10, "conv1x1": best,
                                                    "numpy": None, "bf16_matmul": 40.0},
                      "best": "conv1x1", "best_gflops": best, "peak": peak}
    if best > peak["fp32_gflops"]:
        t["yardstick"]["implied_clock_ghz"] = round(best / 64, 2)
    t["precision_compare"] = {"float32": 1000.0, "mixed_bfloat16": 1000.0 * bf16_speedup,
                              "speedup": bf16_speedup, "spread": 0.05}
    for key in [k for k in t if k.startswith("reference") and isinstance(t[k], dict)]:
        t[key]["peak_fraction"] = round(t[key]["gflops"] / max(best, 128.0), 3)
    if bf16_speedup > 1.05:
        bf16_settings = dict(t["reference"]["settings"], epochs=10)
        t["reference_bf16_seed42"] = dict(t["reference"], images_per_s=1500.0,
                                          settings=bf16_settings)
        t["reference_bf16_10min"] = dict(t["reference"], images_per_s=1500.0,
                                         settings=dict(bf16_settings, epochs=28),
                                         best_accuracy_10min=0.9412)
        t["reference_bf16_10min_seed1"] = dict(t["reference_bf16_10min"],
                                               settings=dict(bf16_settings, epochs=28, seed=1),
                                               best_accuracy_10min=0.9390)
    return t


@pytest.mark.parametrize("best, speedup", [(100.0, 0.07), (210.0, 1.5)])
def test_report_shows_the_yardstick_and_the_bfloat16_comparison(best, speedup):
    training = _with_yardstick(report.load()[0]["training"], best, speedup)
    table = report.training_table(training)
    rows = table.splitlines()
    labels = [line.split(" | ")[0].removeprefix("| ") for line in rows[2:]]
    # one row per run: bfloat16 runs only where bfloat16 was faster
    assert ("| in bfloat16, seed 42 |" in table) is (speedup > 1.05)
    assert ("| 10-minute settings in bfloat16, seed 42 |" in table) is (speedup > 1.05)
    assert len(labels) == len(report._runs(training)) and labels[0] == "reference recipe, seed 42"
    assert len({line.count("|") for line in rows}) == 1, "every row has every cell"
    epochs = report.epochs_table(training).splitlines()
    # the speed columns moved to the second table; every run has the share: the column is shown
    assert "of float32 peak" not in rows[0] and "images/s" not in rows[0]
    if "textbook" not in training:
        assert "of float32 peak" in epochs[0]
    assert len({line.count("|") for line in epochs}) == 1, "every row has every cell"
    assert [line.split(" | ")[0].removeprefix("| ") for line in epochs[2:]] == labels
    summary = report.training_summary(training)
    assert _unfinished_sentences(summary) == []
    assert ("In bfloat16, within 5 minutes: " in summary) is (speedup > 1.05)
    # the 10-minute seeds with their mean and spread: (94.12 + 93.90) / 2, 94.12 - 93.90
    assert ("94.12% with seed 42, 93.90% with seed 1 (mean 94.01%, spread 0.22 points)"
            in summary) is (speedup > 1.05)
    assert f"reached {best:.0f} GFLOP/s" in summary and "NumPy" not in summary  # None left out
    assert ("implies the cores ran at" in summary) is (best > 128.0)
    assert ("keeps float32 on this CPU" in summary) is (speedup < 1)


def test_fill_replaces_only_the_marked_sections():
    page = ("# t\n% bench: cost\nstale\n% end bench: cost\nkeep\n"
            "% bench: summary\n\nold\n\n% end bench: summary\n")
    filled = report.fill(page, {"cost": "| new |", "summary": "fresh"})
    assert filled == ("# t\n% bench: cost\n\n| new |\n\n% end bench: cost\nkeep\n"
                      "% bench: summary\n\nfresh\n\n% end bench: summary\n")
    assert report.fill(filled, {"cost": "| new |", "summary": "fresh"}) == filled
    with pytest.raises(ValueError, match="no section '% bench: training'"):
        report.fill(page, {"training": "x"})


def test_record_refuses_quick_failed_and_incomplete_runs(tmp_path):
    fast, _ = report.load()
    source, target = tmp_path / "source", tmp_path / "recorded"
    source.mkdir()

    def write(**changes):
        (source / "results.json").write_text(json.dumps({**fast, **changes}))

    write(quick=True)
    with pytest.raises(ValueError, match="quick or full-mode run"):
        report.record(source, target)
    write(notebooks=[{**fast["notebooks"][0], "error": "RuntimeError: boom"}])
    with pytest.raises(ValueError, match="failed"):
        report.record(source, target)
    (source / "results.json").write_text(
        json.dumps({k: v for k, v in fast.items() if k != "training"}))
    with pytest.raises(ValueError, match="no training benchmark"):
        report.record(source, target)
    assert not target.exists()
    write()
    assert report.record(source, target) == [target / "results.json"]
    assert json.loads((target / "results.json").read_text()) == fast


def test_recorded_training_settings_are_the_current_recipe():
    from dlbook import recipes

    fast, _ = report.load()
    settings = fast["training"]["reference"]["settings"]
    config = recipes.reference_config("full")
    for key in ("batch_size", "learning_rate", "epochs", "schedule", "weight_decay"):
        assert settings[key] == config[key], (
            f"the recorded benchmark used {key}={settings[key]!r} but the recipe now has "
            f"{config[key]!r}: run `make bench`, then `python bench/report.py --record --write`")
    model = recipes.reference_model(**config["model"])
    assert fast["training"]["reference"]["params"] == model.count_params()
    # and the page describes the recipe that was measured
    assert f"batches of {config['batch_size']}" in PAGE.read_text()


def test_cost_table_marks_unmeasured_full_mode_and_refuses_failed_runs():
    fast = {"notebooks": [{"notebook": "01_a", "wall_s": 10.0, "peak_mib": 900.0, "error": None},
                          {"notebook": "02_b", "wall_s": 20.4, "peak_mib": 1500.6, "error": None}]}
    full = {"notebooks": [{"notebook": "01_a", "wall_s": 600.0, "peak_mib": 2000.0,
                           "error": None}]}
    lines = report.cost_table(fast, full).splitlines()
    assert lines[2] == "| 1 · A | 10 s, 900 MiB | 10.0 min, 2,000 MiB | 15 min |"
    assert lines[3] == "| 2 · B | 20 s, 1,501 MiB | not measured | 15 min |"
    fast["notebooks"][1]["error"] = "RuntimeError: boom"
    with pytest.raises(ValueError, match="02_b failed"):
        report.cost_table(fast, full)


def test_cost_table_says_when_a_row_was_measured_on_a_busy_machine():
    quiet = {"notebook": "01_a", "wall_s": 10.0, "peak_mib": 900.0, "error": None,
             "load_average": [0.3, 1.8]}
    busy = dict(quiet, wall_s=600.0, load_average=[4.26, 3.1])
    fast = {"machine": {"cpus": 2}, "notebooks": [quiet]}
    full = {"machine": {"cpus": 2}, "notebooks": [busy]}
    line = report.cost_table(fast, full).splitlines()[2]
    assert line == "| 1 · A | 10 s, 900 MiB | 10.0 min, 900 MiB, at load 4.3 | 15 min |"
    full["machine"]["cpus"] = 8  # the same load on eight cores left them idle part of the time
    assert "load" not in report.cost_table(fast, full)


def test_machine_text_names_the_host_of_a_full_mode_file_from_another_machine():
    avx512 = {"cpus": 2, "cpu_model": "AMD EPYC", "vector_extensions": ["AVX2", "AVX-512"]}
    avx2 = {"cpus": 2, "cpu_model": "AMD EPYC", "vector_extensions": ["AVX2"]}
    fast = {"when": "2026-11-25T13:00:00+0000", "gpus": 0, "machine": avx512, "notebooks": []}
    full = {"machine": avx2, "notebooks": [{"notebook": "06_x", "when": "2026-12-01T07:53"}]}
    text = report.machine_text(fast, full)
    assert text.startswith("Measured with `make bench` on 2026-11-25 on 2 CPU cores")
    assert text.endswith("Chapter 6 in full mode: on 2026-12-01 on another host, 2 CPU cores "
                         "(AMD EPYC; AVX2).")
    full["machine"] = avx512  # the same host: only the date range grows
    assert report.machine_text(fast, full).startswith("Measured with `make bench` on 2026-11-25 "
                                                      "to 2026-12-01")


def test_load_names_the_missing_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make bench`"):
        report.load(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps({"notebooks": []}))
    assert report.load(tmp_path) == ({"notebooks": []}, None)


def test_xla_decision_for_cpus_agrees_with_the_recorded_measurement():
    from dlbook import runtime, train

    fast, _ = report.load()
    if fast["gpus"]:
        pytest.skip("the recorded run had a GPU; this checks the CPU decision")
    xla = fast["training"]["xla"]
    jit, reason = train.choose_jit_compile(runtime.Devices(gpus=0, cpus=fast["machine"]["cpus"]))
    assert jit == (xla["speedup"] > 1.0), (
        f"dlbook.train decides jit_compile={jit} on a CPU ({reason}), but the recorded benchmark "
        f"measured XLA at x{xla['speedup']} the speed: change choose_jit_compile or remeasure")


def test_the_page_uses_the_budgets_make_bench_checks():
    spec_run = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    run = importlib.util.module_from_spec(spec_run)
    spec_run.loader.exec_module(run)
    assert report.CPU_BUDGET_MIN * 60 == run.FULL_BUDGET_CPU_S
    assert report.GPU_BUDGET_MIN * 60 == run.FULL_BUDGET_GPU_S
    assert report.PEAK_BUDGET_MIB == run.FULL_PEAK_MIB
