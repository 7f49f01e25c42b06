"""dlbook.rehearse: the comparisons and dtype checks of the GPU-path rehearsal, and the quick
rehearsal itself (MirroredStrategy over two logical CPUs) in a fresh process.

The whole rehearsal (XLA, mixed float16, every chapter) runs in ``make rehearse``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dlbook import rehearse

ROOT = Path(__file__).resolve().parents[1]

MIXED_RUN = {"policy": "mixed_float16", "optimizer": "LossScaleOptimizer",
             "compute_dtypes": ["float16", "float32"], "variable_dtypes": ["float32"],
             "output_dtype": "float32"}
FLOAT32_RUN = {"policy": "float32", "optimizer": "SGD", "compute_dtypes": ["float32"],
               "variable_dtypes": ["float32"], "output_dtype": "float32"}


def test_a_correct_run_has_no_dtype_problems():
    assert rehearse.dtype_problems(MIXED_RUN) == []
    assert rehearse.dtype_problems(FLOAT32_RUN) == []


@pytest.mark.parametrize("base, change, words", [
    (MIXED_RUN, {"optimizer": "SGD"}, "not LossScaleOptimizer"),
    (MIXED_RUN, {"compute_dtypes": ["float32"]}, "no layer computes in float16"),
    (MIXED_RUN, {"output_dtype": "float16"}, "outputs float16"),
    (MIXED_RUN, {"variable_dtypes": ["float16", "float32"]}, "not float32"),
    (FLOAT32_RUN, {"optimizer": "LossScaleOptimizer"}, "has a LossScaleOptimizer"),
    (FLOAT32_RUN, {"compute_dtypes": ["float16", "float32"]}, "computing in"),
])
def test_each_dtype_mistake_is_named(base, change, words):
    problems = rehearse.dtype_problems({**base, **change})
    assert len(problems) == 1 and words in problems[0]


def test_compare_measures_loss_and_weights_against_the_reference():
    ref = {"loss": [2.0, 1.0], "weights": [[3.0, 4.0], [1.0]]}
    same = rehearse.compare(ref, ref, "xla")
    assert same["ok"] and same["loss"] == 0 and same["weights"] == 0
    off = rehearse.compare({"loss": [2.0, 1.0], "weights": [[3.0, 4.5], [1.0]]}, ref, "xla")
    assert off["weights"] == pytest.approx(0.5 / (26 ** 0.5)) and not off["ok"]
    with pytest.raises(ValueError, match="kind='gpu' is unknown"):
        rehearse.compare(ref, ref, "gpu")
    with pytest.raises(ValueError, match="shapes differ"):
        rehearse.compare({"loss": [1.0], "weights": ref["weights"]}, ref, "xla")


SETUP_FLOAT32 = ("dlbook: mode=fast (set by DLBOOK_MODE) | ... | precision float32 (this chapter "
                 "compares exact float32 values; DLBOOK_PRECISION=mixed_float16 not used) | ...")
MODEL = {"name": "net", "built": True, "compute": ["float32"], "variables": ["float32"],
         "optimizer": "Adam", "outputs": ["float32"]}


def test_check_chapter_float32():
    assert rehearse.check_chapter({"policy": "float32", "models": [MODEL]}, SETUP_FLOAT32,
                                  mixed=False) == []
    problems = rehearse.check_chapter(
        {"policy": "mixed_float16", "models": [{**MODEL, "compute": ["float16", "float32"]}]},
        "dlbook: ... | precision float32 | ...", mixed=False)
    assert len(problems) == 3
    assert "DLBOOK_PRECISION was not used" in problems[0]
    assert "policy is mixed_float16" in problems[1]
    assert "computes in ['float16', 'float32']" in problems[2]


def test_check_chapter_mixed():
    setup = "dlbook: ... | precision mixed_float16 (set by DLBOOK_PRECISION) | ..."
    good = {**MODEL, "compute": ["float16", "float32"], "optimizer": "LossScaleOptimizer"}
    assert rehearse.check_chapter({"policy": "mixed_float16", "models": [good]}, setup,
                                  mixed=True) == []
    bad = {**good, "optimizer": "Adam", "outputs": ["float16"]}
    problems = rehearse.check_chapter({"policy": "mixed_float16", "models": [bad]}, setup, True)
    assert len(problems) == 2 and "not scaled" in problems[0] and "float16" in problems[1]


def test_every_chapter_states_its_precision():
    paths = rehearse.chapter_paths()
    assert len(paths) >= 9
    for path in paths:
        assert rehearse.allows_mixed_precision(nbformat.read(path, as_version=4)) in (True, False)
    with pytest.raises(ValueError, match="only=\\['99'\\] names no chapter"):
        rehearse.chapter_paths(["99"])
    with pytest.raises(ValueError, match="no runtime.setup"):
        rehearse.allows_mixed_precision({"cells": []})


def test_split_cpu_after_tensorflow_started_says_what_to_do():
    import tensorflow as tf

    tf.constant(1.0) + 1  # TensorFlow has initialised its devices
    with pytest.raises(RuntimeError, match="came too late.*fresh process"):
        rehearse.split_cpu(2)


def test_two_logical_cpus_train_as_one(tmp_path):
    """train.fit and the reference recipe under MirroredStrategy give one device's losses and
    weights (same data, same seed) within rehearse.TOLERANCES["mirrored"]."""
    out = tmp_path / "loops.json"
    done = subprocess.run([sys.executable, "-m", "dlbook.rehearse", "loops", "--quick",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "DLBOOK_MODE": "fast"}, timeout=900)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    checks = json.loads(out.read_text())["loops"]["checks"]
    compared = {c["run"] for c in checks if c["kind"] == "mirrored"}
    assert compared == {"fit_mirrored", "recipe_mirrored"}
    failed = [c for c in checks if not c["ok"]]
    assert not failed, failed
    assert done.returncode == 0, done.stdout[-3000:]
    runs = json.loads(out.read_text())["loops"]["runs"]
    assert runs["recipe_mirrored"]["replicas"] == 2 and runs["recipe"]["replicas"] == 1


def test_make_rehearse_entry_point_combines_loops_and_chapters(monkeypatch, tmp_path):
    """``python -m dlbook.rehearse all`` (what make rehearse runs): the loops' fresh process and
    the chapters are stubbed; their results are combined and a failure fails the whole."""
    loops_json = {"loops": {"runs": {}, "checks": [{"run": "fit_mirrored", "kind": "mirrored",
                                                     "ok": True}]}, "seconds": 1.0}

    def fake_loops(command, cwd):
        out = Path(command[command.index("--json") + 1])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(loops_json))
        return subprocess.CompletedProcess(command, 0)

    chapter = {"chapter": "01_x.ipynb", "seconds": 1.0, "policy": "float32", "models": 0,
               "problems": [], "ok": True}
    monkeypatch.setattr(rehearse.subprocess, "run", fake_loops)
    monkeypatch.setattr(rehearse, "chapter_paths", lambda only: [Path("01_x.ipynb")])
    monkeypatch.setattr(rehearse, "rehearse_chapter", lambda path: dict(chapter))
    out = tmp_path / "all.json"
    assert rehearse.main(["all", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["loops"]["checks"] == loops_json["loops"]["checks"]
    assert written["chapters"] == [chapter]
    chapter.update(ok=False, problems=["model 'net' computes in ['float16']"])
    assert rehearse.main(["all", "--json", str(out)]) == 1
