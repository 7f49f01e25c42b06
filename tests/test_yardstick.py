"""bench/yardstick.py: the best of several products, the theoretical peak, and the shares."""

import doctest
import importlib.util

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("yardstick", ROOT / "bench" / "yardstick.py")
yardstick = importlib.util.module_from_spec(spec)
spec.loader.exec_module(yardstick)


def test_yardstick_doctests():
    assert doctest.testmod(yardstick).failed == 0


@pytest.mark.parametrize("flags, isa, fp32, bf16", [
    ({"sse2", "avx", "avx2", "fma"}, "AVX2", 2 * 3.0 * 32, None),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX-512", 2 * 3.0 * 64, 2 * 3.0 * 128),
    ({"avx512f", "avx512_bf16", "amx_bf16"}, "AVX-512", 2 * 3.0 * 64, 2 * 3.0 * 1024),
    ({"sse2"}, "SSE2", 2 * 3.0 * 8, None),
])
def test_theoretical_peak_multiplies_cores_clock_and_vector_width(flags, isa, fp32, bf16):
    peak = yardstick.theoretical_peak(2, 3000.0, flags)
    assert peak["isa"] == isa and peak["fp32_gflops"] == pytest.approx(fp32)
    assert peak.get("bf16_gflops") == (None if bf16 is None else pytest.approx(bf16))


def _fake_rates(monkeypatch, tf, conv, numpy, other, bf16=5.0, mhz=2000.0, flags=("avx2",)):
    monkeypatch.setattr(yardstick, "tf_matmul_gflops",
                        lambda n, r, dtype="float32": bf16 if dtype == "bfloat16" else tf)
    monkeypatch.setattr(yardstick, "conv1x1_gflops", lambda batch, repeats: conv)
    monkeypatch.setattr(yardstick, "numpy_gflops", lambda n, r: numpy)
    monkeypatch.setattr(yardstick, "other_onednn_gflops", lambda n, r: ("0", other))
    from dlbook import runtime

    monkeypatch.setattr(runtime, "cpu_info", lambda: ("Test CPU", frozenset(flags), mhz))
    monkeypatch.setattr(yardstick.os, "cpu_count", lambda: 2)


def test_the_yardstick_is_the_best_float32_product_never_bfloat16(monkeypatch):
    _fake_rates(monkeypatch, tf=90.0, conv=110.0, numpy=100.0, other=None, bf16=500.0)
    y = yardstick.measure(quick=True)
    assert (y["best"], y["best_gflops"]) == ("conv1x1", 110.0)
    assert y["gflops"]["tf_matmul_onednn0"] is None  # a failed child run is left out, not 0
    assert y["peak"]["fp32_gflops"] == 128.0 and "implied_clock_ghz" not in y
    shares = yardstick.share_of(99.0, y)
    assert shares == {"of_best_gemm": 0.9, "of_peak": round(99 / 128, 3)}


def test_a_product_above_the_reported_peak_implies_a_faster_clock(monkeypatch):
    _fake_rates(monkeypatch, tf=150.0, conv=192.0, numpy=100.0, other=160.0)
    y = yardstick.measure(quick=True)
    assert y["implied_clock_ghz"] == 3.0  # 192 GFLOP/s / (2 cores × 32 ops per cycle)
    assert yardstick.share_of(96.0, y)["of_peak"] == 0.5  # never above 100% of a peak
    assert "at least 3.0 GHz" in yardstick.format_yardstick(y)
