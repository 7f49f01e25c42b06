"""Run mode, seeding, devices, mixed precision and distribution strategy.

Every chapter starts with::

    from dlbook import runtime
    rt = runtime.setup()          # seeds everything and prints one line, e.g.
    # dlbook: mode=fast (no GPU visible; DLBOOK_MODE=full overrides) | TensorFlow 2.21.0, ...

The *decisions* (which mode, whether to use mixed precision, which ``tf.distribute`` strategy)
are pure functions of a :class:`Devices` description, so they are unit-tested without a GPU;
only :func:`detect_devices` and :func:`make_strategy` touch TensorFlow.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field

MODE_ENV = "DLBOOK_MODE"
MODES = ("fast", "full")
PRECISION_ENV = "DLBOOK_PRECISION"
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
DEFAULT_SEED = 42

# NVIDIA GPUs with Tensor Cores (compute capability >= 7.0: V100, T4, A100, ...) gain from
# float16; older ones run it but slower than float32.
MIN_MIXED_PRECISION_CC = (7, 0)
# CPU instructions that multiply bfloat16 natively (Linux /proc/cpuinfo flag names): AMX tiles
# (Intel Sapphire Rapids and later) and AVX-512 BF16 dot products (Cooper Lake, Zen 4 and later).
# Without them TensorFlow converts bfloat16 to float32 and back around every product, which is
# slower than float32 (bench/training.py measures it on the CPU in use).
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Devices:
    """What hardware TensorFlow sees.

    ``gpu_compute_capabilities`` holds one ``(major, minor)`` tuple per GPU, or ``None`` when
    TensorFlow does not report it.

    >>> Devices(gpus=2, gpu_compute_capabilities=((7, 5), (7, 5))).gpus
    2
    """

    gpus: int = 0
    gpu_compute_capabilities: tuple = ()
    tpu: bool = False
    cpus: int = 1
    colab: bool = False
    gpu_names: tuple = field(default=())
    cpu_model: str = ""
    cpu_flags: frozenset = field(default=frozenset())


def parse_cpuinfo(text: str) -> tuple[str, frozenset, float | None]:
    """``(model name, flags, MHz)`` of the first processor in ``/proc/cpuinfo`` text.

    >>> model, flags, mhz = parse_cpuinfo("model name : AMD EPYC\\nflags : fpu avx2 fma\\ncpu MHz : 2245.7")
    >>> model, sorted(flags), mhz
    ('AMD EPYC', ['avx2', 'fma', 'fpu'], 2245.7)
    >>> parse_cpuinfo("")
    ('', frozenset(), None)
    """
    model, flags, mhz = "", frozenset(), None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and not model:
            model = value
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
        elif key == "cpu MHz" and mhz is None:
            try:
                mhz = float(value)
            except ValueError:
                pass
    return model, flags, mhz


def cpu_info() -> tuple[str, frozenset, float | None]:
    """:func:`parse_cpuinfo` of this machine (empty where ``/proc/cpuinfo`` does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return parse_cpuinfo(f.read())
    except OSError:
        import platform

        return platform.processor(), frozenset(), None


def vector_isa(flags) -> str:
    """The widest float32 vector instruction set the flags show: ``AVX-512``, ``AVX2`` ...

    >>> vector_isa({"sse2", "avx", "avx2", "fma"})
    'AVX2'
    >>> vector_isa(set())
    'unknown'
    """
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
                       ("sse2", "SSE2"), ("asimd", "NEON")):
        if flag in flags:
            return name
    return "unknown"


# --------------------------------------------------------------------------- decisions (pure)

def _setting(name: str, env_value: str | None, allowed, hint: str, what: str) -> str | None:
    """An environment variable's value, normalised and checked; ``None`` when unset or blank."""
    if env_value is None or env_value.strip() == "":
        return None
    value = env_value.strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}={env_value!r} is not {what}: {hint}, or unset it to choose by "
                         f"the hardware.")
    return value


def choose_mode(env_value: str | None, devices: Devices) -> tuple[str, str]:
    """Return ``(mode, reason)`` from the ``DLBOOK_MODE`` value and the devices.

    An explicit value wins; otherwise ``full`` when a GPU or TPU is visible, ``fast`` if not.

    >>> choose_mode(None, Devices(gpus=0))
    ('fast', 'no GPU visible; DLBOOK_MODE=full overrides')
    >>> choose_mode("FULL", Devices(gpus=0))[0]
    'full'
    """
    value = _setting(MODE_ENV, env_value, MODES,
                     f"use {MODE_ENV}=fast (small subsets, minutes on a CPU) or {MODE_ENV}=full "
                     f"(the book's real experiments)", "a run mode")
    if value:
        return value, f"set by {MODE_ENV}"
    if devices.tpu:
        return "full", f"TPU attached; {MODE_ENV}=fast overrides"
    if devices.gpus > 0:
        return "full", f"GPU visible; {MODE_ENV}=fast overrides"
    return "fast", f"no GPU visible; {MODE_ENV}=full overrides"


def choose_mixed_precision(devices: Devices) -> tuple[bool, str]:
    """Return ``(use_mixed_precision, reason)``.

    Mixed precision (float16 compute, float32 variables) only on GPUs that all have compute
    capability >= 7.0; bfloat16 on a TPU, and on a CPU that multiplies bfloat16 natively
    (:data:`BF16_CPU_FLAGS`); float32 on every other CPU, where reduced precision is emulated.

    >>> choose_mixed_precision(Devices(gpus=0, cpu_flags=frozenset({"avx2"})))
    (False, 'CPU without bfloat16 instructions (no AMX-BF16 or AVX-512 BF16)')
    >>> choose_mixed_precision(Devices(gpus=0, cpu_flags=frozenset({"amx_bf16"})))
    (True, 'CPU with amx_bf16: mixed_bfloat16')
    >>> choose_mixed_precision(Devices(gpus=1, gpu_compute_capabilities=((7, 5),)))[0]
    True
    """
    if devices.tpu:
        return True, "TPU: mixed_bfloat16"
    if devices.gpus == 0:
        native = [f for f in BF16_CPU_FLAGS if f in devices.cpu_flags]
        if native:
            return True, f"CPU with {native[0]}: mixed_bfloat16"
        return False, "CPU without bfloat16 instructions (no AMX-BF16 or AVX-512 BF16)"
    caps = devices.gpu_compute_capabilities
    if len(caps) != devices.gpus or any(c is None for c in caps):
        return False, "GPU compute capability unknown"
    oldest = min(tuple(c) for c in caps)
    if oldest < MIN_MIXED_PRECISION_CC:
        return False, f"GPU compute capability {oldest[0]}.{oldest[1]} < 7.0 (no Tensor Cores)"
    return True, f"GPU compute capability {oldest[0]}.{oldest[1]}: mixed_float16"


def precision_policy(devices: Devices) -> str:
    """The Keras dtype policy name for these devices.

    >>> precision_policy(Devices(tpu=True))
    'mixed_bfloat16'
    >>> precision_policy(Devices(gpus=0, cpu_flags=frozenset({"avx512_bf16"})))
    'mixed_bfloat16'
    """
    use, _ = choose_mixed_precision(devices)
    if not use:
        return "float32"
    return "mixed_bfloat16" if devices.tpu or devices.gpus == 0 else "mixed_float16"


def resolve_policy(env_value: str | None, devices: Devices,
                   allow_mixed_precision: bool = True) -> tuple[str, str]:
    """The Keras dtype policy and why: ``DLBOOK_PRECISION``, the chapter's wish, the hardware.

    A chapter that compares exact float32 values passes ``allow_mixed_precision=False`` and keeps
    float32 whatever the environment says; otherwise an explicit ``DLBOOK_PRECISION`` wins, and
    without one :func:`precision_policy` decides.

    >>> resolve_policy(None, Devices(gpus=0))
    ('float32', 'CPU without bfloat16 instructions (no AMX-BF16 or AVX-512 BF16)')
    >>> resolve_policy("mixed_bfloat16", Devices(gpus=0))
    ('mixed_bfloat16', 'set by DLBOOK_PRECISION')
    >>> resolve_policy("mixed_float16", Devices(gpus=0), allow_mixed_precision=False)
    ('float32', 'this chapter compares exact float32 values; DLBOOK_PRECISION=mixed_float16 not used')
    """
    value = _setting(PRECISION_ENV, env_value, POLICIES, f"use one of {', '.join(POLICIES)}",
                     "a precision policy")
    if not allow_mixed_precision:
        reason = "this chapter compares exact float32 values"
        if value and value != "float32":  # an override that is not followed is announced
            reason += f"; {PRECISION_ENV}={value} not used"
        return "float32", reason
    if value:
        return value, f"set by {PRECISION_ENV}"
    return precision_policy(devices), choose_mixed_precision(devices)[1]


def choose_strategy(devices: Devices) -> str:
    """Name of the ``tf.distribute`` strategy: ``"tpu"``, ``"mirrored"`` or ``"default"``.

    >>> choose_strategy(Devices(gpus=4))
    'mirrored'
    >>> choose_strategy(Devices(gpus=1))
    'default'
    """
    if devices.tpu:
        return "tpu"
    if devices.gpus > 1:
        return "mirrored"
    return "default"


# --------------------------------------------------------------------------- detection

def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def detect_devices() -> Devices:
    """Ask TensorFlow what it sees (GPUs, their compute capabilities, a Colab TPU)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    caps, names = [], []
    for gpu in gpus:
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except Exception:  # pragma: no cover - depends on the driver
            details = {}
        caps.append(details.get("compute_capability"))
        names.append(details.get("device_name", gpu.name))
    tpu = bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"))
    model, flags, _ = cpu_info()
    return Devices(
        gpus=len(gpus),
        gpu_compute_capabilities=tuple(caps),
        tpu=tpu,
        cpus=os.cpu_count() or 1,
        colab=in_colab(),
        gpu_names=tuple(names),
        cpu_model=model,
        cpu_flags=flags,
    )


# --------------------------------------------------------------------------- actions

def seed_everything(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy, TensorFlow and Keras so a run repeats.

    >>> seed_everything(7)
    7
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)  # seeds Python, NumPy and the backend
    return seed


def make_strategy(devices: Devices | None = None):
    """Build the ``tf.distribute`` strategy that :func:`choose_strategy` names."""
    import tensorflow as tf

    devices = devices or detect_devices()
    name = choose_strategy(devices)
    if name == "tpu":  # pragma: no cover - needs a TPU
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name == "mirrored":  # pragma: no cover - needs several GPUs
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@dataclass(frozen=True)
class Runtime:
    """What :func:`setup` decided, for the notebook to use (``rt.fast``, ``rt.mode`` ...)."""

    mode: str
    mode_reason: str
    seed: int
    devices: Devices
    policy: str
    strategy_name: str
    policy_reason: str = ""

    @property
    def fast(self) -> bool:
        return self.mode == "fast"

    def pick(self, fast, full):
        """``fast`` in fast mode, ``full`` in full mode: ``epochs = rt.pick(2, 15)``."""
        return fast if self.fast else full


def describe(rt: Runtime) -> str:
    """The one-line report every notebook prints."""
    import keras
    import tensorflow as tf

    d = rt.devices
    if d.tpu:
        hw = "TPU"
    elif d.gpus:
        hw = f"{d.gpus} GPU ({', '.join(map(str, d.gpu_names))})"
    else:
        hw = f"CPU only ({d.cpus} cores"
        hw += f", {d.cpu_model}, {vector_isa(d.cpu_flags)})" if d.cpu_model else ")"
    where = " | Colab" if d.colab else ""
    # float32 is the default and needs no reason; reduced precision says what chose it, and so
    # does a DLBOOK_PRECISION that the chapter did not follow.
    why = (f" ({rt.policy_reason})" if rt.policy_reason and (
        rt.policy != "float32" or PRECISION_ENV in rt.policy_reason) else "")
    return (
        f"dlbook: mode={rt.mode} ({rt.mode_reason}) | TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__} | {hw} | precision {rt.policy}{why} | "
        f"strategy {rt.strategy_name} | seed {rt.seed}{where}"
    )


CACHE_ENV = "DLBOOK_CACHE"


def shown_path(path) -> str:
    """``path`` as the book prints it: ``$DLBOOK_CACHE/...`` inside the cache that variable names,
    ``~/...`` inside the home folder, anything else unchanged. A reader's paths differ from the
    machine that built the page, so announcements name the place, not this machine's absolute path.

    >>> import os
    >>> os.environ[CACHE_ENV] = "/srv/books/cache"
    >>> shown_path("/srv/books/cache/fast_1a2b.keras")
    '$DLBOOK_CACHE/fast_1a2b.keras'
    >>> del os.environ[CACHE_ENV]
    >>> from pathlib import Path
    >>> shown_path(Path.home() / ".cache" / "dlbook" / "fast_1a2b.keras")
    '~/.cache/dlbook/fast_1a2b.keras'
    >>> shown_path("relative/file.txt")
    'relative/file.txt'
    """
    from pathlib import Path

    path = Path(path)
    places = [("$" + CACHE_ENV, os.environ.get(CACHE_ENV)), ("~", str(Path.home()))]
    for name, place in places:
        if place and path.is_absolute():
            try:
                return str(Path(name) / path.relative_to(Path(place).expanduser()))
            except ValueError:
                continue
    return str(path)


def current_mode() -> str:
    """The run mode without touching TensorFlow's devices more than needed."""
    return choose_mode(os.environ.get(MODE_ENV), detect_devices())[0]


RETRACING_NOTICE = "triggered tf.function retracing"


class _NoRetracingNotice:
    """A ``logging`` filter that drops TensorFlow's "N out of the last N calls ... triggered
    tf.function retracing" warning. The chapters trace one function per model on purpose (to
    compare models), which is what that heuristic warns about; every other warning still shows.

    >>> import logging
    >>> _NoRetracingNotice().filter(logging.makeLogRecord({"msg": "5 calls triggered tf.function retracing."}))
    False
    >>> _NoRetracingNotice().filter(logging.makeLogRecord({"msg": "something else"}))
    True
    """

    def filter(self, record) -> bool:
        return RETRACING_NOTICE not in record.getMessage()


_STARTUP_QUIETED = False


def quiet_startup_logs() -> None:
    """Keep TensorFlow's native start-up log lines out of the notebook's outputs.

    TensorFlow 2.21 writes lines from C++ to the process's stderr the first time anything is
    compiled with XLA (Keras compiles ``Conv2D(groups=...)`` with XLA on a CPU): "XLA service
    ... initialized" INFO lines unless ``TF_CPP_MIN_LOG_LEVEL`` hides them, and a "failed call
    to cuInit" ERROR line on a machine without a GPU even when it is set. Jupyter shows them
    under that cell. Compiling a one-number function here, once per process, with file
    descriptor 2 pointed at /dev/null, lets those lines go nowhere (about 0.15 s). Errors later
    on are not affected.
    """
    global _STARTUP_QUIETED
    if _STARTUP_QUIETED:  # setup() may run again in the same kernel: the lines came only once
        return
    _STARTUP_QUIETED = True
    import logging

    import tensorflow as tf

    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NoRetracingNotice) for f in tf_logger.filters):
        tf_logger.addFilter(_NoRetracingNotice())
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence (an embedded interpreter): nothing to do
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        tf.function(lambda x: x + 1, jit_compile=True)(tf.zeros(1))
    except Exception:  # noqa: BLE001 - no XLA on this build: then it never logs either
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


#: The article column of the book's pages (a 1,280 px window): a wider plot is shrunk to it.
COLUMN_PX = 688
#: The metadata key under which :func:`watch_figure_text` records a plot's smallest text.
TEXT_KEY = "dlbook_min_text_px"


def smallest_text_px(fig, png_width: int, column_px: int = COLUMN_PX) -> float | None:
    """The height in page pixels of ``fig``'s smallest label once the PNG of ``png_width``
    pixels (drawn at ``fig.dpi``) is shown in the book's column; ``None`` if it has no text.

    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(7, 3), dpi=100)
    >>> _ = fig.add_subplot().set_title("t", fontsize=7.2)
    >>> round(smallest_text_px(fig, 700), 1)   # 7.2 pt at 100 dpi, 700 px shown at 688
    9.8
    """
    from matplotlib.text import Text

    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip()]
    if not sizes:
        return None
    return min(sizes) * fig.dpi / 72 * min(1.0, column_px / png_width)


def watch_figure_text() -> bool:
    """In a notebook, record with every matplotlib plot the page height of its smallest text
    (:func:`smallest_text_px`; ``None`` for a plot without text) in the output's metadata, under
    :data:`TEXT_KEY`; the book's tests read it from the executed notebooks
    (tests/test_outputs.py). Returns whether a plot formatter was found."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return False
    shell = get_ipython()
    # A notebook kernel (Jupyter, Colab) only: a terminal IPython may draw in windows.
    if shell is None or not hasattr(shell, "kernel") or not hasattr(shell, "display_formatter"):
        return False
    import matplotlib.pyplot as plt

    # The inline backend registers its plot formatter when pyplot first loads the backend.
    plt.close(plt.figure())
    png = shell.display_formatter.formatters["image/png"]
    original = png.lookup_by_type(Figure) if Figure in png.type_printers else None
    if original is None or getattr(original, "_dlbook_watch", False):
        return original is not None

    def print_with_text_size(fig):
        import base64
        import struct

        data = original(fig)
        if not data:
            return data
        raw = base64.b64decode(data) if isinstance(data, str) else data
        width = struct.unpack(">I", raw[16:20])[0]  # the PNG header's IHDR width
        px = smallest_text_px(fig, width)
        return data, {TEXT_KEY: None if px is None else round(px, 2)}

    print_with_text_size._dlbook_watch = True
    png.for_type(Figure, print_with_text_size)
    return True


def setup(seed: int = DEFAULT_SEED, allow_mixed_precision: bool = True, quiet: bool = False) -> Runtime:
    """Seed everything, decide mode / precision / strategy, print the one-line report.

    ``allow_mixed_precision=False`` keeps float32 even on a GPU (for chapters that inspect
    exact float32 values); otherwise ``DLBOOK_PRECISION`` or :func:`choose_mixed_precision`
    decides (:func:`resolve_policy`).
    """
    devices = detect_devices()
    mode, reason = choose_mode(os.environ.get(MODE_ENV), devices)
    policy, policy_reason = resolve_policy(os.environ.get(PRECISION_ENV), devices,
                                           allow_mixed_precision)
    import keras

    keras.mixed_precision.set_global_policy(policy)
    quiet_startup_logs()
    watch_figure_text()
    seed_everything(seed)
    rt = Runtime(
        mode=mode,
        mode_reason=reason,
        seed=seed,
        devices=devices,
        policy=policy,
        strategy_name=choose_strategy(devices),
        policy_reason=policy_reason,
    )
    if not quiet:
        print(describe(rt))
    return rt
