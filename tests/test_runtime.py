"""Tests of dlbook.runtime: the decisions are pure functions, tested for every device mix."""

import os
import random

import numpy as np
import pytest

from dlbook import runtime
from dlbook.runtime import Devices, choose_mixed_precision, choose_mode, choose_strategy, precision_policy

CPU = Devices(gpus=0, cpus=2)
T4 = Devices(gpus=1, gpu_compute_capabilities=((7, 5),), gpu_names=("Tesla T4",))
K80 = Devices(gpus=1, gpu_compute_capabilities=((3, 7),))
TWO_V100 = Devices(gpus=2, gpu_compute_capabilities=((7, 0), (7, 0)))
MIXED_PAIR = Devices(gpus=2, gpu_compute_capabilities=((8, 0), (6, 1)))
UNKNOWN_CC = Devices(gpus=1, gpu_compute_capabilities=(None,))
TPU = Devices(tpu=True)


@pytest.mark.parametrize(
    "env, devices, expected",
    [
        (None, CPU, "fast"),
        ("", CPU, "fast"),
        (None, T4, "full"),
        (None, TPU, "full"),
        ("full", CPU, "full"),
        (" Fast ", T4, "fast"),
        ("FULL", CPU, "full"),
    ],
)
def test_choose_mode(env, devices, expected):
    mode, reason = choose_mode(env, devices)
    assert mode == expected
    assert reason  # every decision says why


def test_choose_mode_rejects_unknown_value_naming_the_variable():
    with pytest.raises(ValueError, match="DLBOOK_MODE='quick'.*fast.*full"):
        choose_mode("quick", CPU)


@pytest.mark.parametrize(
    "devices, use, policy",
    [
        (CPU, False, "float32"),
        (T4, True, "mixed_float16"),
        (K80, False, "float32"),
        (TWO_V100, True, "mixed_float16"),
        (MIXED_PAIR, False, "float32"),  # the oldest GPU decides
        (UNKNOWN_CC, False, "float32"),
        (TPU, True, "mixed_bfloat16"),
    ],
)
def test_mixed_precision_only_where_it_helps(devices, use, policy):
    decided, reason = choose_mixed_precision(devices)
    assert decided is use
    assert precision_policy(devices) == policy
    assert reason


@pytest.mark.parametrize(
    "devices, expected",
    [(CPU, "default"), (T4, "default"), (TWO_V100, "mirrored"), (TPU, "tpu")],
)
def test_choose_strategy(devices, expected):
    assert choose_strategy(devices) == expected


def test_detect_devices_on_this_machine_matches_tensorflow():
    import tensorflow as tf

    devices = runtime.detect_devices()
    assert devices.gpus == len(tf.config.list_physical_devices("GPU"))
    assert devices.cpus == os.cpu_count()


def test_seed_everything_repeats_every_generator():
    import keras

    def draw():
        runtime.seed_everything(123)
        return (random.random(), np.random.rand(), float(keras.random.uniform(()).numpy()))

    first, second = draw(), draw()
    assert first == second
    runtime.seed_everything(124)
    assert (random.random(), np.random.rand()) != first[:2]


def test_setup_prints_one_line_with_mode_and_device(monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_MODE", "fast")
    rt = runtime.setup(seed=5)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("dlbook: mode=fast (set by DLBOOK_MODE)")
    assert "TensorFlow" in out[0] and "seed 5" in out[0]
    assert rt.fast and rt.pick("a", "b") == "a"
    if rt.devices.gpus == 0:
        assert "CPU only" in out[0] and rt.policy == "float32"


def test_make_strategy_on_one_device_is_the_default_strategy():
    import tensorflow as tf

    strategy = runtime.make_strategy(CPU)
    assert strategy.num_replicas_in_sync == 1
    assert strategy is tf.distribute.get_strategy()
