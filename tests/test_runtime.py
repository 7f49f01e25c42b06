"""Tests of dlbook.runtime: the decisions are pure functions, tested for every device mix."""

import os
import random
import re

import numpy as np
import pytest

from dlbook import runtime
from dlbook.runtime import (Devices, choose_mixed_precision, choose_mode, choose_strategy,
                            parse_cpuinfo, precision_policy, resolve_policy)

CPU = Devices(gpus=0, cpus=2)
T4 = Devices(gpus=1, gpu_compute_capabilities=((7, 5),), gpu_names=("Tesla T4",))
K80 = Devices(gpus=1, gpu_compute_capabilities=((3, 7),))
TWO_V100 = Devices(gpus=2, gpu_compute_capabilities=((7, 0), (7, 0)))
MIXED_PAIR = Devices(gpus=2, gpu_compute_capabilities=((8, 0), (6, 1)))
UNKNOWN_CC = Devices(gpus=1, gpu_compute_capabilities=(None,))
TPU = Devices(tpu=True)
AVX2_CPU = Devices(gpus=0, cpus=2, cpu_flags=frozenset({"sse2", "avx", "avx2", "fma"}))
AVX512_NO_BF16 = Devices(gpus=0, cpus=2, cpu_flags=frozenset({"avx2", "avx512f", "avx512_vnni"}))
AVX512_BF16_CPU = Devices(gpus=0, cpus=2, cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16"}))
AMX_CPU = Devices(gpus=0, cpus=2, cpu_flags=frozenset({"avx512f", "avx512_bf16", "amx_tile",
                                                        "amx_bf16"}))
T4_ON_AMX_HOST = Devices(gpus=1, gpu_compute_capabilities=((7, 5),), cpu_flags=AMX_CPU.cpu_flags)
K80_ON_AMX_HOST = Devices(gpus=1, gpu_compute_capabilities=((3, 7),), cpu_flags=AMX_CPU.cpu_flags)


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
        (AVX2_CPU, False, "float32"),  # bfloat16 would be emulated: slower
        (AVX512_NO_BF16, False, "float32"),
        (AVX512_BF16_CPU, True, "mixed_bfloat16"),
        (AMX_CPU, True, "mixed_bfloat16"),
        (T4_ON_AMX_HOST, True, "mixed_float16"),  # with a GPU, the GPU decides
        (K80_ON_AMX_HOST, False, "float32"),
    ],
)
def test_mixed_precision_only_where_it_helps(devices, use, policy):
    decided, reason = choose_mixed_precision(devices)
    assert decided is use
    assert precision_policy(devices) == policy
    assert reason


@pytest.mark.parametrize(
    "env, allow, devices, expected",
    [
        (None, True, AVX2_CPU, "float32"),
        (None, True, AMX_CPU, "mixed_bfloat16"),
        (None, False, AMX_CPU, "float32"),  # exact-value chapters keep float32
        ("float32", True, AMX_CPU, "float32"),
        (" Mixed_BFloat16 ", True, AVX2_CPU, "mixed_bfloat16"),  # measure the emulation
        ("mixed_bfloat16", False, AVX2_CPU, "float32"),
        ("", True, T4, "mixed_float16"),
    ],
)
def test_resolve_policy(env, allow, devices, expected):
    policy, reason = resolve_policy(env, devices, allow)
    assert policy == expected
    assert reason


def test_resolve_policy_rejects_unknown_value_naming_the_variable():
    with pytest.raises(ValueError, match="DLBOOK_PRECISION='bf16'.*mixed_bfloat16"):
        resolve_policy("bf16", CPU)


def test_parse_cpuinfo_reads_the_first_processor_of_a_real_layout():
    text = "".join(
        f"processor\t: {i}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) "
        f"Platinum 8480C\ncpu MHz\t\t: {2000 + i}.000\nflags\t\t: fpu avx2 avx512f "
        f"amx_bf16{' extra' if i else ''}\n\n" for i in range(2))
    model, flags, mhz = parse_cpuinfo(text)
    assert model == "Intel(R) Xeon(R) Platinum 8480C"
    assert flags == {"fpu", "avx2", "avx512f", "amx_bf16"}
    assert mhz == 2000.0
    assert choose_mixed_precision(Devices(cpu_flags=flags))[0]


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
    monkeypatch.delenv("DLBOOK_PRECISION", raising=False)
    rt = runtime.setup(seed=5)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("dlbook: mode=fast (set by DLBOOK_MODE)")
    assert "TensorFlow" in out[0] and "seed 5" in out[0]
    assert rt.fast and rt.pick("a", "b") == "a"
    if rt.devices.gpus == 0:
        assert "CPU only" in out[0] and rt.devices.cpu_model in out[0]
        native_bf16 = bool({"amx_bf16", "avx512_bf16"} & rt.devices.cpu_flags)
        assert rt.policy == ("mixed_bfloat16" if native_bf16 else "float32")
        assert (f"precision {rt.policy} (CPU with" in out[0]) is native_bf16
    import keras

    keras.mixed_precision.set_global_policy("float32")  # for the other tests


def test_setup_keeps_float32_for_exact_chapters_whatever_the_environment(monkeypatch, capsys):
    import keras

    monkeypatch.setenv("DLBOOK_PRECISION", "mixed_bfloat16")
    try:
        rt = runtime.setup(allow_mixed_precision=False, quiet=True)
        assert rt.policy == "float32"
        assert keras.mixed_precision.global_policy().name == "float32"
        # the override it does not follow is announced in the setup line
        assert ("precision float32 (this chapter compares exact float32 values; "
                "DLBOOK_PRECISION=mixed_bfloat16 not used)") in runtime.describe(rt)
        monkeypatch.setenv("DLBOOK_PRECISION", "float32")
        rt = runtime.setup(allow_mixed_precision=False, quiet=True)
        assert "precision float32 |" in runtime.describe(rt)  # nothing ignored, nothing said
        monkeypatch.setenv("DLBOOK_PRECISION", "mixed_bfloat16")
        rt = runtime.setup(quiet=True)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        assert rt.policy_reason == "set by DLBOOK_PRECISION"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_make_strategy_on_one_device_is_the_default_strategy():
    import tensorflow as tf

    strategy = runtime.make_strategy(CPU)
    assert strategy.num_replicas_in_sync == 1
    assert strategy is tf.distribute.get_strategy()


def _stderr_of(code: str) -> str:
    import subprocess
    import sys

    # as a reader's kernel runs: TF_CPP_MIN_LOG_LEVEL unset (it hides some of the lines, not all)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr.split("--- after setup ---", 1)[-1]


GROUPED_CONV = ("import keras, numpy as np\n"
                "keras.layers.Conv2D(4, 3, groups=2)(np.zeros((1, 8, 8, 4), 'float32'))\n")


def test_setup_keeps_xla_start_up_lines_out_of_the_outputs():
    # Without it, the first XLA compilation (Keras compiles grouped convolutions with XLA on a
    # CPU) writes its INFO line to stderr, which Jupyter shows under the cell.
    bare = _stderr_of("import sys, tensorflow\nprint('--- after setup ---', file=sys.stderr, flush=True)\n"
                      + GROUPED_CONV)
    quiet = _stderr_of("import sys\nfrom dlbook import runtime\nruntime.quiet_startup_logs()\n"
                       "print('--- after setup ---', file=sys.stderr, flush=True)\n" + GROUPED_CONV)
    native = re.compile(r"^[IWE]\d{4} ", re.M)  # absl's INFO/WARNING/ERROR line prefix
    if not native.search(bare):
        pytest.skip("this TensorFlow logs nothing at XLA's start-up: nothing to keep out")
    assert not native.search(quiet), quiet


def test_setup_drops_only_the_retracing_notice():
    import logging

    from dlbook import runtime

    runtime.quiet_startup_logs()
    tf_logger = logging.getLogger("tensorflow")
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    tf_logger.addHandler(handler)
    try:
        tf_logger.warning("5 out of the last 5 calls to <f> triggered tf.function retracing.")
        tf_logger.warning("a real warning")
    finally:
        tf_logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["a real warning"]
