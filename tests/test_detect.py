"""dlbook.detect against the references: Keras' IoU, TensorFlow's NMS, pycocotools' mAP."""

import contextlib
import io

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dlbook import detect

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def box_sets(draw, max_size=12, integer=True, min_size=0):
    """``(N, 4)`` xyxy boxes inside a 64×64 image, sides of at least 1, on a grid of 1 pixel
    (``integer``) or 1/8 pixel (exact in float32, so float32 references see the same boxes)."""
    n = draw(st.integers(min_size, max_size))
    step = 1 if integer else 8
    coord = st.integers(0, 63 * step)
    boxes = []
    for _ in range(n):
        x1, y1 = draw(coord), draw(coord)
        w, h = draw(st.integers(step, 64 * step - x1)), draw(st.integers(step, 64 * step - y1))
        boxes.append([x1 / step, y1 / step, (x1 + w) / step, (y1 + h) / step])
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


# --------------------------------------------------------------------------- IoU

@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(box_sets(min_size=1, integer=False), box_sets(min_size=1, integer=False),
       st.sampled_from(["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw"]))
def test_iou_agrees_with_keras_compute_iou(a, b, fmt):
    # Keras adds 1e-7 to the union; sides of at least 1 make that a relative error of 1e-7.
    from keras.utils import bounding_boxes

    a_f = detect.convert_boxes(a, "xyxy", fmt)
    b_f = detect.convert_boxes(b, "xyxy", fmt)
    ours = detect.iou(a_f, b_f, format=fmt)
    theirs = np.asarray(bounding_boxes.compute_iou(a_f.astype("float32"), b_f.astype("float32"),
                                                   bounding_box_format=fmt))
    assert ours.shape == theirs.shape == (len(a), len(b))
    assert np.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("fmt", ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw"])
def test_iou_agrees_with_keras_on_many_random_boxes(fmt):
    from keras.utils import bounding_boxes

    rng = np.random.default_rng(0)
    xy = rng.integers(0, 60 * 8, (2, 300, 2))
    wh = rng.integers(8, 40 * 8, (2, 300, 2))
    a, b = (np.concatenate([xy[i], xy[i] + wh[i]], axis=1) / 8 for i in range(2))
    a_f, b_f = detect.convert_boxes(a, "xyxy", fmt), detect.convert_boxes(b, "xyxy", fmt)
    theirs = np.asarray(bounding_boxes.compute_iou(a_f.astype("float32"), b_f.astype("float32"),
                                                   bounding_box_format=fmt))
    ours = detect.iou(a_f, b_f, format=fmt)
    assert (ours > 0).mean() > 0.05  # enough overlapping pairs to mean something
    assert np.allclose(ours, theirs, atol=1e-5)


@SETTINGS
@given(box_sets(min_size=1, integer=False),
       st.sampled_from(["yxyx", "xywh", "center_xywh", "center_yxhw"]))
def test_formats_round_trip(boxes, fmt):
    back = detect.convert_boxes(detect.convert_boxes(boxes, "xyxy", fmt), fmt, "xyxy")
    assert np.allclose(back, boxes, atol=1e-9)


def test_iou_by_hand():
    # a 2×2 square against one shifted by 1: intersection 1, union 7
    assert detect.iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)
    assert detect.iou([[0, 0, 2, 2]], [[2, 0, 4, 2]])[0, 0] == 0.0  # touching
    assert detect.iou([[1, 1, 1, 1]], [[1, 1, 1, 1]])[0, 0] == 0.0  # empty union
    assert detect.iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


@pytest.mark.parametrize("call, words", [
    (lambda: detect.iou([[5, 0, 2, 3]], [[0, 0, 1, 1]]), "x2 < x1"),
    (lambda: detect.iou([[0, 0, 1]], [[0, 0, 1, 1]]), "4 numbers"),
    (lambda: detect.iou([[0, 0, 1, 1]], [[0, 0, 1, 1]], format="ltrb"), "choose one of"),
    (lambda: detect.nms([[0, 0, 1, 1]], [0.5, 0.4]), "one score per box"),
    (lambda: detect.nms([[0, 0, 1, 1]], [[0.5]]), "one score per box"),
    (lambda: detect.nms([[0, 0, 1, 1]], [np.nan]), "NaN"),
    (lambda: detect.nms([[0, 0, 1, 1]], [0.5], iou_threshold=1.5), "[0, 1]"),
    (lambda: detect.evaluate([np.zeros((1, 4))], [np.array([0])], [], [], [], 1),
     "one entry per image"),
    (lambda: detect.evaluate([np.array([[0, 0, 1, 1]])], [np.array([0, 1])],
                             [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)], 2),
     "one class per box"),
    (lambda: detect.evaluate([np.array([[0, 0, 1, 1]])], [np.array([0])],
                             [np.array([[0, 0, 1, 1]])], [np.array([0.5, 0.2])],
                             [np.array([0])], 1),
     "one score per box"),
    (lambda: detect.evaluate([np.array([[0, 0, 1, 1]])], [np.array([3])],
                             [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0)], 2), "num_classes=4"),
    (lambda: detect.average_precision([0.5, 0.2], [1, 1]), "recall decreases"),
    (lambda: detect.encode_yolo([[0, 0, 10, 10]], [0, 1], 2, 1, 2, 20), "one class per box"),
    (lambda: detect.encode_yolo([[0, 0, 30, 10]], [0], 2, 1, 2, 20), "outside"),
])
def test_bad_input_gets_a_clear_error(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value)


# --------------------------------------------------------------------------- NMS

@SETTINGS
@given(box_sets(max_size=20), st.data(), st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 1.0]),
       st.sampled_from([float("-inf"), 0.25, 0.5]), st.sampled_from([None, 1, 3]))
def test_nms_agrees_with_tensorflow(boxes, data, iou_threshold, score_threshold, max_output):
    import tensorflow as tf

    # scores from a few levels, so ties are common
    scores = np.asarray(data.draw(st.lists(st.sampled_from([0.1, 0.25, 0.5, 0.75, 0.9]),
                                           min_size=len(boxes), max_size=len(boxes))), np.float64)
    ours = detect.nms(boxes, scores, iou_threshold, score_threshold, max_output)
    theirs = tf.image.non_max_suppression(
        detect.convert_boxes(boxes, "xyxy", "yxyx").astype(np.float32), scores.astype(np.float32),
        max_output_size=len(boxes) if max_output is None else max_output,
        iou_threshold=iou_threshold, score_threshold=score_threshold).numpy()
    assert ours.tolist() == theirs.tolist()


@SETTINGS
@given(box_sets(max_size=16), st.data(), st.sampled_from([0.3, 0.5]))
def test_per_class_nms_is_tensorflow_nms_within_each_class(boxes, data, iou_threshold):
    import tensorflow as tf

    n = len(boxes)
    scores = np.asarray(data.draw(st.lists(st.sampled_from([0.2, 0.5, 0.8]), min_size=n,
                                           max_size=n)), np.float64)
    classes = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), int)
    ours = detect.nms(boxes, scores, iou_threshold, classes=classes)
    kept = []
    for c in np.unique(classes):
        members = np.nonzero(classes == c)[0]
        chosen = tf.image.non_max_suppression(
            detect.convert_boxes(boxes[members], "xyxy", "yxyx").astype(np.float32),
            scores[members].astype(np.float32), len(members), iou_threshold).numpy()
        kept += members[chosen].tolist()
    kept.sort(key=lambda i: (-scores[i], i))  # all classes together, best score first
    assert ours.tolist() == kept


def test_nms_ties_and_empty_input():
    same = [[0, 0, 10, 10]] * 3
    assert detect.nms(same, [0.5, 0.5, 0.5]).tolist() == [0]        # the first of equal scores
    assert detect.nms(same, [0.5, 0.7, 0.7]).tolist() == [1]
    assert detect.nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    assert detect.nms([[0, 0, 1, 1]], [0.2], score_threshold=0.2).tolist() == []


# --------------------------------------------------------------------------- YOLO targets

@st.composite
def yolo_scenes(draw):
    """Boxes a YOLO target can hold: per cell at most B boxes, all of one class."""
    S, B, C = draw(st.integers(1, 7)), draw(st.integers(1, 3)), draw(st.integers(1, 5))
    H, W = draw(st.sampled_from([(96, 96), (64, 80)]))
    boxes, classes = [], []
    cells = draw(st.lists(st.tuples(st.integers(0, S - 1), st.integers(0, S - 1)), unique=True,
                          max_size=S * S))
    for row, col in cells:
        cls = draw(st.integers(0, C - 1))
        for _ in range(draw(st.integers(1, B))):
            # Centres strictly inside the cell: one exactly on a cell boundary belongs to either
            # cell after floating-point rounding (19.2 / 96 * 5 = 0.9999999999999999).
            fx, fy = draw(st.floats(0.001, 0.999)), draw(st.floats(0.001, 0.999))
            cx, cy = (col + fx) * W / S, (row + fy) * H / S
            w = draw(st.floats(0.05, 1.0)) * 2 * min(cx, W - cx)
            h = draw(st.floats(0.05, 1.0)) * 2 * min(cy, H - cy)
            assume(w > 0.01 and h > 0.01)
            boxes.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
            classes.append(cls)
    return S, B, C, (H, W), np.asarray(boxes).reshape(-1, 4), np.asarray(classes, np.int64)


def _sorted(boxes, classes):
    order = np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], classes))
    return boxes[order], classes[order]


@SETTINGS
@given(yolo_scenes())
def test_yolo_decode_inverts_encode(scene):
    S, B, C, size, boxes, classes = scene
    target = detect.encode_yolo(boxes, classes, S, B, C, size)
    assert target.shape == (S, S, 5 * B + C)
    decoded, decoded_classes, scores = detect.decode_yolo(target, B, C, size)
    assert len(decoded) == len(boxes) and (scores == 1).all()
    got, got_c = _sorted(decoded, decoded_classes)
    want, want_c = _sorted(boxes, classes)
    assert (got_c == want_c).all()
    assert np.allclose(got, want, atol=1e-3 * max(size))  # the target is float32


def test_yolo_conflicts_and_batches():
    # two boxes with centres in one cell of a 2×2 grid, one slot per cell
    boxes, classes = np.array([[0, 0, 10, 10], [2, 2, 12, 12]]), np.array([0, 1])
    with pytest.raises(ValueError, match="finer grid"):
        detect.encode_yolo(boxes, classes, 2, 1, 2, 40)
    with pytest.raises(ValueError, match="two classes"):
        detect.encode_yolo(boxes, classes, 2, 2, 2, 40)
    kept = detect.encode_yolo(boxes, classes, 2, 1, 2, 40, on_conflict="drop")
    assert kept[..., 4].sum() == 1
    batch = detect.encode_yolo(np.stack([boxes, boxes]), np.array([[0, -1], [1, -1]]), 2, 1, 2, 40)
    assert batch.shape == (2, 2, 2, 7) and batch[..., 4].sum() == 2
    decoded = detect.decode_yolo(batch, 1, 2, 40)
    assert [d[1].tolist() for d in decoded] == [[0], [1]]
    assert all(np.allclose(d[0], boxes[:1]) for d in decoded)
    # 7×7×30 for S=7, B=2, C=20, as in the YOLO paper
    assert detect.encode_yolo(np.zeros((0, 4)), np.zeros(0, int), 7, 2, 20, 448).shape == (7, 7, 30)


# --------------------------------------------------------------------------- AP and mAP

def _voc11_by_definition(recall, precision):
    """VOC 2007: mean over t in {0, .1, ..., 1} of the best precision at recall >= t."""
    values = []
    for t in np.linspace(0, 1, 11):
        at = precision[recall >= t]
        values.append(at.max() if at.size else 0.0)
    return float(np.mean(values))


def _all_points_by_definition(recall, precision):
    """VOC 2010+: sum of recall steps times the best precision at or after each step."""
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(0, 10))
def test_interpolations_match_their_definitions(hits, missed):
    tp = np.cumsum(hits)
    n_gt = int(tp[-1]) + missed
    assume(n_gt > 0)
    recall = tp / n_gt
    precision = tp / np.arange(1, len(hits) + 1)
    assert detect.average_precision(recall, precision, "voc11") == pytest.approx(
        _voc11_by_definition(recall, precision), abs=1e-12)
    assert detect.average_precision(recall, precision, "all") == pytest.approx(
        _all_points_by_definition(recall, precision), abs=1e-12)


def random_detections(rng, n_images=6, n_classes=3, canvas=96):
    """Ground truth of a few boxes per image and detections: jittered copies, duplicates and
    false positives, with random scores (no ties)."""
    gt_b, gt_c, det_b, det_s, det_c = [], [], [], [], []
    for _ in range(n_images):
        g = int(rng.integers(0, 6))
        wh = rng.uniform(6, 48, (g, 2))
        xy = rng.uniform(0, canvas - wh)
        boxes = np.concatenate([xy, xy + wh], axis=1)
        classes = rng.integers(0, n_classes, g)
        jitter = boxes + rng.normal(0, 3, boxes.shape)
        copies = rng.random(g) < 0.8
        extra = int(rng.integers(0, 5))
        fwh = rng.uniform(4, 40, (extra, 2))
        fxy = rng.uniform(0, canvas - fwh)
        d = np.concatenate([jitter[copies], jitter[copies][: g // 2] + 1.5,
                            np.concatenate([fxy, fxy + fwh], axis=1)])
        d = np.concatenate([np.minimum(d[:, :2], d[:, 2:]), np.maximum(d[:, :2], d[:, 2:])],
                           axis=1)
        dc = np.concatenate([classes[copies], classes[copies][: g // 2],
                             rng.integers(0, n_classes, extra)])
        gt_b.append(boxes); gt_c.append(classes)
        det_b.append(d); det_s.append(rng.random(len(d))); det_c.append(dc)
    return gt_b, gt_c, det_b, det_s, det_c


def coco_eval(gt_b, gt_c, det_b, det_s, det_c, n_classes, area_ranges):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    images = [{"id": i + 1} for i in range(len(gt_b))]
    anns, ann_id = [], 1
    for i, (boxes, classes) in enumerate(zip(gt_b, gt_c)):
        for b, c in zip(boxes, classes):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": ann_id, "image_id": i + 1, "category_id": int(c) + 1,
                         "bbox": xywh(b), "area": float(w * h), "iscrowd": 0})
            ann_id += 1
    results = [{"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)}
               for i, (boxes, scores, classes) in enumerate(zip(det_b, det_s, det_c))
               for b, s, c in zip(boxes, scores, classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns,
                      "categories": [{"id": k + 1} for k in range(n_classes)]}
        gt.createIndex()
        dt = gt.loadRes(results) if results else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.areaRng = [list(area_ranges[k]) for k in ("all", "small", "medium", "large")]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_coco_map_agrees_with_pycocotools(seed):
    rng = np.random.default_rng(seed)
    gt_b, gt_c, det_b, det_s, det_c = random_detections(rng)
    assume(sum(len(d) for d in det_b) > 0 and sum(len(g) for g in gt_b) > 0)
    ranges = detect.SCENE_AREA_RANGES
    ev = coco_eval(gt_b, gt_c, det_b, det_s, det_c, 3, ranges)
    ours = detect.evaluate(gt_b, gt_c, det_b, det_s, det_c, num_classes=3)
    # per threshold and class: COCO's precision at the 101 recall points, averaged (maxDets 100)
    for a, name in enumerate(("all", "small", "medium", "large")):
        theirs = ev.eval["precision"][:, :, :, a, 2]          # (T, R, K)
        valid = (theirs > -1).all(axis=1)
        mine = ours["ap"]["coco101"][name]
        assert (valid == ~np.isnan(mine)).all()
        assert np.allclose(mine[valid], theirs.mean(axis=1)[valid], atol=1e-9, rtol=0)
    # the summary numbers: mAP@[.5:.95], @.5, @.75 and by area (stats: -1 = no ground truth)
    stats = {0: ours["map"]["coco101"]["all"], 1: ours["map50"]["coco101"]["all"],
             3: ours["map"]["coco101"]["small"], 4: ours["map"]["coco101"]["medium"],
             5: ours["map"]["coco101"]["large"]}
    for i, value in stats.items():
        expected = ev.stats[i]
        if expected == -1:
            assert np.isnan(value)
        else:
            assert value == pytest.approx(expected, abs=1e-9)


def test_area_ranges_are_for_scenes():
    # A 30×30 item on a 96×96 scene: "medium" with the scene ranges, "small" with COCO's.
    gt = [np.array([[10, 10, 40, 40]])]
    args = (gt, [np.array([0])], gt, [np.array([0.9])], [np.array([0])])
    scene = detect.evaluate(*args, num_classes=1)
    coco = detect.evaluate(*args, num_classes=1, area_ranges=detect.COCO_AREA_RANGES)
    assert scene["map"]["coco101"]["medium"] == 1.0 and np.isnan(scene["map"]["coco101"]["small"])
    assert coco["map"]["coco101"]["small"] == 1.0 and np.isnan(coco["map"]["coco101"]["medium"])


def test_perfect_and_empty_detections():
    gt = [np.array([[0, 0, 10, 10], [20, 20, 40, 40]])]
    cls = [np.array([0, 1])]
    perfect = detect.evaluate(gt, cls, gt, [np.array([0.9, 0.8])], cls, num_classes=2)
    for m in ("coco101", "voc11", "all"):
        assert perfect["map"][m]["all"] == 1.0
    nothing = detect.evaluate(gt, cls, [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0, int)], 2)
    assert nothing["map"]["coco101"]["all"] == 0.0


def _one_image(gt, gt_cls, det, scores, det_cls):
    return ([np.asarray(gt, float).reshape(-1, 4)], [np.asarray(gt_cls, int)],
            [np.asarray(det, float).reshape(-1, 4)], [np.asarray(scores, float)],
            [np.asarray(det_cls, int)])


CRAFTED = {
    # IoU exactly 0.5 counts as a match at threshold 0.5 (COCO: IoU >= threshold)
    "iou at the threshold": _one_image([[0, 0, 10, 10]], [0], [[0, 0, 10, 5]], [0.9], [0]),
    # a detection prefers a counted box (30×30 is "medium" for scenes) to an ignored one
    # (18×18 is "small") even when its IoU with the ignored one is higher
    "counted before ignored": _one_image([[0, 0, 25, 25], [0, 0, 18, 18]], [0, 0],
                                         [[0, 0, 20, 20]], [0.9], [0]),
    # duplicates: the second detection of one box is a false positive
    "duplicates": _one_image([[0, 0, 20, 20], [40, 40, 70, 70]], [1, 1],
                             [[0, 0, 20, 20], [1, 1, 20, 20], [40, 40, 70, 70]],
                             [0.9, 0.95, 0.5], [1, 1, 1]),
    # detections of a class without ground truth, and a class never detected
    "empty classes": _one_image([[0, 0, 20, 20], [30, 30, 60, 60]], [0, 2],
                                [[0, 0, 20, 20], [5, 5, 30, 30]], [0.6, 0.8], [0, 1]),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_cases_agree_with_pycocotools(case):
    args = CRAFTED[case]
    ev = coco_eval(*args, 3, detect.SCENE_AREA_RANGES)
    ours = detect.evaluate(*args, num_classes=3)
    for a, name in enumerate(("all", "small", "medium", "large")):
        theirs = ev.eval["precision"][:, :, :, a, 2]
        valid = (theirs > -1).all(axis=1)
        mine = ours["ap"]["coco101"][name]
        assert (valid == ~np.isnan(mine)).all(), name
        assert np.allclose(mine[valid], theirs.mean(axis=1)[valid], atol=1e-12, rtol=0), name
    if case == "iou at the threshold":
        assert ours["map50"]["coco101"]["all"] == 1.0


# --------------------------------------------------------------------------- anchors


def test_anchor_counts_per_level():
    # 48×48 with strides 8 and 16: 6×6 and 3×3 positions; 3 scales × 3 ratios = 9 anchors each
    a = detect.anchor_boxes(48, [8, 16], [16, 32], aspect_ratios=[0.5, 1, 2],
                            scales=[1, 2 ** (1 / 3), 2 ** (2 / 3)])
    assert a.shape == (6 * 6 * 9 + 3 * 3 * 9, 4)
    # a side that the stride does not divide rounds the map up, as padding="same" layers do
    import keras
    x = keras.Input((50, 70, 1))
    y = keras.layers.Conv2D(1, 3, strides=16, padding="same")(x)
    b = detect.anchor_boxes((50, 70), 16, 10, aspect_ratios=[1.0])
    assert len(b) == y.shape[1] * y.shape[2] == 4 * 5


@SETTINGS
@given(st.integers(8, 60), st.integers(8, 60), st.lists(st.sampled_from([4, 6, 8, 16]), min_size=1,
                                                          max_size=3),
       st.lists(st.floats(0.25, 4), min_size=1, max_size=3),
       st.lists(st.floats(0.5, 2), min_size=1, max_size=3), st.data())
def test_anchor_boxes_follow_the_formula_in_the_documented_order(h, w, strides, ratios, scales, data):
    sizes = [3.0 * s for s in strides]
    a = detect.anchor_boxes((h, w), strides, sizes, ratios, scales)
    # rebuild every anchor by hand, in the order (level, row, column, scale, ratio)
    expected = []
    for s, size in zip(strides, sizes):
        for row in range(-(-h // s)):
            for col in range(-(-w // s)):
                for k in scales:
                    for r in ratios:
                        bw, bh = size * k * r ** 0.5, size * k / r ** 0.5
                        cx, cy = col * s + s / 2, row * s + s / 2
                        expected.append([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    assert np.allclose(a, expected, atol=1e-9)
    i = data.draw(st.integers(0, len(a) - 1))
    bw, bh = a[i, 2] - a[i, 0], a[i, 3] - a[i, 1]
    assert any(np.isclose(bw / bh, r) for r in ratios)
    assert any(np.isclose(bw * bh, (sz * k) ** 2) for sz in sizes for k in scales)


def test_anchor_boxes_refuse_bad_input():
    with pytest.raises(ValueError, match=r"sizes=.*2 entries but there are 3 levels"):
        detect.anchor_boxes(32, [4, 8, 16], [8, 16])
    with pytest.raises(ValueError, match=r"aspect_ratios\[1\]"):
        detect.anchor_boxes(32, 8, 8, aspect_ratios=[1.0, -2.0])
    with pytest.raises(ValueError, match="strides"):
        detect.anchor_boxes(32, [], 8)
    with pytest.raises(ValueError, match="image_size"):
        detect.anchor_boxes((32,), 8, 8)


def _match_by_loop(anchors, gt, pos, neg):
    """The matching rule written out anchor by anchor and box by box."""
    label, index = [], []
    for a in anchors:
        overlaps = [detect.iou([a], [g])[0, 0] for g in gt]
        best = max(overlaps) if overlaps else 0.0
        if best >= pos:
            label.append(1)
            index.append(int(np.argmax(overlaps)))
        else:
            label.append(0 if best < neg else -1)
            index.append(-1)
    for k, g in enumerate(gt):
        overlaps = [detect.iou([a], [g])[0, 0] for a in anchors]
        j = int(np.argmax(overlaps))
        if overlaps[j] > 0:
            label[j], index[j] = 1, k
    return np.array(label), np.array(index)


@SETTINGS
@given(box_sets(min_size=1, max_size=30), box_sets(max_size=5))
def test_match_anchors_against_the_rule_written_out(anchors, gt):
    m = detect.match_anchors(anchors, gt)
    label, index = _match_by_loop(anchors, gt, 0.5, 0.4)
    assert (m.label == label).all() and (m.index == index).all()
    # every box that overlaps some anchor has at least one positive anchor, unless a later box
    # claimed the same best anchor (the documented tie rule)
    overlaps = detect.iou(anchors, gt) if len(gt) else np.zeros((len(anchors), 0))
    best = overlaps.argmax(0)
    for k in range(len(gt)):
        if overlaps[:, k].max() > 0 and (best[k + 1:] != best[k]).all():
            assert (m.index == k).any()


def test_match_anchors_thresholds_by_hand():
    gt = [[0, 0, 10, 10]]
    # IoU 0.5 exactly (positive), 0.4 exactly (ignored), just below 0.4 (negative)
    anchors = [[0, 0, 10, 5], [0, 0, 10, 4], [0, 0, 10, 3.9], [0, 0, 10, 10.5]]
    m = detect.match_anchors(anchors, gt, best_match=False)
    assert m.label.tolist() == [1, -1, 0, 1] and m.index.tolist() == [0, -1, -1, 0]
    # a box whose best anchor is below 0.4 still gets that one anchor
    m = detect.match_anchors([[0, 0, 10, 3], [50, 50, 60, 60]], gt)
    assert m.label.tolist() == [1, 0] and m.index.tolist() == [0, -1]
    assert detect.match_anchors([[0, 0, 10, 3]], gt, best_match=False).label.tolist() == [0]
    empty = detect.match_anchors(anchors, np.zeros((0, 4)))
    assert (empty.label == 0).all() and (empty.index == -1).all()
    with pytest.raises(ValueError, match="negative=0.6 is above positive=0.5"):
        detect.match_anchors(anchors, gt, negative=0.6)


# --------------------------------------------------------------------------- box offsets


@st.composite
def sized_pairs(draw):
    """Boxes and anchors of positive size, one of each per row."""
    a = draw(box_sets(min_size=1, max_size=10, integer=False))
    b = draw(box_sets(min_size=len(a), max_size=len(a), integer=False))
    return b, a


@SETTINGS
@given(sized_pairs(), st.sampled_from([(1.0, 1.0, 1.0, 1.0), (0.1, 0.1, 0.2, 0.2)]))
def test_box_offsets_follow_the_formula_and_round_trip(pair, variances):
    boxes, anchors = pair
    t = detect.encode_box_offsets(boxes, anchors, variances)
    for row, (b, a) in enumerate(zip(boxes, anchors)):
        w, h, wa, ha = b[2] - b[0], b[3] - b[1], a[2] - a[0], a[3] - a[1]
        x, y, xa, ya = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        by_hand = [(x - xa) / wa, (y - ya) / ha, np.log(w / wa), np.log(h / ha)]
        assert np.allclose(t[row] * variances, by_hand, atol=1e-12)
    assert np.allclose(detect.decode_box_offsets(t, anchors, variances), boxes, atol=1e-9)


@SETTINGS
@given(sized_pairs(), st.sampled_from([None, (0.1, 0.1, 0.2, 0.2)]))
def test_box_offsets_agree_with_keras(pair, variance):
    from keras.utils import bounding_boxes

    boxes, anchors = pair
    theirs = np.asarray(bounding_boxes.encode_box_to_deltas(
        anchors.astype("float32"), boxes.astype("float32"), "xyxy", "xyxy",
        encoding_format="center_xywh", variance=variance))
    ours = detect.encode_box_offsets(boxes, anchors, variance or (1, 1, 1, 1))
    assert np.allclose(ours, theirs, atol=1e-3, rtol=1e-4)
    back = np.asarray(bounding_boxes.decode_deltas_to_boxes(
        anchors.astype("float32"), ours.astype("float32"), "xyxy", "xyxy",
        encoded_format="center_xywh", variance=variance))
    assert np.allclose(back, boxes, atol=1e-3)


def test_box_offsets_refuse_bad_input():
    with pytest.raises(ValueError, match="zero width or height"):
        detect.encode_box_offsets([[0, 0, 0, 5]], [[0, 0, 4, 4]])
    with pytest.raises(ValueError, match="variances"):
        detect.encode_box_offsets([[0, 0, 2, 5]], [[0, 0, 4, 4]], variances=(1, 1, 0, 1))
    with pytest.raises(ValueError, match="do not broadcast"):
        detect.decode_box_offsets(np.zeros((3, 4)), [[0, 0, 4, 4], [0, 0, 2, 2]])


# --------------------------------------------------------------------------- focal loss


def test_focal_loss_at_gamma_0_is_weighted_cross_entropy():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (64, 9)).astype(float)
    p = rng.uniform(0.01, 0.99, (64, 9))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    weighted = np.where(y == 1, 0.25, 0.75) * bce
    assert np.allclose(np.asarray(detect.focal_loss(y, p, gamma=0.0)), weighted, rtol=1e-5)
    assert np.allclose(np.asarray(detect.focal_loss(y, p, alpha=None, gamma=0.0)), bce, rtol=1e-5)
    # gamma = 2 by hand: (1 - p_t)² times the same
    p_t = np.where(y == 1, p, 1 - p)
    assert np.allclose(np.asarray(detect.focal_loss(y, p)), (1 - p_t) ** 2 * weighted, rtol=1e-5)


def test_focal_loss_agrees_with_keras_and_its_logit_form():
    import keras

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, (32, 12)).astype("float32")
    z = rng.normal(0, 3, (32, 12)).astype("float32")
    p = 1 / (1 + np.exp(-z.astype(float)))
    for gamma in (0.0, 1.0, 2.0, 5.0):
        reference = keras.losses.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=0.25, gamma=gamma, from_logits=True, reduction=None)
        theirs = np.asarray(reference(y, z))
        ours = np.asarray(detect.focal_loss(y, z, gamma=gamma, from_logits=True))
        assert np.allclose(ours.mean(axis=-1), theirs, rtol=1e-4, atol=1e-6), gamma
        prob = np.asarray(detect.focal_loss(y, p.astype("float32"), gamma=gamma))
        assert np.allclose(prob, ours, rtol=1e-3, atol=1e-6), gamma


def test_focal_loss_down_weights_easy_examples():
    easy, hard = np.asarray(detect.focal_loss([0.0, 0.0], [0.05, 0.6]))
    ce_easy, ce_hard = -np.log(0.95), -np.log(0.4)
    assert easy / hard < ce_easy / ce_hard / 50  # the easy negative loses far more weight


def test_focal_loss_refuses_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        detect.focal_loss([1.0], [0.5], gamma=-1)
    with pytest.raises(ValueError, match="alpha"):
        detect.focal_loss([1.0], [0.5], alpha=25)
    with pytest.raises(TypeError, match="from_logits"):
        detect.focal_loss([1.0], [0.5], from_logits="True")


# --------------------------------------------------------------------------- RoIAlign


def _bilinear(fm, y, x):
    """One bilinear sample of a (H, W) map at index coordinates (y, x), written out."""
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    dy, dx = y - y0, x - x0
    v = 0.0
    for yy, wy in ((y0, 1 - dy), (y0 + 1, dy)):
        for xx, wx in ((x0, 1 - dx), (x0 + 1, dx)):
            if wy * wx:
                v += wy * wx * fm[yy, xx]
    return v


def test_roi_align_on_a_ramp_is_the_value_at_each_bin_centre():
    # f = 3x - 2y + 5 at cell (y, x): bilinear sampling is exact, and the mean of a bin's
    # symmetric samples is the value at the bin's centre
    H, W, stride, P = 12, 16, 4, 3
    yy, xx = np.mgrid[0:H, 0:W]
    fm = (3 * xx - 2 * yy + 5.0)[None, :, :, None]
    rng = np.random.default_rng(5)
    for _ in range(20):
        x1, y1 = rng.uniform(2, 30), rng.uniform(2, 20)
        box = [x1, y1, x1 + rng.uniform(4, 60 - x1), y1 + rng.uniform(4, 44 - y1)]
        out = np.asarray(detect.roi_align(fm, [box], output_size=P, stride=stride,
                                          sampling_ratio=rng.integers(1, 4)))[0, :, :, 0]
        for i in range(P):
            for j in range(P):
                cx = (box[0] + (j + 0.5) * (box[2] - box[0]) / P) / stride - 0.5
                cy = (box[1] + (i + 0.5) * (box[3] - box[1]) / P) / stride - 0.5
                assert out[i, j] == pytest.approx(3 * cx - 2 * cy + 5, abs=1e-3)


def test_roi_align_against_bilinear_samples_written_out():
    rng = np.random.default_rng(6)
    fm = rng.normal(size=(2, 9, 11, 3))
    boxes = np.array([[3.0, 5.0, 30.0, 20.0], [10.0, 1.5, 19.0, 26.0]])  # inside the 33×27 image
    out = np.asarray(detect.roi_align(fm, boxes, [1, 0], output_size=(2, 3), stride=3,
                                      sampling_ratio=2))
    assert out.shape == (2, 2, 3, 3)
    for k, (box, n) in enumerate(zip(boxes, [1, 0])):
        u = box / 3
        for i in range(2):
            for j in range(3):
                ys = [u[1] + (i + (a + 0.5) / 2) * (u[3] - u[1]) / 2 - 0.5 for a in range(2)]
                xs = [u[0] + (j + (b + 0.5) / 2) * (u[2] - u[0]) / 3 - 0.5 for b in range(2)]
                for c in range(3):
                    want = np.mean([_bilinear(fm[n, :, :, c], y, x) for y in ys for x in xs])
                    assert out[k, i, j, c] == pytest.approx(want, abs=1e-4)


def test_roi_align_border_reads_the_nearest_cell():
    fm = np.arange(16.0).reshape(1, 4, 4, 1)
    # a 1×1 bin on the top-left cell sampled once at its centre, and the whole map
    assert float(detect.roi_align(fm, [[0, 0, 1, 1]], output_size=1, sampling_ratio=1)[0, 0, 0, 0]) == 0.0
    # samples at index -0.25 read the border value, not 0
    corner = np.asarray(detect.roi_align(fm, [[0, 0, 0.5, 0.5]], output_size=1, sampling_ratio=1))
    assert corner[0, 0, 0, 0] == pytest.approx(0.0)
    ones = np.asarray(detect.roi_align(np.ones((1, 4, 4, 1)), [[0, 0, 1, 4]], output_size=(4, 1)))
    assert np.allclose(ones, 1.0)


def test_roi_align_refuses_bad_input():
    fm = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match="feature_map has shape"):
        detect.roi_align(np.zeros((4, 4)), [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="box_indices holds 1"):
        detect.roi_align(fm, [[0, 0, 1, 1]], [1])
    with pytest.raises(ValueError, match="output_size"):
        detect.roi_align(fm, [[0, 0, 1, 1]], output_size=0)
    with pytest.raises(ValueError, match="x2 < x1"):
        detect.roi_align(fm, [[2, 0, 1, 1]])


def test_focal_loss_gradient_is_finite_for_confident_answers():
    # a saturated sigmoid makes 1 - p_t round to 0; (1 - p_t)^gamma must not give a NaN slope
    # there (it did at gamma = 0, where x^0 has slope 0 * x^-1, and for gamma < 1)
    import tensorflow as tf

    y = tf.constant([[1.0, 0.0, 1.0, 0.0]])
    for gamma in (0.0, 0.5, 1.0, 2.0):
        z = tf.Variable([[40.0, -40.0, -3.0, 3.0]])   # two confident right answers, two wrong
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(detect.focal_loss(y, z, gamma=gamma, from_logits=True))
        grad = tape.gradient(loss, z).numpy()
        assert np.isfinite(grad).all() and np.isfinite(loss.numpy()), gamma
        assert abs(grad[0, 0]) < 1e-12 and abs(grad[0, 2]) > 0.01, gamma
