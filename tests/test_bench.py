"""The `make bench` harness measures wall time and the kernel's peak memory of a notebook."""

import doctest
import importlib.util
import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def write_notebook(path, *sources):
    """A notebook of code cells ``sources`` at ``path``, with a kernel the harness can start."""
    nb = new_notebook(cells=[new_code_cell(src) for src in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_run_one_measures_time_and_kernel_peak_memory(tmp_path):
    path = tmp_path / "probe.ipynb"
    write_notebook(path, "import time, numpy as np\nblock = np.ones(300 * 2**20 // 8)\ntime.sleep(1.0)")
    row = bench.run_one(path, timeout=120, build_dir=tmp_path / "_build")
    assert row["error"] is None
    # The run is kept as a dlbook.build product: the executed copy, its record, its key.
    kept = nbformat.read(tmp_path / "_build" / "executed" / "fast" / "probe.ipynb", as_version=4)
    assert kept.cells[0].execution_count == 1  # the executed copy, not the source
    assert len(kept.cells) == 1  # the run-description cell is not left in the product
    assert kept.metadata["dlbook"]["run"]["mode"] == "fast"
    key = (tmp_path / "_build" / "executed" / "fast" / "probe.key").read_text().strip()
    assert key == kept.metadata["dlbook"]["run"]["key"]
    assert row["wall_s"] >= 1.0
    assert row["peak_mib"] >= 300  # the kernel held a 300 MiB array


def test_run_one_reports_a_failing_notebook(tmp_path):
    path = tmp_path / "broken.ipynb"
    write_notebook(path, "raise RuntimeError('boom')")
    row = bench.run_one(path, timeout=60, build_dir=tmp_path / "_build")
    assert row["error"] == "RuntimeError: boom"
    folder = tmp_path / "_build" / "executed" / "fast"
    assert not (folder / "broken.ipynb").exists()  # a failed run leaves no product
    assert "boom" in (folder / "broken.err.log").read_text()  # its traceback, to read


def test_every_notebook_has_a_budget():
    for path in bench.notebooks():
        assert path.stem in bench.BUDGETS, f"add a fast-mode budget for {path.stem} to bench/run.py"


def test_only_selects_notebooks_and_rejects_a_name_that_matches_none():
    everything = bench.notebooks()
    assert [p.stem for p in bench.notebooks("04_")] == [p.stem for p in everything if "04_" in p.stem]
    try:
        bench.notebooks("no_such_chapter")
    except SystemExit as exc:
        assert "no_such_chapter" in str(exc) and everything[0].stem in str(exc)
    else:
        raise AssertionError("an --only that matches nothing must stop with a message")


def test_full_mode_rows_are_compared_with_the_budget_of_their_device_and_8_gib():
    stem = bench.notebooks()[0].stem
    assert bench.budget(stem, "fast", gpus=0) == bench.BUDGETS[stem]
    assert bench.budget(stem, "full", gpus=1) == 15 * 60
    assert bench.budget(stem, "full", gpus=0) == 40 * 60  # DESIGN.md: 40 min on the 2-core CPU
    row = {"wall_s": 39 * 60, "budget_s": bench.budget(stem, "full", gpus=0), "mode": "full",
           "peak_mib": 8 * 1024}
    assert bench.status(row) == "within budget"
    assert bench.status({**row, "peak_mib": 8 * 1024 + 1}).startswith("OVER MEMORY BUDGET")
    assert bench.status({**row, "wall_s": 41 * 60}).startswith("OVER BUDGET")
    assert bench.status({**row, "mode": "fast", "peak_mib": 10_000}) == "within budget"
    assert bench.RESULTS["full"] != bench.RESULTS["fast"]  # a fast run keeps a full-mode record


def test_scenes_are_measured_in_scenes_per_second():
    row = bench.measure_scenes(quick=True)
    assert row["make_scenes_per_s"] > 0 and row["dataset_per_s"] > 0
    assert row["canvas"] == 96 and row["items"] == [1, 3]  # dlbook.data.make_scenes' defaults


def test_run_doctests():
    assert doctest.testmod(bench).failed == 0


def test_machine_info_reads_the_cpu_and_memory_of_this_machine():
    info = bench.machine_info()
    assert info["cpus"] >= 1 and info["python"].startswith("3.")
    cpuinfo = open("/proc/cpuinfo").read()  # Linux: where the book is tested
    assert info["cpu_model"] and info["cpu_model"] in cpuinfo
    assert ("AVX2" in info["vector_extensions"]) == (" avx2" in cpuinfo)
    assert 0 < info["memory_gib"] < 10_000


def test_full_mode_rows_accumulate_chapter_by_chapter(tmp_path, monkeypatch):
    # A full-mode run of one chapter replaces that chapter's row and keeps the others'.
    out = tmp_path / "results_full.json"
    out.write_text(json.dumps({"mode": "full", "quick": False, "notebooks": [
        {"notebook": "01_a", "wall_s": 100.0}, {"notebook": "02_b", "wall_s": 200.0}]}))
    probe = tmp_path / "02_b.ipynb"
    write_notebook(probe, "x = 1")
    monkeypatch.setattr(bench, "notebooks", lambda only=None: [probe])
    monkeypatch.setattr(bench, "_visible_gpus", lambda: 0)
    assert bench.main(["--mode", "full", "--only", "02", "--no-training", "--out", str(out),
                       "--build-dir", str(tmp_path / "_build")]) == 0
    assert (tmp_path / "_build" / "executed" / "full" / "02_b.key").is_file()
    rows = json.loads(out.read_text())["notebooks"]
    assert [r["notebook"] for r in rows] == ["01_a", "02_b"]
    assert rows[0]["wall_s"] == 100.0 and rows[1]["wall_s"] != 200.0 and rows[1]["error"] is None


def test_a_fast_run_of_one_chapter_joins_the_record_and_names_its_host(tmp_path, monkeypatch):
    # make bench ONLY=05 --no-training: the new chapter's row joins the recorded run, whose
    # training benchmark and machine stay; the row says it was measured on another host.
    out = tmp_path / "results.json"
    other = {"cpus": 2, "cpu_model": "Elsewhere CPU", "vector_extensions": ["AVX-512"]}
    out.write_text(json.dumps({"mode": "fast", "quick": False, "when": "2026-11-25T14:00:00+0000",
                               "machine": other, "training": {"kept": True},
                               "notebooks": [{"notebook": "01_a", "wall_s": 10.0}]}))
    probe = tmp_path / "05_e.ipynb"
    write_notebook(probe, "x = 1")
    monkeypatch.setattr(bench, "notebooks", lambda only=None: [probe])
    monkeypatch.setattr(bench, "_visible_gpus", lambda: 0)
    assert bench.main(["--only", "05", "--no-training", "--out", str(out),
                       "--build-dir", str(tmp_path / "_build")]) == 0
    result = json.loads(out.read_text())
    assert [r["notebook"] for r in result["notebooks"]] == ["01_a", "05_e"]
    assert result["training"] == {"kept": True} and result["machine"] == other
    assert result["when"] == "2026-11-25T14:00:00+0000"
    assert "machine" not in result["notebooks"][0]
    assert result["notebooks"][1]["machine"] == bench.machine_info()
