"""Scenes of Fashion-MNIST items (dlbook.scenes via dlbook.data): exact boxes and masks."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlbook import data, scenes

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def tight_box(pixels: np.ndarray):
    """[x1, y1, x2, y2] (exclusive ends) of the True pixels, or None when there are none."""
    ys, xs = np.nonzero(pixels)
    if len(ys) == 0:
        return None
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


options = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "canvas": st.integers(56, 112),
    "items": st.tuples(st.integers(1, 2), st.integers(0, 2)).map(lambda t: (t[0], t[0] + t[1])),
    "item_size": st.tuples(st.integers(14, 32), st.integers(0, 24)).map(
        lambda t: (t[0], t[0] + t[1])),
    "max_overlap": st.sampled_from([0.0, 0.1, 0.3, 1.0]),
    "split": st.sampled_from(["train", "test"]),
})


@SETTINGS
@given(options)
def test_boxes_masks_and_instances_agree(opts):
    s = data.make_scenes(6, **opts)
    n, canvas = len(s), opts["canvas"]
    assert s.images.shape == s.masks.shape == s.instances.shape == (n, canvas, canvas)
    lo, hi = opts["items"]
    assert ((s.counts >= 1) & (s.counts <= hi)).all()
    for i in range(n):
        count = int(s.counts[i])
        assert (s.classes[i, count:] == -1).all() and (s.boxes[i, count:] == 0).all()
        assert set(np.unique(s.instances[i])) <= set(range(count + 1))
        # Ink, mask and instance map mark the same pixels; the mask is the item's class + 1.
        assert ((s.images[i] > 0) == (s.masks[i] > 0)).all()
        assert ((s.instances[i] > 0) == (s.masks[i] > 0)).all()
        on = s.instances[i] > 0
        assert (s.masks[i][on] == s.classes[i][s.instances[i][on] - 1] + 1).all()
        for k in range(count):
            x1, y1, x2, y2 = s.boxes[i, k]
            assert 0 <= x1 < x2 <= canvas and 0 <= y1 < y2 <= canvas
            mine = s.instances[i] == k + 1
            box = np.zeros_like(mine)
            box[y1:y2, x1:x2] = True
            assert not (mine & ~box).any(), "an item's pixels lie outside its box"
            if k == count - 1 or opts["max_overlap"] == 0.0:
                # nothing hides this item: its pixels fill its box exactly (tight on all sides)
                assert tight_box(mine) == [x1, y1, x2, y2]
            else:
                # each side of the box touches a pixel of the item or of an item drawn over it
                seen = (s.instances[i] == k + 1) | (s.instances[i] > k + 1)
                inside = seen[y1:y2, x1:x2]
                assert inside[0].any() and inside[-1].any()
                assert inside[:, 0].any() and inside[:, -1].any()
            for j in range(k):  # bounded overlap of every pair of boxes
                a, b = s.boxes[i, j], s.boxes[i, k]
                iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
                ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
                smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
                assert iw * ih <= opts["max_overlap"] * smaller + 1e-9


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from(["train", "test"]))
def test_items_are_the_split_images_unscaled(seed, split):
    # At item_size 28 nothing is resized: each box holds exactly the split's image (its pixels
    # of at least `ink`, cropped to their tight box), and the class is that image's label.
    images, labels = scenes._split(split)  # the whole split, as load_fashion_mnist gives it
    other = scenes._split("test" if split == "train" else "train")[0]
    s = data.make_scenes(4, split, canvas=96, items=(1, 3), item_size=28, max_overlap=0.0,
                         seed=seed)
    assert s.split == split
    for i in range(len(s)):
        for k in range(int(s.counts[i])):
            src = s.sources[i, k]
            original = np.where(images[src] >= 16, images[src], 0)
            bx1, by1, bx2, by2 = tight_box(original > 0)
            x1, y1, x2, y2 = s.boxes[i, k]
            assert (s.images[i, y1:y2, x1:x2] == original[by1:by2, bx1:bx2]).all()
            assert s.classes[i, k] == labels[src]
            if src < len(other):  # the same index in the other split is another image
                assert not (np.where(other[src] >= 16, other[src], 0) == original).all()


def test_same_seed_same_scenes_other_seed_other_scenes():
    a = data.make_scenes(20, "test", seed=3)
    b = data.make_scenes(20, "test", seed=3)
    c = data.make_scenes(20, "test", seed=4)
    for field in ("images", "masks", "instances", "boxes", "classes", "sources", "counts"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert not np.array_equal(a.images, c.images)
    part = a[3:7]
    assert len(part) == 4 and np.array_equal(part.boxes, a.boxes[3:7]) and part.split == "test"
    assert np.array_equal(a[-1].masks, a.masks[-1:]) and np.array_equal(a[5].counts, a.counts[5:6])


def test_test_scenes_use_only_test_images():
    # Scenes of the test split are the scenes drawn from the test images passed in by hand,
    # and their sources index the 10,000 test images.
    s = data.make_scenes(10, "test", seed=5)
    assert s.sources.max() < 10_000 and (s.sources[s.classes >= 0] >= 0).all()
    (_, _), (xt, yt) = data.load_fashion_mnist(subset=False)
    assert np.array_equal(scenes._split("test")[0], xt)
    again = data.make_scenes(10, seed=5, images=xt, labels=yt)
    assert np.array_equal(again.images, s.images) and again.split == "custom"


def test_dataset_streams_the_scenes_of_make_scenes():
    ds = data.scene_dataset(4, "test", seed=7, canvas=64, item_size=(20, 30))
    first, second = list(ds.take(2).as_numpy_iterator())
    for b, batch in enumerate((first, second)):
        s = data.make_scenes(4, "test", seed=(7, b), canvas=64, item_size=(20, 30))
        assert np.allclose(batch["images"][..., 0], s.images / 255.0)
        assert np.array_equal(batch["boxes"], s.boxes) and np.array_equal(batch["masks"], s.masks)
    again = next(iter(data.scene_dataset(4, "test", seed=7, canvas=64, item_size=(20, 30))))
    assert np.array_equal(again["masks"].numpy(), first["masks"])


@pytest.mark.parametrize("kwargs, words", [
    ({"canvas": 40, "item_size": (28, 48)}, "enlarge the canvas to at least 48"),
    ({"items": 0}, "at least one item"),
    ({"items": (3, 1)}, "at least one item"),
    ({"max_overlap": 1.5}, "in [0, 1]"),
    ({"max_overlap": -0.1}, "in [0, 1]"),
    ({"split": "val"}, "choose 'train' or 'test'"),
    ({"n": 0}, "at least one scene"),
])
def test_bad_arguments_say_what_to_change(kwargs, words):
    kwargs = {"n": 2, **kwargs}
    with pytest.raises(ValueError) as info:
        data.make_scenes(**kwargs)
    assert words in str(info.value)


def test_resize_keeps_constant_images_and_is_identity_at_scale_one():
    for n_in, n_out in ((28, 28), (28, 48), (28, 17)):
        r = scenes._resize_matrix(n_in, n_out)
        assert np.allclose(r.sum(axis=1), 1.0)
    assert np.array_equal(scenes._resize_matrix(28, 28), np.eye(28))


def test_items_without_a_place_are_left_out_and_announced(capsys):
    # three 40-pixel items cannot all fit on a 48×48 canvas without overlapping
    crowded = dict(canvas=48, items=3, item_size=40, max_overlap=0.0, seed=2)
    s = data.make_scenes(5, "test", **crowded)
    line = capsys.readouterr().out
    assert s.left_out == 15 - int(s.counts.sum()) > 0
    assert f"{s.left_out} of 15 items found no place" in line
    quiet = data.make_scenes(5, "test", verbose=False, **crowded)
    assert capsys.readouterr().out == "" and np.array_equal(quiet.boxes, s.boxes)


def test_batches_feed_every_scene_once_per_pass_in_a_seeded_order():
    import tensorflow as tf

    s = data.make_scenes(10, "test", seed=8, canvas=48, item_size=(16, 24))
    targets = {"row": np.arange(10), "boxes": s.boxes}
    tf.random.set_seed(0)
    ds = s.batches(targets, 4, seed=3)
    epochs = [list(ds.as_numpy_iterator()) for _ in range(2)]
    orders = []
    for batches in epochs:
        assert [len(x) for x, _ in batches] == [4, 4, 2]
        rows = np.concatenate([t["row"] for _, t in batches])
        assert sorted(rows) == list(range(10))        # every scene once per pass
        for x, t in batches:                          # each image travels with its own targets
            assert x.dtype == np.float32 and x.shape[1:] == (48, 48, 1)
            assert np.allclose(x[..., 0], s.images[t["row"]] / 255.0)
            assert np.array_equal(t["boxes"], s.boxes[t["row"]])
        orders.append(rows)
    assert not np.array_equal(*orders)                # a new order each pass
    tf.random.set_seed(0)
    again = np.concatenate([t["row"] for _, t in s.batches(targets, 4, seed=3)])
    assert np.array_equal(again, orders[0])           # the same seeds give the same orders


@pytest.mark.parametrize("targets, batch_size, words", [
    (np.zeros(9), 4, "target 0 has 9 rows but there are 10 scenes"),
    ({"a": np.zeros(10), "b": np.zeros(3)}, 4, "target 1 has 3 rows"),
    (np.float32(1.0), 4, "target 0 has a scalar"),
    (np.zeros(10), 0, "batch_size"),
])
def test_batches_refuse_targets_that_do_not_match_the_scenes(targets, batch_size, words):
    s = data.make_scenes(10, "test", seed=8, canvas=48, item_size=(16, 24))
    with pytest.raises(ValueError) as info:
        s.batches(targets, batch_size)
    assert words in str(info.value)


def test_batches_read_the_arrays_in_place_instead_of_copying_them():
    # a later change to a target array shows in the next pass: the stream holds no copy of it
    s = data.make_scenes(6, "test", seed=9, canvas=48, item_size=(16, 24))
    rows = np.arange(6)
    ds = s.batches(rows, 6)
    first = next(iter(ds))[1].numpy()
    rows += 100
    second = next(iter(ds))[1].numpy()
    assert sorted(first) == list(range(6)) and sorted(second) == list(range(100, 106))
