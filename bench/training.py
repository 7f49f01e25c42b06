"""`make bench`, parts 2–4: how fast the reference recipe trains, against a textbook CNN.

Everything runs in one process on one machine, one after the other, so the numbers compare:

- ``yardstick``: the best of several float32 products on this CPU and its theoretical peak
  (:mod:`yardstick`), what training FLOP/s are compared with; ``matmul_gflops`` is the best;
- ``stall``: the start-of-epoch stall of Keras 3 with a finite ``tf.data`` dataset, against the
  repeated dataset with ``steps_per_epoch`` that :mod:`dlbook.train` uses;
- ``xla``: training images/s of the reference network with and without XLA compilation on the
  device in use, the measurement behind :func:`dlbook.train.choose_jit_compile`;
- ``precision_compare``: training images/s in float32 and ``mixed_bfloat16``, alternated, the
  measurement behind :func:`dlbook.runtime.choose_mixed_precision` on CPUs; where bfloat16 is
  faster beyond the rounds' spread, the reference recipe also trains in bfloat16 with the same
  seeds (``reference_bf16_seedN``), and with the 10-minute settings (``reference_bf16_10min``
  with the book's seed, ``reference_bf16_10min_seedN`` with the others), to compare accuracy;
  in bfloat16 the recipe's budgets hold more epochs (:data:`dlbook.recipes.BUDGETS_BF16`);
- ``reference``: the reference recipe (:mod:`dlbook.recipes`) in full mode: test accuracy per
  epoch, time to 91 / 92 / 93 / 94 %, best accuracy within 5 and 10 minutes;
  ``reference_seed1``, ``reference_seed2``: the same with other seeds, because a target a few
  hundredths of a point away is within the spread of seeds; ``reference_10min``: the 10-minute settings;
- ``textbook``: a re-creation of a typical textbook CNN for Fashion-MNIST (7×7 64-filter conv,
  two 128- and two 256-filter 3×3 convs with max pooling, dense 128 and 64 with dropout 0.5,
  Nadam, batch 32, trained on 55,000 images with 5,000 held out, at most 10 epochs), in the same
  harness: time to 91 % or best accuracy, and the ratio of the recipe's time-to-91 % to it;
- ``throughput``: training images/s and achieved FLOP/s (2 × 3 × forward multiply–adds per
  image, from :mod:`dlbook.calc`) as a fraction of the best product and of the peak.

    python bench/training.py            # full: about 45 minutes on 2 CPU cores
    python bench/training.py --quick    # every part on a tiny budget (seconds): tests the harness

Times are wall-clock seconds from the start of ``fit`` (graph tracing included) to the end of the
epoch whose test accuracy first reached the target; test accuracy is measured after every epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yardstick  # noqa: E402  (bench/ is not a package)

TARGETS = (0.91, 0.92, 0.93, 0.94)
# The reference recipe runs with the book's seed and, to show the spread, with these.
OTHER_SEEDS = (1, 2)


def textbook_cnn(input_shape=(28, 28, 1), classes: int = 10):
    """The textbook CNN the recipe is compared with (1.4 M parameters)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(64, 7, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.Conv2D(128, 3, activation="relu", padding="same"),
        layers.Conv2D(128, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.Conv2D(256, 3, activation="relu", padding="same"),
        layers.Conv2D(256, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(classes, activation="softmax"),
    ], name="textbook_cnn")


def _mult_adds(model) -> int:
    from dlbook import calc

    return calc.report_totals(calc.model_report(model)).mult_adds


def _steady_images_per_s(result) -> float:
    """Median training images/s over the epochs after the first (which includes tracing)."""
    rates = [e["images_per_s"] for e in result.epochs]
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def _summary(result, model, yard) -> dict:
    ips = _steady_images_per_s(result)
    flops = 6 * _mult_adds(model) * ips
    shares = yardstick.share_of(flops / 1e9, yard)
    return {
        "params": int(model.count_params()),
        "mult_adds_per_image": int(_mult_adds(model)),
        "epochs": [{k: round(v, 4) if isinstance(v, float) else v for k, v in e.items()}
                   for e in result.epochs],
        "test_accuracy": [round(a, 4) for a in result.history.get("val_accuracy", [])],
        "time_to_s": {f"{t:.0%}": (None if s is None else round(s, 1))
                      for t, s in result.time_to.items()},
        "best_accuracy": result.best_accuracy,
        "best_accuracy_5min": result.best_accuracy_within(300),
        "best_accuracy_10min": result.best_accuracy_within(600),
        "wall_s": round(result.wall_s, 1),
        "images_per_s": round(ips, 1),
        "gflops": round(flops / 1e9, 1),
        "matmul_fraction": shares.get("of_best_gemm"),
        "peak_fraction": shares.get("of_peak"),
        "settings": result.settings,
    }


def measure_stall(x, y, epochs: int, batch_size: int = 256) -> dict:
    """Seconds from each epoch's start to its first finished batch: finite vs repeated dataset."""
    import keras

    from dlbook import recipes, runtime, train

    out = {}
    for kind in ("finite", "repeated"):
        runtime.seed_everything(0)
        model = recipes.reference_model()
        model.compile(train.make_optimizer("sgd", 0.05), loss=train.SparseSmoothedCrossentropy(),
                      jit_compile=False)
        steps = len(x) // batch_size
        timer = train.EpochTimer(steps * batch_size)
        ds = train.make_dataset(x[:steps * batch_size], y[:steps * batch_size], batch_size,
                                repeat=(kind == "repeated"))
        model.fit(ds, epochs=epochs, steps_per_epoch=steps if kind == "repeated" else None,
                  callbacks=[timer], verbose=0, shuffle=False)
        out[kind] = {"first_batch_s": [round(e["first_batch_s"], 3) for e in timer.epochs],
                     "epoch_s": [round(e["wall_s"], 3) for e in timer.epochs]}
        keras.backend.clear_session()
    later = lambda k: out[k]["first_batch_s"][1:] or [0.0]  # noqa: E731
    out["extra_s_per_later_epoch"] = round(statistics.mean(later("finite"))
                                           - statistics.mean(later("repeated")), 3)
    return out


@contextlib.contextmanager
def _policy(name: str):
    """Keras' global dtype policy set to ``name`` inside the block; afterwards the session is
    cleared and the previous policy restored."""
    import keras

    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy(before)


def _steady_images_per_s_of(x, y, steps: int, warmup: int, batch_size: int, jit: bool = False,
                            policy: str = "float32") -> float:
    """Training images/s of a fresh reference network over ``steps`` batches after ``warmup``.

    One ``fit`` of ``warmup + steps`` batches; the rate is taken over the last ``steps``, so
    tracing and compilation (one-off costs) are not counted.
    """
    import keras

    from dlbook import recipes, runtime, train

    class BatchClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    with _policy(policy):
        runtime.seed_everything(0)
        model = recipes.reference_model()
        model.compile(train.make_optimizer("sgd", 0.05), loss=train.SparseSmoothedCrossentropy(),
                      jit_compile=jit)
        clock = BatchClock()
        model.fit(train.make_dataset(x, y, batch_size), epochs=1, steps_per_epoch=warmup + steps,
                  callbacks=[clock], verbose=0, shuffle=False)
        seconds = clock.ends[-1] - clock.ends[warmup - 1]
    return round(steps * batch_size / seconds, 1)


def measure_xla(x, y, steps: int = 60, warmup: int = 20, batch_size: int = 256) -> dict:
    """Training images/s of the reference network with ``jit_compile`` off and on."""
    out = {("xla" if jit else "no_xla"): _steady_images_per_s_of(x, y, steps, warmup, batch_size,
                                                                  jit=jit)
           for jit in (False, True)}
    out["speedup"] = float(f"{out['xla'] / out['no_xla']:.3g}")  # 3 significant figures
    return out


def measure_precision(x, y, steps: int = 30, warmup: int = 10, batch_size: int = 256,
                      rounds: int = 2) -> dict:
    """Training images/s of the reference network in float32 and in ``mixed_bfloat16``.

    The two alternate ``rounds`` times (float32, bf16, float32, bf16, ...) so that a change in the
    machine's load hits both; each policy's rate is its best round, and ``spread`` is the largest
    relative difference between rounds of one policy, the noise a speed-up must exceed.
    """
    rates = {"float32": [], "mixed_bfloat16": []}
    for _ in range(rounds):
        for policy in rates:
            rates[policy].append(_steady_images_per_s_of(x, y, steps, warmup, batch_size,
                                                         policy=policy))
    best = {p: max(r) for p, r in rates.items()}
    spread = max((max(r) - min(r)) / max(r) for r in rates.values())
    return {"rounds": rates, "float32": best["float32"], "mixed_bfloat16": best["mixed_bfloat16"],
            "speedup": float(f"{best['mixed_bfloat16'] / best['float32']:.3g}"),  # 3 s.f.
            "spread": round(spread, 3)}


def bf16_worth_training(precision: dict) -> bool:
    """Whether bfloat16 was measurably faster: its speed-up beyond the rounds' spread.

    >>> bf16_worth_training({"speedup": 1.5, "spread": 0.05})
    True
    >>> bf16_worth_training({"speedup": 0.4, "spread": 0.05})
    False
    """
    return precision["speedup"] > 1 + precision["spread"]


class _StopAt:
    """Keras callback factory: stop training once ``monitor`` reaches ``target``."""

    def __new__(cls, target, monitor="val_accuracy"):
        import keras

        class StopAt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if (logs or {}).get(monitor, 0.0) >= target:
                    self.model.stop_training = True

        return StopAt()


def run(quick: bool = False, textbook: bool = True, long: bool = True,
        stop_textbook_at: float | None = 0.91, textbook_epochs: int = 10,
        verbose: int = 0) -> dict:
    """Run every part and return the results as a dict (see the module docstring)."""
    import keras

    from dlbook import data, recipes, runtime, train

    started = time.perf_counter()
    devices = runtime.detect_devices()
    (x, y), (xt, yt) = data.load_fashion_mnist(subset=False, normalize=True)
    results = {"quick": quick, "targets": list(TARGETS),
               "load_average_at_start": os.getloadavg()[0],
               "devices": {"gpus": devices.gpus, "cpus": devices.cpus, "tpu": devices.tpu},
               "precision": train.choose_precision(devices)[0],
               "jit_compile": train.choose_jit_compile(devices)[0]}
    if quick:  # tiny budget: a few hundred images, one epoch each, only checks the harness
        xs, ys, xts, yts = x[:256], y[:256], xt[:256], yt[:256]
        results["stall"] = measure_stall(xs, ys, epochs=2, batch_size=128)
        results["xla"] = measure_xla(xs, ys, steps=3, warmup=2, batch_size=64)
        results["precision_compare"] = measure_precision(xs, ys, steps=3, warmup=2, batch_size=64,
                                                         rounds=1)
        ref_over = {"epochs": 1, "batch_size": 128}
        tb_epochs, tb_train = 1, (xs, ys)
        ref_data = (xs, ys, xts, yts)
    else:
        results["stall"] = measure_stall(x[:10240], y[:10240], epochs=3)
        results["xla"] = measure_xla(x, y)
        results["precision_compare"] = measure_precision(x, y)
        ref_over = {}
        tb_epochs, tb_train = textbook_epochs, (x[:55000], y[:55000])  # 5,000 held out, as in the textbook
        ref_data = (x, y, xt, yt)
    yard = results["yardstick"] = yardstick.measure(quick=quick)
    results["matmul_gflops"] = yard["best_gflops"]

    # Part 2: the reference recipe (5-minute settings, and the 10-minute ones)
    xr, yr, xtr, ytr = ref_data
    model, result = recipes.train_reference(xr, yr, (xtr, ytr), mode="full", targets=TARGETS,
                                            verbose=verbose, **ref_over)
    results["reference"] = _summary(result, model, yard)
    keras.backend.clear_session()
    for seed in OTHER_SEEDS:
        model, result = recipes.train_reference(xr, yr, (xtr, ytr), mode="full", targets=TARGETS,
                                                seed=seed, verbose=verbose, **ref_over)
        results[f"reference_seed{seed}"] = _summary(result, model, yard)
        keras.backend.clear_session()
    # bfloat16, with the same seeds, where it trained measurably faster than float32
    if bf16_worth_training(results["precision_compare"]):
        for seed in (runtime.DEFAULT_SEED, *OTHER_SEEDS):
            with _policy("mixed_bfloat16"):
                model, result = recipes.train_reference(xr, yr, (xtr, ytr), mode="full",
                                                        targets=TARGETS, seed=seed,
                                                        verbose=verbose, **ref_over)
                results[f"reference_bf16_seed{seed}"] = _summary(result, model, yard)
        if long:  # the 10-minute settings in bfloat16 (recipes.BUDGETS_BF16), same seeds
            for seed in (runtime.DEFAULT_SEED, *OTHER_SEEDS):
                with _policy("mixed_bfloat16"):
                    over = ref_over if quick else recipes.reference_config(
                        "full", minutes=10, policy="mixed_bfloat16")
                    model, result = recipes.train_reference(xr, yr, (xtr, ytr), mode="full",
                                                            targets=TARGETS, seed=seed,
                                                            verbose=verbose, **over)
                    key = ("reference_bf16_10min" if seed == runtime.DEFAULT_SEED
                           else f"reference_bf16_10min_seed{seed}")
                    results[key] = _summary(result, model, yard)
    if long:
        over = ref_over if quick else recipes.reference_config("full", minutes=10)
        model, result = recipes.train_reference(xr, yr, (xtr, ytr), mode="full",
                                                targets=TARGETS, verbose=verbose, **over)
        results["reference_10min"] = _summary(result, model, yard)
        keras.backend.clear_session()

    # Part 3: the textbook CNN under the same harness
    if textbook:
        runtime.seed_everything(runtime.DEFAULT_SEED)
        model = textbook_cnn()
        stop = [_StopAt(stop_textbook_at)] if stop_textbook_at else []
        result = train.fit(model, *tb_train, validation_data=(ref_data[2], ref_data[3]),
                           epochs=tb_epochs, batch_size=32, optimizer=keras.optimizers.Nadam(),
                           schedule="constant", label_smoothing=0.0, weight_decay=0.0,
                           targets=TARGETS, mode="full", callbacks=stop, verbose=verbose)
        tb = _summary(result, model, yard)
        tb["stopped_at_target"] = stop_textbook_at
        results["textbook"] = tb
        ref91 = results["reference"]["time_to_s"]["91%"]
        tb91 = tb["time_to_s"]["91%"]
        results["ratio_time_to_91"] = (round(ref91 / tb91, 3) if ref91 is not None and tb91
                                       else None)
        keras.backend.clear_session()

    # Part 4: throughput of the reference recipe
    ref = results["reference"]
    results["throughput"] = {"images_per_s": ref["images_per_s"], "gflops": ref["gflops"],
                             "matmul_gflops": yard["best_gflops"],
                             "matmul_fraction": ref["matmul_fraction"],
                             "peak_fraction": ref["peak_fraction"]}
    results["total_s"] = round(time.perf_counter() - started, 1)
    return results


def format_results(r: dict) -> str:
    """A short text table of :func:`run`'s results."""
    lines = [f"training benchmark{' (QUICK: harness check only)' if r['quick'] else ''}: "
             f"best float32 product {r['matmul_gflops']} GFLOP/s, precision {r['precision']}, "
             f"XLA {'on' if r['jit_compile'] else 'off'}",
             yardstick.format_yardstick(r["yardstick"])]
    pc = r["precision_compare"]
    lines.append(f"  mixed_bfloat16: {pc['mixed_bfloat16']:.0f} img/s against float32 "
                 f"{pc['float32']:.0f} (x{pc['speedup']}, run-to-run spread {pc['spread']:.0%}); "
                 + ("trained with the same seeds below" if bf16_worth_training(pc)
                    else "not faster here, so not trained"))
    st = r["stall"]
    lines.append(f"  epoch-start stall, finite dataset: {st['finite']['first_batch_s']} s; "
                 f"repeated: {st['repeated']['first_batch_s']} s "
                 f"(extra {st['extra_s_per_later_epoch']} s per later epoch)")
    xla = r["xla"]
    lines.append(f"  XLA: {xla['xla']:.0f} img/s with, {xla['no_xla']:.0f} without "
                 f"(x{xla['speedup']})")
    bf16_keys = [k for k in r if k.startswith("reference_bf16_seed")]
    bf16_long = [k for k in r if k.startswith("reference_bf16_10min")]
    for key in ("reference", *(f"reference_seed{s}" for s in OTHER_SEEDS), *bf16_keys,
                *bf16_long, "reference_10min", "textbook"):
        if key not in r:
            continue
        s = r[key]
        times = ", ".join(f"{t} {'-' if v is None else f'{v:.0f} s'}"
                          for t, v in s["time_to_s"].items())
        lines.append(f"  {key:16} acc/epoch {s['test_accuracy']}")
        lines.append(f"  {'':16} time to {times}; best {s['best_accuracy']}, "
                     f"best in 5 min {s['best_accuracy_5min']}, in 10 min "
                     f"{s['best_accuracy_10min']}; {s['images_per_s']:.0f} img/s, "
                     f"{s['gflops']} GFLOP/s = {s['matmul_fraction']} of the best product, "
                     f"{s['peak_fraction']} of peak")
    if "ratio_time_to_91" in r:
        lines.append(f"  ratio of time to 91% (reference / textbook): {r['ratio_time_to_91']} "
                     "(target <= 0.3)")
    lines.append(f"  total {r['total_s']} s")
    return "\n".join(lines)


def main(argv=None) -> dict:
    """Command line: run the benchmark, print the table, optionally write JSON; return the dict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget: check the harness")
    parser.add_argument("--no-textbook", action="store_true", help="skip the textbook CNN")
    parser.add_argument("--no-long", action="store_true", help="skip the 10-minute recipe run")
    parser.add_argument("--textbook-all-epochs", action="store_true",
                        help="train the textbook CNN all 10 epochs instead of stopping at 91%%")
    parser.add_argument("--textbook-epochs", type=int, default=10,
                        help="at most this many textbook epochs (the textbook trains 10)")
    parser.add_argument("--out", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    args = parser.parse_args(argv)
    results = run(quick=args.quick, textbook=not args.no_textbook, long=not args.no_long,
                  stop_textbook_at=None if args.textbook_all_epochs else 0.91,
                  textbook_epochs=args.textbook_epochs, verbose=args.verbose)
    print(format_results(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
