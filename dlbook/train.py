"""One efficient, honest way to fit a Keras classifier: a thin layer over ``model.fit``.

What it adds to ``model.fit``, and why:

- an input pipeline with ``tf.data`` built from arrays (cache, seeded shuffle, batch, optional
  augmentation, prefetch). The training dataset is **repeated** and ``fit`` is given
  ``steps_per_epoch``: with Keras 3 and a *finite* ``tf.data`` dataset, ``fit`` stalls for seconds
  at the start of every epoch after the first while it discards a spare iterator (measured on a
  2-core CPU: see :data:`EPOCH_STALL_NOTE`);
- learning-rate schedules (:func:`one_cycle`, :func:`cosine_warmup`, :func:`step_decay`), SGD
  with momentum and weight decay or AdamW, label smoothing on integer labels;
- :class:`EpochTimer`, a callback that records per-epoch wall time, training images per second,
  and the wall time at which each target validation (test) accuracy was first reached;
- mixed precision only on a GPU and XLA only where it measurably helps, decided by pure
  functions of :class:`dlbook.runtime.Devices` (:func:`choose_precision`,
  :func:`choose_jit_compile`);
- a :class:`ValueError` naming the argument for inconsistent inputs.

A complete run::

    from dlbook import data, train
    (x, y), (xt, yt) = data.load_fashion_mnist(normalize=True)
    result = train.fit(model, x, y, validation_data=(xt, yt), epochs=5, batch_size=256,
                       optimizer="sgd", learning_rate=0.2, schedule="one_cycle",
                       targets=(0.90, 0.92))
    result.time_to          # {0.9: 41.3, 0.92: None}  seconds since fit started (None: not reached)
    result.epochs[-1]       # {'epoch': 5, 'wall_s': ..., 'images_per_s': ..., ...}
    result.history["val_accuracy"]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from dlbook import runtime

__all__ = [
    "SCHEDULES", "OPTIMIZERS", "EPOCH_STALL_NOTE",
    "choose_precision", "choose_jit_compile",
    "augmentation", "make_dataset",
    "PixelShift", "WarmupCosineSchedule",
    "one_cycle", "cosine_warmup", "step_decay", "make_schedule", "make_optimizer",
    "SparseSmoothedCrossentropy", "EpochTimer", "TrainResult", "check_inputs",
    "distribution_scope", "fit",
]

SCHEDULES = ("one_cycle", "cosine", "step", "constant")
OPTIMIZERS = ("sgd", "adamw")

EPOCH_STALL_NOTE = (
    "Keras 3 + finite tf.data dataset: every epoch after the first starts late while fit() "
    "discards a spare iterator; a repeated dataset with steps_per_epoch avoids it "
    "(bench/training.py measures both)."
)


# --------------------------------------------------------------------------- decisions (pure)
def choose_precision(devices: runtime.Devices) -> tuple[str, str]:
    """Return ``(keras_dtype_policy, reason)``: mixed precision only where it is faster.

    ``mixed_float16`` on GPUs with Tensor Cores (compute capability >= 7.0), ``mixed_bfloat16``
    on a TPU and on CPUs with native bfloat16 instructions (AMX-BF16, AVX-512 BF16), ``float32``
    otherwise (other CPUs, an older or unknown GPU). Delegates to
    :func:`dlbook.runtime.choose_mixed_precision`, so the whole book decides in one place.

    >>> choose_precision(runtime.Devices(gpus=0))[0]
    'float32'
    >>> choose_precision(runtime.Devices(gpus=1, gpu_compute_capabilities=((7, 5),)))[0]
    'mixed_float16'
    """
    _, reason = runtime.choose_mixed_precision(devices)
    return runtime.precision_policy(devices), reason


def choose_jit_compile(devices: runtime.Devices) -> tuple[bool, str]:
    """Return ``(jit_compile, reason)``: XLA only on devices where it measurably helps.

    On a GPU or TPU, XLA fuses the many small element-wise ops of a convnet (batch norm,
    activations, residual additions) and is faster. On a CPU it was measured for the reference
    recipe (``bench/training.py``) and did not help, so it is off there.

    >>> choose_jit_compile(runtime.Devices(gpus=0))
    (False, 'CPU: XLA measured no faster than TensorFlow graphs here')
    >>> choose_jit_compile(runtime.Devices(gpus=1))[0]
    True
    """
    if devices.tpu:
        return True, "TPU: XLA is how TPUs run"
    if devices.gpus > 0:
        return True, "GPU: XLA fuses element-wise ops"
    return False, "CPU: XLA measured no faster than TensorFlow graphs here"


# --------------------------------------------------------------------------- input pipeline
def augmentation(pad: int = 2, flip: bool = True, seed: int = runtime.DEFAULT_SEED):
    """Random shifts (pad by ``pad`` pixels, crop back at a random place) and horizontal flips.

    Returns a ``keras.Sequential`` of preprocessing layers for use inside a ``tf.data``
    pipeline (:func:`make_dataset` applies it to whole batches). The shift is a
    ``RandomTranslation`` (subclassed as ``PixelShift`` so that ``pad`` means pixels) with zero
    fill and nearest-pixel sampling, which is the same as zero padding followed by a random crop
    but with a *different offset for every image* (Keras' ``RandomCrop`` draws one offset per
    batch).

    >>> aug = augmentation(pad=2, flip=True, seed=1)
    >>> [layer.__class__.__name__ for layer in aug.layers]
    ['PixelShift', 'RandomFlip']
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0 pixels, got {pad}. Use pad=0 for no shifts.")
    layers = []
    if pad > 0:
        layers.append(PixelShift(pad, seed=seed, name="random_shift"))
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    return keras.Sequential(layers, name="augmentation")


@keras.saving.register_keras_serializable(package="dlbook")
class PixelShift(keras.layers.RandomTranslation):
    """A ``RandomTranslation`` by up to ``pad`` whole pixels, with zero fill.

    Keras' translation factor is a fraction of the image size; this layer turns ``pad`` pixels
    into that fraction when it is built and sees the size (so one layer serves any image size).
    Sampling is nearest-pixel, so a shifted image is the zero-padded image cropped at a random
    offset, drawn anew for every image.

    >>> import numpy as np
    >>> x = np.zeros((1, 5, 5, 1), "float32"); x[0, 2, 2] = 1.0
    >>> shifted = np.asarray(PixelShift(pad=1, seed=3)(x, training=True))
    >>> float(shifted.sum()), float(np.abs(shifted - np.round(shifted)).max())  # whole pixels
    (1.0, 0.0)
    """

    def __init__(self, pad: int = 2, fill_mode: str = "constant",
                 interpolation: str = "nearest", **kwargs):
        # The factors are placeholders until build() knows the image size (a saved config
        # holds them too; they are replaced the same way when the layer is loaded).
        kwargs.pop("height_factor", None)
        kwargs.pop("width_factor", None)
        super().__init__(0.1, 0.1, fill_mode=fill_mode, interpolation=interpolation, **kwargs)
        self.pad = int(pad)

    def build(self, input_shape):
        h, w = input_shape[-3], input_shape[-2]
        self.height_lower, self.height_upper = -self.pad / h, self.pad / h
        self.width_lower, self.width_upper = -self.pad / w, self.pad / w
        super().build(input_shape)

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


def make_dataset(x, y, batch_size: int, *, shuffle: bool = True, repeat: bool = True,
                 augment=None, seed: int = runtime.DEFAULT_SEED, cache: bool = True):
    """A ``tf.data`` pipeline from arrays: seeded shuffle, (repeat), batch, augment, prefetch.

    ``repeat=True`` gives an endless dataset for ``fit(..., steps_per_epoch=...)``; every pass
    is reshuffled, and the sequence of batches is the same for the same ``seed``. ``augment`` is
    a Keras layer (e.g. :func:`augmentation`) applied to each training batch.

    Pass ``p`` is in the order of a stateless permutation seeded by ``(seed, p)`` alone, and
    each batch is gathered from the arrays by its indices. (``Dataset.shuffle`` with
    ``reshuffle_each_iteration=True`` gives every new *iterator* of the dataset the next order,
    and Keras makes a different number of iterators under ``tf.distribute``, so two devices
    trained on other batches than one: the rehearsal of the GPU paths found it.) ``cache``
    caches the unshuffled pipeline; a shuffled one reads the arrays in memory.

    >>> import numpy as np
    >>> ds = make_dataset(np.zeros((10, 4, 4, 1), "float32"), np.arange(10), 4, repeat=False)
    >>> [int(b[0].shape[0]) for b in ds]
    [4, 4, 2]
    """
    if shuffle:
        images, labels = tf.constant(x), tf.constant(y)
        examples = len(x)

        def one_pass(p):
            order = tf.random.experimental.stateless_shuffle(
                tf.range(examples, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), p]))
            return tf.data.Dataset.from_tensor_slices(order)

        passes = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
        ds = passes.flat_map(one_pass).batch(batch_size).map(
            lambda index: (tf.gather(images, index), tf.gather(labels, index)))
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if cache:
            ds = ds.cache()
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size)
    if augment is not None:
        # One call at a time: the Keras layers draw from a stateful seed generator, so parallel
        # calls would hand the random draws to batches in a different order on every run.
        # Prefetching still overlaps augmentation with training.
        ds = ds.map(lambda images, labels: (augment(images, training=True), labels))
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- schedules
@keras.saving.register_keras_serializable(package="dlbook")
class WarmupCosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear from ``start`` to ``peak`` over ``warmup`` steps, then half a cosine to ``final``.

    The rate reaches ``final`` at step ``total`` and stays there. :func:`one_cycle` and
    :func:`cosine_warmup` build it; ``kind`` records which (``"one_cycle"`` or ``"cosine"``).

    >>> s = WarmupCosineSchedule(peak=1.0, total=10, warmup=2, start=0.0, final=0.0)
    >>> [round(float(s(i)), 2) for i in (0, 1, 2, 6, 10, 20)]
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, peak: float, total: int, warmup: int, start: float, final: float,
                 kind: str = "cosine"):
        self.peak, self.total, self.warmup = float(peak), int(total), int(warmup)
        self.start, self.final, self.kind = float(start), float(final), kind

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rise = self.start + (self.peak - self.start) * step / max(self.warmup, 1)
        t = ops.clip((step - self.warmup) / max(self.total - self.warmup, 1), 0.0, 1.0)
        fall = self.final + (self.peak - self.final) * 0.5 * (1.0 + ops.cos(math.pi * t))
        return ops.where(step < self.warmup, rise, fall)

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "warmup": self.warmup,
                "start": self.start, "final": self.final, "kind": self.kind}


def one_cycle(peak_lr: float, total_steps: int, warmup_fraction: float = 0.25,
              start_div: float = 25.0, final_div: float = 1e4):
    """One-cycle learning rate: linear rise, then cosine fall, as a Keras schedule.

    Step 0 has ``peak_lr / start_div``; the rate rises linearly to ``peak_lr`` at step
    ``w = round(warmup_fraction * total_steps)``, then follows half a cosine down to
    ``peak_lr / final_div`` at ``total_steps`` (and stays there).

    >>> s = one_cycle(1.0, 100, warmup_fraction=0.2, start_div=10, final_div=100)
    >>> [round(float(s(i)), 4) for i in (0, 20, 100)]
    [0.1, 1.0, 0.01]
    """
    _check_steps(total_steps, "total_steps")
    warmup = int(round(warmup_fraction * total_steps))
    return WarmupCosineSchedule(peak_lr, total_steps, warmup, peak_lr / start_div,
                                peak_lr / final_div, "one_cycle")


def cosine_warmup(peak_lr: float, total_steps: int, warmup_steps: int = 0,
                  final_lr: float = 0.0):
    """Linear warm-up from 0 to ``peak_lr`` over ``warmup_steps``, then cosine to ``final_lr``.

    >>> s = cosine_warmup(0.1, 100, warmup_steps=10)
    >>> [round(float(s(i)), 4) for i in (0, 5, 10, 55, 100)]
    [0.0, 0.05, 0.1, 0.05, 0.0]
    """
    _check_steps(total_steps, "total_steps")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be between 0 and total_steps={total_steps}, "
                         f"got {warmup_steps}.")
    return WarmupCosineSchedule(peak_lr, total_steps, warmup_steps, 0.0, final_lr, "cosine")


def step_decay(base_lr: float, boundaries_epochs: Sequence[int], steps_per_epoch: int,
               factor: float = 0.1):
    """``base_lr``, divided by 10 (times ``factor``) at each epoch in ``boundaries_epochs``.

    As in the classic papers (e.g. ResNet: ÷10 at two fixed points). Epochs count from 0, so
    ``boundaries_epochs=[30]`` uses ``base_lr`` for epochs 0–29.

    >>> s = step_decay(0.1, [2, 4], steps_per_epoch=10)
    >>> [round(float(s(i)), 6) for i in (0, 19, 20, 40)]
    [0.1, 0.1, 0.01, 0.001]
    """
    _check_steps(steps_per_epoch, "steps_per_epoch")
    bounds = [int(b) * steps_per_epoch for b in boundaries_epochs]
    if bounds != sorted(bounds) or any(b <= 0 for b in bounds):
        raise ValueError(f"boundaries_epochs must be increasing positive epochs, got "
                         f"{list(boundaries_epochs)}.")
    if not bounds:
        return keras.optimizers.schedules.PiecewiseConstantDecay([10**12], [base_lr, base_lr])
    values = [base_lr * factor**i for i in range(len(bounds) + 1)]
    # PiecewiseConstantDecay switches *after* a boundary; we want the new rate at the boundary.
    return keras.optimizers.schedules.PiecewiseConstantDecay([b - 1 for b in bounds], values)


def _check_steps(value, name):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive number of steps, got {value!r}.")


def make_schedule(name: str, learning_rate: float, total_steps: int, steps_per_epoch: int,
                  warmup_fraction: float = 0.25, boundaries_epochs: Sequence[int] = ()):
    """The schedule called ``name`` (one of :data:`SCHEDULES`), or a constant rate.

    >>> make_schedule("constant", 0.01, 100, 10)
    0.01
    >>> make_schedule("cyclic", 0.1, 100, 10)
    Traceback (most recent call last):
    ...
    ValueError: schedule='cyclic' is unknown; use one of 'one_cycle', 'cosine', 'step', 'constant'.
    """
    if name == "one_cycle":
        return one_cycle(learning_rate, total_steps, warmup_fraction)
    if name == "cosine":
        return cosine_warmup(learning_rate, total_steps,
                             int(round(warmup_fraction * total_steps)))
    if name == "step":
        return step_decay(learning_rate, boundaries_epochs, steps_per_epoch)
    if name == "constant":
        return learning_rate
    raise ValueError(f"schedule={name!r} is unknown; use one of "
                     + ", ".join(repr(s) for s in SCHEDULES) + ".")


def make_optimizer(name: str, learning_rate, momentum: float = 0.9, weight_decay: float = 5e-4,
                   nesterov: bool = True):
    """SGD with (Nesterov) momentum and weight decay, or AdamW.

    Weight decay is not applied to biases and batch-norm scales and offsets.

    >>> make_optimizer("adamw", 1e-3, weight_decay=1e-4).__class__.__name__
    'AdamW'
    """
    if name == "sgd":
        opt = keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov,
                                   weight_decay=weight_decay or None)
    elif name == "adamw":
        opt = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer={name!r} is unknown; use 'sgd' or 'adamw', or pass a "
                         "keras.optimizers.Optimizer to fit().")
    if weight_decay:
        opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt


# --------------------------------------------------------------------------- loss
@keras.saving.register_keras_serializable(package="dlbook")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy for integer labels, with label smoothing.

    Targets become ``(1 - s) * one_hot + s / classes`` (Keras' own sparse cross-entropy has no
    label smoothing). Labels stay integers everywhere, so ``model.evaluate(x_test, y_test)``
    works as usual.

    >>> loss = SparseSmoothedCrossentropy(0.1)
    >>> round(float(loss(np.array([0]), np.array([[0.9, 0.1]]))), 4)  # -(.95 ln .9 + .05 ln .1)
    0.2152
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "sparse_smoothed_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        n = ops.shape(y_pred)[-1]
        labels = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), n, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(labels, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


# --------------------------------------------------------------------------- timing callback
class EpochTimer(keras.callbacks.Callback):
    """A Keras callback: per-epoch wall time, images/s, and time to each target accuracy.

    After ``fit``: ``timer.epochs`` is a list of dicts (``epoch``, ``wall_s`` for the whole
    epoch, ``train_s`` without validation, ``first_batch_s`` — a start-of-epoch stall shows here
    —, ``elapsed_s`` since training began, ``images_per_s`` and the epoch's logs);
    ``timer.time_to[target]`` is the elapsed seconds at the end of the first epoch whose
    ``monitor`` value reached ``target`` (``None`` if never); ``timer.epoch_to`` the epoch.
    ``clock`` (default ``time.perf_counter``) lets a test drive the time.

    >>> timer = EpochTimer(images_per_epoch=60000, targets=(0.9,))
    >>> timer.time_to
    {0.9: None}
    """

    def __init__(self, images_per_epoch: int, targets: Sequence[float] = (),
                 monitor: str = "val_accuracy", clock=None):
        super().__init__()
        self.images_per_epoch = int(images_per_epoch)
        self.targets = tuple(sorted(float(t) for t in targets))
        self.monitor = monitor
        self.clock = clock or time.perf_counter
        self.epochs: list[dict] = []
        self.time_to: dict = {t: None for t in self.targets}
        self.epoch_to: dict = {t: None for t in self.targets}
        self._t0 = None

    def start(self):
        """Start the clock now (``fit`` calls this just before ``model.fit``, so the times
        include building the input pipeline's iterator, which precedes ``on_train_begin``)."""
        self._t0 = self.clock()

    def on_train_begin(self, logs=None):
        if self._t0 is None:
            self._t0 = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.clock()
        self._first_batch = None
        self._train_end = None

    def on_train_batch_end(self, batch, logs=None):
        if self._first_batch is None:
            self._first_batch = self.clock()

    def on_test_begin(self, logs=None):
        if self._train_end is None:
            self._train_end = self.clock()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        logs = logs or {}
        train_end = self._train_end or now
        train_s = max(train_end - self._epoch_start, 1e-9)
        elapsed = now - self._t0
        row = {"epoch": epoch + 1, "wall_s": now - self._epoch_start, "train_s": train_s,
               "first_batch_s": (self._first_batch or now) - self._epoch_start,
               "elapsed_s": elapsed, "images_per_s": self.images_per_epoch / train_s}
        for key, value in logs.items():
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                pass
        self.epochs.append(row)
        value = row.get(self.monitor)
        if value is not None:
            for t in self.targets:
                if self.time_to[t] is None and value >= t:
                    self.time_to[t] = elapsed
                    self.epoch_to[t] = epoch + 1



# --------------------------------------------------------------------------- checks
def check_inputs(model, x, y, batch_size: int, mode: str, name_x: str = "x", name_y: str = "y"):
    """Raise a ``ValueError`` naming the argument when ``x``, ``y``, ``batch_size`` and the model
    do not fit together; return the batch size to use.

    In fast mode a batch larger than the data shrinks to the data size; in full mode it is an
    error (it usually means a subset was passed by mistake).

    >>> import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> check_inputs(m, np.zeros((8, 4)), np.zeros(8, int), 4, "full")
    4
    >>> check_inputs(m, np.zeros((8, 4)), np.full(8, 5), 4, "full")
    Traceback (most recent call last):
    ...
    ValueError: y has labels up to 5 but the model has 3 outputs: labels must be integers 0..2 (one per output unit). Check the last Dense layer's units or the labels.
    """
    n = len(x)
    if n == 0:
        raise ValueError(f"{name_x} is empty: there is nothing to train or evaluate on.")
    if len(y) != n:
        raise ValueError(f"{name_y} has {len(y)} labels but {name_x} has {n} examples; "
                         "they must have the same length.")
    in_shape = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) != in_shape and None not in in_shape:
        raise ValueError(f"{name_x} has examples of shape {tuple(x.shape[1:])} but the model "
                         f"expects {in_shape}.")
    outputs = model.output_shape[-1]
    y_arr = np.asarray(y)
    if y_arr.ndim > 1 and not (y_arr.ndim == 2 and y_arr.shape[1] == 1):
        raise ValueError(f"{name_y} must hold integer class labels of shape (N,), got shape "
                         f"{y_arr.shape}; use np.argmax(one_hot, axis=1).")
    if not np.issubdtype(y_arr.dtype, np.integer):
        raise ValueError(f"{name_y} must hold integer class labels, got dtype {y_arr.dtype}.")
    if y_arr.min() < 0 or y_arr.max() >= outputs:
        raise ValueError(f"{name_y} has labels up to {y_arr.max()} but the model has {outputs} "
                         f"outputs: labels must be integers 0..{outputs - 1} (one per output "
                         "unit). Check the last Dense layer's units or the labels.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size > n:
        if mode == "full":
            raise ValueError(f"batch_size={batch_size} is larger than the {n} examples in "
                             f"{name_x} (full mode): pass the whole training set or a smaller "
                             "batch_size.")
        return n
    return int(batch_size)


# --------------------------------------------------------------------------- fit
def distribution_scope(model):
    """The scope of the ``tf.distribute`` strategy ``model`` was built in (a no-op scope for a
    model built outside any): compile and create optimizers inside it.

    >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> with distribution_scope(m):
    ...     tf.distribute.get_strategy().num_replicas_in_sync
    1
    """
    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    return strategy.scope()


@dataclass
class TrainResult:
    """What :func:`fit` returns: the Keras history, per-epoch timings and times to targets."""

    history: dict
    epochs: list
    time_to: dict
    epoch_to: dict
    wall_s: float
    settings: dict = field(default_factory=dict)

    @property
    def best_accuracy(self) -> float | None:
        """Best validation accuracy over the epochs (``None`` without validation data)."""
        acc = self.history.get("val_accuracy")
        return max(acc) if acc else None

    def best_accuracy_within(self, seconds: float) -> float | None:
        """Best validation accuracy among epochs that ended within ``seconds`` of the start."""
        acc = [e["val_accuracy"] for e in self.epochs
               if e["elapsed_s"] <= seconds and "val_accuracy" in e]
        return max(acc) if acc else None


def fit(model, x, y, *, validation_data=None, epochs: int = 10, batch_size: int = 128,
        optimizer="sgd", learning_rate: float = 0.1, schedule: str = "one_cycle",
        warmup_fraction: float = 0.25, boundaries_epochs: Sequence[int] = (),
        momentum: float = 0.9, weight_decay: float = 5e-4, label_smoothing: float = 0.0,
        augment=None, targets: Sequence[float] = (), seed: int = runtime.DEFAULT_SEED,
        mode: str | None = None, jit_compile: bool | None = None, devices=None,
        callbacks: Sequence = (), verbose: int = 2, eval_batch_size: int = 1024) -> TrainResult:
    """Compile ``model`` and train it on integer-labelled arrays; return a :class:`TrainResult`.

    ``optimizer`` is ``"sgd"``, ``"adamw"`` or a Keras optimizer (then ``learning_rate``,
    ``schedule``, ``momentum`` and ``weight_decay`` are not used). ``augment`` is ``None``,
    ``True`` (:func:`augmentation` defaults) or a Keras layer. ``jit_compile=None`` lets
    :func:`choose_jit_compile` decide; ``mode=None`` uses the book's run mode.

    >>> result = fit(model, x, y, validation_data=(xt, yt), epochs=3, batch_size=256,
    ...              learning_rate=0.2, label_smoothing=0.1, targets=(0.9,))  # doctest: +SKIP
    """
    mode = mode or runtime.current_mode()
    if mode not in runtime.MODES:
        raise ValueError(f"mode={mode!r} is unknown; use 'fast' or 'full'.")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}.")
    batch_size = check_inputs(model, x, y, batch_size, mode)
    if validation_data is not None:
        xv, yv = validation_data
        check_inputs(model, xv, yv, 1, mode, "validation_data[0]", "validation_data[1]")
    if schedule not in SCHEDULES:
        make_schedule(schedule, learning_rate, 1, 1)  # raises the ValueError naming it
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")

    devices = devices or runtime.detect_devices()
    if jit_compile is None:
        jit_compile, _ = choose_jit_compile(devices)

    steps_per_epoch = math.ceil(len(x) / batch_size)
    total_steps = steps_per_epoch * int(epochs)
    if augment is True:
        augment = augmentation(seed=seed)
    # A model built inside a tf.distribute strategy's scope (MirroredStrategy over several GPUs)
    # trains under that strategy; its optimizer and metrics must be made in the same scope, or
    # Keras stops with "Mixing different tf.distribute.Strategy objects".
    with distribution_scope(model):
        if isinstance(optimizer, str):
            if optimizer not in OPTIMIZERS:
                make_optimizer(optimizer, 0.1)  # raises the ValueError naming it
            lr = make_schedule(schedule, learning_rate, total_steps, steps_per_epoch,
                               warmup_fraction, boundaries_epochs)
            optimizer = make_optimizer(optimizer, lr, momentum, weight_decay)
        model.compile(optimizer=optimizer, loss=SparseSmoothedCrossentropy(label_smoothing),
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                      jit_compile=bool(jit_compile))
    train_ds = make_dataset(x, y, batch_size, shuffle=True, repeat=True, augment=augment,
                            seed=seed)
    val_ds = None
    if validation_data is not None:
        val_ds = make_dataset(validation_data[0], validation_data[1],
                              min(eval_batch_size, len(validation_data[0])),
                              shuffle=False, repeat=False)
    timer = EpochTimer(steps_per_epoch * batch_size, targets)  # repeated data: full batches
    start = time.perf_counter()
    timer.start()
    history = model.fit(train_ds, epochs=int(epochs), steps_per_epoch=steps_per_epoch,
                        validation_data=val_ds, callbacks=[timer, *callbacks], verbose=verbose,
                        shuffle=False)
    wall = time.perf_counter() - start
    settings = {"epochs": int(epochs), "batch_size": batch_size, "steps_per_epoch": steps_per_epoch,
                "schedule": schedule, "learning_rate": learning_rate,
                "label_smoothing": label_smoothing, "weight_decay": weight_decay,
                "jit_compile": bool(jit_compile), "augment": augment is not None,
                "mode": mode, "seed": seed}
    return TrainResult(history={k: [float(v) for v in vals] for k, vals in history.history.items()},
                       epochs=timer.epochs, time_to=dict(timer.time_to),
                       epoch_to=dict(timer.epoch_to), wall_s=wall, settings=settings)
