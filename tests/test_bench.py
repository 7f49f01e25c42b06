"""The `make bench` harness measures wall time and the kernel's peak memory of a notebook."""

import importlib.util

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_run_one_measures_time_and_kernel_peak_memory(tmp_path):
    path = tmp_path / "probe.ipynb"
    nb = new_notebook(cells=[
        new_code_cell("import time, numpy as np\nblock = np.ones(300 * 2**20 // 8)\ntime.sleep(1.0)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    row = bench.run_one(path, timeout=120)
    assert row["error"] is None
    assert row["wall_s"] >= 1.0
    assert row["peak_mib"] >= 300  # the kernel held a 300 MiB array


def test_run_one_reports_a_failing_notebook(tmp_path):
    path = tmp_path / "broken.ipynb"
    nb = new_notebook(cells=[new_code_cell("raise RuntimeError('boom')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    row = bench.run_one(path, timeout=60)
    assert row["error"] == "RuntimeError: boom"


def test_every_notebook_has_a_budget():
    for path in bench.notebooks():
        assert path.stem in bench.BUDGETS, f"add a fast-mode budget for {path.stem} to bench/run.py"
