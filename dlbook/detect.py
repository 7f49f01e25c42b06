"""Object-detection arithmetic: box formats, IoU, greedy NMS, YOLO targets, AP and mAP.

Written to be read and copied, and checked against the references readers will meet:
:func:`iou` against ``keras.utils.bounding_boxes.compute_iou``, :func:`nms` against
``tf.image.non_max_suppression``, :func:`evaluate` against ``pycocotools`` (see
``tests/test_detect.py``). Everything is numpy, in float64.

**Box formats** (the names Keras uses): ``"xyxy"`` ``[x1, y1, x2, y2]`` (corners; the default
everywhere here), ``"yxyx"`` ``[y1, x1, y2, x2]`` (``tf.image``), ``"xywh"`` ``[x1, y1, w, h]``
(COCO), ``"center_xywh"`` ``[cx, cy, w, h]`` (YOLO) and ``"center_yxhw"`` ``[cy, cx, h, w]``.
Coordinates are continuous: a box's area is ``(x2 - x1) * (y2 - y1)`` with no "+1" (the boxes of
:mod:`dlbook.scenes` have exclusive ends, so that is their pixel count). A box with ``x2 < x1``
or ``y2 < y1`` is an error; a box of zero width or height is allowed and has IoU 0 with every
box.
"""

from __future__ import annotations

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
