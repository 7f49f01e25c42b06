"""Scenes made of real Fashion-MNIST images, with exact boxes and per-pixel class masks.

A scene is a square canvas (96×96 by default) holding one to a few Fashion-MNIST items, each
resized to a random side length and put at a random place. Because the scene is drawn, its
ground truth is exact: every item's class, its box and a mask with the class of every pixel.
Chapters 8 and 9 train localisation, segmentation and detection networks on them. The public
entry points are re-exported by :mod:`dlbook.data`: :func:`make_scenes` (one vectorised step,
numpy) and :func:`scene_dataset` (an endless ``tf.data`` pipeline of batches made on the fly).

Conventions, used by every field of :class:`Scenes`:

* **Pixels of an item.** A 28×28 image is resized (bilinear, antialiased when shrinking) to a
  square of ``size`` pixels; pixels darker than ``ink`` (out of 255) are then set to 0, so the
  item is *exactly* its nonzero pixels, with no faint halo.
* **Boxes** are ``[x1, y1, x2, y2]`` in pixels with exclusive ends: the item's nonzero pixels
  fill columns ``x1 .. x2-1`` and rows ``y1 .. y2-1``, and each of the four sides touches one of
  them (a tight box). Width and height are ``x2 - x1`` and ``y2 - y1``; the box's area is a pixel
  count. A box encloses the whole item, including parts another item hides ("amodal" box).
* **Overlap.** Two items' boxes may share at most ``max_overlap`` of the smaller box's area
  (0: boxes never overlap, though they may touch; 1: no limit). Where items overlap, the one
  drawn later lies on top: its nonzero pixels replace the canvas, the mask and the instance map.
* **Masks**: ``0`` is background, ``c + 1`` is Fashion-MNIST class ``c`` (so 11 mask classes).
  ``instances`` numbers the items the same way: ``0`` background, ``k + 1`` item ``k``.
* **Padding.** Arrays per item have ``max_items`` slots; item ``k`` of scene ``i`` exists when
  ``k < counts[i]``; empty slots have class ``-1``, source ``-1`` and box ``[0, 0, 0, 0]``.

>>> from dlbook.data import make_scenes
>>> s = make_scenes(4, split="test", seed=0)        # doctest: +SKIP
>>> s.images.shape, s.masks.shape, s.boxes.shape    # doctest: +SKIP
((4, 96, 96), (4, 96, 96), (4, 3, 4))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from dlbook import checks

ITEM_SIDE = 28  # Fashion-MNIST images are 28×28
SPLITS = ("train", "test")
# Candidate places tried per item before it is given up (all drawn at once, per scene).
TRIES = 64


@dataclass
class Scenes:
    """A batch of scenes; see :mod:`dlbook.scenes` for the conventions.

    ``images``: uint8 ``(N, H, W)``; ``masks`` and ``instances``: uint8 ``(N, H, W)``;
    ``boxes``: int32 ``(N, K, 4)`` xyxy; ``classes`` and ``sources`` (index of the item's image in
    its split): int32 ``(N, K)``; ``counts``: int32 ``(N,)``; ``split``: ``"train"``,
    ``"test"`` or ``"custom"`` (images passed in); ``left_out``: how many items were asked for
    but found no place (see :func:`make_scenes`).
    """

    images: np.ndarray
    masks: np.ndarray
    instances: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    sources: np.ndarray
    counts: np.ndarray
    split: str
    left_out: int = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> "Scenes":
        """The scenes picked by a slice, an index array or a boolean mask (an int keeps a
        batch of one)."""
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 if index != -1 else None)
        fields = ("images", "masks", "instances", "boxes", "classes", "sources", "counts")
        return Scenes(**{f: getattr(self, f)[index] for f in fields}, split=self.split,
                      left_out=self.left_out)

    def inputs(self) -> np.ndarray:
        """The images as float32 in [0, 1] with a channel axis ``(N, H, W, 1)``, for a network."""
        return (self.images.astype(np.float32) / 255.0)[..., None]

    def batches(self, targets, batch_size: int = 64, *, seed: int = 0):
        """Shuffled ``(inputs, targets)`` batches for ``Model.fit``: one pass is one epoch.

        ``targets`` is an array, or a dict (or other nest) of arrays, with one row per scene.
        Images stay uint8 and only the current batch becomes float32 ``(B, H, W, 1)`` in [0, 1]
        (as :meth:`inputs` gives), so training never holds the float32 copy of the whole set
        that ``fit(scenes.inputs(), ...)`` makes, nor ``fit``'s own copy of it; the targets are
        read from their arrays a batch at a time, never copied whole. Each pass draws a
        new order; the orders depend only on ``seed`` and the global seed
        (``keras.utils.set_random_seed``). Pass ``shuffle=False`` to ``fit``: the stream
        shuffles itself, and Keras warns that its own ``shuffle=True`` is ignored.
        """
        batch_size = checks.integer(batch_size, "batch_size", minimum=1,
                                    fix="Pass the number of scenes per batch, e.g. batch_size=64.")
        seed = checks.integer(seed, "seed", minimum=0, fix="Pass a whole number such as seed=0.")
        import tensorflow as tf

        flat = [np.asarray(t) for t in tf.nest.flatten(targets)]
        for k, t in enumerate(flat):
            if t.ndim == 0 or len(t) != len(self):
                rows = "a scalar" if t.ndim == 0 else f"{len(t)} rows"
                raise ValueError(f"Scenes.batches: target {k} has {rows} but there are "
                                 f"{len(self)} scenes. Pass one target row per scene, e.g. the "
                                 "targets computed from these same scenes.")
        # The arrays are read where they are: a batch is gathered by NumPy, so TensorFlow never
        # holds a copy of the whole set (a tf.constant of 12,000 scenes' anchor targets would be
        # another 778 MB beside the NumPy array).
        arrays = [self.images, *flat]
        dtypes = [tf.as_dtype(a.dtype) for a in arrays]

        def gather(i):
            return [a[i] for a in arrays]

        def take(i):
            parts = tf.numpy_function(gather, [i], dtypes, stateful=False)
            for part, a in zip(parts, arrays):
                part.set_shape((None, *a.shape[1:]))
            x = tf.cast(parts[0], tf.float32)[..., None] / 255.0
            return x, tf.nest.pack_sequence_as(targets, parts[1:])

        order = tf.data.Dataset.range(len(self)).shuffle(len(self), seed=seed)
        return order.batch(batch_size).map(take).prefetch(2)

    def items(self, i: int) -> list[tuple[int, tuple[int, int, int, int]]]:
        """``[(class, (x1, y1, x2, y2)), ...]`` of scene ``i``, in drawing order."""
        return [(int(self.classes[i, k]), tuple(int(v) for v in self.boxes[i, k]))
                for k in range(int(self.counts[i]))]


@functools.lru_cache(maxsize=2)
def _split(split: str) -> tuple[np.ndarray, np.ndarray]:
    from dlbook.data import load_fashion_mnist

    (x, y), (xt, yt) = load_fashion_mnist(subset=False)
    return (x, y) if split == "train" else (xt, yt)


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` linear-interpolation weights (pixel centres aligned, antialiased).

    A triangle filter whose half-width is one output pixel when shrinking and one input pixel
    otherwise; each row sums to 1, so a constant image stays constant.

    >>> _resize_matrix(2, 4).round(3).tolist()
    [[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]]
    """
    scale = n_in / n_out
    centres = (np.arange(n_out) + 0.5) * scale - 0.5
    width = max(1.0, scale)
    distance = np.abs(centres[:, None] - np.arange(n_in)[None, :]) / width
    weights = np.clip(1.0 - distance, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def _range(value, name: str, example: str) -> tuple[int, int]:
    """A count or size given as one whole number or a range ``(min, max)``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}={value!r}: expected one whole number or a range (min, max), "
                             f"e.g. {name}={example}.")
        return (checks.integer(value[0], name, fix=f"e.g. {name}={example}"),
                checks.integer(value[1], name, fix=f"e.g. {name}={example}"))
    one = checks.integer(value, name, fix=f"Pass a whole number or a range, e.g. {name}={example}.")
    return one, one


def _check(n, canvas, items, item_size, max_overlap, ink, split) -> tuple[int, int, int, int]:
    n = checks.integer(n, "n", fix="Ask for at least one scene (a positive whole number).")
    if n < 1:
        raise ValueError(f"n={n!r}: ask for at least one scene (a positive whole number).")
    if not isinstance(split, str) or split not in SPLITS:
        raise (ValueError if isinstance(split, str) else checks.ArgumentTypeError)(
            f"split={split!r}: choose 'train' or 'test' (or pass images=...).")
    lo_items, hi_items = _range(items, "items", "(1, 3)")
    if lo_items < 1 or hi_items < lo_items:
        raise ValueError(f"items={items!r}: every scene needs at least one item; pass a count "
                         ">= 1 or a range (min, max) with 1 <= min <= max, e.g. items=(1, 3).")
    if hi_items > 255:
        raise ValueError(f"items={items!r}: at most 255 items per scene (the instance map is "
                         "uint8); pass a smaller count.")
    lo_size, hi_size = _range(item_size, "item_size", "(28, 48)")
    canvas = checks.integer(canvas, "canvas", minimum=1, fix="Pass the side of the square "
                            "scene in pixels, e.g. canvas=96.")
    if lo_size < 4 or hi_size < lo_size:
        raise ValueError(f"item_size={item_size!r}: pass a side length in pixels >= 4 or a "
                         "range (min, max) with 4 <= min <= max, e.g. item_size=(28, 48).")
    if canvas < hi_size:
        raise ValueError(f"canvas={canvas} is smaller than the largest item ({hi_size} pixels): "
                         f"enlarge the canvas to at least {hi_size} or lower item_size.")
    checks.real(max_overlap, "max_overlap", low=0.0, high=1.0,
                fix="It is a share of a box's area (0: boxes never overlap, 1: no limit).")
    checks.real(ink, "ink", low=0.0, high=255.0, fix="It is a grey level out of 255.")
    return int(lo_items), int(hi_items), int(lo_size), int(hi_size)


def make_scenes(n: int, split: str = "train", *, canvas: int = 96, items=(1, 3),
                item_size=(28, 48), max_overlap: float = 0.2, ink: int = 16, seed: int = 0,
                images=None, labels=None, verbose: bool = True) -> Scenes:
    """``n`` scenes from the ``split`` of Fashion-MNIST, drawn in one vectorised step.

    ``items``: the number of items per scene, or a range ``(min, max)`` drawn uniformly;
    ``item_size``: the side in pixels of a resized item, or a range drawn uniformly per item;
    ``max_overlap``: the largest share of the smaller of two boxes that they may share
    (:mod:`dlbook.scenes` has the conventions). Items are picked uniformly from the split, with
    replacement. The same arguments and ``seed`` give the same scenes. ``images`` (uint8,
    ``(M, h, w)``) and ``labels`` replace Fashion-MNIST, e.g. for tests.

    An item that finds no free place within the overlap limit after a few dozen tries is left
    out (a line says how many were), so a scene may hold fewer items than ``items`` asks for;
    a smaller ``max_overlap``, more items or bigger items on a small canvas make that more
    likely. So does an image with no pixel of at least ``ink`` (none in Fashion-MNIST).
    ``Scenes.left_out`` counts them; ``verbose=False`` keeps the line back.

    >>> import numpy as np
    >>> square = np.zeros((1, 8, 8), np.uint8); square[0, 2:6, 3:5] = 200
    >>> s = make_scenes(2, canvas=20, items=2, item_size=8, max_overlap=0.0, seed=1,
    ...                 images=square, labels=np.array([4]))
    >>> s.counts.tolist(), s.classes.tolist()
    ([2, 2], [[4, 4], [4, 4]])
    >>> x1, y1, x2, y2 = s.boxes[0, 0]
    >>> int(x2 - x1), int(y2 - y1), int((s.masks[0] == 5).sum())   # two 2×4 items of class 4
    (2, 4, 16)
    """
    lo_items, hi_items, lo_size, hi_size = _check(n, canvas, items, item_size, max_overlap, ink,
                                                  split)
    n, canvas = checks.integer(n, "n"), checks.integer(canvas, "canvas")
    seed = checks.seed(seed)
    verbose = checks.flag(verbose, "verbose")
    if images is None:
        if labels is not None:
            raise ValueError("labels given without images: pass both, or neither for "
                             "Fashion-MNIST.")
        images, labels = _split(split)
    else:
        if labels is None or not hasattr(labels, "__len__") or not hasattr(images, "__len__") \
                or len(labels) != len(images):
            raise ValueError("images and labels must be given together and be equally long.")
        images, split = np.asarray(images), "custom"
        labels = checks.whole_array(labels, "labels", minimum=0, ndim=1)
        if images.dtype != np.uint8:
            raise ValueError(f"images are {images.dtype}: pass uint8 grey levels 0..255.")
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"images has shape {images.shape}: pass square grey images "
                             "(M, side, side).")
    labels = np.asarray(labels).astype(np.int64)
    n, K, H = int(n), hi_items, int(canvas)
    rng = np.random.default_rng(seed)
    counts = rng.integers(lo_items, hi_items + 1, size=n)
    active = np.arange(K)[None, :] < counts[:, None]
    sources = rng.integers(0, len(images), size=(n, K))
    sizes = rng.integers(lo_size, hi_size + 1, size=(n, K))

    # 1. Resize every item into a (hi_size × hi_size) slot, top-left aligned.
    M = hi_size
    glyphs = np.zeros((n, K, M, M), np.uint8)
    side = images.shape[1]
    for s in np.unique(sizes):
        where = np.nonzero(sizes == s)
        r = _resize_matrix(side, int(s))
        r = r.astype(np.float32)
        resized = r @ images[sources[where]].astype(np.float32) @ r.T
        resized = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
        resized[resized < ink] = 0
        glyphs[where[0], where[1], :s, :s] = resized
    # Tight box of each glyph inside its slot (exclusive ends).
    rows, cols = glyphs.any(axis=3), glyphs.any(axis=2)
    empty = ~rows.any(axis=2)
    gy0, gy1 = rows.argmax(axis=2), M - rows[..., ::-1].argmax(axis=2)
    gx0, gx1 = cols.argmax(axis=2), M - cols[..., ::-1].argmax(axis=2)
    blank = int((active & empty).sum())
    if blank and verbose:
        print(f"dlbook.scenes: {blank} items had no pixel of at least "
              f"ink={ink} after resizing and were left out")
    active &= ~empty

    # 2. Place the items one after the other: TRIES candidate places per scene at once, keep
    #    the first one within the overlap limit with the items already placed.
    oy = np.zeros((n, K), np.int64)
    ox = np.zeros((n, K), np.int64)
    boxes = np.zeros((n, K, 4), np.int64)
    dropped = 0
    for k in range(K):
        h, w = gy1[:, k] - gy0[:, k], gx1[:, k] - gx0[:, k]
        ty = (rng.random((n, TRIES)) * (H - h + 1)[:, None]).astype(np.int64)  # box top
        tx = (rng.random((n, TRIES)) * (H - w + 1)[:, None]).astype(np.int64)  # box left
        ok = np.ones((n, TRIES), bool)
        for j in range(k):
            bx1, by1, bx2, by2 = (boxes[:, j, c][:, None] for c in range(4))
            iw = np.clip(np.minimum(tx + w[:, None], bx2) - np.maximum(tx, bx1), 0, None)
            ih = np.clip(np.minimum(ty + h[:, None], by2) - np.maximum(ty, by1), 0, None)
            smaller = np.minimum((h * w)[:, None], (bx2 - bx1) * (by2 - by1))
            fits = iw * ih <= max_overlap * smaller
            ok &= fits | ~active[:, j][:, None]
        found = ok.any(axis=1)
        first = ok.argmax(axis=1)
        dropped += int((active[:, k] & ~found).sum())  # (blank items were left out above)
        active[:, k] &= found
        top, left = ty[np.arange(n), first], tx[np.arange(n), first]
        oy[:, k], ox[:, k] = top - gy0[:, k], left - gx0[:, k]
        boxes[:, k] = np.stack([left, top, left + w, top + h], axis=1)
    if dropped and verbose:
        print(f"dlbook.scenes: {dropped} of {int(counts.sum())} items found no place within "
              f"max_overlap={max_overlap} and were left out")

    # 3. Draw: every nonzero glyph pixel lands inside the canvas (its tight box does). Where
    #    items overlap the highest item number wins, then its pixels are written.
    glyphs[~active] = 0
    on = glyphs > 0
    index = np.int32 if n * H * H < 2**31 else np.int64  # int32 halves the memory traffic
    corner = ((np.arange(n)[:, None] * H + oy) * H + ox).astype(index)
    offsets = np.arange(M, dtype=index)[:, None] * H + np.arange(M, dtype=index)
    flat = (corner[:, :, None, None] + offsets)[on]          # canvas position of each pixel
    ki = np.broadcast_to(np.arange(1, K + 1, dtype=np.uint8)[None, :, None, None], on.shape)[on]
    owner = np.zeros(n * H * H, np.uint8)                    # the item on top at each pixel
    np.maximum.at(owner, flat, ki)
    mine = owner[flat] == ki
    flat = flat[mine]
    image = np.zeros(n * H * H, np.uint8)
    image[flat] = glyphs[on][mine]
    mask = np.zeros(n * H * H, np.uint8)
    cls = (labels[sources] + 1).astype(np.uint8)
    mask[flat] = np.broadcast_to(cls[:, :, None, None], on.shape)[on][mine]

    # 4. Move the items left out to the end, so item k exists exactly when k < counts[i].
    order = np.argsort(~active, axis=1, kind="stable")
    counts = active.sum(axis=1)
    lut = np.zeros((n, K + 1), np.uint8)  # old instance number -> new one
    lut[np.arange(n)[:, None], order + 1] = np.where(np.take_along_axis(active, order, 1),
                                                     np.arange(1, K + 1)[None, :], 0)
    instances = lut[np.arange(n)[:, None, None], owner.reshape(n, H, H)]
    keep = np.take_along_axis(active, order, 1)
    boxes = np.where(keep[..., None], np.take_along_axis(boxes, order[..., None], 1), 0)
    sources = np.where(keep, np.take_along_axis(sources, order, 1), -1)
    classes = np.where(keep, labels[np.maximum(sources, 0)], -1)
    return Scenes(images=image.reshape(n, H, H), masks=mask.reshape(n, H, H), instances=instances,
                  boxes=boxes.astype(np.int32), classes=classes.astype(np.int32),
                  sources=sources.astype(np.int32), counts=counts.astype(np.int32), split=split,
                  left_out=blank + dropped)


def scene_dataset(batch_size: int = 64, split: str = "train", *, seed: int = 0, **options):
    """An endless ``tf.data.Dataset`` of scene batches, made on the fly from ``split``.

    Each element is a dict of tensors with the fields of :class:`Scenes` (``images`` as float32
    ``(B, H, W, 1)`` in [0, 1], the rest as in :class:`Scenes`); add a ``.map`` to turn it into
    ``(inputs, targets)`` for a model. Batch ``b`` is ``make_scenes(batch_size, seed=(seed, b),
    **options)``, so the stream is the same on every run and batches are made in parallel.
    ``options`` are :func:`make_scenes`'s keyword arguments. Items that find no place are
    announced once, for the first batch that has them, not batch after batch.

    >>> ds = scene_dataset(8, split="test", seed=1)          # doctest: +SKIP
    >>> next(iter(ds))["images"].shape                       # doctest: +SKIP
    TensorShape([8, 96, 96, 1])
    """
    batch_size = checks.integer(batch_size, "batch_size", minimum=1,
                                fix="Pass the number of scenes per batch, e.g. batch_size=64.")
    seed = checks.integer(seed, "seed", minimum=0, fix="Pass a whole number such as seed=0.")
    for key in ("n", "verbose"):
        if key in options:
            raise TypeError(f"scene_dataset got {key}={options[key]!r}, which it sets itself "
                            f"(n is batch_size). Leave {key} out.")
    import tensorflow as tf

    probe = make_scenes(1, split, seed=0, verbose=False, **options)  # checks options, loads data
    canvas = probe.images.shape[1]
    K = probe.boxes.shape[1]
    fields = ("images", "masks", "instances", "boxes", "classes", "sources", "counts")
    shapes = {"images": (batch_size, canvas, canvas, 1), "masks": (batch_size, canvas, canvas),
              "instances": (batch_size, canvas, canvas), "boxes": (batch_size, K, 4),
              "classes": (batch_size, K), "sources": (batch_size, K), "counts": (batch_size,)}
    dtypes = {"images": tf.float32, "masks": tf.uint8, "instances": tf.uint8, "boxes": tf.int32,
              "classes": tf.int32, "sources": tf.int32, "counts": tf.int32}

    announced = []

    def batch(b):
        s = make_scenes(batch_size, split, seed=(seed, int(b)), verbose=False, **options)
        if s.left_out and not announced:
            announced.append(int(b))
            print(f"dlbook.scenes: batch {int(b)} has {s.left_out} items left out (no place "
                  "within max_overlap); `counts` says how many each scene holds. Later batches "
                  "with items left out are not announced.")
        return tuple(s.inputs() if f == "images" else getattr(s, f) for f in fields)

    def make(b):
        out = tf.numpy_function(batch, [b], [dtypes[f] for f in fields], stateful=False)
        return {f: tf.ensure_shape(t, shapes[f]) for f, t in zip(fields, out)}

    return (tf.data.Dataset.range(2**62)
            .map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))
