"""Tests of dlbook.data: the offline path into Keras' cache, the clear error, subsets, photos."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from dlbook import data

DEBIAN = data.DEBIAN_DIR


def write_idx(folder: Path, n_train=30, n_test=20, seed=0):
    """Write tiny Fashion-MNIST-format files (IDX, gzipped) so the real Keras loader reads them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    return folder


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Point Keras' home (fixed when Keras is imported) at an empty temporary folder."""
    import keras.src.backend.config as keras_config

    home = tmp_path / "keras_home"
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(home))
    monkeypatch.delenv("DLBOOK_DATA_DIR", raising=False)
    return home


def test_cache_dir_is_where_keras_looks(keras_home):
    from keras.src.backend.config import keras_home as keras_home_of_keras

    assert data.keras_cache_dir() == Path(keras_home_of_keras()) / "datasets" / "fashion-mnist"
    assert data.keras_cache_dir() == keras_home / "datasets" / "fashion-mnist"


def test_data_dir_is_linked_into_the_keras_cache_and_loaded_by_keras(keras_home, tmp_path, monkeypatch):
    src = write_idx(tmp_path / "mine")
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(src))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    assert data.ensure_fashion_mnist() == src
    (x, y), (xt, yt) = data.load_fashion_mnist(subset=False)
    assert x.shape == (30, 28, 28) and xt.shape == (20, 28, 28)
    assert y.tolist() == [i % 10 for i in range(30)]
    assert (data.keras_cache_dir() / data.FASHION_FILES[0]).is_symlink()


def test_data_dir_subfolder_is_found(keras_home, tmp_path, monkeypatch):
    write_idx(tmp_path / "root" / "fashion-mnist")
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "root"))
    assert data.ensure_fashion_mnist() == tmp_path / "root" / "fashion-mnist"


def test_bad_data_dir_is_a_clear_error(keras_home, tmp_path, monkeypatch):
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(data.DataUnavailableError, match="DLBOOK_DATA_DIR=.*is not a folder"):
        data.ensure_fashion_mnist()
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(data.DataUnavailableError, match="does not hold the Fashion-MNIST files"):
        data.ensure_fashion_mnist()


def test_no_data_and_no_network_names_the_fixes(keras_home, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_fashion_mnist(subset=False)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "DLBOOK_DATA_DIR" in message


def test_existing_cache_files_are_kept(keras_home, tmp_path, monkeypatch):
    cache = data.keras_cache_dir()
    write_idx(cache, n_train=10, n_test=10)
    before = (cache / data.FASHION_FILES[1]).read_bytes()
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(write_idx(tmp_path / "other", seed=1)))
    assert data.ensure_fashion_mnist() is None
    assert (cache / data.FASHION_FILES[1]).read_bytes() == before


def test_broken_links_are_replaced(keras_home, tmp_path, monkeypatch):
    cache = data.keras_cache_dir()
    cache.mkdir(parents=True)
    (cache / data.FASHION_FILES[0]).symlink_to(tmp_path / "gone.gz")
    src = write_idx(tmp_path / "src")
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(src))
    data.ensure_fashion_mnist()
    assert (cache / data.FASHION_FILES[0]).resolve() == (src / data.FASHION_FILES[0]).resolve()


@pytest.mark.skipif(not data._has_all(DEBIAN), reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_the_debian_package(keras_home):
    (x, y), (xt, yt) = data.load_fashion_mnist(subset=False)
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10
    (xs, ys), (xts, yts) = data.load_fashion_mnist(subset=True, normalize=True)
    assert xs.shape == (data.FAST_TRAIN, 28, 28, 1) and xts.shape == (data.FAST_TEST, 28, 28, 1)
    assert xs.dtype == np.float32 and 0.0 <= xs.min() and xs.max() <= 1.0
    assert np.bincount(ys).tolist() == [data.FAST_TRAIN // 10] * 10


def test_stratified_subset_keeps_proportions_and_is_seeded():
    y = np.array([0] * 700 + [1] * 200 + [2] * 100)
    x = np.arange(1000)
    xs, ys = data.stratified_subset(x, y, 101, seed=3)
    assert len(ys) == 101
    assert np.bincount(ys).tolist() == [71, 20, 10]  # 70.7, 20.2, 10.1 by largest remainder
    assert (y[xs] == ys).all()  # pairs stay aligned
    assert len(set(xs.tolist())) == 101  # no repeats
    assert (data.stratified_subset(x, y, 101, seed=3)[0] == xs).all()
    assert not (data.stratified_subset(x, y, 101, seed=4)[0] == xs).all()


def test_stratified_subset_errors():
    with pytest.raises(ValueError, match="n=0"):
        data.stratified_subset(np.zeros(5), np.zeros(5), 0)
    with pytest.raises(ValueError, match="x has 5 examples but y has 4"):
        data.stratified_subset(np.zeros(5), np.zeros(4), 2)


@pytest.mark.parametrize("name", data.PHOTO_NAMES)
def test_bundled_photos_load_offline(name):
    image = data.load_photo(name)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert min(image.shape[:2]) >= 256
    assert image.std() > 10  # a real photograph, not a blank


def test_load_photos_batches_and_scales():
    batch = data.load_photos(("temple", "cat"))
    assert batch.shape == (2, 300, 451, 3)
    assert batch.dtype == np.float32 and batch.max() <= 1.0


def test_unknown_photo_lists_the_choices():
    with pytest.raises(ValueError, match="unknown photo 'dog'.*temple"):
        data.load_photo("dog")


def test_cli_reports_ready(keras_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLBOOK_DATA_DIR", str(write_idx(tmp_path / "d")))
    assert data.main([]) == 0
    assert "Fashion-MNIST ready" in capsys.readouterr().out
