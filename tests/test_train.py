"""dlbook.train: pipeline, augmentation, schedules, decisions, timing callback, errors, a tiny fit."""

import math

import numpy as np
import pytest

from dlbook import runtime, train
from dlbook.runtime import Devices


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def _batches(ds, k):
    return [(b[0].numpy(), b[1].numpy()) for b, _ in zip(ds, range(k))]


# --------------------------------------------------------------------------- pipeline
def test_pipeline_is_seeded_repeatable_and_repeats_with_full_batches():
    x, y = _images(50)
    y = np.arange(50)  # labels identify the examples
    first = _batches(train.make_dataset(x, y, 16, seed=3), 8)
    again = _batches(train.make_dataset(x, y, 16, seed=3), 8)
    other = _batches(train.make_dataset(x, y, 16, seed=4), 8)
    assert all(b[0].shape == (16, 28, 28, 1) and b[1].shape == (16,) for b in first)
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(first, other))
    # repeated and reshuffled: 8 batches of 16 = 128 examples cover the first pass completely,
    # and the first pass (50 examples) is a permutation of the data
    labels = np.concatenate([b[1] for b in first])
    assert sorted(labels[:50]) == list(range(50))
    assert not np.array_equal(labels[:50], labels[50:100])  # the second pass is reshuffled


def test_pipeline_order_does_not_depend_on_iterators_made_before():
    # Keras makes a different number of iterators of the training dataset under tf.distribute;
    # the batches must not depend on it, or two devices train on other data than one.
    x, y = _images(40)
    y = np.arange(40)
    ds = train.make_dataset(x, y, 8, seed=5)
    next(iter(ds))  # a spare iterator, as Keras makes one
    after_spare = _batches(ds, 10)
    fresh = _batches(train.make_dataset(x, y, 8, seed=5), 10)
    for (_, ya), (_, yb) in zip(after_spare, fresh):
        np.testing.assert_array_equal(ya, yb)
    labels = np.concatenate([b[1] for b in fresh])
    assert sorted(labels[40:80]) == list(range(40))  # the second pass is a whole pass
    assert not np.array_equal(labels[:40], labels[40:80])  # in another order


def test_finite_pipeline_keeps_order_without_shuffle():
    x, y = _images(10)
    batches = list(train.make_dataset(x, np.arange(10), 4, shuffle=False, repeat=False))
    assert [b[1].numpy().tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[0][0].numpy(), x[:4])


def test_augmentation_keeps_shapes_changes_pixels_per_image_and_is_identity_at_inference():
    x, _ = _images(64, seed=1)
    aug = train.augmentation(pad=3, flip=True, seed=5)
    out = np.asarray(aug(x, training=True))
    assert out.shape == x.shape
    changed = np.abs(out - x).reshape(64, -1).max(axis=1) > 0
    assert changed.mean() > 0.5  # most images moved or flipped
    # per image, not one transformation for the whole batch
    same = [np.array_equal(out[i], x[i]) for i in range(64)]
    assert 0 < sum(not s for s in same)
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)


def test_augmented_shift_is_a_whole_pixel_translation_with_zero_fill():
    x = np.zeros((32, 28, 28, 1), np.float32)
    x[:, 10:18, 10:18] = 1.0  # a bright square away from the border
    out = np.asarray(train.augmentation(pad=2, flip=False, seed=2)(x, training=True))
    for img in out:
        rows, cols = np.nonzero(img[..., 0] > 0.5)
        assert len(rows) == 64  # the square is moved, not blurred or cut
        assert abs(rows.min() - 10) <= 2 and abs(cols.min() - 10) <= 2
    assert len({(int(np.argmax(o[..., 0].max(1))), int(np.argmax(o[..., 0].max(0)))) for o in out}) > 3


def test_augmented_pipeline_is_repeatable():
    x, y = _images(40, seed=2)
    a = _batches(train.make_dataset(x, y, 8, augment=train.augmentation(seed=9), seed=1), 3)
    b = _batches(train.make_dataset(x, y, 8, augment=train.augmentation(seed=9), seed=1), 3)
    for (xa, _), (xb, _) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)


# --------------------------------------------------------------------------- schedules
def _one_cycle_reference(step, peak, total, warm, start, final):
    if step < warm:
        return start + (peak - start) * step / warm
    t = min((step - warm) / (total - warm), 1.0)
    return final + (peak - final) * (1 + math.cos(math.pi * t)) / 2


@pytest.mark.parametrize("step", [0, 1, 24, 25, 26, 50, 62, 99, 100, 150])
def test_one_cycle_values(step):
    s = train.one_cycle(0.4, 100, warmup_fraction=0.25, start_div=25, final_div=1e4)
    expected = _one_cycle_reference(step, 0.4, 100, 25, 0.4 / 25, 0.4 / 1e4)
    assert float(s(step)) == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_one_cycle_landmarks():
    s = train.one_cycle(1.0, 1000, warmup_fraction=0.3, start_div=20, final_div=1000)
    assert float(s(0)) == pytest.approx(0.05)
    assert float(s(300)) == pytest.approx(1.0)
    assert float(s(650)) == pytest.approx((1.0 + 0.001) / 2, rel=1e-5)  # cosine midpoint
    assert float(s(1000)) == pytest.approx(0.001, rel=1e-4)
    values = [float(s(i)) for i in range(0, 1001, 50)]
    assert values.index(max(values)) == 6  # step 300


def test_cosine_with_warmup_values():
    s = train.cosine_warmup(0.2, 200, warmup_steps=20, final_lr=0.002)
    assert float(s(0)) == pytest.approx(0.0)
    assert float(s(10)) == pytest.approx(0.1)
    assert float(s(20)) == pytest.approx(0.2)
    assert float(s(110)) == pytest.approx((0.2 + 0.002) / 2, rel=1e-5)
    assert float(s(200)) == pytest.approx(0.002, rel=1e-4)


def test_step_decay_divides_by_ten_at_the_given_epochs():
    s = train.step_decay(0.1, [3, 5], steps_per_epoch=7)
    expected = {0: 0.1, 20: 0.1, 21: 0.01, 34: 0.01, 35: 0.001, 1000: 0.001}
    for step, lr in expected.items():
        assert float(s(step)) == pytest.approx(lr, rel=1e-6), step


def test_unknown_schedule_names_the_argument():
    with pytest.raises(ValueError, match="schedule='warm_restarts'"):
        train.make_schedule("warm_restarts", 0.1, 100, 10)


def test_optimizers():
    sgd = train.make_optimizer("sgd", 0.1, momentum=0.9, weight_decay=5e-4)
    assert sgd.__class__.__name__ == "SGD" and sgd.momentum == pytest.approx(0.9)
    assert sgd.weight_decay == pytest.approx(5e-4)
    assert train.make_optimizer("adamw", 1e-3, weight_decay=0.01).__class__.__name__ == "AdamW"
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        train.make_optimizer("rmsprop", 0.1)


def test_label_smoothing_loss_matches_the_formula():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 2])
    s = 0.3
    targets = np.eye(3)[labels] * (1 - s) + s / 3
    expected = -(targets * np.log(probs)).sum(axis=1).mean()
    assert float(train.SparseSmoothedCrossentropy(s)(labels, probs)) == pytest.approx(expected,
                                                                                       rel=1e-5)


# --------------------------------------------------------------------------- decisions
@pytest.mark.parametrize("devices, policy, jit", [
    (Devices(gpus=0, cpus=2), "float32", False),
    (Devices(gpus=1, gpu_compute_capabilities=((7, 5),)), "mixed_float16", True),    # T4
    (Devices(gpus=1, gpu_compute_capabilities=((8, 0),)), "mixed_float16", True),    # A100
    (Devices(gpus=1, gpu_compute_capabilities=((6, 0),)), "float32", True),          # P100
    (Devices(gpus=2, gpu_compute_capabilities=((7, 0), (6, 1))), "float32", True),   # mixed pair
    (Devices(gpus=2, gpu_compute_capabilities=((7, 5), (8, 6))), "mixed_float16", True),
    (Devices(gpus=1, gpu_compute_capabilities=(None,)), "float32", True),            # unknown
    (Devices(tpu=True), "mixed_bfloat16", True),
])
def test_precision_and_xla_decisions(devices, policy, jit):
    assert train.choose_precision(devices)[0] == policy
    assert train.choose_jit_compile(devices)[0] is jit
    assert train.choose_precision(devices)[1] and train.choose_jit_compile(devices)[1]


# --------------------------------------------------------------------------- timing callback
def test_timer_records_epochs_images_per_second_and_time_to_targets():
    now = [100.0]
    timer = train.EpochTimer(images_per_epoch=1000, targets=(0.9, 0.8, 0.99), clock=lambda: now[0])
    timer.on_train_begin()
    for epoch, (train_s, val_s, acc) in enumerate([(4.0, 1.0, 0.7), (2.0, 1.0, 0.85),
                                                   (2.0, 1.0, 0.93), (2.0, 1.0, 0.80)]):
        timer.on_epoch_begin(epoch)
        now[0] += 0.5
        timer.on_train_batch_end(0)
        now[0] += train_s - 0.5
        timer.on_test_begin()
        now[0] += val_s
        timer.on_epoch_end(epoch, {"val_accuracy": acc, "loss": 1.0})
    assert [e["epoch"] for e in timer.epochs] == [1, 2, 3, 4]
    assert timer.epochs[0]["images_per_s"] == pytest.approx(250.0)
    assert timer.epochs[1]["wall_s"] == pytest.approx(3.0)
    assert timer.epochs[1]["first_batch_s"] == pytest.approx(0.5)
    assert timer.time_to == {0.8: pytest.approx(8.0), 0.9: pytest.approx(11.0), 0.99: None}
    assert timer.epoch_to == {0.8: 2, 0.9: 3, 0.99: None}


def test_timer_started_before_fit_counts_the_time_before_train_begin():
    # fit() starts the clock before model.fit builds the data iterator; that time must count.
    now = [0.0]
    timer = train.EpochTimer(images_per_epoch=10, targets=(0.5,), clock=lambda: now[0])
    timer.start()
    now[0] += 7.0  # iterator set-up, before Keras calls on_train_begin
    timer.on_train_begin()
    timer.on_epoch_begin(0)
    now[0] += 2.0
    timer.on_epoch_end(0, {"val_accuracy": 0.6})
    assert timer.time_to[0.5] == pytest.approx(9.0)
    assert timer.epochs[0]["elapsed_s"] == pytest.approx(9.0)


# --------------------------------------------------------------------------- the Keras classes
def _round_trip(obj):
    import keras

    return keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj))


@pytest.mark.parametrize("name", ["PixelShift", "WarmupCosineSchedule",
                                  "SparseSmoothedCrossentropy", "EpochTimer"])
def test_keras_classes_are_importable_by_name(name):
    import importlib

    import keras

    cls = getattr(train, name)
    assert name in train.__all__ and cls.__qualname__ == name  # defined at module level
    assert getattr(importlib.import_module(cls.__module__), name) is cls
    if name != "EpochTimer":  # callbacks are not saved with a model
        assert keras.saving.get_registered_name(cls) == f"dlbook>{name}"
        assert keras.saving.get_registered_object(f"dlbook>{name}") is cls


def test_schedule_survives_keras_saving():
    schedule = train.one_cycle(0.4, 100, warmup_fraction=0.25)
    restored = _round_trip(schedule)
    assert type(restored) is train.WarmupCosineSchedule
    assert restored.get_config() == schedule.get_config()
    assert restored.kind == "one_cycle"
    for step in (0, 10, 25, 60, 100, 130):
        assert float(restored(step)) == float(schedule(step))


def test_loss_survives_keras_saving():
    loss = train.SparseSmoothedCrossentropy(0.2)
    restored = _round_trip(loss)
    assert type(restored) is train.SparseSmoothedCrossentropy
    assert restored.label_smoothing == 0.2 and restored.name == "sparse_smoothed_crossentropy"
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], np.float32)
    assert float(restored(np.array([1, 2]), probs)) == float(loss(np.array([1, 2]), probs))


def test_pixel_shift_survives_keras_saving_with_its_seed():
    x, _ = _images(16, seed=3)
    layer = train.PixelShift(3, seed=11, name="shift")
    restored = _round_trip(layer)
    assert type(restored) is train.PixelShift
    assert restored.pad == 3 and restored.seed == 11 and restored.fill_mode == "constant"
    np.testing.assert_array_equal(np.asarray(restored(x, training=True)),
                                  np.asarray(layer(x, training=True)))


def test_timer_pickles():
    import pickle

    timer = train.EpochTimer(images_per_epoch=100, targets=(0.8, 0.5))
    copy = pickle.loads(pickle.dumps(timer))
    assert type(copy) is train.EpochTimer
    assert copy.targets == (0.5, 0.8) and copy.time_to == {0.5: None, 0.8: None}


def test_fitted_model_saves_and_loads_with_its_loss_and_schedule(tmp_path):
    import keras

    x, y = _images(64, seed=4)
    model = _tiny_model()
    train.fit(model, x, y, epochs=1, batch_size=32, label_smoothing=0.1, mode="fast", verbose=0,
              augment=True)
    path = tmp_path / "tiny.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # compile=True: the loss and the optimizer too
    assert type(loaded.loss) is train.SparseSmoothedCrossentropy
    assert loaded.loss.label_smoothing == pytest.approx(0.1)
    assert loaded.optimizer.get_config()["learning_rate"]["registered_name"] == (
        "dlbook>WarmupCosineSchedule")
    assert isinstance(loaded.optimizer._learning_rate, train.WarmupCosineSchedule)
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0),
                               atol=1e-6)


# --------------------------------------------------------------------------- errors
def _tiny_model(outputs=10):
    import keras

    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(outputs, activation="softmax")])


def test_errors_name_the_argument():
    x, y = _images(20)
    model = _tiny_model(outputs=5)
    with pytest.raises(ValueError, match=r"^y has labels up to 9 but the model has 5 outputs"):
        train.fit(model, x, y, epochs=1, mode="full")
    model = _tiny_model()
    with pytest.raises(ValueError, match=r"^x is empty"):
        train.fit(model, x[:0], y[:0], epochs=1, mode="full")
    with pytest.raises(ValueError, match=r"^batch_size=64 is larger than the 20 examples"):
        train.fit(model, x, y, batch_size=64, epochs=1, mode="full")
    with pytest.raises(ValueError, match=r"^schedule='linear' is unknown"):
        train.fit(model, x, y, batch_size=4, epochs=1, mode="full", schedule="linear")
    with pytest.raises(ValueError, match=r"^y has 19 labels but x has 20"):
        train.fit(model, x, y[:19], batch_size=4, epochs=1, mode="full")
    with pytest.raises(ValueError, match=r"^validation_data\[1\] has labels up to 12"):
        train.fit(model, x, y, batch_size=4, epochs=1, mode="full",
                  validation_data=(x, y + 3))
    with pytest.raises(ValueError, match=r"^x has examples of shape \(32, 32, 1\)"):
        train.fit(model, np.zeros((4, 32, 32, 1), np.float32), y[:4], batch_size=4, epochs=1,
                  mode="full")
    # fast mode: a batch larger than the (sub)set shrinks to it
    assert train.check_inputs(model, x, y, 64, "fast") == 20


# --------------------------------------------------------------------------- end to end
def test_tiny_fit_on_fashion_mnist_learns_and_reports_timings():
    import keras

    from dlbook import data

    (x, y), (xt, yt) = data.load_fashion_mnist(subset=True, normalize=True)
    x, y, xt, yt = x[:1024], y[:1024], xt[:500], yt[:500]
    runtime.seed_everything(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    result = train.fit(model, x, y, validation_data=(xt, yt), epochs=3, batch_size=32,
                       optimizer="adamw", learning_rate=3e-3, schedule="one_cycle",
                       weight_decay=1e-4, label_smoothing=0.1, augment=True,
                       targets=(0.3, 0.999), mode="fast", verbose=0)
    assert len(result.epochs) == 3 and len(result.history["val_accuracy"]) == 3
    assert result.best_accuracy > 0.5  # chance is 0.1
    assert result.time_to[0.3] is not None and 0 < result.time_to[0.3] <= result.wall_s
    assert result.time_to[0.999] is None
    assert all(e["images_per_s"] > 0 for e in result.epochs)
    assert result.settings["jit_compile"] is False  # CPU
    loss, acc = model.evaluate(xt, yt, verbose=0)  # integer labels still work after fit
    assert acc == pytest.approx(result.history["val_accuracy"][-1], abs=1e-6)
