"""Rehearse on a CPU the code paths a GPU takes: mixed float16, ``MirroredStrategy``, XLA.

No GPU is available to the project's machines, so ``make rehearse`` runs the GPU paths here:

- ``python -m dlbook.rehearse loops`` trains with :func:`dlbook.train.fit` and the reference
  recipe (:func:`dlbook.recipes.train_reference`) on one device and under ``MirroredStrategy``
  over two logical CPUs, with XLA (``jit_compile=True``) and without, in float32 and in
  ``mixed_float16``, and compares the loss histories and weights (:data:`TOLERANCES`). It must
  start a fresh process: the CPU is split into two logical devices before TensorFlow starts.
- ``python -m dlbook.rehearse chapters`` executes every chapter in fast mode with
  ``DLBOOK_PRECISION=mixed_float16`` (what a T4 gets) and then inspects the kernel: the dtype
  policy, every model's layers, optimizer and outputs (:func:`check_chapter`).

>>> round(relative_difference([1.0, 2.02], [1.0, 2.0]), 6)
0.01
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# How far a rehearsed run may be from its twin (same data, same seed, one device): "loss" is the
# largest relative difference of the per-epoch training losses, "weights" ||w_a - w_b|| / ||w_b||
# over all the model's variables (:func:`weight_difference`). Two replicas sum the same gradients
# in another order and the reference network's batch norm gathers its statistics across them
# (Keras' kernel instead of the fused one): float32 rounding, which eight steps of training
# amplify (measured: 8e-5 in the losses, 1.1e-3 in the weights). XLA fuses and reorders whole
# kernels, so its rounding differs more; float16 rounds every activation to 11 significant bits.
# The faults the rehearsal found were larger: per-replica batch-norm statistics moved the first
# epoch's loss by 1e-2 (relative), another shuffle order under the strategy by 4e-3.
TOLERANCES = {
    "mirrored": {"loss": 1e-3, "weights": 1e-2},
    "xla": {"loss": 1e-3, "weights": 2e-2},
    "mixed_float16": {"loss": 2e-2, "weights": 5e-2},
}
# What the loops train on: a slice of Fashion-MNIST's training set, two epochs of four steps.
LOOP_IMAGES, LOOP_BATCH, LOOP_EPOCHS = 512, 128, 2
# A CPU computes float16 convolutions without vector instructions: the reference network trained
# over 30 times slower in mixed_float16 than in float32 here (more than 5 minutes for the eight
# steps above). Its float16 runs therefore use the same architecture with narrower layers
# (about a ninth of the multiply-adds) on half the images, and are compared with a float32 run of
# that same narrow network.
NARROW = {"model": {"widths": (8, 16, 32), "blocks": (1, 1)}, "images": 256, "batch_size": 64}


def relative_difference(a, b) -> float:
    """Largest ``|a - b| / |b|`` over matching entries (``b`` the reference; 0/0 counts as 0).

    >>> relative_difference([2.0, 0.0], [1.0, 0.0])
    1.0
    """
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}; compare runs of the same model.")
    scale = np.where(np.abs(b) > 0, np.abs(b), 1.0)
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def weight_difference(weights, reference) -> float:
    """``||w - r|| / ||r||`` with every variable of the model in one vector (``reference`` the
    single device). One vector, because a variable still near zero after a few steps (a
    batch-norm offset) would make a per-variable ratio large for differences of 1e-6.

    >>> round(weight_difference([np.array([3.0, 4.0])], [np.array([3.0, 4.5])]), 3)
    0.092
    """
    if len(weights) != len(reference):
        raise ValueError(f"{len(weights)} variables vs {len(reference)}; compare the same model.")
    w = np.concatenate([np.ravel(np.asarray(v, "float64")) for v in weights] or [np.zeros(0)])
    r = np.concatenate([np.ravel(np.asarray(v, "float64")) for v in reference] or [np.zeros(0)])
    if w.shape != r.shape:
        raise ValueError(f"the variables hold {w.size} vs {r.size} numbers; compare the same "
                         "model.")
    norm = np.linalg.norm(r)
    return float(np.linalg.norm(w - r) / (norm if norm > 0 else 1.0))


def compare(run: dict, reference: dict, kind: str) -> dict:
    """Loss and weight differences of ``run`` against ``reference`` and whether they are within
    :data:`TOLERANCES` ``[kind]``.

    >>> ref = {"loss": [2.0, 1.0], "weights": [[1.0, 1.0]]}
    >>> compare({"loss": [2.0, 1.00001], "weights": [[1.0, 1.0]]}, ref, "mirrored")["ok"]
    True
    >>> compare({"loss": [2.0, 1.1], "weights": [[1.0, 1.0]]}, ref, "mirrored")["ok"]
    False
    """
    if kind not in TOLERANCES:
        raise ValueError(f"kind={kind!r} is unknown; use one of {', '.join(TOLERANCES)}.")
    limits = TOLERANCES[kind]
    loss = relative_difference(run["loss"], reference["loss"])
    weights = weight_difference(run["weights"], reference["weights"])
    return {"kind": kind, "loss": loss, "weights": weights, "limits": limits,
            "ok": bool(loss <= limits["loss"] and weights <= limits["weights"])}


# --------------------------------------------------------------------------- training loops
def split_cpu(devices: int = 2) -> list[str]:
    """Split the first CPU into ``devices`` logical devices; returns their names.

    Must run before TensorFlow initialises its devices (first op, first model); afterwards
    TensorFlow refuses, and this says so.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)])
    except RuntimeError as exc:
        raise RuntimeError(f"split_cpu({devices}) came too late: TensorFlow has initialised its "
                           "devices. Call it first thing in a fresh process "
                           f"(python -m dlbook.rehearse loops). TensorFlow said: {exc}") from None
    return [f"CPU:{i}" for i in range(devices)]


def _inspect(model) -> dict:
    """The dtypes a mixed-precision run must get right."""
    import keras

    computes = sorted({layer.dtype_policy.compute_dtype for layer in model.layers
                       if layer.weights or not isinstance(layer, keras.layers.InputLayer)})
    return {"optimizer": type(model.optimizer).__name__,
            "compute_dtypes": computes,
            "variable_dtypes": sorted({v.dtype for v in model.trainable_weights}),
            "output_dtype": str(model.outputs[0].dtype),
            "last_layer_compute": model.layers[-1].dtype_policy.compute_dtype}


def _train(what: str, strategy=None, jit: bool = False, policy: str = "float32",
           narrow: bool = False) -> dict:
    """One rehearsal run: ``what`` is ``"fit"`` (a small convnet with dlbook.train.fit) or
    ``"recipe"`` (the reference recipe, :data:`NARROW` if ``narrow``); returns losses, weights,
    dtypes and seconds."""
    import keras
    import tensorflow as tf

    from dlbook import data, recipes, runtime, train

    keras.backend.clear_session()  # also resets the dtype policy: set it afterwards
    keras.mixed_precision.set_global_policy(policy)
    (x, y), (xt, yt) = data.load_fashion_mnist(subset=True, normalize=True)
    n = NARROW["images"] if narrow else LOOP_IMAGES
    x, y, xt, yt = x[:n], y[:n], xt[:n], yt[:n]
    start = time.perf_counter()
    settings = dict(epochs=LOOP_EPOCHS, batch_size=NARROW["batch_size"] if narrow else LOOP_BATCH,
                    jit_compile=jit, verbose=0, mode="fast")
    if what == "recipe":
        if narrow:
            settings["model"] = NARROW["model"]
        model, result = recipes.train_reference(x, y, (xt, yt), strategy=strategy,
                                                learning_rate=0.1, **settings)
    else:
        runtime.seed_everything()
        with (strategy or tf.distribute.get_strategy()).scope():
            inputs = keras.Input((28, 28, 1))
            h = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
            h = keras.layers.MaxPooling2D(2)(h)
            h = keras.layers.Conv2D(32, 3, activation="relu")(h)
            h = keras.layers.GlobalAveragePooling2D()(h)
            outputs = keras.layers.Dense(10, activation="softmax", dtype="float32")(h)
            model = keras.Model(inputs, outputs, name="small_convnet")
        result = train.fit(model, x, y, validation_data=(xt, yt), optimizer="adamw",
                           learning_rate=3e-3, label_smoothing=0.1, **settings)
    return {"what": what, "strategy": type(strategy).__name__ if strategy else "default",
            "replicas": strategy.num_replicas_in_sync if strategy else 1, "jit_compile": jit,
            "policy": keras.mixed_precision.global_policy().name,
            "loss": result.history["loss"], "val_loss": result.history.get("val_loss"),
            "weights": [np.asarray(v).tolist() for v in model.weights],
            "seconds": time.perf_counter() - start, **_inspect(model)}


def dtype_problems(run: dict) -> list[str]:
    """What is wrong with the dtypes of a rehearsed run (empty list: nothing).

    In ``mixed_float16`` the layers compute in float16, the variables stay float32, the model's
    output (softmax, hence the loss) is float32 and Keras wrapped the optimizer in a
    ``LossScaleOptimizer``; in float32 everything is float32 and nothing is wrapped.

    >>> dtype_problems({"policy": "mixed_float16", "optimizer": "SGD", "compute_dtypes":
    ...     ["float16", "float32"], "variable_dtypes": ["float32"], "output_dtype": "float32"})
    ['optimizer is SGD, not LossScaleOptimizer: the loss is not scaled']
    """
    problems = []
    if run["policy"] == "mixed_float16":
        if run["optimizer"] != "LossScaleOptimizer":
            problems.append(f"optimizer is {run['optimizer']}, not LossScaleOptimizer: the loss "
                            "is not scaled")
        if "float16" not in run["compute_dtypes"]:
            problems.append(f"no layer computes in float16 (compute dtypes "
                            f"{run['compute_dtypes']})")
    else:
        if run["optimizer"] == "LossScaleOptimizer":
            problems.append(f"{run['policy']} run has a LossScaleOptimizer")
        if run["compute_dtypes"] != [run["policy"]]:
            problems.append(f"{run['policy']} run has layers computing in {run['compute_dtypes']}")
    if run["variable_dtypes"] != ["float32"]:
        problems.append(f"trainable variables are {run['variable_dtypes']}, not float32")
    if run["output_dtype"] != "float32":
        problems.append(f"the model outputs {run['output_dtype']}; the softmax and the loss must "
                        "be float32 (give the last layers dtype='float32')")
    return problems


def rehearse_loops(quick: bool = False) -> dict:
    """Every training loop of dlbook under the GPU paths, compared with one float32 device.

    Call in a fresh process (it splits the CPU); returns ``{"runs": ..., "checks": [...]}``.
    ``quick``: only ``MirroredStrategy`` in float32 (what ``make test`` runs).
    """
    names = split_cpu(2)
    import tensorflow as tf

    mirrored = tf.distribute.MirroredStrategy(names)
    runs, checks = {}, []

    def run(key, what, **kwargs):
        runs[key] = _train(what, **kwargs)
        print(f"dlbook.rehearse: {key}: {runs[key]['seconds']:.1f} s, losses "
              f"{[round(v, 5) for v in runs[key]['loss']]}", flush=True)

    def check(key, reference, kind, what, **kwargs):
        run(key, what, **kwargs)
        checks.append({"run": key, "against": reference, **compare(runs[key], runs[reference],
                                                                   kind)})

    run("fit", "fit")
    check("fit_mirrored", "fit", "mirrored", "fit", strategy=mirrored)
    run("recipe", "recipe")
    check("recipe_mirrored", "recipe", "mirrored", "recipe", strategy=mirrored)
    if quick:
        return _finish(runs, checks)
    check("recipe_xla", "recipe", "xla", "recipe", jit=True)
    check("fit_mixed_float16", "fit", "mixed_float16", "fit", policy="mixed_float16")
    run("recipe_narrow", "recipe", narrow=True)
    check("recipe_narrow_mixed_float16", "recipe_narrow", "mixed_float16", "recipe",
          narrow=True, policy="mixed_float16")
    # A machine with two T4s: both paths at once, compared with mixed float16 on one device.
    check("recipe_narrow_mixed_float16_mirrored", "recipe_narrow_mixed_float16", "mirrored",
          "recipe", narrow=True, policy="mixed_float16", strategy=mirrored)
    return _finish(runs, checks)


def _finish(runs: dict, checks: list) -> dict:
    """Add a dtype check of every run; drop the weights (large) once compared."""
    for key, r in runs.items():
        checks.append({"run": key, "kind": "dtypes", "problems": dtype_problems(r),
                       "ok": not dtype_problems(r)})
    for r in runs.values():
        del r["weights"]  # large; the comparisons above keep what matters
    return {"runs": runs, "checks": checks}


# --------------------------------------------------------------------------- chapters
INSPECT_KERNEL = r'''
import gc as _gc, json as _json, keras as _keras
_models = []
for _m in [o for o in _gc.get_objects() if isinstance(o, _keras.Model)]:
    _opt = getattr(_m, "optimizer", None)
    try:
        _out = [str(t.dtype) for t in _m.outputs]
    except Exception:
        _out = []
    _models.append({"name": _m.name, "built": bool(_m.built),
                    "compute": sorted({l.dtype_policy.compute_dtype for l in _m.layers}),
                    "variables": sorted({v.dtype for v in _m.weights}),
                    "optimizer": type(_opt).__name__ if _opt is not None else None,
                    "outputs": _out})
print("DLBOOK_REHEARSAL " + _json.dumps({
    "policy": _keras.mixed_precision.global_policy().name, "models": _models}))
'''


def allows_mixed_precision(notebook: dict) -> bool:
    """Whether a chapter lets the hardware (or ``DLBOOK_PRECISION``) choose its precision: its
    ``runtime.setup`` call does not pass ``allow_mixed_precision=False``.

    >>> allows_mixed_precision({"cells": [{"cell_type": "code", "source": [
    ...     "rt = runtime.setup(allow_mixed_precision=False)"]}]})
    False
    """
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "runtime.setup(" in source:
            return "allow_mixed_precision=False" not in source.replace(" ", "")
    raise ValueError("the notebook has no runtime.setup(...) cell; every chapter starts with one.")


def check_chapter(state: dict, setup_line: str, mixed: bool) -> list[str]:
    """Problems in a chapter's kernel after it ran under ``DLBOOK_PRECISION=mixed_float16``.

    ``state`` is what :data:`INSPECT_KERNEL` printed; ``setup_line`` the ``dlbook:`` line the
    setup cell printed; ``mixed`` whether the chapter allows mixed precision. A float32 chapter
    must keep float32 everywhere (and say it ignored the variable); a mixed one must compute in
    float16, scale its losses and output float32.

    >>> check_chapter({"policy": "float32", "models": []}, "... | precision float32 "
    ...               "(this chapter compares exact float32 values; DLBOOK_PRECISION="
    ...               "mixed_float16 not used) | ...", mixed=False)
    []
    """
    problems = []
    want = "mixed_float16" if mixed else "float32"
    if f"precision {want}" not in setup_line:
        problems.append(f"the setup line does not announce precision {want}: {setup_line!r}")
    if not mixed and "DLBOOK_PRECISION" not in setup_line:
        problems.append("the setup line does not say DLBOOK_PRECISION was not used")
    if state["policy"] != want:
        problems.append(f"the global dtype policy is {state['policy']} at the end, not {want}")
    for m in state["models"]:
        if not m["built"]:
            continue
        where = f"model {m['name']!r}"
        if m["variables"] and any(v not in ("float32", "int32", "int64", "bool", "uint32", "uint8")
                                  for v in m["variables"]):
            problems.append(f"{where} has variables of dtypes {m['variables']}")
        if mixed:
            if m["optimizer"] and m["optimizer"] != "LossScaleOptimizer":
                problems.append(f"{where} was compiled with {m['optimizer']}, not scaled")
            if any(o == "float16" for o in m["outputs"]):
                problems.append(f"{where} outputs float16; its last layers need dtype='float32'")
        else:
            if any(c != "float32" for c in m["compute"]):
                problems.append(f"{where} computes in {m['compute']} in a float32 chapter")
            if m["optimizer"] == "LossScaleOptimizer":
                problems.append(f"{where} has a LossScaleOptimizer in a float32 chapter")
    return problems


def rehearse_chapter(path: Path, timeout: int = 1800) -> dict:
    """Execute one chapter in fast mode under ``DLBOOK_PRECISION=mixed_float16`` and check it."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    mixed = allows_mixed_precision(nb)
    nb.cells.append(nbformat.v4.new_code_cell(INSPECT_KERNEL))
    env_before = {k: os.environ.get(k) for k in ("DLBOOK_MODE", "DLBOOK_PRECISION")}
    os.environ.update(DLBOOK_MODE="fast", DLBOOK_PRECISION="mixed_float16")
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    texts = [o.get("text", "") for c in nb.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    setup_line = next((line for t in texts for line in t.splitlines()
                       if line.startswith("dlbook: mode=")), "")
    state = json.loads(next(line for t in texts for line in t.splitlines()
                            if line.startswith("DLBOOK_REHEARSAL "))[len("DLBOOK_REHEARSAL "):])
    problems = check_chapter(state, setup_line, mixed)
    return {"chapter": path.name, "mixed_precision": mixed, "seconds": round(seconds, 1),
            "setup_line": setup_line, "policy": state["policy"], "models": len(state["models"]),
            "problems": problems, "ok": not problems}


def chapter_paths(only=()) -> list[Path]:
    """The chapters' notebooks (``only``: chapter numbers such as ``"06"``)."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if p.name[:2] in set(only)]
        if not paths:
            raise ValueError(f"only={list(only)} names no chapter; use numbers such as 01 or 06.")
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("loops", "chapters", "all"))
    parser.add_argument("--only", nargs="*", default=(), help="chapter numbers, e.g. 06 07")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quick", action="store_true",
                        help="loops: only MirroredStrategy in float32 (a minute)")
    args = parser.parse_args(argv)
    results, ok, start = {}, True, time.perf_counter()
    if args.what in ("loops", "all"):
        if args.what == "all":  # the loops need a fresh process to split the CPU
            folder = args.json.parent if args.json else ROOT / "_build"
            loops_path = folder / "rehearse_loops.json"
            loops_path.unlink(missing_ok=True)
            done = subprocess.run([sys.executable, "-m", "dlbook.rehearse", "loops", "--json",
                                   str(loops_path)], cwd=ROOT)
            if not loops_path.exists():
                print(f"FAIL the loops' process ended ({done.returncode}) without results; its "
                      "traceback is above")
                return 1
            loops = json.loads(loops_path.read_text())
            results["loops"] = {**loops["loops"], "seconds": loops["seconds"]}
            ok &= done.returncode == 0  # the fresh process printed its checks
        else:
            results["loops"] = rehearse_loops(args.quick)
            for c in results["loops"]["checks"]:
                detail = (f"{c['problems']}" if c["kind"] == "dtypes" else
                          f"loss {c['loss']:.2g} (limit {c['limits']['loss']:g}), weights "
                          f"{c['weights']:.2g} (limit {c['limits']['weights']:g})")
                print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['run']} [{c['kind']}]: {detail}")
                ok &= c["ok"]
    if args.what in ("chapters", "all"):
        results["chapters"] = []
        for path in chapter_paths(args.only):
            r = rehearse_chapter(path)
            results["chapters"].append(r)
            print(f"{'ok  ' if r['ok'] else 'FAIL'} {r['chapter']}: {r['seconds']:.0f} s, "
                  f"policy {r['policy']}, {r['models']} models"
                  + (f"; {'; '.join(r['problems'])}" if r["problems"] else ""), flush=True)
            ok &= r["ok"]
    results["seconds"] = round(time.perf_counter() - start, 1)
    print(f"dlbook.rehearse: {args.what} {'passed' if ok else 'FAILED'} in "
          f"{results['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
