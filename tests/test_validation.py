"""Bad input to the public functions of dlbook gets an error that names the argument (#31).

Each public function of detect, calc, stats, data, scenes and viz is listed in ``SPECS`` with a
valid call and the *kind* of each argument (a real number in a range, a whole number, a
fraction, a flag, a choice among strings, boxes, a vector of scores, class ids...). Hypothesis
draws bad values per kind (NaN and infinities, numbers out of range, fractions for whole
numbers, strings, bools, None, wrong shapes, empty or ragged arrays) and puts them in place of
one argument at a time; the call must raise, with a ``TypeError`` for a value of the wrong kind
and a ``ValueError`` for a value of the right kind but out of range (``ArgumentTypeError`` is
both), and the message must name the argument. Good values drawn per kind must still pass.
The explicit cases of the issue follow at the end.
"""

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlbook import calc, checks, data, detect, scenes, stats, viz

NAN, INF = float("nan"), float("inf")
BAD = settings(max_examples=10, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
GOOD = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- bad values per kind
# Each strategy draws (value, error class the call must raise).
def _typed(strategy):
    return strategy.map(lambda v: (v, TypeError))


def _valued(strategy):
    return strategy.map(lambda v: (v, ValueError))


NOT_A_NUMBER = _typed(st.one_of(st.text(max_size=4), st.booleans(), st.none(),
                                st.just({"a": 1})))
A_LIST = _typed(st.just([1.0, 2.0]))
FRACTIONAL = st.floats(-1e6, 1e6).filter(lambda x: x != math.floor(x))


def bad_real(low=None, high=None, low_open=False, allow_minus_inf=False, listed=True):
    """Strings, bools, None, lists (unless ``listed`` is False: a list is valid there); NaN;
    infinities; numbers outside [low, high]."""
    out = [NOT_A_NUMBER, _valued(st.just(NAN)), _valued(st.just(INF))] + [A_LIST] * listed
    if not allow_minus_inf:
        out.append(_valued(st.just(-INF)))
    if low is not None:
        below = st.floats(low - 1e6, low, exclude_max=not low_open, allow_nan=False)
        out.append(_valued(below))
    if high is not None:
        out.append(_valued(st.floats(high, high + 1e6, exclude_min=True)))
    return st.one_of(out)


def bad_int(minimum=None, optional=False, listed=True):
    """Fractions (never truncated), NaN, infinities, bools, strings, numbers too small, and
    lists unless ``listed`` is False (sizes such as filter_size=[3] and seeds take lists)."""
    out = [_typed(FRACTIONAL), _valued(st.sampled_from([NAN, INF, -INF])),
           _typed(st.one_of(st.text(max_size=4), st.booleans())), _typed(st.just(2.5))]
    if listed:
        out.append(_typed(st.just([3])))
    if not optional:
        out.append(_typed(st.none()))
    if minimum is not None:
        out.append(_valued(st.integers(minimum - 10**6, minimum - 1)))
    return st.one_of(out)


BAD_FRACTION = bad_real(0.0, 1.0)
BAD_FLAG = _typed(st.one_of(st.sampled_from(["False", "True", "no", ""]), st.integers(),
                            st.floats(allow_nan=False), st.none()))


def bad_choice(options):
    return st.one_of(_valued(st.text(max_size=6).filter(lambda s: s not in options)),
                     _typed(st.one_of(st.integers(), st.none(), st.floats(allow_nan=False))))


BAD_ARRAY = st.one_of(
    _typed(st.text(min_size=1, max_size=4)), _typed(st.none()),
    _typed(st.just([[0.0, 1.0], [2.0]])),                                # ragged
    _typed(st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=4)),  # strings
)


def bad_boxes():
    """Wrong last axis, NaN or infinite coordinates, strings, ragged lists, None."""
    wrong_last = st.integers(1, 6).filter(lambda k: k != 4).flatmap(
        lambda k: st.integers(1, 3).map(lambda n: np.zeros((n, k))))
    poisoned = st.tuples(st.integers(1, 3), st.integers(0, 3),
                         st.sampled_from([NAN, INF, -INF])).map(_poison)
    return st.one_of(BAD_ARRAY, _valued(wrong_last), _valued(poisoned))


def _poison(args):
    n, column, value = args
    boxes = np.tile([[0.0, 0.0, 2.0, 2.0]], (n, 1))
    boxes[-1, column] = value
    return boxes


def bad_vector(n, low=None, high=None):
    """Scores or per-image results: NaN, wrong length or shape, strings, values out of range."""
    out = [BAD_ARRAY, _valued(st.just([NAN] * n)),
           _valued(st.integers(0, 5).filter(lambda k: k != n).map(lambda k: [0.5] * k)),
           _valued(st.just(np.full((n, 2), 0.5)))]
    if low is not None:
        out.append(_valued(st.floats(-1e3, low, exclude_max=True).map(lambda v: [v] * n)))
    if high is not None:
        out.append(_valued(st.floats(high, 1e3, exclude_min=True).map(lambda v: [v] * n)))
    return st.one_of(out)


def bad_class_ids(n, optional=False):
    """Fractional class ids (never rounded), NaN, strings."""
    out = [_typed(FRACTIONAL.map(lambda v: [v] * n)), _valued(st.just([NAN] * n)),
           _typed(st.just(["0"] * n))]
    return st.one_of(out if optional else out + [_typed(st.none())])


def bad_size_pair():
    return st.one_of(_valued(st.just((96,))), _valued(st.just((1, 2, 3))),
                     _valued(st.floats(-1e6, 0.0)), _valued(st.just(NAN)),
                     _typed(st.text(max_size=3)), _typed(st.just((96, "a"))),
                     _typed(st.none()), _typed(st.booleans()))


# --------------------------------------------------------------------------- the catalogue
SIZE = bad_int(1, listed=False)  # an int, or a tuple such as (3, 3) or [3]
SEED = bad_int(0, listed=False)  # an int, or a tuple such as (seed, batch)


def per_image(strategy):
    """The bad value as the only image's entry of a per-image list."""
    return strategy.map(lambda vc: ([vc[0]], vc[1]))


BOX = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0]]
SQUARE = np.zeros((1, 8, 8), np.uint8)
SQUARE[0, 2:6, 3:5] = 200
EVAL = dict(gt_boxes=[np.array([[0, 0, 10, 10]])], gt_classes=[np.array([0])],
            det_boxes=[np.array([[0, 0, 10, 9]])], det_scores=[np.array([0.9])],
            det_classes=[np.array([0])], num_classes=1)
PER_IMAGE_LIST = _typed(st.one_of(st.text(max_size=3), st.none(), st.integers()))
SCENES = dict(n=2, canvas=20, items=1, item_size=8, images=SQUARE, labels=np.array([4]),
              verbose=False)

SPECS = [
    # (function, valid keyword arguments, {argument: strategy of bad values})
    (detect.convert_boxes, dict(boxes=BOX, source="xyxy", target="xywh"),
     dict(boxes=bad_boxes(), source=bad_choice(detect.FORMATS),
          target=bad_choice(detect.FORMATS))),
    (detect.to_xyxy, dict(boxes=BOX), dict(boxes=bad_boxes(), format=bad_choice(detect.FORMATS))),
    (detect.box_area, dict(boxes=BOX), dict(boxes=bad_boxes(), format=bad_choice(detect.FORMATS))),
    (detect.iou, dict(boxes1=BOX, boxes2=BOX),
     dict(boxes1=bad_boxes(), boxes2=bad_boxes(), format=bad_choice(detect.FORMATS))),
    (detect.nms, dict(boxes=BOX, scores=[0.9, 0.8], classes=[0, 1]),
     dict(boxes=bad_boxes(), scores=bad_vector(2), iou_threshold=bad_real(0.0, 1.0),
          score_threshold=bad_real(allow_minus_inf=True), max_output=bad_int(0, optional=True),
          format=bad_choice(detect.FORMATS), classes=bad_class_ids(2, optional=True))),
    (detect.encode_yolo, dict(boxes=[[0, 0, 32, 48]], classes=[2], grid=3, boxes_per_cell=2,
                              num_classes=4, image_size=96),
     dict(boxes=bad_boxes(), classes=bad_class_ids(1), grid=bad_int(1),
          boxes_per_cell=bad_int(1), num_classes=bad_int(1), image_size=bad_size_pair(),
          on_conflict=bad_choice(("error", "drop")))),
    (detect.decode_yolo, dict(output=np.zeros((3, 3, 14)), boxes_per_cell=2, num_classes=4,
                              image_size=96),
     dict(output=st.one_of(BAD_ARRAY, _valued(st.just(np.full((3, 3, 14), NAN))),
                           _valued(st.just(np.zeros((3, 3, 13)))),
                           _valued(st.just(np.zeros((3, 14)))), _valued(st.just(np.zeros(0)))),
          boxes_per_cell=bad_int(1), num_classes=bad_int(1), image_size=bad_size_pair(),
          score_threshold=bad_real(allow_minus_inf=True), clip=BAD_FLAG)),
    (detect.average_precision, dict(recall=[0.5, 1.0], precision=[1.0, 0.5]),
     dict(recall=bad_vector(2, 0.0, 1.0), precision=bad_vector(2, 0.0, 1.0),
          method=bad_choice(("all", "voc11", "coco101")))),
    (detect.evaluate, EVAL,
     dict(gt_boxes=st.one_of(per_image(bad_boxes()), PER_IMAGE_LIST),
          gt_classes=st.one_of(per_image(bad_class_ids(1)), PER_IMAGE_LIST),
          det_boxes=st.one_of(per_image(bad_boxes()), PER_IMAGE_LIST),
          det_scores=st.one_of(per_image(bad_vector(1)), PER_IMAGE_LIST),
          det_classes=st.one_of(per_image(bad_class_ids(1)), PER_IMAGE_LIST),
          num_classes=bad_int(1),
          iou_thresholds=st.one_of(BAD_ARRAY, _valued(st.sampled_from(
              [[NAN], [1.5], [-0.1], [], [0.5, INF]]))),
          max_detections=bad_int(1, optional=True), format=bad_choice(detect.FORMATS),
          area_ranges=st.one_of(_typed(st.just("all")), _typed(st.integers()),
                                _valued(st.just({"all": (NAN, 1.0)})),
                                _valued(st.just({"all": (5.0, 1.0)})),
                                _typed(st.just({"all": "x"}))))),
    (calc.conv_output_size, dict(input_size=28, filter_size=3),
     dict(input_size=bad_int(1), filter_size=SIZE, stride=bad_int(1),
          dilation=bad_int(1))),
    (calc.same_padding, dict(input_size=28, filter_size=3),
     dict(input_size=bad_int(1), filter_size=SIZE, stride=bad_int(1),
          dilation=bad_int(1))),
    (calc.pool_output_size, dict(input_size=28, pool_size=2),
     dict(input_size=bad_int(1), pool_size=bad_int(1), strides=bad_int(1, optional=True))),
    (calc.transposed_conv_output_size, dict(input_size=8, filter_size=3, stride=2),
     dict(input_size=bad_int(1), filter_size=SIZE, stride=bad_int(1),
          output_padding=bad_int(0, optional=True))),
    (calc.conv_params, dict(filter_size=3, in_channels=4, out_channels=8),
     dict(filter_size=SIZE, in_channels=bad_int(1), out_channels=bad_int(1),
          use_bias=BAD_FLAG, groups=bad_int(1))),
    (calc.depthwise_params, dict(filter_size=3, in_channels=8),
     dict(filter_size=SIZE, in_channels=bad_int(1), depth_multiplier=bad_int(1),
          use_bias=BAD_FLAG)),
    (calc.separable_params, dict(filter_size=3, in_channels=8, out_channels=16),
     dict(filter_size=SIZE, in_channels=bad_int(1), out_channels=bad_int(1),
          depth_multiplier=bad_int(1), use_bias=BAD_FLAG)),
    (calc.dense_params, dict(in_features=10, out_features=5),
     dict(in_features=bad_int(1), out_features=bad_int(1), use_bias=BAD_FLAG)),
    (calc.conv_mult_adds, dict(output_hw=5, filter_size=3, in_channels=4, out_channels=8),
     dict(output_hw=SIZE, filter_size=SIZE, in_channels=bad_int(1),
          out_channels=bad_int(1), groups=bad_int(1))),
    (calc.depthwise_mult_adds, dict(output_hw=5, filter_size=3, in_channels=4),
     dict(output_hw=SIZE, filter_size=SIZE, in_channels=bad_int(1),
          depth_multiplier=bad_int(1))),
    (calc.separable_mult_adds, dict(output_hw=5, filter_size=3, in_channels=4, out_channels=8),
     dict(output_hw=SIZE, in_channels=bad_int(1), out_channels=bad_int(1),
          depth_multiplier=bad_int(1))),
    (calc.dense_mult_adds, dict(in_features=10, out_features=5),
     dict(in_features=bad_int(1), out_features=bad_int(1))),
    (calc.receptive_field, dict(layers=[(3, 1)]),
     dict(layers=bad_int(1).map(lambda vc: ([(vc[0], 1)], vc[1])))),
    (calc.activation_memory, dict(shape=(4, 4)),
     dict(shape=bad_int(1).map(lambda vc: ((4, vc[0]), vc[1])), batch_size=bad_int(1),
          dtype=_typed(st.none()))),
    (calc.report_totals, dict(reports=[]), dict(reports=_typed(st.one_of(
        st.text(max_size=3), st.none(), st.lists(st.integers(), min_size=1, max_size=3))))),
    (calc.format_report, dict(reports=[]), dict(reports=_typed(st.one_of(
        st.text(max_size=3), st.none(), st.lists(st.integers(), min_size=1, max_size=3))))),
    (stats.binomial_se, dict(p=0.75, n=500), dict(p=BAD_FRACTION, n=bad_int(1))),
    (stats.seed_se, dict(values=[0.8, 0.82]),
     dict(values=st.one_of(BAD_ARRAY, _valued(st.just([NAN, 0.8])),
                           _valued(st.floats(1.0, 1e3, exclude_min=True).map(lambda v: [v, 0.5])),
                           _typed(st.floats(0, 1)), _valued(st.just([])),
                           _typed(st.just([0.8, "a"]))))),
    (stats.difference, dict(a=0.8, b=0.7, n_test=500),
     dict(a=bad_real(0.0, 1.0, listed=False), b=bad_real(0.0, 1.0, listed=False),
          n_test=bad_int(1))),
    (stats.verdict, dict(diff=0.05, se=0.02),
     dict(diff=bad_real(), se=bad_real(0.0), z=bad_real(0.0, low_open=True))),
    (stats.compared, dict(diff=0.05, se=0.02),
     dict(diff=bad_real(), se=bad_real(0.0), z=bad_real(0.0, low_open=True))),
    (stats.paired_difference, dict(correct_a=[1, 0, 1], correct_b=[0, 0, 1]),
     dict(correct_a=bad_vector(3, 0.0, 1.0), correct_b=bad_vector(3, 0.0, 1.0))),
    (data.stratified_subset, dict(x=np.zeros((10, 2)), y=np.arange(10) % 2, n=4),
     dict(n=bad_int(1), seed=SEED, x=_typed(st.one_of(st.text(), st.none())),
          y=_typed(st.just(np.zeros((10, 2)))))),
    (data.load_photo, dict(name="temple"), dict(name=bad_choice(data.PHOTO_NAMES))),
    (data.load_photos, dict(names=("temple",)),
     dict(names=bad_choice(data.PHOTO_NAMES).map(lambda vc: ([vc[0]], vc[1])))),
    (data.load_fashion_mnist, dict(subset=True),
     dict(subset=BAD_FLAG.filter(lambda vc: vc[0] is not None), normalize=BAD_FLAG,
          seed=SEED)),
    (data.ensure_fashion_mnist, dict(), dict(verbose=BAD_FLAG)),
    (scenes.make_scenes, SCENES,
     dict(n=bad_int(1), split=bad_choice(scenes.SPLITS), canvas=bad_int(1),
          items=bad_int(1, listed=False), item_size=bad_int(4, listed=False),
          max_overlap=BAD_FRACTION,
          ink=bad_real(0.0, 255.0), seed=SEED, verbose=BAD_FLAG,
          labels=bad_class_ids(1, optional=True))),
    (scenes.scene_dataset, dict(batch_size=2, split="test", **{
        k: v for k, v in SCENES.items() if k not in ("n", "verbose")}),
     dict(batch_size=bad_int(1), seed=SEED)),
]

# viz: a small classifier (logits out) and a unit's geometry
keras = viz.keras
NET = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, activation="relu",
                                                                     name="c"),
                        keras.layers.Flatten(name="f"), keras.layers.Dense(3, name="d")])
GEOMETRY = viz.Geometry(size=4, jump=2, start=1.5)
NOT_A_MODEL = _typed(st.one_of(st.text(max_size=3), st.none(), st.integers()))
BAD_LAYER_NAME = st.one_of(_typed(st.one_of(st.integers(), st.none())),
                           _valued(st.sampled_from(["zz", "dd", "c1"])))
SPECS += [
    (viz.layer_paths, dict(model=NET), dict(model=NOT_A_MODEL)),
    (calc.model_report, dict(model=NET),
     dict(model=NOT_A_MODEL, dtype=_valued(st.sampled_from(["float13", "floaty", "mixed_int3"])))),
    (calc.receptive_field_sequence, dict(layers=[(3, 1), (2, 2)]),
     dict(layers=st.one_of(bad_int(1).map(lambda vc: ([(3, 1), (2, vc[0])], vc[1])),
                           _valued(st.sampled_from([3, "33", [3], [(3, 1, 1, 1)]]))))),
    (viz.logits_model, dict(model=NET), dict(model=NOT_A_MODEL)),
    (viz.activation_model, dict(model=NET, layer_names=["c"]),
     dict(model=NOT_A_MODEL, layer_names=st.one_of(BAD_LAYER_NAME, _valued(st.just([]))),
          name=_typed(st.one_of(st.integers(), st.just(["a"]))))),
    (viz.layer_geometry, dict(model=NET, layer_name="c"),
     dict(model=NOT_A_MODEL, layer_name=BAD_LAYER_NAME)),
    (viz.input_gradient, dict(model=NET, images=np.zeros((2, 8, 8, 1)), class_index=0),
     dict(images=st.one_of(BAD_ARRAY, _valued(st.just(np.full((2, 8, 8, 1), NAN))),
                           _valued(st.just(np.zeros((8, 8, 1)))),
                           _valued(st.just(np.zeros((0, 8, 8, 1))))),
          class_index=st.one_of(bad_class_ids(2, optional=True),
                                _valued(st.sampled_from([3, -1, [0, 1, 2]]))),
          batch_size=bad_int(1))),
    (viz.patch_box, dict(geometry=GEOMETRY, i=0, j=3, image_shape=(16, 16)),
     dict(geometry=_typed(st.one_of(st.just((4, 2, 1.5)), st.text(max_size=2), st.none())),
          i=bad_int(), j=bad_int(),
          image_shape=st.one_of(_typed(st.one_of(st.just((16,)), st.none(), st.floats(),
                                                 st.just((16, "a")))),
                                _valued(st.just((0, 16)))))),
    (viz.crop_patch, dict(image=np.ones((16, 16)), geometry=GEOMETRY, i=0, j=0),
     dict(image=_typed(st.one_of(st.text(max_size=3), st.none(), st.just(np.ones(16)))),
          geometry=_typed(st.just((4, 2, 1.5))), i=bad_int(), j=bad_int(),
          fill=_typed(st.one_of(st.text(max_size=3), st.none())))),
    (viz.hed_preprocess, dict(images=np.zeros((1, 2, 2, 3))),
     dict(images=st.one_of(BAD_ARRAY, _valued(st.just(np.full((1, 2, 2, 3), NAN))),
                           _valued(st.just(np.zeros((1, 2, 2))))))),
    (viz.relu_with_rule, dict(rule="guided"), dict(rule=_valued(st.text(max_size=6).filter(
        lambda r: r not in viz.RULES)))),
]

CASES = [(fn, good, name, strategy) for fn, good, bad in SPECS for name, strategy in bad.items()]


def names(message: str, name: str) -> bool:
    """Does ``message`` name the argument? A short name (``n``, ``p``, ``a``) only counts as
    ``n=``, ``n[`` or ``n has/is``, so that the English word "a" does not count."""
    if len(name) > 2:
        return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) is not None
    return re.search(rf"(?<![\w.]){re.escape(name)}(=|\[| has| is| holds)", message) is not None


@pytest.mark.parametrize("fn, good, name, strategy", CASES,
                         ids=[f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}-{name}"
                              for fn, _, name, _ in CASES])
@BAD
@given(data=st.data())
def test_bad_values_are_refused_by_name(fn, good, name, strategy, data):
    value, error = data.draw(strategy, label=name)
    with pytest.raises((TypeError, ValueError)) as info:
        fn(**dict(good, **{name: value}))
    assert isinstance(info.value, error), f"{name}={value!r} raised {info.value!r}"
    assert names(str(info.value), name), f"{name}={value!r}: {info.value}"


@pytest.mark.parametrize("fn, good", [(fn, good) for fn, good, _ in SPECS],
                         ids=[f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}"
                              for fn, _, _ in SPECS])
def test_the_valid_call_of_each_function_passes(fn, good):
    fn(**good)


# --------------------------------------------------------------------------- good values pass
@GOOD
@given(st.integers(1, 64), st.integers(1, 7), st.booleans(), st.booleans())
def test_whole_floats_count_as_the_ints_they_equal(size, k, use_bias, as_float):
    """2.0 is 2 (a whole-valued float is converted exactly); the result is an int either way."""
    c_in = float(size) if as_float else size
    ours = calc.conv_params(k, c_in, 8, use_bias=use_bias)
    assert ours == calc.conv_params(k, size, 8, use_bias=use_bias)
    assert type(ours) is int
    assert calc.separable_params(k, c_in, 8) == calc.separable_params(k, size, 8)
    assert type(calc.separable_params(k, c_in, 8)) is int


@GOOD
@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 10**6), st.booleans())
def test_fractions_and_numpy_scalars_pass(a, b, n, numpy):
    wrap = np.float64 if numpy else float
    d = stats.difference(wrap(a), wrap(b), np.int64(n) if numpy else n)
    assert d.diff == pytest.approx(a - b)
    assert stats.verdict(d.diff, d.se) in ("higher", "lower", "within the noise")


@GOOD
@given(st.lists(st.floats(0, 1), min_size=2, max_size=5))
def test_per_seed_lists_tuples_and_arrays_agree(values):
    as_list = stats.difference(values, 0.5, 100)
    assert stats.difference(tuple(values), 0.5, 100) == as_list
    assert stats.difference(np.asarray(values), 0.5, 100) == as_list


@GOOD
@given(st.floats(0, 1), st.one_of(st.floats(-1e3, 1e3), st.just(-INF)),
       st.one_of(st.none(), st.integers(0, 3)))
def test_nms_takes_any_valid_threshold(iou_threshold, score_threshold, max_output):
    keep = detect.nms(BOX, [0.9, 0.8], iou_threshold, score_threshold, max_output)
    assert len(keep) <= (2 if max_output is None else max_output)


@GOOD
@given(st.lists(st.booleans(), min_size=2, max_size=20), st.data())
def test_paired_difference_takes_booleans_and_scores(correct, data):
    other = data.draw(st.lists(st.floats(0, 1), min_size=len(correct), max_size=len(correct)))
    diff, se = stats.paired_difference(correct, other)
    assert diff == pytest.approx(np.mean(correct) - np.mean(other))
    assert se >= 0


# --------------------------------------------------------------------------- the issue's cases
DISJOINT = dict(gt_boxes=[np.array([[0, 0, 10, 10]])], gt_classes=[np.array([0])],
                det_boxes=[np.array([[20, 20, 30, 30]])], det_scores=[np.array([0.9])],
                det_classes=[np.array([0])], num_classes=1)


@pytest.mark.parametrize("call, words", [
    (lambda: detect.evaluate(**DISJOINT, iou_thresholds=[NAN]), "iou_thresholds"),
    (lambda: detect.evaluate(**EVAL, max_detections=-1), "max_detections=-1"),
    (lambda: detect.evaluate(**dict(EVAL, det_classes=[np.array([0.5])])), "det_classes[0]"),
    (lambda: detect.average_precision([0.5, 2.0], [1, 1]), "recall holds 2"),
    (lambda: detect.average_precision([0.5, 1.0], [0.5, 2.0]), "precision holds 2"),
    (lambda: detect.nms(BOX, [0.9, 0.8], score_threshold=NAN), "score_threshold=nan"),
    (lambda: detect.decode_yolo(np.full((3, 3, 14), NAN), 2, 4, 96), "output"),
    (lambda: detect.iou(np.zeros((2, 2, 2, 4)), BOX), "boxes1"),
    (lambda: stats.verdict(NAN, 0.02), "diff=nan"),
    (lambda: stats.paired_difference([2, 3], [0, 1]), "correct_a holds"),
    (lambda: stats.seed_se([80, 82]), "values[0]=80"),
    (lambda: detect.nms(BOX, [0.9, 0.8], max_output=1.7), "max_output=1.7"),
    (lambda: scenes.make_scenes(**dict(SCENES, items=2.5)), "items=2.5"),
    (lambda: detect.encode_yolo([[0, 0, 32, 48]], [1.7], 3, 2, 4, 96), "classes"),
    (lambda: calc.conv_params(3, 3, 8, use_bias="False"), "use_bias='False'"),
    (lambda: stats.difference(np.array([[0.8, 0.82]]), 0.7, 500), "a has shape"),
    (lambda: detect.encode_yolo([[0, 0, 32, 48]], [1], 3, 2, 4, image_size=(96,)),
     "image_size=(96,)"),
    (lambda: stats.binomial_se("0.75", 500), "p='0.75'"),
    (lambda: detect.nms(BOX, ["0.9", "0.8"]), "scores"),
    (lambda: scenes.scene_dataset(0, "test"), "batch_size=0"),
])
def test_the_cases_of_the_issue_get_clear_errors(call, words):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert words in str(info.value)


def test_iou_of_batches_has_keras_shapes_and_values():
    """(B, N, 4) with (M, 4) gives (B, N, M), as keras.utils.bounding_boxes.compute_iou."""
    from keras.utils import bounding_boxes

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 50, (2, 3, 2))
    batch = np.concatenate([corner, corner + rng.uniform(1, 10, (2, 3, 2))], axis=-1)
    single = batch[0, :2]
    ours = detect.iou(batch, single)
    assert ours.shape == (2, 3, 2)
    theirs = np.asarray(bounding_boxes.compute_iou(batch, single, "xyxy"))
    assert np.allclose(ours, theirs, atol=1e-5)
    assert np.allclose(ours[1], detect.iou(batch[1], single))
    assert detect.iou(single, batch).shape == (2, 2, 3)
    assert detect.iou(batch, batch).shape == (2, 3, 3)


def test_difference_takes_an_array_of_seeds_like_a_list():
    """The issue's stats.difference(np.array([.8, .82]), .7, 500) now works as the list does."""
    assert stats.difference(np.array([0.8, 0.82]), 0.7, 500) == stats.difference(
        [0.8, 0.82], 0.7, 500)


def test_argument_type_error_is_both_kinds():
    with pytest.raises(TypeError):
        checks.integer("3", "n")
    with pytest.raises(ValueError):
        checks.integer("3", "n")
