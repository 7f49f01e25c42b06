"""Datasets that work offline: Fashion-MNIST, bundled photographs, fast-mode subsets, scenes.

Fashion-MNIST is always loaded with Keras' own loader,
``keras.datasets.fashion_mnist.load_data()``. Before calling it, :func:`ensure_fashion_mnist`
links the four ``.gz`` files into Keras' cache (``$KERAS_HOME`` or ``~/.keras``, sub-folder
``datasets/fashion-mnist``) from the first of these that has them:

1. the folder named by the environment variable ``DLBOOK_DATA_DIR``
   (or its ``fashion-mnist`` sub-folder);
2. ``/usr/share/datasets/fashion-mnist`` (Debian: ``apt-get install dataset-fashion-mnist``).

If neither has them, Keras downloads them as usual; without a network that fails with
:class:`DataUnavailableError`, which says what to install. ``python -m dlbook.data`` checks all
this ahead of time: it links a local copy, or says that Keras will download the files, or, on a
machine that cannot reach Keras' download server, fails (exit status 1) with the offline
remedies.

Scenes of several Fashion-MNIST items with exact boxes and masks (:func:`make_scenes`,
:func:`scene_dataset`) are made in :mod:`dlbook.scenes` and re-exported here.

>>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()   # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from dlbook import checks

DATA_DIR_ENV = "DLBOOK_DATA_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Where keras.datasets.fashion_mnist downloads from (its origin is
# https://storage.googleapis.com/tensorflow/tf-keras-datasets/...).
KERAS_DATA_HOST = "storage.googleapis.com"

# Subset sizes used in fast mode: enough for every cell to run and every assert to hold.
FAST_TRAIN = 6000
FAST_TEST = 2000


class DataUnavailableError(RuntimeError):
    """A dataset is neither on disk nor downloadable."""


HOW_TO_GET_FASHION = (
    "Fashion-MNIST is not on this machine and could not be downloaded. Fix it one of these ways:\n"
    "  * Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
    "(files land in /usr/share/datasets/fashion-mnist)\n"
    f"  * put the four files {', '.join(FASHION_FILES)} in a folder and set "
    f"{DATA_DIR_ENV}=/path/to/that/folder\n"
    "  * or connect to the internet once: Keras then downloads and caches them."
)


def keras_cache_dir() -> Path:
    """Where ``keras.datasets.fashion_mnist`` looks for its files.

    Keras fixes its home folder when it is imported (``$KERAS_HOME``, else ``~/.keras``, else
    ``/tmp/.keras`` when the home folder is read-only), so ask Keras rather than guess.

    >>> keras_cache_dir().name
    'fashion-mnist'
    """
    try:
        from keras.src.backend.config import keras_home

        home = keras_home()
    except ImportError:  # a Keras without that accessor: same rule by hand
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "fashion-mnist"


def _has_all(folder: Path) -> bool:
    return all((folder / f).is_file() and (folder / f).stat().st_size > 0 for f in FASHION_FILES)


def fashion_mnist_sources() -> list[Path]:
    """Folders searched for the Fashion-MNIST files, in order of preference."""
    sources = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        base = Path(env).expanduser()
        sources += [base, base / "fashion-mnist"]
    sources.append(DEBIAN_DIR)
    return sources


def ensure_fashion_mnist(verbose: bool = False) -> Path | None:
    """Link the Fashion-MNIST files into the Keras cache if a local copy exists.

    Returns the folder the files came from, or ``None`` when the cache already had them or no
    local copy exists (Keras will then try to download). Files already in the cache are kept
    (never overwritten); broken links are replaced.
    """
    verbose = checks.flag(verbose, "verbose")
    cache = keras_cache_dir()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        if not Path(env).expanduser().is_dir():
            raise DataUnavailableError(
                f"{DATA_DIR_ENV}={env!r} is not a folder. Point it at the folder holding "
                f"{', '.join(FASHION_FILES)}, or unset it."
            )
        if not any(_has_all(s) for s in fashion_mnist_sources()[:2]):
            raise DataUnavailableError(
                f"{DATA_DIR_ENV}={env!r} does not hold the Fashion-MNIST files "
                f"{', '.join(FASHION_FILES)} (neither does its fashion-mnist/ sub-folder)."
            )
    if _has_all(cache):
        return None
    for source in fashion_mnist_sources():
        if not _has_all(source):
            continue
        cache.mkdir(parents=True, exist_ok=True)
        for name in FASHION_FILES:
            target = cache / name
            if target.is_file() and target.stat().st_size > 0:
                continue
            if target.is_symlink() or target.exists():
                target.unlink()  # a broken link or an empty file
            try:
                target.symlink_to(source / name)
            except OSError:  # file systems without symlinks
                shutil.copyfile(source / name, target)
        if verbose:
            from dlbook.runtime import shown_path

            print(f"dlbook: Fashion-MNIST linked into {shown_path(cache)} from "
                  f"{shown_path(source)}")
        return source
    return None


def load_fashion_mnist(subset: bool | None = None, normalize: bool = False, seed: int = 42):
    """Load Fashion-MNIST through ``keras.datasets.fashion_mnist.load_data()``, offline first.

    ``subset=None`` follows the run mode (a stratified subset of ``FAST_TRAIN`` / ``FAST_TEST``
    images in fast mode, everything in full mode); ``True``/``False`` force it.
    ``normalize=True`` returns float32 images in [0, 1] with a channel axis (N, 28, 28, 1).

    >>> (x, y), (xt, yt) = load_fashion_mnist(subset=True)   # doctest: +SKIP
    >>> x.shape, xt.shape                                      # doctest: +SKIP
    ((6000, 28, 28), (2000, 28, 28))
    """
    if subset is not None:
        subset = checks.flag(subset, "subset")
    normalize = checks.flag(normalize, "normalize")
    seed = checks.seed(seed)
    ensure_fashion_mnist()
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # download failure: no files and no network
        raise DataUnavailableError(HOW_TO_GET_FASHION) from exc
    if subset is None:
        from dlbook.runtime import current_mode

        subset = current_mode() == "fast"
    if subset:
        x_train, y_train = stratified_subset(x_train, y_train, FAST_TRAIN, seed=seed)
        x_test, y_test = stratified_subset(x_test, y_test, FAST_TEST, seed=seed)
    if normalize:
        x_train = (x_train.astype("float32") / 255.0)[..., None]
        x_test = (x_test.astype("float32") / 255.0)[..., None]
    return (x_train, y_train), (x_test, y_test)


def stratified_subset(x, y, n: int, seed: int = 42):
    """A seeded subset of ``n`` examples with the class proportions of ``y``, in shuffled order.

    >>> import numpy as np
    >>> y = np.repeat(np.arange(10), 100)
    >>> xs, ys = stratified_subset(np.zeros((1000, 2)), y, 200)
    >>> np.bincount(ys).tolist()
    [20, 20, 20, 20, 20, 20, 20, 20, 20, 20]
    """
    if isinstance(x, (str, bytes)) or x is None or np.ndim(x) == 0:
        raise checks.ArgumentTypeError(f"x={checks.shown(x)}: expected an array of examples, "
                                       "one per row.")
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1:
        raise checks.ArgumentTypeError(f"y={checks.shown(y)}: expected a 1-D array of class "
                                       "labels, one per example.")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}: pass matching arrays.")
    n = checks.integer(n, "n", fix=f"Pass how many examples to keep, 1 to {len(y)}.")
    seed = checks.seed(seed)
    if not 0 < n <= len(y):
        raise ValueError(f"n={n} must be between 1 and the number of examples ({len(y)}).")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    # Largest-remainder apportionment so the per-class counts add up to exactly n.
    exact = counts * n / len(y)
    take = np.floor(exact).astype(int)
    short = n - take.sum()
    take[np.argsort(-(exact - take), kind="stable")[:short]] += 1
    picked = [rng.choice(np.flatnonzero(y == c), size=k, replace=False) for c, k in zip(classes, take)]
    index = rng.permutation(np.concatenate(picked))
    return x[index], y[index]


# --------------------------------------------------------------------------- photographs

# name -> (package, loader); all ship inside the installed packages, no download.
_PHOTOS = {
    "temple": ("scikit-learn", "china.jpg"),
    "flower": ("scikit-learn", "flower.jpg"),
    "cat": ("scikit-image", "chelsea"),
    "coffee": ("scikit-image", "coffee"),
    "astronaut": ("scikit-image", "astronaut"),
    "rocket": ("scikit-image", "rocket"),
    "camera": ("scikit-image", "camera"),
    "brick": ("scikit-image", "brick"),
}
PHOTO_NAMES = tuple(_PHOTOS)


def load_photo(name: str) -> np.ndarray:
    """A photograph bundled with scikit-learn or scikit-image, as a uint8 array (H, W, 3).

    Grey-scale photos are returned with three identical channels.

    >>> load_photo("temple").shape
    (427, 640, 3)
    """
    if not isinstance(name, str) or name not in _PHOTOS:
        raise (ValueError if isinstance(name, str) else checks.ArgumentTypeError)(
            f"unknown photo {name!r}: pass name= one of {', '.join(PHOTO_NAMES)}.")
    package, key = _PHOTOS[name]
    if package == "scikit-learn":
        from sklearn.datasets import load_sample_image

        image = load_sample_image(key)
    else:
        import skimage.data

        image = getattr(skimage.data, key)()
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3].astype(np.uint8)


def load_photos(names=("temple", "flower")) -> np.ndarray:
    """Several photos of equal size stacked into one batch ``[N, H, W, 3]``, float32 in [0, 1].

    Photos of different sizes are centre-cropped to the smallest height and width.

    >>> load_photos().shape
    (2, 427, 640, 3)
    """
    if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
        raise checks.ArgumentTypeError(f"names={names!r}: expected a list of photo names, e.g. "
                                       f"names=({names!r},)" if isinstance(names, str) else
                                       f"names={names!r}: expected a list of photo names from "
                                       f"{', '.join(PHOTO_NAMES)}.")
    names = list(names)
    if not names:
        raise ValueError(f"names is empty: name at least one of {', '.join(PHOTO_NAMES)}.")
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in _PHOTOS:
            raise (ValueError if isinstance(name, str) else checks.ArgumentTypeError)(
                f"names[{i}]={name!r} is not a bundled photo: choose from "
                f"{', '.join(PHOTO_NAMES)}.")
    images = [load_photo(n) for n in names]
    h = min(i.shape[0] for i in images)
    w = min(i.shape[1] for i in images)
    crops = []
    for image in images:
        top = (image.shape[0] - h) // 2
        left = (image.shape[1] - w) // 2
        crops.append(image[top : top + h, left : left + w])
    return np.stack(crops).astype("float32") / 255.0


# --------------------------------------------------------------------------- scenes

# Scenes composed of Fashion-MNIST items with exact boxes and masks live in dlbook.scenes;
# dlbook.data is their public entry.
from dlbook.scenes import Scenes, make_scenes, scene_dataset  # noqa: E402,F401


def can_reach(host: str = KERAS_DATA_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """Can this machine open a connection to ``host`` within ``timeout`` seconds?

    One TCP connection (no data sent), made in a background thread so that a slow name lookup
    cannot hold the caller longer than ``timeout``. Used by :func:`main` to tell "Keras will
    download the data" from "this machine is offline".
    """
    if not isinstance(host, str) or not host:
        raise checks.ArgumentTypeError(f"host={host!r}: expected a host name such as "
                                       f"{KERAS_DATA_HOST!r}.")
    port = checks.integer(port, "port", minimum=1, maximum=65535)
    timeout = checks.real(timeout, "timeout", low=0.0, low_open=True)
    reached = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:
            return
        reached.append(True)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(reached)


def download_route() -> tuple[str, int]:
    """``(host, port)`` a download from Keras' server goes to first: the HTTPS proxy when one is
    set (``https_proxy``...), as ``urllib`` (Keras' downloader) uses it, else the server itself.

    >>> download_route()   # without a proxy                       # doctest: +SKIP
    ('storage.googleapis.com', 443)
    """
    proxy = urllib.request.getproxies().get("https")
    if proxy:
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.hostname:
            return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    return KERAS_DATA_HOST, 443


def main(argv=None) -> int:
    """``python -m dlbook.data``: make Fashion-MNIST available offline and report where from.

    Exit status 0 when the files are in Keras' cache or Keras can download them; 1 when they
    are missing and the machine cannot reach Keras' download server, with the offline remedies.
    """
    try:
        source = ensure_fashion_mnist()
    except DataUnavailableError as exc:
        print(f"dlbook.data: {exc}")
        return 1
    cache = keras_cache_dir()
    if _has_all(cache):
        origin = f"linked from {source}" if source else "already there"
        print(f"dlbook.data: Fashion-MNIST ready in {cache} ({origin})")
        return 0
    host, port = download_route()
    if not can_reach(host, port):
        via = "" if host == KERAS_DATA_HOST else f" through the proxy {host}:{port}"
        print(f"dlbook.data: Fashion-MNIST is not on this machine and this machine is offline "
              f"({KERAS_DATA_HOST}, where Keras downloads it from, could not be reached{via} "
              "within 3 s). "
              f"Offline remedies: sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu), "
              f"or put the four files {', '.join(FASHION_FILES)} in a folder and set "
              f"{DATA_DIR_ENV}=/path/to/that/folder; then run python -m dlbook.data again.")
        return 1
    print(
        "dlbook.data: Fashion-MNIST is not on this machine; Keras will download it on first use "
        "(needs internet). Offline: apt-get install dataset-fashion-mnist, or set "
        f"{DATA_DIR_ENV}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
