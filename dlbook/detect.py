"""Object-detection arithmetic: box formats, IoU, greedy NMS, YOLO targets, anchors (generation,
matching, offsets), the focal loss, RoIAlign, AP and mAP.

Written to be read and copied, and checked against the references readers will meet:
:func:`iou` against ``keras.utils.bounding_boxes.compute_iou``, :func:`nms` against
``tf.image.non_max_suppression``, :func:`encode_box_offsets` against
``keras.utils.bounding_boxes.encode_box_to_deltas``, :func:`focal_loss` against
``keras.losses.BinaryFocalCrossentropy``, :func:`evaluate` against ``pycocotools`` (see
``tests/test_detect.py``). Everything is numpy, in float64, except :func:`focal_loss` (Keras ops,
so that it runs inside a loss) and :func:`roi_align` (``tf.image.crop_and_resize``), which import
Keras and TensorFlow when called.

**Box formats** (the names Keras uses): ``"xyxy"`` ``[x1, y1, x2, y2]`` (corners; the default
everywhere here), ``"yxyx"`` ``[y1, x1, y2, x2]`` (``tf.image``), ``"xywh"`` ``[x1, y1, w, h]``
(COCO), ``"center_xywh"`` ``[cx, cy, w, h]`` (YOLO) and ``"center_yxhw"`` ``[cy, cx, h, w]``.
Coordinates are continuous: a box's area is ``(x2 - x1) * (y2 - y1)`` with no "+1" (the boxes of
:mod:`dlbook.scenes` have exclusive ends, so that is their pixel count). A box with ``x2 < x1``
or ``y2 < y1`` is an error; a box of zero width or height is allowed and has IoU 0 with every
box.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlbook import checks

FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw")
# COCO's IoU thresholds .50:.05:.95 and 101 recall points, built as pycocotools builds them, so
# a match exactly at a threshold is decided the same way.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
COCO_RECALL_POINTS = np.linspace(0.0, 1.0, int(np.round(1.0 / 0.01)) + 1)
VOC_RECALL_POINTS = np.linspace(0.0, 1.0, 11)
# COCO's area ranges (small < 32², medium < 96², large) are for photos of about 640×480; on a
# 96×96 scene nothing would be large. These split the items of dlbook.scenes (sides 28 to 48
# by default, so tight boxes of about 10² to 48²) into thirds of side length instead.
SCENE_AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 20.0**2), "medium": (20.0**2, 32.0**2),
                     "large": (32.0**2, 1e10)}
COCO_AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2),
                    "large": (96.0**2, 1e10)}


# --------------------------------------------------------------------------- boxes

def _as_boxes(boxes, name: str = "boxes") -> np.ndarray:
    return checks.boxes(boxes, name)


def _format(value, name: str = "format") -> str:
    if not isinstance(value, str) or value not in FORMATS:
        raise (ValueError if isinstance(value, str) else checks.ArgumentTypeError)(
            f"{name}={value!r} is not a box format: choose one of {', '.join(FORMATS)}.")
    return value


def convert_boxes(boxes, source: str = "xyxy", target: str = "xyxy") -> np.ndarray:
    """``boxes`` (``(..., 4)``) from format ``source`` to format ``target`` (see :data:`FORMATS`).

    >>> convert_boxes([[10, 20, 30, 60]], "xyxy", "center_xywh").tolist()
    [[20.0, 40.0, 20.0, 40.0]]
    >>> convert_boxes([[20, 40, 20, 40]], "center_xywh", "yxyx").tolist()
    [[20.0, 10.0, 60.0, 30.0]]
    """
    _format(source, "source")
    _format(target, "target")
    b = _as_boxes(boxes)
    a0, a1, a2, a3 = (b[..., i] for i in range(4))
    if source == "xyxy":
        x1, y1, x2, y2 = a0, a1, a2, a3
    elif source == "yxyx":
        y1, x1, y2, x2 = a0, a1, a2, a3
    elif source == "xywh":
        x1, y1, x2, y2 = a0, a1, a0 + a2, a1 + a3
    elif source == "center_xywh":
        x1, y1, x2, y2 = a0 - a2 / 2, a1 - a3 / 2, a0 + a2 / 2, a1 + a3 / 2
    else:  # center_yxhw
        x1, y1, x2, y2 = a1 - a3 / 2, a0 - a2 / 2, a1 + a3 / 2, a0 + a2 / 2
    if target == "xyxy":
        out = (x1, y1, x2, y2)
    elif target == "yxyx":
        out = (y1, x1, y2, x2)
    elif target == "xywh":
        out = (x1, y1, x2 - x1, y2 - y1)
    elif target == "center_xywh":
        out = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    else:
        out = ((y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1)
    return np.stack(out, axis=-1)


def to_xyxy(boxes, format: str = "xyxy", name: str = "boxes") -> np.ndarray:
    """``boxes`` as float64 ``xyxy``, checked: shape ``(..., 4)``, finite, ``x1 <= x2``,
    ``y1 <= y2``.

    >>> to_xyxy([[5, 5, 2, 9]])
    Traceback (most recent call last):
    ...
    ValueError: boxes[0] = [5.0, 5.0, 2.0, 9.0] has x2 < x1 or y2 < y1 (format 'xyxy'): pass corners in the order [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2, or name the format the boxes are in.
    """
    if not isinstance(name, str):
        raise checks.ArgumentTypeError(f"name={name!r}: expected the argument's name, a string.")
    b = convert_boxes(_as_boxes(boxes, name), _format(format), "xyxy")
    bad = (b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1])
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raw = _as_boxes(boxes, name)[where].tolist()
        index = ", ".join(map(str, where))
        raise ValueError(f"{name}[{index}] = {raw} has x2 < x1 or y2 < y1 (format {format!r}): "
                         "pass corners in the order [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2, "
                         "or name the format the boxes are in.")
    return b


def box_area(boxes, format: str = "xyxy") -> np.ndarray:
    """Area of each box.

    >>> box_area([[0, 0, 4, 3], [1, 1, 1, 5]]).tolist()
    [12.0, 0.0]
    """
    b = to_xyxy(boxes, format)
    return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def iou(boxes1, boxes2, format: str = "xyxy") -> np.ndarray:
    """Intersection over union of every box in ``boxes1`` (N) with every one in ``boxes2`` (M).

    Returns an ``(N, M)`` array; IoU is 0 where the union is empty (two boxes of zero area).
    Batches follow ``keras.utils.bounding_boxes.compute_iou``: ``(B, N, 4)`` with ``(M, 4)``,
    ``(N, 4)`` with ``(B, M, 4)`` or ``(B, N, 4)`` with ``(B, M, 4)`` give ``(B, N, M)``, one
    table per image; more axes than three are refused, as there. (A single box ``(4,)`` counts
    as ``(1, 4)``.)

    >>> iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]).round(4).tolist()
    [[0.1429, 1.0, 0.0]]
    >>> iou([[1, 1, 2, 2]], [[1, 1, 1, 1]], format="center_xywh").tolist()  # a 1×1 in a 2×2
    [[0.25]]
    >>> iou(np.tile([0, 0, 2, 2], (2, 3, 1)), [[0, 0, 1, 1], [0, 0, 2, 2]]).shape  # 2 images
    (2, 3, 2)
    """
    a = to_xyxy(boxes1, format, "boxes1")
    b = to_xyxy(boxes2, format, "boxes2")
    a, b = (x.reshape(1, 4) if x.ndim == 1 else x for x in (a, b))
    for x, name, raw in ((a, "boxes1", boxes1), (b, "boxes2", boxes2)):
        if x.ndim > 3:
            raise ValueError(f"{name} has shape {np.shape(raw)}: expected boxes (N, 4) or a "
                             "batch of them (B, N, 4), as keras.utils.bounding_boxes.compute_iou "
                             "takes. Loop over the extra axes, or reshape to (B, N, 4).")
    if a.ndim == 2 and b.ndim == 2:
        return _pairwise_iou(a, b)
    if a.ndim == 3 and b.ndim == 3 and len(a) != len(b):
        raise ValueError(f"boxes1 is a batch of {len(a)} images but boxes2 of {len(b)}: pass "
                         "batches of equal size, or one set of boxes (N, 4) for every image.")
    batch = len(a) if a.ndim == 3 else len(b)
    return np.stack([_pairwise_iou(a[i] if a.ndim == 3 else a, b[i] if b.ndim == 3 else b)
                     for i in range(batch)]).reshape(batch, a.shape[-2], b.shape[-2])


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of checked ``xyxy`` boxes ``a`` (N, 4) and ``b`` (M, 4): ``(N, M)``."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


# --------------------------------------------------------------------------- NMS

def _scores(scores, n: int, name: str = "scores") -> np.ndarray:
    s = checks.array(scores, name, finite=False, shape_hint=f"({n},)")
    if s.shape != (n,):
        raise ValueError(f"{name} has shape {s.shape} but there are {n} boxes: pass one score "
                         f"per box, shape ({n},).")
    if np.isnan(s).any():
        raise ValueError(f"{name} holds NaN: pass a number for every box.")
    return s


def _score_threshold(value, fix: str) -> float:
    """A score threshold: a number or -inf ("keep all"); +inf would keep nothing."""
    threshold = checks.real(value, "score_threshold", allow_inf=True, fix=fix)
    if threshold == np.inf:
        raise ValueError(f"score_threshold={value!r}: expected a number or -inf; +inf keeps no "
                         f"box. {fix}")
    return threshold


def nms(boxes, scores, iou_threshold: float = 0.5, score_threshold: float = -np.inf,
        max_output: int | None = None, format: str = "xyxy", classes=None) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    Take the highest-scoring box left, keep it, and drop every remaining box whose IoU with it
    is above ``iou_threshold``; repeat. Boxes scoring ``score_threshold`` or less are dropped
    first; among equal scores the box that comes first in ``boxes`` goes first. The same rules
    as ``tf.image.non_max_suppression`` (which takes ``yxyx`` boxes). With ``classes`` (one
    class per box), only boxes of the same class suppress each other (per-class NMS, as a
    detector's output is usually filtered).

    >>> boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]]
    >>> nms(boxes, [0.9, 0.8, 0.7]).tolist()
    [0, 2]
    >>> nms(boxes, [0.9, 0.8, 0.7], iou_threshold=0.9).tolist()   # IoU 0.68 is kept
    [0, 1, 2]
    >>> nms(boxes, [0.9, 0.8, 0.7], classes=[0, 1, 0]).tolist()   # box 1 is another class
    [0, 1, 2]
    >>> nms(np.zeros((0, 4)), []).tolist()
    []
    """
    b = to_xyxy(boxes, format)
    if b.ndim != 2:
        raise ValueError(f"boxes has shape {b.shape}: nms takes the boxes of one image, (N, 4). "
                         "Call it once per image of a batch.")
    s = _scores(scores, len(b))
    iou_threshold = checks.real(iou_threshold, "iou_threshold", low=0.0, high=1.0)
    score_threshold = _score_threshold(score_threshold, "Pass -inf (the default) to keep every "
                                                        "score.")
    max_output = checks.optional_integer(max_output, "max_output", minimum=0)
    limit = len(b) if max_output is None else max_output
    order = np.argsort(-s, kind="stable")
    order = order[s[order] > score_threshold]
    overlaps = _pairwise_iou(b[order], b[order])
    if classes is not None:
        c = checks.whole_array(classes, "classes").reshape(-1)
        if c.shape != (len(b),):
            raise ValueError(f"classes has shape {np.shape(classes)} but there are {len(b)} "
                             f"boxes: pass one class per box, shape ({len(b)},).")
        overlaps = np.where(c[order][:, None] == c[order][None, :], overlaps, 0.0)
    alive = np.ones(len(order), bool)
    keep = []
    for i in range(len(order)):
        if len(keep) >= limit:
            break
        if not alive[i]:
            continue
        keep.append(order[i])
        alive &= ~(overlaps[i] > iou_threshold)
    return np.asarray(keep, dtype=np.int64)


# --------------------------------------------------------------------------- YOLO targets

def _image_hw(image_size) -> tuple[float, float]:
    return checks.size_pair(image_size, "image_size")


def encode_yolo(boxes, classes, grid: int, boxes_per_cell: int, num_classes: int, image_size,
                on_conflict: str = "error") -> np.ndarray:
    """YOLO (v1) training target of one image ``(S, S, 5B + C)``, or of a batch.

    ``boxes``: ``xyxy`` in pixels, ``(K, 4)`` (a batch: ``(N, K, 4)``, giving
    ``(N, S, S, 5B + C)``); ``classes``: ``(K,)`` (or ``(N, K)``) class numbers, where ``-1``
    marks an empty slot (as in :class:`dlbook.scenes.Scenes`).
    The cell holding a box's centre is responsible for it. Per cell, slot ``b`` has
    ``[x, y, w, h, confidence]`` at channels ``5b .. 5b+4``: ``x, y`` the centre's offset inside
    the cell as a fraction of the cell, ``w, h`` the box's size as a fraction of the image,
    confidence 1; the last ``C`` channels are the cell's class, one-hot. (The YOLO loss takes
    square roots of ``w, h``; the target stores them plain.) A cell holds up to ``B`` boxes of one
    class; a box beyond that is a conflict: ``on_conflict="error"`` raises, ``"drop"`` leaves the
    later box out.

    >>> t = encode_yolo([[0, 0, 32, 48]], [2], grid=3, boxes_per_cell=2, num_classes=4,
    ...                 image_size=96)
    >>> t.shape, t[0, 0, :5].tolist(), t[0, 0, 10:].tolist()
    ((3, 3, 14), [0.5, 0.75, 0.3333333432674408, 0.5, 1.0], [0.0, 0.0, 1.0, 0.0])
    """
    checks.choice(on_conflict, "on_conflict", ("error", "drop"))
    grid = checks.integer(grid, "grid", minimum=1)
    boxes_per_cell = checks.integer(boxes_per_cell, "boxes_per_cell", minimum=1)
    num_classes = checks.integer(num_classes, "num_classes", minimum=1)
    _image_hw(image_size)
    b = to_xyxy(boxes)
    c = checks.whole_array(classes, "classes")
    if b.ndim > 3:
        raise ValueError(f"boxes has shape {b.shape}: expected (K, 4) for one image or "
                         "(N, K, 4) for a batch.")
    if b.ndim == 3:
        if c.shape != b.shape[:2]:
            raise ValueError(f"classes has shape {c.shape} but boxes {b.shape}: pass one class "
                             "per box, (N, K).")
        return np.stack([encode_yolo(bi, ci, grid, boxes_per_cell, num_classes, image_size,
                                     on_conflict) for bi, ci in zip(b, c)])
    b = b.reshape(-1, 4)
    if c.shape != (len(b),):
        raise ValueError(f"classes has shape {c.shape} but there are {len(b)} boxes: pass one "
                         f"class per box, shape ({len(b)},).")
    if ((c < -1) | (c >= num_classes)).any():
        raise ValueError(f"classes {sorted(set(c.tolist()))} must lie in 0..{num_classes - 1} "
                         "(or be -1 for an empty slot).")
    H, W = _image_hw(image_size)
    S, B, C = grid, boxes_per_cell, num_classes
    target = np.zeros((S, S, 5 * B + C), np.float32)
    used = np.zeros((S, S), np.int64)
    for box, cls in zip(b, c):
        if cls < 0:
            continue
        x1, y1, x2, y2 = box
        if x1 < 0 or y1 < 0 or x2 > W or y2 > H:
            raise ValueError(f"box {box.tolist()} lies outside the {W:g}×{H:g} image: clip it "
                             "or pass the right image_size (height, width).")
        cx, cy = (x1 + x2) / 2 / W * S, (y1 + y2) / 2 / H * S
        col, row = min(int(cx), S - 1), min(int(cy), S - 1)
        slot = used[row, col]
        clash = slot >= B or (slot > 0 and target[row, col, 5 * B + cls] != 1)
        if clash:
            if on_conflict == "drop":
                continue
            raise ValueError(f"cell (row {row}, column {col}) of the {S}×{S} grid would hold "
                             f"{'more than ' + str(B) + ' boxes' if slot >= B else 'two classes'}"
                             ": use a finer grid or more boxes per cell, or pass "
                             "on_conflict='drop' to leave such boxes out.")
        target[row, col, 5 * slot: 5 * slot + 5] = (cx - col, cy - row, (x2 - x1) / W,
                                                    (y2 - y1) / H, 1.0)
        target[row, col, 5 * B + cls] = 1.0
        used[row, col] += 1
    return target


def decode_yolo(output, boxes_per_cell: int, num_classes: int, image_size,
                score_threshold: float = 0.5, clip: bool = True):
    """Boxes, classes and scores from one YOLO output or target ``(S, S, 5B + C)``.

    Each slot's class-specific score is its confidence times the cell's largest class
    probability (YOLO's Pr(class | object) · Pr(object) · IoU, the IoU being folded into the
    trained confidence); slots scoring below ``score_threshold`` are left out. Returns
    ``(boxes xyxy (D, 4), classes (D,), scores (D,))`` in cell order (row by row, then slot),
    not yet suppressed (see :func:`nms`). ``clip`` clips boxes to the image. A batch
    ``(N, S, S, 5B + C)`` gives a list of such triples. The inverse of :func:`encode_yolo`:

    >>> t = encode_yolo([[10, 20, 40, 60]], [1], grid=4, boxes_per_cell=1, num_classes=3,
    ...                 image_size=96)
    >>> boxes, classes, scores = decode_yolo(t, 1, 3, 96)
    >>> boxes.round(3).tolist(), classes.tolist(), scores.tolist()
    ([[10.0, 20.0, 40.0, 60.0]], [1], [1.0])
    """
    B = checks.integer(boxes_per_cell, "boxes_per_cell", minimum=1)
    C = checks.integer(num_classes, "num_classes", minimum=1)
    _image_hw(image_size)
    score_threshold = _score_threshold(score_threshold, "Pass -inf to keep every slot.")
    clip = checks.flag(clip, "clip")
    out = checks.array(output, "output", shape_hint="(S, S, 5B + C)")
    if out.ndim == 4:  # a batch: one (boxes, classes, scores) per image
        return [decode_yolo(o, B, C, image_size, score_threshold, clip) for o in out]
    if out.ndim != 3 or out.shape[0] != out.shape[1] or out.shape[2] != 5 * B + C:
        raise ValueError(f"output has shape {out.shape}: expected (S, S, 5B + C) = "
                         f"(S, S, {5 * B + C}) for B={B}, C={C}.")
    H, W = _image_hw(image_size)
    S = out.shape[0]
    slots = out[..., :5 * B].reshape(S, S, B, 5)
    probs = out[..., 5 * B:]
    cls = probs.argmax(axis=-1)
    score = slots[..., 4] * probs.max(axis=-1)[..., None]
    row, col, slot = np.nonzero(score >= score_threshold)
    x, y, w, h = (slots[row, col, slot, i] for i in range(4))
    cx, cy = (col + x) / S * W, (row + y) / S * H
    boxes = np.stack([cx - w * W / 2, cy - h * H / 2, cx + w * W / 2, cy + h * H / 2], axis=-1)
    if clip:
        boxes = np.clip(boxes, 0, [W, H, W, H])
    return boxes.reshape(-1, 4), cls[row, col].astype(np.int64), score[row, col, slot]


# --------------------------------------------------------------------------- anchors

def _per_level(value, name: str, levels: int, check) -> list:
    """One value per feature-map level: a single value is used for every level."""
    if isinstance(value, (list, tuple, np.ndarray)) and not isinstance(value, str):
        values = list(value)
        if len(values) != levels:
            raise ValueError(f"{name}={checks.shown(value)} has {len(values)} entries but there "
                             f"are {levels} levels (one per stride): pass one per level, or "
                             "one value for all of them.")
        return [check(v, f"{name}[{i}]") for i, v in enumerate(values)]
    return [check(value, name)] * levels


def _positive_list(value, name: str) -> list[float]:
    if isinstance(value, (str, bytes)) or checks.is_number(value):
        value = [value]
    values = [checks.real(v, f"{name}[{i}]", low=0.0, low_open=True) for i, v in
              enumerate(checks.array(value, name, ndim=1, nonempty=True).tolist())]
    return values


def anchor_boxes(image_size, strides, sizes, aspect_ratios=(0.5, 1.0, 2.0),
                 scales=(1.0,)) -> np.ndarray:
    """Anchor boxes (``xyxy``, pixels of the image) for one or several feature-map levels.

    A level of stride ``s`` on an image of ``(H, W)`` pixels is a map of ``ceil(H / s)`` ×
    ``ceil(W / s)`` positions (what ``padding="same"`` layers give); position (row ``i``,
    column ``j``) is centred at pixel ``((j + 0.5) s, (i + 0.5) s)``. Every position gets
    ``len(scales) * len(aspect_ratios)`` anchors of area ``(size * scale)²`` and width / height
    ratio ``r``: width ``size * scale * sqrt(r)``, height ``size * scale / sqrt(r)``.
    ``strides`` and ``sizes`` are one number or one per level; ``scales`` and ``aspect_ratios``
    are shared by all levels (RetinaNet: scales 2^0, 2^(1/3), 2^(2/3), ratios 1:2, 1:1, 2:1).

    The rows come in the order (level, row, column, anchor), anchor ``a = scale_index *
    len(aspect_ratios) + ratio_index``: a head's output ``(H_l, W_l, A * k)`` reshaped to
    ``(H_l * W_l * A, k)`` and concatenated over levels lines up with them. Anchors are not
    clipped to the image.

    >>> a = anchor_boxes(32, strides=[8, 16], sizes=[8, 16], aspect_ratios=[1.0, 4.0])
    >>> a.shape        # 4×4 positions × 2 anchors + 2×2 positions × 2 anchors
    (40, 4)
    >>> a[:2].tolist()  # the top-left position of the first level: a square, then a 4:1
    [[0.0, 0.0, 8.0, 8.0], [-4.0, 2.0, 12.0, 6.0]]
    """
    H, W = checks.size_pair(image_size, "image_size")
    if checks.is_number(strides):
        strides = [strides]
    if not isinstance(strides, (list, tuple, np.ndarray)) or len(strides) == 0:
        raise checks.ArgumentTypeError(f"strides={checks.shown(strides)}: expected one stride "
                                       "or a list of them, one per level, e.g. [8, 16].")
    strides = [checks.real(s, f"strides[{i}]", low=0.0, low_open=True)
               for i, s in enumerate(strides)]
    positive = lambda v, n: checks.real(v, n, low=0.0, low_open=True)
    sizes = _per_level(sizes, "sizes", len(strides), positive)
    ratios = _positive_list(aspect_ratios, "aspect_ratios")
    scales = _positive_list(scales, "scales")
    out = []
    for stride, size in zip(strides, sizes):
        rows, cols = int(np.ceil(H / stride)), int(np.ceil(W / stride))
        sides = np.array([[size * k * np.sqrt(r), size * k / np.sqrt(r)]
                          for k in scales for r in ratios])                     # (A, 2) w, h
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) * stride, (np.arange(cols) + 0.5) * stride,
                             indexing="ij")
        centre = np.stack([cx, cy], -1).reshape(-1, 1, 2)                      # (P, 1, 2)
        boxes = np.concatenate([centre - sides / 2, centre + sides / 2], -1)  # (P, A, 4)
        out.append(boxes.reshape(-1, 4))
    return np.concatenate(out)


class AnchorMatch(NamedTuple):
    """What :func:`match_anchors` returns: per anchor, ``label`` (1 positive, 0 negative,
    -1 ignored), ``index`` (the matched ground-truth box of a positive, -1 otherwise) and
    ``iou`` (its largest IoU with any ground-truth box)."""
    label: np.ndarray
    index: np.ndarray
    iou: np.ndarray


def match_anchors(anchors, gt_boxes, positive: float = 0.5, negative: float = 0.4,
                  best_match: bool = True) -> AnchorMatch:
    """Label anchors by IoU with the ground truth: positive, negative or ignored.

    RetinaNet's rule: an anchor whose largest IoU with a ground-truth box is at least
    ``positive`` is positive and matched to that box; below ``negative`` it is background
    (negative); in between it is ignored (it counts in no loss term). With ``best_match``
    (Faster R-CNN's rule, on by default) every ground-truth box also claims the anchor it
    overlaps most, even below ``positive``, so that no object goes without an anchor; a box
    that overlaps no anchor at all (IoU 0) stays unmatched. When two boxes claim the same
    anchor, the later box in ``gt_boxes`` gets it. Both inputs are ``xyxy``; with no ground
    truth every anchor is negative.

    >>> anchors = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 8, 10]]
    >>> m = match_anchors(anchors, [[0, 0, 10, 10], [21, 21, 40, 40]])
    >>> m.label.tolist(), m.index.tolist()   # anchor 2 has IoU 0.21 but is box 1's best
    ([1, 0, 1, 1], [0, -1, 1, 0])
    >>> m.iou.round(2).tolist()
    [1.0, 0.33, 0.21, 0.8]
    """
    a = to_xyxy(anchors, name="anchors").reshape(-1, 4)
    g = to_xyxy(gt_boxes, name="gt_boxes").reshape(-1, 4)
    positive = checks.real(positive, "positive", low=0.0, high=1.0)
    negative = checks.real(negative, "negative", low=0.0, high=1.0)
    if negative > positive:
        raise ValueError(f"negative={negative:g} is above positive={positive:g}: an anchor "
                         "cannot be both; pass negative <= positive (RetinaNet: 0.4 and 0.5).")
    best_match = checks.flag(best_match, "best_match")
    label = np.zeros(len(a), np.int64)
    index = np.full(len(a), -1, np.int64)
    if len(g) == 0:
        return AnchorMatch(label, index, np.zeros(len(a)))
    overlaps = _pairwise_iou(a, g)                       # (anchors, boxes)
    best_iou, best_box = overlaps.max(1), overlaps.argmax(1)
    label[best_iou >= negative] = -1
    pos = best_iou >= positive
    label[pos], index[pos] = 1, best_box[pos]
    if best_match and len(a):
        for k, anchor in enumerate(overlaps.argmax(0)):
            if overlaps[anchor, k] > 0:
                label[anchor], index[anchor] = 1, k
    return AnchorMatch(label, index, best_iou)


def _variances(variances) -> np.ndarray:
    v = checks.array(variances, "variances", shape_hint="(4,)")
    if v.shape != (4,) or (v <= 0).any():
        raise ValueError(f"variances={checks.shown(variances)}: expected four positive numbers "
                         "(for tx, ty, tw, th), e.g. (1, 1, 1, 1) or SSD's (0.1, 0.1, 0.2, 0.2).")
    return v


def _sized(boxes, name: str) -> np.ndarray:
    """``xyxy`` boxes with positive width and height (the offsets take their logarithms)."""
    b = to_xyxy(boxes, name=name)
    flat = b.reshape(-1, 4)
    empty = (flat[:, 2] <= flat[:, 0]) | (flat[:, 3] <= flat[:, 1])
    if empty.any():
        i = int(np.argmax(empty))
        raise ValueError(f"{name} holds a box of zero width or height ({flat[i].tolist()}, row "
                         f"{i} of the flattened boxes): box offsets take log(w) and log(h), so "
                         "pass boxes with x2 > x1 and y2 > y1 (drop empty ones first).")
    return b


def encode_box_offsets(boxes, anchors, variances=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """The regression target of each anchor: the offsets ``(tx, ty, tw, th)`` that move
    ``anchors`` onto ``boxes`` (both ``xyxy``, shapes that broadcast, ``(..., 4)``).

    With centres ``(x, y)``, sizes ``(w, h)`` and the anchor's ``(x_a, y_a, w_a, h_a)``
    (Faster R-CNN, SSD, RetinaNet): ``tx = (x - x_a) / w_a``, ``ty = (y - y_a) / h_a``,
    ``tw = log(w / w_a)``, ``th = log(h / h_a)``, each divided by its entry of ``variances``
    (SSD's ``(0.1, 0.1, 0.2, 0.2)`` scales the targets up to about unit size).
    :func:`decode_box_offsets` is the inverse.

    >>> encode_box_offsets([[12, 10, 32, 50]], [[0, 0, 20, 40]]).round(4).tolist()
    [[0.6, 0.25, 0.0, 0.0]]
    >>> encode_box_offsets([[0, 0, 40, 40]], [[0, 0, 20, 40]], (0.1, 0.1, 0.2, 0.2)).round(4).tolist()
    [[5.0, 0.0, 3.4657, 0.0]]
    """
    b = convert_boxes(_sized(boxes, "boxes"), "xyxy", "center_xywh")
    a = convert_boxes(_sized(anchors, "anchors"), "xyxy", "center_xywh")
    v = _variances(variances)
    try:
        np.broadcast_shapes(b.shape, a.shape)
    except ValueError:
        raise ValueError(f"boxes {b.shape} and anchors {a.shape} do not broadcast: pass one box "
                         "per anchor (N, 4) with (N, 4), or shapes numpy can broadcast.") from None
    t = np.concatenate([(b[..., :2] - a[..., :2]) / a[..., 2:], np.log(b[..., 2:] / a[..., 2:])],
                       axis=-1)
    return t / v


def decode_box_offsets(offsets, anchors, variances=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Boxes (``xyxy``) from offsets ``(tx, ty, tw, th)`` relative to ``anchors``: the inverse
    of :func:`encode_box_offsets` (``x = x_a + tx w_a``, ``w = w_a exp(tw)``, with the same
    ``variances``).

    >>> decode_box_offsets([[0.6, 0.25, 0.0, 0.0]], [[0, 0, 20, 40]]).round(6).tolist()
    [[12.0, 10.0, 32.0, 50.0]]
    """
    t = checks.array(offsets, "offsets", min_ndim=1, last=4, shape_hint="(N, 4)")
    a = convert_boxes(_sized(anchors, "anchors"), "xyxy", "center_xywh")
    t = t * _variances(variances)
    try:
        np.broadcast_shapes(t.shape, a.shape)
    except ValueError:
        raise ValueError(f"offsets {t.shape} and anchors {a.shape} do not broadcast: pass one "
                         "row of offsets per anchor.") from None
    centre = a[..., :2] + t[..., :2] * a[..., 2:]
    size = a[..., 2:] * np.exp(t[..., 2:])
    return np.concatenate([centre - size / 2, centre + size / 2], axis=-1)


# --------------------------------------------------------------------------- focal loss

def focal_loss(y_true, y_pred, alpha: float | None = 0.25, gamma: float = 2.0,
               from_logits: bool = False):
    """Sigmoid focal loss of Lin et al. (RetinaNet), element by element (no reduction).

    ``FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)``, where ``p_t`` is the predicted probability
    of the true label (``p`` where ``y_true`` is 1, ``1 - p`` where it is 0) and ``alpha_t`` is
    ``alpha`` for 1s and ``1 - alpha`` for 0s (``alpha=None``: no weighting). At ``gamma=0``
    it is the alpha-weighted binary cross-entropy. ``y_pred`` holds probabilities, or logits
    with ``from_logits=True`` (computed stably from the logits). Works on NumPy arrays and on
    tensors inside a Keras loss (``keras.ops``); returns a tensor of the broadcast shape:
    reduce it as the detector needs (RetinaNet sums over anchors and divides by the number of
    positive ones). ``keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True)``
    computes the same and averages over the last axis.

    >>> from keras import ops
    >>> loss = ops.convert_to_numpy(focal_loss([1.0, 0.0], [0.9, 0.9]))  # right, then wrong
    >>> loss.astype(float).round(4).tolist()
    [0.0003, 1.3988]
    """
    from keras import ops  # keras only here: the rest of the module is NumPy

    alpha = None if alpha is None else checks.real(alpha, "alpha", low=0.0, high=1.0)
    gamma = checks.real(gamma, "gamma", low=0.0)
    from_logits = checks.flag(from_logits, "from_logits")
    for name, value in (("y_true", y_true), ("y_pred", y_pred)):
        if isinstance(value, (str, bytes)) or value is None:
            raise checks.ArgumentTypeError(f"{name}={value!r}: expected an array or tensor of "
                                           "numbers.")
    y = ops.convert_to_tensor(y_true, dtype="float32")
    z = ops.convert_to_tensor(y_pred, dtype="float32")
    if from_logits:
        # log p = -softplus(-z), log(1 - p) = -softplus(z): no log of a rounded probability;
        # 1 - p_t is sigmoid(-z) for a 1 and sigmoid(z) for a 0, not 1 minus a rounded p_t
        ce = y * ops.softplus(-z) + (1 - y) * ops.softplus(z)
        miss = y * ops.sigmoid(-z) + (1 - y) * ops.sigmoid(z)
    else:
        p = ops.clip(z, 1e-7, 1 - 1e-7)
        ce = -(y * ops.log(p) + (1 - y) * ops.log(1 - p))
        miss = 1 - (y * p + (1 - y) * (1 - p))
    loss = ce
    if gamma > 0:
        # (1 - p_t)^gamma has an infinite slope at 0 for gamma < 1 (and x^0 a NaN one), so the
        # base is kept off 0; a confident right answer then adds nothing, not NaN, to the gradient
        loss = ops.power(ops.maximum(miss, 1e-30), gamma) * ce
    if alpha is not None:
        loss = (y * alpha + (1 - y) * (1 - alpha)) * loss
    return loss


# --------------------------------------------------------------------------- RoIAlign

def roi_align(feature_map, boxes, box_indices=None, output_size=7, stride: float = 1.0,
              sampling_ratio: int = 2):
    """RoIAlign (Mask R-CNN): each box's region of ``feature_map`` pooled to a fixed grid.

    ``feature_map``: ``(N, H, W, C)``; ``boxes``: ``(K, 4)`` ``xyxy`` in pixels of the image,
    whose feature map has ``stride`` pixels per cell (cell ``j`` covers pixels ``[j s,
    (j + 1) s)``, its value sits at its centre); ``box_indices``: ``(K,)`` the image of each
    box (default all 0). Each box is split into ``output_size`` × ``output_size`` bins (or a
    pair ``(rows, cols)``); each bin is the mean of ``sampling_ratio``² bilinear samples at the
    centres of a regular sub-grid, with no rounding of the box to the cells (the difference
    from RoI pooling). The samples are one call of ``tf.image.crop_and_resize`` (boxes turned
    into its normalised ``[y1, x1, y2, x2]``, where 0 and 1 are the centres of the first and
    last cell) and an average pooling. As in Detectron2's aligned RoIAlign, a sample less than
    one cell outside the map takes the value of the nearest cell and one further out is 0.
    Returns a float32 tensor ``(K, rows, cols, C)``.

    >>> ramp = np.arange(16.0).reshape(1, 4, 4, 1)      # value 4 y + x at cell (y, x)
    >>> roi_align(ramp, [[0, 0, 4, 4]], output_size=2).numpy()[..., 0].tolist()
    [[[2.5, 4.5], [10.5, 12.5]]]
    """
    import tensorflow as tf  # only here: the rest of the module is NumPy

    if isinstance(feature_map, (str, bytes)) or feature_map is None:
        raise checks.ArgumentTypeError(f"feature_map={feature_map!r}: expected an array or "
                                       "tensor (N, H, W, C).")
    f = tf.convert_to_tensor(feature_map, dtype=tf.float32)
    if f.shape.rank != 4:
        raise ValueError(f"feature_map has shape {tuple(f.shape)}: expected (N, H, W, C); add "
                         "the batch axis (x[None]) or the channel axis (x[..., None]).")
    b = to_xyxy(boxes).reshape(-1, 4)
    n = int(f.shape[0])
    if box_indices is None:
        idx = np.zeros(len(b), np.int64)
    else:
        idx = checks.whole_array(box_indices, "box_indices").reshape(-1)
    if idx.shape != (len(b),):
        raise ValueError(f"box_indices has {idx.size} entries but there are {len(b)} boxes: "
                         "pass the image of each box, shape (K,).")
    if len(idx) and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"box_indices holds {int(idx.min() if idx.min() < 0 else idx.max())} "
                         f"but feature_map has {n} images: pass indices in 0..{n - 1}.")
    if checks.is_number(output_size):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise checks.ArgumentTypeError(f"output_size={checks.shown(output_size)}: expected one "
                                       "whole number or a pair (rows, cols), e.g. 7 or (14, 14).")
    rows, cols = (checks.integer(v, "output_size", minimum=1) for v in output_size)
    stride = checks.real(stride, "stride", low=0.0, low_open=True)
    r = checks.integer(sampling_ratio, "sampling_ratio", minimum=1)
    H, W = int(f.shape[1]), int(f.shape[2])
    # one cell of edge padding: samples within a cell of the border read the border cell
    padded = tf.pad(f, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    u = b / stride                                          # box in cell units
    # sample m of (rows * r) along y sits at cell coordinate y1 + (m + 0.5) h / (rows r); the
    # value of cell i sits at i + 0.5, so its index in the padded map is that + 1 - 0.5
    def first_last(lo, hi, n_samples, side):
        step = (hi - lo) / n_samples
        first, last = lo + 0.5 * step + 0.5, hi - 0.5 * step + 0.5
        return first / (side + 1), last / (side + 1)
    y1, y2 = first_last(u[:, 1], u[:, 3], rows * r, H)
    x1, x2 = first_last(u[:, 0], u[:, 2], cols * r, W)
    normalised = np.stack([y1, x1, y2, x2], axis=1).astype(np.float32)
    samples = tf.image.crop_and_resize(padded, normalised, idx.astype(np.int32),
                                       (rows * r, cols * r), method="bilinear",
                                       extrapolation_value=0.0)
    return tf.nn.avg_pool2d(samples, r, r, "VALID")


# --------------------------------------------------------------------------- AP and mAP

def average_precision(recall, precision, method: str = "all") -> float:
    """Area under a precision–recall curve, by one of three interpolations.

    ``recall`` and ``precision`` are the values after each detection, best score first (recall
    never decreases). All three first replace each precision by the largest precision at that
    recall or beyond (the "envelope"); then

    * ``"all"``: the exact area under the envelope (every recall level; PASCAL VOC since 2010);
    * ``"voc11"``: the mean of the envelope at recall 0, 0.1, ..., 1 (PASCAL VOC 2007);
    * ``"coco101"``: the mean at recall 0, 0.01, ..., 1 (COCO).

    At a recall the detections never reach, the envelope is 0.

    >>> r, p = [0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]
    >>> [round(average_precision(r, p, m), 4) for m in ("all", "voc11", "coco101")]
    [0.8333, 0.8485, 0.835]
    """
    checks.choice(method, "method", ("all", "voc11", "coco101"))
    r = checks.array(recall, "recall", ndim=1)
    p = checks.array(precision, "precision", ndim=1)
    for values, name in ((r, "recall"), (p, "precision")):
        if values.size and (values.min() < 0 or values.max() > 1):
            bad = values.min() if values.min() < 0 else values.max()
            raise ValueError(f"{name} holds {bad:g}: expected values in [0, 1] (fractions, "
                             "not percent).")
    if r.shape != p.shape or r.ndim != 1:
        raise ValueError(f"recall {r.shape} and precision {p.shape} must be 1-D and equally long.")
    if np.any(np.diff(r) < 0):
        raise ValueError("recall decreases: pass the values after each detection, ordered by "
                         "decreasing score.")
    if len(r) == 0:
        return 0.0
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    if method == "all":
        steps = np.diff(np.concatenate([[0.0], r]))
        return float(np.sum(steps * envelope))
    points = {"voc11": VOC_RECALL_POINTS, "coco101": COCO_RECALL_POINTS}.get(method)
    if points is None:
        raise ValueError(f"method={method!r}: choose 'all', 'voc11' or 'coco101'.")
    index = np.searchsorted(r, points, side="left")
    values = np.where(index < len(r), envelope[np.minimum(index, len(r) - 1)], 0.0)
    return float(values.mean())


def _per_image(name, items, n_images=None):
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__len__"):
        raise checks.ArgumentTypeError(
            f"{name}={checks.shown(items)}: expected a list with one entry per image.")
    if n_images is not None and len(items) != n_images:
        raise ValueError(f"{name} has {len(items)} images but the ground truth has {n_images}: "
                         "pass one entry per image, in the same order.")
    return items


def _match(overlaps: np.ndarray, gt_ignore: np.ndarray, iou_thresholds) -> tuple:
    """COCO's greedy matching in one image and class.

    ``overlaps``: IoU ``(D, G)`` of the detections, sorted by decreasing score, with the ground
    truth; ``gt_ignore``: ``(G,)``, True for ground truth that is not counted. Each detection
    takes the free ground-truth box of highest IoU (the last one on ties, as pycocotools does),
    provided the IoU is at least the threshold; a counted box beats any ignored one. Returns
    ``(matched (T, D) bool, matched_an_ignored_box (T, D) bool)``.
    """
    order = np.argsort(gt_ignore, kind="stable")  # counted ground truth first
    rows = overlaps[:, order].tolist()
    ignore = gt_ignore[order].tolist()
    T, D, G = len(iou_thresholds), len(rows), len(ignore)
    matched = np.zeros((T, D), bool)
    ignored = np.zeros((T, D), bool)
    if D == 0 or G == 0:
        return matched, ignored
    for t, threshold in enumerate(iou_thresholds):
        taken = [False] * G
        for d, row in enumerate(rows):
            best, m = min(threshold, 1 - 1e-10), -1
            for g in range(G):
                if taken[g]:
                    continue
                if m > -1 and not ignore[m] and ignore[g]:
                    break  # a counted match beats any ignored one
                if row[g] < best:
                    continue
                best, m = row[g], g
            if m > -1:
                taken[m] = True
                matched[t, d] = True
                ignored[t, d] = ignore[m]
    return matched, ignored


def evaluate(gt_boxes, gt_classes, det_boxes, det_scores, det_classes, num_classes: int,
             iou_thresholds=COCO_IOU_THRESHOLDS, area_ranges=None, max_detections: int = 100,
             format: str = "xyxy") -> dict:
    """Average precision per class and IoU threshold, and mAP, for detections on a set of images.

    Each argument but ``num_classes`` is a list with one entry per image: ``gt_boxes[i]``
    ``(G, 4)``, ``gt_classes[i]`` ``(G,)``, ``det_boxes[i]`` ``(D, 4)``, ``det_scores[i]`` and
    ``det_classes[i]`` ``(D,)``. Matching follows COCO (``pycocotools``): per image and class,
    detections in order of decreasing score (at most ``max_detections`` of them) each take the
    unmatched ground-truth box of highest IoU, if that IoU is at least the threshold; a match is
    a true positive, anything else a false positive. The same matches feed all three
    interpolations of :func:`average_precision`. (The PASCAL VOC devkit matches slightly
    differently: a detection whose best box is already taken is a false positive there, and it
    needs IoU *above* 0.5.)

    ``area_ranges`` maps a name to ``(min, max)`` box area: ground truth outside the range is
    not counted and neither are detections outside it that match nothing, as in COCO. The
    default is :data:`SCENE_AREA_RANGES`, set for the 96×96 scenes of :mod:`dlbook.scenes`;
    COCO's own (:data:`COCO_AREA_RANGES`) assume photos of about 640×480, where "small" means
    below 32×32 pixels, which on a 96×96 scene is most items. Areas are box areas.

    ``tests/test_detect.py`` checks the COCO numbers against ``pycocotools`` (with these area
    ranges) on random detections: they agree to 1e-9 (in practice to rounding).

    Returns a dict: ``"ap"`` maps each interpolation (``"coco101"``, ``"voc11"``, ``"all"``) and
    area range to an array ``(T, num_classes)`` of AP (NaN for a class without counted ground
    truth); ``"map"`` maps the same keys to mAP over classes and thresholds (COCO's
    mAP@[.5:.95] is ``["map"]["coco101"]["all"]``); ``"map50"`` the same at IoU 0.5 (when 0.5 is
    among the thresholds); ``"recall"`` and ``"precision"`` the curves per class at each
    threshold, for the area range ``"all"``: ``[t][c]`` arrays.

    >>> gt = [np.array([[0, 0, 10, 10]])]
    >>> r = evaluate(gt, [np.array([0])], [np.array([[0, 0, 10, 9], [20, 20, 30, 30]])],
    ...              [np.array([0.9, 0.8])], [np.array([0, 0])], num_classes=1)
    >>> round(r["map"]["coco101"]["all"], 4), round(r["map50"]["coco101"]["all"], 4)
    (0.9, 1.0)
    """
    n = len(_per_image("gt_boxes", gt_boxes))
    _per_image("gt_classes", gt_classes, n)
    for name, items in (("det_boxes", det_boxes), ("det_scores", det_scores),
                        ("det_classes", det_classes)):
        _per_image(name, items, n)
    thresholds = checks.array(iou_thresholds, "iou_thresholds").reshape(-1)
    if len(thresholds) == 0 or ((thresholds < 0) | (thresholds > 1)).any():
        raise ValueError(f"iou_thresholds={checks.shown(iou_thresholds)}: expected one or more "
                         "numbers in [0, 1].")
    ranges = SCENE_AREA_RANGES if area_ranges is None else _area_ranges(area_ranges)
    max_detections = checks.optional_integer(max_detections, "max_detections", minimum=1)
    format = _format(format)
    T, K = len(thresholds), checks.integer(num_classes, "num_classes", minimum=1)

    # Check and split the inputs per image and class once.
    images = []
    for i in range(n):
        gb = to_xyxy(gt_boxes[i], format, f"gt_boxes[{i}]").reshape(-1, 4)
        gc = checks.whole_array(gt_classes[i], f"gt_classes[{i}]").reshape(-1)
        if len(gc) != len(gb):
            raise ValueError(f"image {i}: gt_boxes[{i}] has {len(gb)} boxes but gt_classes[{i}] "
                             f"{len(gc)} classes: pass one class per box.")
        db = to_xyxy(det_boxes[i], format, f"det_boxes[{i}]").reshape(-1, 4)
        ds = _scores(det_scores[i], len(db), f"det_scores[{i}]")
        dc = checks.whole_array(det_classes[i], f"det_classes[{i}]").reshape(-1)
        if len(dc) != len(db):
            raise ValueError(f"image {i}: det_boxes[{i}] has {len(db)} boxes but "
                             f"det_classes[{i}] {len(dc)} classes: pass one class per box.")
        for name, cls in (("gt_classes", gc), ("det_classes", dc)):
            if len(cls) and (cls.min() < 0 or cls.max() >= K):
                raise ValueError(f"{name}[{i}] holds a class outside 0..{K - 1}: pass "
                                 f"num_classes={int(cls.max()) + 1} or fix the classes.")
        images.append((gb, gc, db, ds, dc))

    ap = {m: {a: np.full((T, K), np.nan) for a in ranges} for m in ("coco101", "voc11", "all")}
    curves_r = [[np.zeros(0) for _ in range(K)] for _ in range(T)]
    curves_p = [[np.zeros(0) for _ in range(K)] for _ in range(T)]
    # Per class, the images with that class in them: (gt areas, IoU, det scores, det areas).
    by_class = [[] for _ in range(K)]
    for gb, gc, db, ds, dc in images:
        for k in np.union1d(gc, dc).astype(np.int64).tolist():
            g = gb[gc == k]
            d_sel = np.nonzero(dc == k)[0]
            d_sel = d_sel[np.argsort(-ds[d_sel], kind="stable")][:max_detections]
            d = db[d_sel]
            by_class[k].append((_areas(g), _pairwise_iou(d, g), ds[d_sel], _areas(d)))
    for k in range(K):
        per_image = by_class[k]
        for area_name, (lo, hi) in ranges.items():
            scores, tps, fps, counted = [], [], [], 0
            for g_area, overlaps, s, d_area in per_image:
                g_ignore = (g_area < lo) | (g_area > hi)
                counted += int((~g_ignore).sum())
                matched, ignored = _match(overlaps, g_ignore, thresholds)
                outside = (d_area < lo) | (d_area > hi)
                ignored = ignored | (~matched & outside[None, :])
                scores.append(s)
                tps.append(matched & ~ignored)
                fps.append(~matched & ~ignored)
            if counted == 0:
                continue
            s = np.concatenate(scores)
            order = np.argsort(-s, kind="stable")
            tp = np.cumsum(np.concatenate(tps, axis=1)[:, order], axis=1)
            fp = np.cumsum(np.concatenate(fps, axis=1)[:, order], axis=1)
            for t in range(T):
                recall = tp[t] / counted
                precision = tp[t] / np.maximum(tp[t] + fp[t], np.finfo(np.float64).tiny)
                for m in ap:
                    ap[m][area_name][t, k] = average_precision(recall, precision, m)
                if area_name == "all":
                    curves_r[t][k], curves_p[t][k] = recall, precision
    result = {"ap": ap, "iou_thresholds": thresholds, "recall": curves_r, "precision": curves_p,
              "map": {m: {a: _nanmean(v) for a, v in per.items()} for m, per in ap.items()}}
    at50 = np.nonzero(np.isclose(thresholds, 0.5))[0]
    if len(at50):
        result["map50"] = {m: {a: _nanmean(v[at50[0]]) for a, v in per.items()}
                           for m, per in ap.items()}
    return result


def _area_ranges(area_ranges) -> dict:
    """``area_ranges`` checked: a dict of name -> (min, max) with 0 <= min <= max."""
    if not isinstance(area_ranges, dict) or not area_ranges:
        raise checks.ArgumentTypeError(
            f"area_ranges={checks.shown(area_ranges)}: expected a dict of name -> (min, max) box "
            "area, e.g. {'all': (0, 1e10)}, or None for SCENE_AREA_RANGES.")
    ranges = {}
    for key, pair in area_ranges.items():
        name = f"area_ranges[{key!r}]"
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            raise checks.ArgumentTypeError(f"{name}={checks.shown(pair)}: expected a pair "
                                           "(min, max) of box areas.")
        lo = checks.real(pair[0], name, low=0.0, allow_inf=True)
        hi = checks.real(pair[1], name, low=0.0, allow_inf=True)
        if hi < lo:
            raise ValueError(f"{name}={tuple(pair)!r}: expected (min, max) with min <= max.")
        ranges[key] = (lo, hi)
    return ranges


def _areas(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _nanmean(values) -> float:
    """Mean of the non-NaN entries; NaN when there are none (COCO's -1)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


# --------------------------------------------------------------------------- MTCNN
MTCNN_PACKAGE = "mtcnn==1.0.0"


def mtcnn_detector(device: str = "CPU:0"):
    """The trained MTCNN face detector of the ``mtcnn`` wheel (chapter 9), or one clear error.

    The wheel ships the weights of its three networks in ``mtcnn/assets/weights``; an install
    without them (a trimmed or broken copy) fails inside the package with ``No module named
    'mtcnn.assets.weights'`` or a missing ``.lz4`` file. Both become one line that names the
    reinstall; a missing package names the ``pip install``.

    >>> detector = mtcnn_detector()           # doctest: +SKIP
    >>> [type(s).__name__ for s in detector.stages]   # doctest: +SKIP
    ['StagePNet', 'StageRNet', 'StageONet']
    """
    if not isinstance(device, str):
        raise checks.ArgumentTypeError(f"device={device!r}: expected a TensorFlow device name "
                                       "such as 'CPU:0' or 'GPU:0'.")
    try:
        from mtcnn import MTCNN
    except ImportError as error:
        raise ModuleNotFoundError(f"the package mtcnn is not installed ({error}); it ships the "
                                  f"trained MTCNN weights. Install it with: pip install "
                                  f"{MTCNN_PACKAGE}") from None
    try:
        return MTCNN(device=device)
    except (ModuleNotFoundError, FileNotFoundError) as error:
        if "mtcnn.assets" not in str(error) and "Weights file" not in str(error):
            raise
        raise FileNotFoundError(f"mtcnn is installed without its trained weights ({error}). "
                                "Reinstall the wheel, which ships them in "
                                "mtcnn/assets/weights: pip install --force-reinstall "
                                f"--no-cache-dir {MTCNN_PACKAGE}") from None
