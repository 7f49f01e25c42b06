"""`make bench`, the yardstick: what this CPU can multiply, and what training gets of it.

A share of "the machine's matmul throughput" is only as honest as the matmul it is measured
against. One ``tf.matmul`` can be far from the best the machine does (its oneDNN or Eigen kernel,
the matrix size), so the yardstick here is the **best of several float32 products in the same
run**:

- ``tf_matmul``: ``tf.matmul`` of two 2048×2048 matrices in this process (oneDNN as configured);
- ``tf_matmul_other_onednn``: the same in a child process with ``TF_ENABLE_ONEDNN_OPTS`` flipped
  (TensorFlow reads it once, at import);
- ``conv1x1``: a 1×1 convolution of a 32×56×56×256 batch to 256 channels (a matmul in disguise,
  through the convolution kernels training uses);
- ``numpy``: NumPy's BLAS on the same 2048×2048 product;

and beside it the CPU's **theoretical peak**: cores × clock × float32 operations per cycle of its
widest vector unit, assuming two fused multiply–add units per core (Intel since Haswell, AMD since
Zen 2). The clock is the one ``/proc/cpuinfo`` reports; a virtual machine often shows the base
clock while the cores run faster, so when a measured product beats the peak, the report says what
clock that implies instead of printing a share above 100%. ``bf16_matmul`` times the product in
bfloat16, which is fast only where the CPU multiplies bfloat16 natively (AMX, AVX-512 BF16).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

# float32 floating-point operations per cycle and core, two FMA units (2 ops per lane each).
FP32_OPS_PER_CYCLE = {"AVX-512": 64, "AVX2": 32, "AVX": 16, "SSE2": 8, "NEON": 16}
# bfloat16 operations per cycle and core: AMX's tile unit (Intel quotes 1,024) and two AVX-512
# BF16 dot-product units (2 units × 32 pairs × 2 operations).
BF16_OPS_PER_CYCLE = {"amx_bf16": 1024, "avx512_bf16": 128}


def _best_rate(fn, flops: float, repeats: int) -> float:
    fn()  # trace / warm the caches
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = max(best, flops / (time.perf_counter() - start) / 1e9)
    return round(best, 1)


def tf_matmul_gflops(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> float:
    """Best ``n``×``n`` ``tf.matmul`` rate in GFLOP/s (2·n³ operations per product)."""
    import tensorflow as tf

    a = tf.cast(tf.random.stateless_normal((n, n), seed=(1, 2)), dtype)
    b = tf.cast(tf.random.stateless_normal((n, n), seed=(3, 4)), dtype)
    product = tf.function(lambda a, b: tf.matmul(a, b))
    return _best_rate(lambda: product(a, b).numpy(), 2 * n**3, repeats)


def conv1x1_gflops(batch: int = 32, size: int = 56, channels: int = 256, repeats: int = 5) -> float:
    """Best rate of a 1×1 convolution, ``batch``×``size``×``size``×``channels`` → ``channels``."""
    import tensorflow as tf

    x = tf.random.stateless_normal((batch, size, size, channels), seed=(5, 6))
    w = tf.random.stateless_normal((1, 1, channels, channels), seed=(7, 8))
    conv = tf.function(lambda x, w: tf.nn.conv2d(x, w, 1, "SAME"))
    flops = 2 * batch * size * size * channels * channels
    return _best_rate(lambda: conv(x, w).numpy(), flops, repeats)


def numpy_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 ``n``×``n`` product through NumPy's BLAS."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    return _best_rate(lambda: a @ b, 2 * n**3, repeats)


def other_onednn_gflops(n: int = 2048, repeats: int = 5) -> tuple[str, float | None]:
    """``tf.matmul`` in a child process with oneDNN switched the other way: (setting, GFLOP/s)."""
    now = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "")
    other = "0" if now == "1" else "1"
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import yardstick; print(yardstick.tf_matmul_gflops({n}, {repeats}))")
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=other, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        print(f"bench: the matmul with TF_ENABLE_ONEDNN_OPTS={other} failed, left out: "
              f"{done.stderr.strip().splitlines()[-1:]}")
        return other, None
    return other, float(done.stdout.strip().splitlines()[-1])


def theoretical_peak(cores: int, mhz: float | None, flags) -> dict:
    """Peak GFLOP/s in float32 (and bfloat16 where the CPU has it) from cores, clock and flags.

    >>> theoretical_peak(2, 2245.8, {"avx2", "fma"})["fp32_gflops"]
    143.7
    >>> theoretical_peak(2, None, {"avx2"})["fp32_gflops"] is None
    True
    """
    from dlbook.runtime import vector_isa

    isa = vector_isa(flags)
    per_cycle = FP32_OPS_PER_CYCLE.get(isa)
    ghz = None if mhz is None else mhz / 1000
    peak = {"cores": cores, "clock_ghz": None if ghz is None else round(ghz, 3), "isa": isa,
            "fp32_ops_per_cycle": per_cycle,
            "fp32_gflops": None if ghz is None or per_cycle is None
            else round(cores * ghz * per_cycle, 1)}
    native = [f for f in BF16_OPS_PER_CYCLE if f in flags]
    if native and ghz is not None:
        peak["bf16_gflops"] = round(cores * ghz * BF16_OPS_PER_CYCLE[native[0]], 1)
        peak["bf16_unit"] = native[0]
    return peak


def share_of(gflops: float | None, yard: dict) -> dict:
    """Training GFLOP/s as a share of the best measured product and of the theoretical peak."""
    if gflops is None:
        return {}
    out = {"of_best_gemm": round(gflops / yard["best_gflops"], 3)}
    peak = yard["peak"].get("fp32_gflops")
    if peak:
        out["of_peak"] = round(gflops / max(peak, yard["best_gflops"]), 3)
    return out


def measure(quick: bool = False) -> dict:
    """Every product above, the best of them, the theoretical peak, and what they imply."""
    from dlbook import runtime

    n, repeats = (512, 2) if quick else (2048, 5)
    model, flags, mhz = runtime.cpu_info()
    rates = {"tf_matmul": tf_matmul_gflops(n, repeats),
             "conv1x1": conv1x1_gflops(batch=4 if quick else 32, repeats=repeats),
             "numpy": numpy_gflops(n, repeats)}
    setting, other = other_onednn_gflops(n, repeats)
    rates[f"tf_matmul_onednn{setting}"] = other
    rates["bf16_matmul"] = tf_matmul_gflops(n, repeats, dtype="bfloat16")
    fp32 = {k: v for k, v in rates.items() if v is not None and k != "bf16_matmul"}
    best_name = max(fp32, key=fp32.get)
    peak = theoretical_peak(os.cpu_count() or 1, mhz, flags)
    out = {"cpu": model, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow default"), "gflops": rates,
           "best": best_name, "best_gflops": fp32[best_name], "peak": peak}
    if peak["fp32_gflops"] and fp32[best_name] > peak["fp32_gflops"]:
        # The cores ran faster than the reported clock: the implied minimum clock.
        out["implied_clock_ghz"] = round(fp32[best_name] / peak["cores"]
                                         / peak["fp32_ops_per_cycle"], 2)
    return out


def format_yardstick(y: dict) -> str:
    """Two lines for the bench's printout."""
    rates = ", ".join(f"{k} {'-' if v is None else v}" for k, v in y["gflops"].items())
    p = y["peak"]
    peak = (f"peak {p['fp32_gflops']} GFLOP/s float32 ({p['cores']} cores × {p['clock_ghz']} GHz "
            f"× {p['fp32_ops_per_cycle']} ops/cycle, {p['isa']})" if p["fp32_gflops"]
            else "peak unknown (no clock or vector width reported)")
    if "bf16_gflops" in p:
        peak += f", {p['bf16_gflops']} bfloat16 ({p['bf16_unit']})"
    if "implied_clock_ghz" in y:
        peak += f"; the best product implies a clock of at least {y['implied_clock_ghz']} GHz"
    return (f"  yardstick on {y['cpu'] or 'this CPU'}: best {y['best']} {y['best_gflops']} GFLOP/s "
            f"of {rates}\n  {peak}")
