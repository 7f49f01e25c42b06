"""dlbook.recipes (the reference network, its settings and cache) and the training benchmark."""

import importlib.util
import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from conftest import ROOT
from dlbook import calc, recipes


def test_reference_model_shapes_and_params_agree_with_calc():
    model = recipes.reference_model()
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    totals = calc.report_totals(calc.model_report(model))
    assert totals.params == model.count_params()
    # compact: well under the textbook CNN's 1.4 M parameters, and cheap per image
    assert model.count_params() < 1_000_000
    assert totals.mult_adds < 60_000_000
    adds = [layer for layer in model.layers if layer.__class__.__name__ == "Add"]
    assert len(adds) == sum(recipes.reference_config("full")["model"]["blocks"])


def test_reference_model_rejects_mismatched_widths_and_blocks():
    with pytest.raises(ValueError, match=r"^widths has 2 entries but blocks has 2"):
        recipes.reference_model(widths=(16, 32), blocks=(1, 1))


def test_reference_config_modes_and_budgets():
    full, fast = recipes.reference_config("full"), recipes.reference_config("fast")
    long = recipes.reference_config("full", minutes=10)
    assert full["schedule"] == "one_cycle" and full["optimizer"] == "sgd"
    assert fast["epochs"] < full["epochs"] < long["epochs"]
    with pytest.raises(ValueError, match=r"^mode='medium'"):
        recipes.reference_config("medium")
    with pytest.raises(ValueError, match=r"^minutes=7"):
        recipes.reference_config("full", minutes=7)


def test_reference_config_follows_the_dtype_policy():
    import keras

    for minutes in (5, 10):
        f32 = recipes.reference_config("full", minutes, policy="float32")
        bf16 = recipes.reference_config("full", minutes, policy="mixed_bfloat16")
        assert bf16["epochs"] > f32["epochs"], "bfloat16 CPUs fit more epochs in the same budget"
        assert bf16["model"] == f32["model"] and bf16["learning_rate"] == f32["learning_rate"]
        # GPUs' float16 keeps the CPU float32 budget
        assert recipes.reference_config("full", minutes, policy="mixed_float16") == f32
    # fast mode does not depend on the policy
    assert (recipes.reference_config("fast", policy="mixed_bfloat16")
            == recipes.reference_config("fast", policy="float32"))
    # by default the global policy decides, and with it the cached model's name
    before = keras.mixed_precision.global_policy().name
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        assert recipes.reference_config("full")["epochs"] == recipes.BUDGETS_BF16[5]["epochs"]
        bf16_path = recipes.cached_model_path("full")
        keras.mixed_precision.set_global_policy("float32")
        assert recipes.reference_config("full")["epochs"] == recipes.BUDGETS[5]["epochs"]
        assert recipes.cached_model_path("full") != bf16_path
    finally:
        keras.mixed_precision.set_global_policy(before)
    with pytest.raises(ValueError, match=r"^policy='bf16' .*use one of float32"):
        recipes.reference_config("full", policy="bf16")


def _fused_and_keras_batch_norms(seed, trainable=True):
    """An input batch, and a FusedBatchNorm and a Keras BatchNormalization with equal weights."""
    import keras

    x = np.random.default_rng(seed).normal(2.0, 3.0, (16, 5, 5, 4)).astype("float32")
    fused = recipes.FusedBatchNorm(momentum=0.8)
    plain = keras.layers.BatchNormalization(momentum=0.8)
    for layer in (fused, plain):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 4))
        layer.beta.assign(np.linspace(-1.0, 1.0, 4))
        layer.trainable = trainable
    return x, fused, plain


def test_fused_batch_norm_matches_keras_batch_norm():
    x, fused, plain = _fused_and_keras_batch_norms(0)
    np.testing.assert_allclose(np.asarray(fused(x, training=True)),
                               np.asarray(plain(x, training=True)), atol=2e-4)
    np.testing.assert_allclose(np.asarray(fused.moving_mean), np.asarray(plain.moving_mean),
                               rtol=1e-5)
    # TensorFlow's fused kernel reports the unbiased (n / (n - 1)) batch variance
    n = 16 * 5 * 5
    np.testing.assert_allclose(np.asarray(fused.moving_variance),
                               0.8 + 0.2 * x.var(axis=(0, 1, 2)) * n / (n - 1), rtol=1e-4)
    # inference uses the moving statistics, exactly as Keras does
    np.testing.assert_allclose(np.asarray(fused(x, training=False)),
                               np.asarray(plain(x, training=False)), rtol=1e-3, atol=1e-3)


def test_frozen_fused_batch_norm_keeps_its_statistics_as_keras_does():
    # chapter 8 freezes the reference network's first layers: called with training=True (inside
    # fit), a frozen layer must normalise with its moving statistics and leave them unchanged
    x, fused, plain = _fused_and_keras_batch_norms(1, trainable=False)
    np.testing.assert_allclose(np.asarray(fused(x, training=True)),
                               np.asarray(plain(x, training=True)), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(fused.moving_mean), np.zeros(4))
    np.testing.assert_array_equal(np.asarray(fused.moving_variance), np.ones(4))


def test_fused_batch_norm_is_a_module_level_registered_layer():
    import keras

    assert recipes.FusedBatchNorm.__qualname__ == "FusedBatchNorm"
    assert issubclass(recipes.FusedBatchNorm, keras.layers.BatchNormalization)
    assert keras.saving.get_registered_object("dlbook>FusedBatchNorm") is recipes.FusedBatchNorm
    layer = recipes.FusedBatchNorm(momentum=0.85, epsilon=1e-4, name="bn")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is recipes.FusedBatchNorm
    assert restored.get_config() == layer.get_config()


def test_saved_reference_model_names_its_layers_as_models_cached_before_did(tmp_path):
    # Models cached by earlier versions (where a factory built the class) name the layer
    # "FusedBatchNorm" in module dlbook.recipes, registered as "dlbook>FusedBatchNorm";
    # the module-level class must keep all three, so those caches still load.
    path = tmp_path / "ref.keras"
    recipes.reference_model(widths=(4, 8), blocks=(1,)).save(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    bns = [layer for layer in config["config"]["layers"]
           if layer["class_name"] == "FusedBatchNorm"]
    assert len(bns) == 4  # stem, widen, and the block's two
    assert {(b["module"], b["registered_name"]) for b in bns} == {
        ("dlbook.recipes", "dlbook>FusedBatchNorm")}


def test_a_fresh_python_loads_a_saved_reference_model(tmp_path):
    # A reader's second session: nothing but `from dlbook import recipes` has run before the
    # cached model is loaded (the class must be known without building a model first).
    x = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32)
    model = recipes.reference_model(widths=(4, 8), blocks=(1,))
    path = tmp_path / "ref.keras"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, keras\n"
            "from dlbook import recipes\n"
            "m = keras.models.load_model(sys.argv[1], compile=False)\n"
            "np.save(sys.argv[2], m.predict(np.load(sys.argv[3]), verbose=0))\n")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "p.npy"),
                    str(tmp_path / "x.npy")], check=True)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x, verbose=0),
                               atol=1e-6)


def test_cached_reference_model_trains_once_then_loads(tmp_path, monkeypatch, capsys):
    from dlbook import data

    monkeypatch.setenv("DLBOOK_CACHE", str(tmp_path))
    (x, y), (xt, yt) = data.load_fashion_mnist(subset=True, normalize=True)
    small = ((x[:768], y[:768]), (xt[:256], yt[:256]))
    path = recipes.cached_model_path("fast")
    assert path.parent == tmp_path and not path.exists()
    trained = recipes.load_or_train_reference("fast", verbose=0, data=small)
    assert path.exists() and path.with_suffix(".json").exists()

    def no_retraining(*args, **kwargs):
        raise AssertionError("the cached model should have been loaded, not retrained")

    monkeypatch.setattr(recipes, "train_reference", no_retraining)
    loaded = recipes.load_or_train_reference("fast", verbose=0, data=small)
    np.testing.assert_allclose(loaded.predict(xt[:32], verbose=0),
                               trained.predict(xt[:32], verbose=0), atol=1e-5)
    assert (loaded.predict(xt[:256], verbose=0).argmax(1) == yt[:256]).mean() > 0.3
    # each step announced in one line; the training line names the file by the cache's variable,
    # not this machine's path, and a load from the cache says only that (no path on the page)
    said = [line for line in capsys.readouterr().out.splitlines() if line.startswith("dlbook:")]
    assert [("training it once" in s, "loaded from the cache" in s) for s in said] == [(True, False),
                                                                                       (False, True)]
    assert f"$DLBOOK_CACHE/{path.name}" in said[0] and path.name not in said[1], said
    assert not any(str(tmp_path) in s or "/" in s.split("cache")[-1] for s in said[1:]), said


def test_cache_name_separates_keras_versions_architectures_and_modes(monkeypatch):
    path = recipes.cached_model_path("fast")
    assert f"_keras{'.'.join(keras.__version__.split('.')[:2])}_" in path.name
    assert recipes.cached_model_path("full") != path
    monkeypatch.setattr(keras, "__version__", "3.0.5")
    assert "_keras3.0_" in recipes.cached_model_path("fast").name
    monkeypatch.undo()
    monkeypatch.setattr(recipes, "ARCHITECTURE", recipes.ARCHITECTURE + 1)
    assert recipes.cached_model_path("fast") != path


# --------------------------------------------------------------------------- the benchmark
def _bench_training():
    spec = importlib.util.spec_from_file_location("bench_training", ROOT / "bench" / "training.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_textbook_cnn_is_faithful():
    model = _bench_training().textbook_cnn()
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 5 and kinds.count("MaxPooling2D") == 3
    assert kinds.count("Dropout") == 2
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [64, 128, 128, 256, 256]
    assert [c.kernel_size for c in convs] == [(7, 7)] + [(3, 3)] * 4
    dense = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [128, 64, 10]
    assert round(model.count_params() / 1e6, 1) == 1.4


def test_bench_quick_runs_every_part(capsys):
    # Speed is measured by `make bench`, not asserted here: this checks the harness works.
    results = _bench_training().main(["--quick"])
    for part in ("matmul_gflops", "yardstick", "precision_compare", "stall", "reference",
                 "reference_seed1", "reference_seed2", "reference_10min", "textbook",
                 "ratio_time_to_91", "throughput"):
        assert part in results, part
    yard = results["yardstick"]
    assert results["matmul_gflops"] == yard["best_gflops"] == max(
        v for k, v in yard["gflops"].items() if v is not None and k != "bf16_matmul")
    pc = results["precision_compare"]
    assert pc["speedup"] == pytest.approx(pc["mixed_bfloat16"] / pc["float32"], rel=0.01)
    bf16_runs = [k for k in results if k.startswith("reference_bf16_seed")]
    assert bool(bf16_runs) is (pc["speedup"] > 1 + pc["spread"])
    assert results["reference"]["settings"]["seed"] != results["reference_seed1"]["settings"]["seed"]
    xla = results["xla"]
    assert xla["xla"] > 0 and xla["speedup"] == pytest.approx(xla["xla"] / xla["no_xla"], rel=0.01)
    assert results["matmul_gflops"] > 0
    assert len(results["stall"]["finite"]["first_batch_s"]) == 2
    ref = results["reference"]
    assert len(ref["test_accuracy"]) == 1 and set(ref["time_to_s"]) == {"91%", "92%", "93%", "94%"}
    assert results["throughput"]["images_per_s"] > 0
    assert 0 < results["throughput"]["matmul_fraction"]
    # gflops is rounded to 0.1: on a loaded machine a few GFLOP/s, so allow that rounding
    assert ref["gflops"] == pytest.approx(6 * ref["mult_adds_per_image"]
                                          * ref["images_per_s"] / 1e9, rel=0.01, abs=0.051)
    assert "training benchmark (QUICK" in capsys.readouterr().out
