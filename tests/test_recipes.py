"""dlbook.recipes (the reference network, its settings and cache) and the training benchmark."""

import importlib.util

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


def test_fused_batch_norm_matches_keras_batch_norm():
    import keras

    x = np.random.default_rng(0).normal(2.0, 3.0, (16, 5, 5, 4)).astype("float32")
    fused = recipes.fused_batch_norm_class()(momentum=0.8)
    plain = keras.layers.BatchNormalization(momentum=0.8)
    for layer in (fused, plain):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 4))
        layer.beta.assign(np.linspace(-1.0, 1.0, 4))
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


def test_cached_reference_model_trains_once_then_loads(tmp_path, monkeypatch):
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
    for part in ("matmul_gflops", "stall", "reference", "reference_seed1", "reference_10min",
                 "textbook", "ratio_time_to_91", "throughput"):
        assert part in results, part
    assert results["reference"]["settings"]["seed"] != results["reference_seed1"]["settings"]["seed"]
    xla = results["xla"]
    assert xla["xla"] > 0 and xla["speedup"] == pytest.approx(xla["xla"] / xla["no_xla"], rel=0.01)
    assert results["matmul_gflops"] > 0
    assert len(results["stall"]["finite"]["first_batch_s"]) == 2
    ref = results["reference"]
    assert len(ref["test_accuracy"]) == 1 and set(ref["time_to_s"]) == {"91%", "92%", "93%", "94%"}
    assert results["throughput"]["images_per_s"] > 0
    assert 0 < results["throughput"]["matmul_fraction"]
    assert ref["gflops"] == pytest.approx(6 * ref["mult_adds_per_image"]
                                          * ref["images_per_s"] / 1e9, rel=0.01)
    assert "training benchmark (QUICK" in capsys.readouterr().out
