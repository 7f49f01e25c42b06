"""Back-of-the-envelope arithmetic for convolutional networks.

Output sizes, parameter counts, multiply-adds, receptive fields and activation memory, plus
:func:`model_report`, a per-layer table for a built Keras model.

Conventions used throughout:

- Sizes refer to *one* spatial dimension unless a tuple is given; an ``int`` filter size means
  a square ``k x k`` filter.
- "Mult-adds" count multiplications of a direct implementation (one multiply-add per weight
  use); bias additions, activations, pooling and normalisation are not counted. One mult-add is
  two FLOPs.
- Every impossible input raises :class:`ValueError` whose message names the argument and says
  how to fix it.

Only numpy is imported here; Keras is imported inside the functions that need a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from dlbook import checks

__all__ = [
    "conv_output_size", "same_padding", "pool_output_size", "transposed_conv_output_size",
    "conv_params", "depthwise_params", "separable_params", "dense_params",
    "conv_mult_adds", "depthwise_mult_adds", "separable_mult_adds", "dense_mult_adds",
    "receptive_field", "receptive_field_sequence", "receptive_field_footprint",
    "activation_memory",
    "LayerReport", "ReportTotals", "model_report", "report_totals", "format_report", "report_table",
]


# --------------------------------------------------------------------------- validation helpers
# How to fix each argument; looked up by the last word of the argument's name.
_FIXES = {
    "input_size": "Pass the number of pixels along one dimension, e.g. 28.",
    "filter_size": "Use a filter size of at least 1, e.g. 3.",
    "pool_size": "Use a pool size of at least 1, e.g. 2.",
    "stride": "Use stride=1 to visit every position, 2 to halve the size.",
    "strides": "Use strides=1 to visit every position, or None to step by pool_size.",
    "dilation": "Use dilation=1 for an ordinary (undilated) filter.",
    "padding": "Use 'valid', 'same', an int >= 0 or a (left, right) tuple of ints >= 0.",
    "in_channels": "Pass the number of input channels, e.g. 3.",
    "out_channels": "Pass the number of filters, e.g. 32.",
    "groups": "Use groups=1 for an ordinary convolution.",
    "depth_multiplier": "Use depth_multiplier=1, the usual choice.",
    "in_features": "Pass the length of the input vector, e.g. 784.",
    "out_features": "Pass the number of units, e.g. 10.",
    "shape": "Give every dimension as a positive int (a fixed input size, not None).",
    "batch_size": "Use batch_size=1 for one example.",
    "output_padding": "Use output_padding=None for Keras' default, or an int below the stride.",
}


def _int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as a Python int >= ``minimum`` or raise a ValueError naming ``name``
    (the rules of :func:`dlbook.checks.integer`: a whole-valued float such as 28.0 is accepted).
    """
    fix = _FIXES.get(name.split()[-1], f"Pass a whole number >= {minimum}.")
    return checks.integer(value, name, minimum=minimum, fix=fix)


def _dims(value, name: str, ndim: int = 2) -> tuple[int, ...]:
    """An int or a tuple of positive ints -> tuple; an int is repeated ``ndim`` times."""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f"{name} must not be empty. Pass an int or a tuple such as (3, 3).")
        return tuple(_int(v, name) for v in value)
    return (_int(value, name),) * ndim


def _matching_dims(a, a_name: str, b, b_name: str):
    """Expand two int-or-tuple sizes to tuples of equal length (an int adopts the other's rank)."""
    ndim = next((len(v) for v in (a, b) if isinstance(v, (tuple, list))), 2)
    a_dims, b_dims = _dims(a, a_name, ndim), _dims(b, b_name, ndim)
    if len(a_dims) != len(b_dims):
        raise ValueError(f"{a_name} {a_dims} and {b_name} {b_dims} have different numbers of "
                         "spatial dimensions. Give both as tuples of the same length.")
    return a_dims, b_dims


# --------------------------------------------------------------------------- output sizes
def same_padding(input_size: int, filter_size: int, stride: int = 1,
                 dilation: int = 1) -> tuple[int, int]:
    """Padding ``(left, right)`` that TensorFlow/Keras use for ``padding="same"``.

    The output has ``ceil(input_size / stride)`` positions; when the total padding is odd the
    extra pixel goes to the right (bottom).

    >>> same_padding(13, 6, stride=5)
    (1, 2)
    """
    i = _int(input_size, "input_size")
    f = _int(filter_size, "filter_size")
    s = _int(stride, "stride")
    d = _int(dilation, "dilation")
    span = d * (f - 1) + 1
    total = max((math.ceil(i / s) - 1) * s + span - i, 0)
    return total // 2, total - total // 2


def _padding_pair(padding, i: int, f: int, s: int, d: int) -> tuple[int, int]:
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(i, f, s, d)
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        return _int(padding[0], "padding", 0), _int(padding[1], "padding", 0)
    elif not isinstance(padding, (tuple, list)):
        p = _int(padding, "padding", 0)
        return p, p
    raise ValueError(f"padding={padding!r} is not understood. {_FIXES['padding']}")


def _output_size(input_size, filter_size, stride, padding, dilation,
                 filter_name: str, stride_name: str) -> int:
    i = _int(input_size, "input_size")
    f = _int(filter_size, filter_name)
    s = _int(stride, stride_name)
    d = _int(dilation, "dilation")
    left, right = _padding_pair(padding, i, f, s, d)
    span = d * (f - 1) + 1
    padded = i + left + right
    if span > padded:
        dilated = f" with dilation={d}" if d > 1 else ""
        raise ValueError(
            f"{filter_name}={f}{dilated} spans {span} pixels, more than the padded input "
            f"({i} + {left} + {right} = {padded}). Use a smaller {filter_name}"
            f"{' or dilation' if d > 1 else ''}, more padding, or padding='same'.")
    return (padded - span) // s + 1


def conv_output_size(input_size: int, filter_size: int, stride: int = 1,
                     padding="valid", dilation: int = 1) -> int:
    """Number of output positions of a convolution along one spatial dimension.

    ``out = floor((I + P_left + P_right - D*(F-1) - 1) / S) + 1``. ``padding`` is ``"valid"``
    (no padding), ``"same"`` (TensorFlow's rule, giving ``ceil(I / S)``), an int (same on both
    sides) or a ``(left, right)`` tuple.

    >>> conv_output_size(227, 11, stride=4)
    55
    >>> conv_output_size(13, 6, stride=5, padding="same")
    3
    >>> conv_output_size(32, 3, dilation=4)    # a 3-tap filter with dilation 4 spans 9 pixels
    24
    """
    return _output_size(input_size, filter_size, stride, padding, dilation,
                        "filter_size", "stride")


def pool_output_size(input_size: int, pool_size: int, strides: int | None = None,
                     padding="valid") -> int:
    """Number of output positions of a pooling layer along one spatial dimension.

    Same rules as :func:`conv_output_size`; ``strides`` defaults to ``pool_size`` as in Keras.

    >>> pool_output_size(28, 2)
    14
    >>> pool_output_size(7, 2, padding="same")
    4
    """
    return _output_size(input_size, pool_size, pool_size if strides is None else strides,
                        padding, 1, "pool_size", "strides")


def transposed_conv_output_size(input_size: int, filter_size: int, stride: int = 1,
                                padding="valid", output_padding: int | None = None,
                                dilation: int = 1) -> int:
    """Number of output positions of a transposed convolution (Keras ``Conv2DTranspose``).

    A transposed convolution spreads each input pixel over an ``F``-wide window of the output,
    moving the window ``S`` output pixels per input pixel, so ``I`` inputs cover
    ``(I - 1)*S + F'`` pixels (``F' = D*(F-1) + 1``, the dilated filter). ``padding="valid"``
    keeps them all, and Keras adds ``max(F', S) - F'`` so that the output is never shorter than
    ``I*S``; ``padding="same"`` crops to exactly ``I*S``, the inverse of a "same" convolution
    with stride ``S``. With ``output_padding`` given, the output is ``(I - 1)*S + F' + op`` for
    "valid" and ``(I - 1)*S + (F' mod 2) + op`` for "same" (TensorFlow's rule, which crops
    ``F' // 2`` pixels on each side); ``op`` must be smaller than the stride.

    >>> transposed_conv_output_size(8, 3, stride=2), transposed_conv_output_size(8, 4, stride=2)
    (17, 18)
    >>> transposed_conv_output_size(8, 3, stride=2, padding="same")
    16
    >>> transposed_conv_output_size(8, 1, stride=2)     # a 1×1 filter: gaps, padded to I*S
    16
    """
    i = _int(input_size, "input_size")
    f = _int(filter_size, "filter_size")
    s = _int(stride, "stride")
    d = _int(dilation, "dilation")
    span = d * (f - 1) + 1
    if output_padding is not None:
        op = _int(output_padding, "output_padding", 0)
        if op >= s:
            raise ValueError(f"output_padding={op} must be smaller than stride={s}. "
                             "Use output_padding=None for the default.")
    mode = padding.lower() if isinstance(padding, str) else None
    if mode == "valid":
        return (i - 1) * s + span + (max(span, s) - span if output_padding is None else op)
    if mode != "same":
        raise ValueError(f"padding={padding!r} is not understood. Use 'valid' or 'same' "
                         "(Keras' Conv2DTranspose takes no other padding).")
    if output_padding is None:
        return i * s
    out = (i - 1) * s + span % 2 + op
    if out < 1:
        raise ValueError(f"input_size={i} with an even filter_size={f}, padding='same' and "
                         f"output_padding={op} gives an empty output. Use output_padding=None "
                         "or a larger input.")
    return out


# --------------------------------------------------------------------------- parameters
def _groups(groups, in_channels: int, out_channels: int) -> int:
    g = _int(groups, "groups")
    if in_channels % g or out_channels % g:
        raise ValueError(f"groups={g} must divide both in_channels={in_channels} and "
                         f"out_channels={out_channels}. Choose a common divisor of the two.")
    return g


def conv_params(filter_size, in_channels: int, out_channels: int, use_bias: bool = True,
                groups: int = 1) -> int:
    """Weights of a convolution: ``(fh*fw*C_in/groups)*C_out + C_out`` (bias optional).

    ``filter_size`` is an int (square filter) or a tuple such as ``(fh, fw)`` or ``(k,)``.

    >>> conv_params(3, 3, 64)
    1792
    """
    taps = math.prod(_dims(filter_size, "filter_size"))
    c_in = _int(in_channels, "in_channels")
    c_out = _int(out_channels, "out_channels")
    g = _groups(groups, c_in, c_out)
    return taps * (c_in // g) * c_out + (c_out if checks.flag(use_bias, "use_bias") else 0)


def depthwise_params(filter_size, in_channels: int, depth_multiplier: int = 1,
                     use_bias: bool = True) -> int:
    """Weights of a depthwise convolution: ``fh*fw*C_in*M`` plus ``C_in*M`` biases.

    >>> depthwise_params(3, 32)
    320
    """
    taps = math.prod(_dims(filter_size, "filter_size"))
    c_in = _int(in_channels, "in_channels")
    m = _int(depth_multiplier, "depth_multiplier")
    return taps * c_in * m + (c_in * m if checks.flag(use_bias, "use_bias") else 0)


def separable_params(filter_size, in_channels: int, out_channels: int,
                     depth_multiplier: int = 1, use_bias: bool = True) -> int:
    """Weights of a depthwise-separable convolution, as in Keras ``SeparableConv2D``.

    Depthwise ``fh*fw*C_in*M`` (no bias) + pointwise ``C_in*M*C_out`` + ``C_out`` biases.

    >>> separable_params(3, 32, 64)
    2400
    """
    depthwise = depthwise_params(filter_size, in_channels, depth_multiplier, use_bias=False)
    c_out = _int(out_channels, "out_channels")
    c_in, m = _int(in_channels, "in_channels"), _int(depth_multiplier, "depth_multiplier")
    pointwise = c_in * m * c_out
    return depthwise + pointwise + (c_out if checks.flag(use_bias, "use_bias") else 0)


def dense_params(in_features: int, out_features: int, use_bias: bool = True) -> int:
    """Weights of a fully connected layer: ``in*out + out``.

    >>> dense_params(784, 10)
    7850
    """
    n_in = _int(in_features, "in_features")
    n_out = _int(out_features, "out_features")
    return n_in * n_out + (n_out if checks.flag(use_bias, "use_bias") else 0)


# --------------------------------------------------------------------------- multiply-adds
def conv_mult_adds(output_hw, filter_size, in_channels: int, out_channels: int,
                   groups: int = 1) -> int:
    """Multiply-adds of a convolution: ``H_out*W_out*C_out*fh*fw*C_in/groups``.

    ``output_hw`` and ``filter_size`` are ints (square) or tuples of the same length.

    >>> conv_mult_adds(55, 11, 3, 96)   # AlexNet's first layer
    105415200
    """
    out, taps = _matching_dims(output_hw, "output_hw", filter_size, "filter_size")
    c_in = _int(in_channels, "in_channels")
    c_out = _int(out_channels, "out_channels")
    g = _groups(groups, c_in, c_out)
    return math.prod(out) * c_out * math.prod(taps) * (c_in // g)


def depthwise_mult_adds(output_hw, filter_size, in_channels: int,
                        depth_multiplier: int = 1) -> int:
    """Multiply-adds of a depthwise convolution: ``H_out*W_out*C_in*M*fh*fw``.

    >>> depthwise_mult_adds(112, 3, 32)
    3612672
    """
    out, taps = _matching_dims(output_hw, "output_hw", filter_size, "filter_size")
    c_in = _int(in_channels, "in_channels")
    m = _int(depth_multiplier, "depth_multiplier")
    return math.prod(out) * c_in * m * math.prod(taps)


def separable_mult_adds(output_hw, filter_size, in_channels: int, out_channels: int,
                        depth_multiplier: int = 1) -> int:
    """Multiply-adds of a depthwise-separable convolution (depthwise + 1x1 pointwise).

    >>> separable_mult_adds(112, 3, 32, 64)
    29302784
    """
    out, _ = _matching_dims(output_hw, "output_hw", filter_size, "filter_size")
    c_out = _int(out_channels, "out_channels")
    depthwise = depthwise_mult_adds(output_hw, filter_size, in_channels, depth_multiplier)
    pointwise = (math.prod(out) * _int(in_channels, "in_channels")
                 * _int(depth_multiplier, "depth_multiplier") * c_out)
    return depthwise + pointwise


def dense_mult_adds(in_features: int, out_features: int) -> int:
    """Multiply-adds of a fully connected layer on one input vector: ``in*out``.

    >>> dense_mult_adds(4096, 1000)
    4096000
    """
    return dense_params(in_features, out_features, use_bias=False)


# --------------------------------------------------------------------------- receptive field
def receptive_field_sequence(layers: Sequence[tuple]) -> list[int]:
    """Receptive field (in input pixels) after each layer of a stack.

    ``layers`` holds ``(filter_size, stride)`` or ``(filter_size, stride, dilation)`` tuples.
    Recurrence: ``r += (k_eff - 1) * jump; jump *= stride`` with ``k_eff = D*(k-1) + 1``.

    >>> receptive_field_sequence([(3, 1), (3, 1), (3, 1)])
    [3, 5, 7]
    >>> receptive_field_sequence([(3, 1, 1), (3, 1, 2), (3, 1, 4)])   # dilations 1, 2, 4
    [3, 7, 15]
    """
    field, jump, fields = 1, 1, []
    for k, s, d in _layer_triples(layers):
        field += d * (k - 1) * jump
        jump *= s
        fields.append(field)
    return fields


def _layer_triples(layers) -> list[tuple[int, int, int]]:
    """``layers`` checked and read as ``(filter_size, stride, dilation)`` triples."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise ValueError(f"layers must be a list of (filter_size, stride[, dilation]) tuples, "
                         f"got {layers!r}. Pass e.g. [(3, 1), (2, 2)].")
    triples = []
    for n, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise ValueError(f"layers[{n}] must be a (filter_size, stride) or (filter_size, "
                             f"stride, dilation) tuple, got {layer!r}. Pass e.g. (3, 1).")
        triples.append((_int(layer[0], f"layers[{n}] filter_size"),
                        _int(layer[1], f"layers[{n}] stride"),
                        _int(layer[2] if len(layer) == 3 else 1, f"layers[{n}] dilation")))
    return triples


def receptive_field_footprint(layers: Sequence[tuple]) -> np.ndarray:
    """How many paths lead from each input pixel of the receptive field to one output pixel.

    ``layers`` as in :func:`receptive_field_sequence`. Entry ``j`` counts the chains of filter
    taps, one per layer, that connect input offset ``j`` (from the field's first pixel) to the
    output; it is the gradient of the output with respect to the input in the same stack with
    all weights 1 and no nonlinearity. The array is as long as :func:`receptive_field`, and a 0
    inside it is an input pixel the output never sees: the *gridding* of stacked dilated
    filters. For a square 2-D filter the 2-D footprint is the outer product of two of these.

    >>> receptive_field_footprint([(3, 1), (3, 1)]).tolist()
    [1, 2, 3, 2, 1]
    >>> receptive_field_footprint([(3, 1, 2), (3, 1, 2)]).tolist()   # every other pixel unseen
    [1, 0, 2, 0, 3, 0, 2, 0, 1]
    """
    counts = np.ones(1, dtype=np.int64)
    for k, s, d in reversed(_layer_triples(layers)):
        # output position p of this layer reads inputs p*s + d*j, j = 0..k-1
        spread = np.zeros((len(counts) - 1) * s + d * (k - 1) + 1, dtype=np.int64)
        for j in range(k):
            spread[d * j: d * j + (len(counts) - 1) * s + 1: s] += counts
        counts = spread
    return counts


def receptive_field(layers: Sequence[tuple]) -> int:
    """Receptive field (in input pixels) of the last layer; 1 for an empty stack.

    >>> receptive_field([(3, 1), (3, 1), (3, 1)])
    7
    """
    fields = receptive_field_sequence(layers)
    return fields[-1] if fields else 1


# --------------------------------------------------------------------------- memory
def _itemsize(dtype) -> int:
    if not isinstance(dtype, str):
        try:
            return np.dtype(dtype).itemsize       # numpy types, np.float32, ...
        except TypeError:
            dtype = str(getattr(dtype, "name", dtype))   # TF dtypes, Keras policies
    name = dtype.removeprefix("mixed_")         # Keras policies such as "mixed_float16"
    if name == "bfloat16":                      # not a numpy dtype
        return 2
    try:
        return np.dtype(name).itemsize
    except TypeError:
        raise ValueError(f"dtype {dtype!r} is not a known data type. "
                         "Use e.g. 'float32', 'float16' or 'bfloat16'.") from None


def activation_memory(shape, dtype="float32", batch_size: int = 1) -> int:
    """Bytes needed to store one activation tensor of ``shape`` (without the batch axis).

    >>> activation_memory((224, 224, 64))           # float32: 4 bytes per value
    12845056
    """
    if checks.is_number(shape):
        dims = (_int(shape, "shape"),)
    elif isinstance(shape, (str, bytes, bool, np.bool_)) or not hasattr(shape, "__iter__"):
        raise checks.ArgumentTypeError(f"shape={shape!r}: expected a tuple of positive ints "
                                       "such as (224, 224, 64). " + _FIXES["shape"])
    else:
        dims = tuple(_int(dim, "shape") for dim in shape)
    if dtype is None:
        raise checks.ArgumentTypeError("dtype=None: expected a data type such as 'float32'. "
                                       "Use e.g. 'float32', 'float16' or 'bfloat16'.")
    batch = _int(batch_size, "batch_size")
    return math.prod(dims) * batch * _itemsize(dtype)


# --------------------------------------------------------------------------- model report
@dataclass(frozen=True)
class LayerReport:
    """One row of :func:`model_report` (shapes exclude the batch axis).

    >>> LayerReport("fc", "Dense", (10,), 7850, 7840, 40).params
    7850
    """

    name: str
    type: str
    output_shape: tuple
    params: int
    mult_adds: int
    activation_bytes: int


class ReportTotals(NamedTuple):
    """Column sums returned by :func:`report_totals`.

    >>> ReportTotals(10, 20, 30).mult_adds
    20
    """

    params: int
    mult_adds: int
    activation_bytes: int


def _layer_mult_adds(layer, output_elements: int) -> int:
    """Multiply-adds of one Keras layer, given the number of values it outputs (per example)."""
    import keras
    L = keras.layers
    if isinstance(layer, keras.Model):
        return report_totals(model_report(layer)).mult_adds
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        depth_kernel = tuple(layer.depthwise_kernel.shape)        # (k..., C_in, M)
        positions = output_elements // layer.filters
        channels = depth_kernel[-2] * depth_kernel[-1]
        return positions * channels * (math.prod(depth_kernel[:-2]) + layer.filters)
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return output_elements * math.prod(layer.kernel.shape[:-2])  # (k..., C_in, M)
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        return output_elements * math.prod(layer.kernel.shape[:-1])  # (k..., C_in/g, C_out)
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        # every input value is multiplied by every weight of its group: (k..., C_out, C_in)
        input_elements = math.prod(layer.input.shape[1:])
        return input_elements * math.prod(layer.kernel.shape[:-1])
    if isinstance(layer, L.Dense):
        return output_elements * layer.kernel.shape[0]             # (in_features, units)
    return 0


def _flatten(output) -> list:
    """The tensors of a layer's output (a tensor, or lists, tuples and dicts of them).

    Written out rather than ``keras.tree.flatten``, which Keras only has from 3.1 on; dict
    values come in key order, as there.

    >>> _flatten({"b": [2, (3,)], "a": 1})
    [1, 2, 3]
    """
    if isinstance(output, dict):
        return [t for key in sorted(output) for t in _flatten(output[key])]
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _flatten(item)]
    return [output]


def _input_layers(model) -> list:
    """Sequential models hide their InputLayer from ``model.layers``; recover it."""
    import keras
    if any(isinstance(layer, keras.layers.InputLayer) for layer in model.layers):
        return []
    found = []
    for tensor in getattr(model, "inputs", None) or []:
        history = getattr(tensor, "_keras_history", None)
        operation = getattr(history, "operation", None)
        if isinstance(operation, keras.layers.InputLayer):
            found.append(operation)
    return found


def model_report(model, dtype=None) -> list[LayerReport]:
    """Per-layer output shape, parameters, multiply-adds and activation bytes of a Keras model.

    The model must be Functional or Sequential and built on a fixed-size ``keras.Input``.
    Mult-adds are counted for Conv1D/2D/3D (incl. groups, strides, dilation), their transposed
    and depthwise/separable variants, and Dense (on the last axis); other layers count 0.
    A nested model is one row whose mult-adds are summed recursively. For a layer used
    several times, the first call is reported. ``dtype=None`` uses each output's own dtype.

    >>> import keras
    >>> net = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3)])
    >>> [(r.type, r.output_shape, r.params, r.mult_adds) for r in model_report(net)]
    [('InputLayer', (28, 28, 1), 0, 0), ('Conv2D', (26, 26, 8), 80, 48672)]
    """
    import keras
    if not isinstance(model, keras.Model):
        raise checks.ArgumentTypeError(f"model must be a keras.Model, got {type(model).__name__}. "
                                       "Wrap your layers in keras.Sequential or keras.Model.")
    if not model.built:
        raise ValueError("model is not built, so its shapes are unknown. Start it with "
                         "keras.Input((height, width, channels)) or call model.build(shape).")
    reports = []
    for layer in _input_layers(model) + list(model.layers):
        try:  # only this attribute: any other AttributeError is a bug and is raised as one
            output = layer.output
        except (AttributeError, ValueError) as error:
            raise ValueError(
                f"model layer {layer.name!r} was never called on a symbolic input, so its "
                "output shape is unknown. Build the model with the Functional or Sequential "
                f"API starting from keras.Input(...). (Keras: {error})") from error
        outputs = _flatten(output)
        shapes = tuple(tuple(tensor.shape[1:]) for tensor in outputs)
        if any(dim is None for shape in shapes for dim in shape):
            shown = shapes[0] if len(shapes) == 1 else shapes
            raise ValueError(f"model layer {layer.name!r} has an unknown output size {shown}. "
                             "Give keras.Input a fixed shape, e.g. keras.Input((224, 224, 3)).")
        memory = sum(activation_memory(shape, dtype or tensor.dtype)
                     for shape, tensor in zip(shapes, outputs))
        elements = sum(math.prod(shape) for shape in shapes)
        reports.append(LayerReport(
            name=layer.name, type=type(layer).__name__,
            output_shape=shapes[0] if len(shapes) == 1 else shapes,
            params=int(layer.count_params()), mult_adds=int(_layer_mult_adds(layer, elements)),
            activation_bytes=int(memory)))
    return reports


def _reports(reports) -> list[LayerReport]:
    """``reports`` checked: a list of :class:`LayerReport` rows, as :func:`model_report` makes."""
    if isinstance(reports, (str, bytes)) or not hasattr(reports, "__iter__"):
        raise checks.ArgumentTypeError(f"reports={reports!r}: expected a list of LayerReport "
                                       "rows. Pass the list model_report(model) returns.")
    reports = list(reports)
    for n, row in enumerate(reports):
        if not isinstance(row, LayerReport):
            raise checks.ArgumentTypeError(
                f"reports[{n}]={checks.shown(row)}: expected a LayerReport. Pass the list "
                "model_report(model) returns.")
    return reports


def report_totals(reports: Sequence[LayerReport]) -> ReportTotals:
    """Sum the params, mult-adds and activation bytes of a report.

    >>> report_totals([LayerReport("a", "Dense", (2,), 6, 4, 8)] * 2)
    ReportTotals(params=12, mult_adds=8, activation_bytes=16)
    """
    reports = _reports(reports)
    return ReportTotals(sum(r.params for r in reports), sum(r.mult_adds for r in reports),
                        sum(r.activation_bytes for r in reports))


def _format_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def report_table(reports: Sequence[LayerReport]):
    """The report as a Markdown table with a bold total row: as the last expression of a cell
    (or through ``display``) it renders as a table that fits the book's column, in Jupyter and
    in Colab too. :func:`format_report` gives the same as fixed-width text for a terminal.

    >>> print(report_table([LayerReport("fc", "Dense", (10,), 7850, 7840, 40)]).data)
    | layer (type) | output shape | params | mult-adds | activations |
    |:---|:---|---:|---:|---:|
    | fc (Dense) | (10,) | 7,850 | 7,840 | 40 B |
    | **total** |  | **7,850** | **7,840** | **40 B** |
    """
    from dlbook.nb_setup import markdown_table

    reports = _reports(reports)
    rows = [(f"{r.name} ({r.type})", str(r.output_shape), f"{r.params:,}", f"{r.mult_adds:,}",
             _format_bytes(r.activation_bytes)) for r in reports]
    totals = report_totals(reports)
    rows.append(("**total**", "", f"**{totals.params:,}**", f"**{totals.mult_adds:,}**",
                 f"**{_format_bytes(totals.activation_bytes)}**"))
    return markdown_table(["layer (type)", "output shape", "params", "mult-adds", "activations"],
                          rows, align="llrrr")


def format_report(reports: Sequence[LayerReport]) -> str:
    """A fixed-width text table of a report, ending with a total row.

    >>> print(format_report([LayerReport("fc", "Dense", (10,), 7850, 7840, 40)]))
    Layer (type)  Output shape  Params  Mult-adds  Activations
    ----------------------------------------------------------
    fc (Dense)    (10,)          7,850      7,840         40 B
    ----------------------------------------------------------
    Total                        7,850      7,840         40 B
    """
    reports = _reports(reports)
    header = ("Layer (type)", "Output shape", "Params", "Mult-adds", "Activations")
    rows = [(f"{r.name} ({r.type})", str(r.output_shape), f"{r.params:,}", f"{r.mult_adds:,}",
             _format_bytes(r.activation_bytes)) for r in reports]
    totals = report_totals(reports)
    total_row = ("Total", "", f"{totals.params:,}", f"{totals.mult_adds:,}",
                 _format_bytes(totals.activation_bytes))
    widths = [max(len(row[c]) for row in [header, *rows, total_row]) for c in range(5)]

    def line(row):
        cells = [cell.ljust(w) if c < 2 else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    return "\n".join([line(header), rule, *map(line, rows), rule, line(total_row)])
