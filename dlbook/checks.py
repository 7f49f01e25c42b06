"""Argument checks shared by the public functions of :mod:`dlbook`.

Every check takes the value and the argument's name, returns the value in the form the function
works with (a float, an int, a float64 array...) and otherwise raises an error whose message
names the argument, shows what was given, says what is expected and, where there is one, the fix:

>>> integer(1.7, "max_output", minimum=0)
Traceback (most recent call last):
...
dlbook.checks.ArgumentTypeError: max_output=1.7: expected a whole number >= 0, not a fraction (it would be truncated). Pass e.g. max_output=1.

The rules, the same everywhere in the package:

* **Numbers** are ints, floats or numpy scalars (or 0-d arrays). A string is never a number, not
  even ``"0.5"``, and neither is a bool (``True`` would count as 1). NaN is refused wherever a
  number is compared or computed with; infinity only where the function says so (such as
  ``score_threshold=-inf``, "no threshold").
* **Whole numbers** (sizes, counts, seeds, class ids) accept ints and whole-valued floats such as
  ``2.0`` or ``1e4``, which are converted exactly; a fraction such as ``1.7`` is refused rather
  than truncated.
* **Flags** (``use_bias``, ``clip``, ``verbose``...) must be ``True`` or ``False``: the string
  ``"False"`` is truthy in Python and would silently mean True.
* **Arrays** are converted with numpy; strings, ragged nesting and objects give an error naming
  the argument (numpy's own "could not convert string to float" names none).

A wrong *kind* of value (a string where a number is meant) raises :class:`ArgumentTypeError`,
which is both a ``TypeError`` and a ``ValueError``; a value of the right kind but outside its
range raises ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

__all__ = ["ArgumentTypeError", "shown", "is_number", "seed", "real", "fraction", "integer",
           "optional_integer", "flag", "choice", "array", "boxes", "whole_array", "size_pair"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind (a string for a number, a float for a flag...).

    A ``ValueError`` as well, so code that catches ``ValueError`` for bad input catches it too.

    >>> issubclass(ArgumentTypeError, TypeError) and issubclass(ArgumentTypeError, ValueError)
    True
    """


def shown(value, limit: int = 60) -> str:
    """A short picture of ``value`` for an error message: arrays by shape and dtype.

    >>> shown(np.zeros((2, 3))), shown("0.5"), shown(float("nan"))
    ('an array of shape (2, 3) and dtype float64', "'0.5'", 'nan')
    """
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fail(name: str, value, expected: str, fix: str | None = None, kind=ValueError):
    message = f"{name}={shown(value)}: expected {expected}."
    if fix:
        message += f" {fix}"
    raise kind(message)


def is_number(value) -> bool:
    """Is ``value`` one real number (not a bool, not a string, not an array of several)?

    >>> is_number(2.5), is_number(np.int64(3)), is_number(True), is_number("2")
    (True, True, False, False)
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, numbers.Real)


def real(value, name: str, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False, allow_inf: bool = False,
         fix: str | None = None) -> float:
    """``value`` as a float: a real number (not NaN, not a string or bool) within the bounds.

    >>> real(0.5, "iou_threshold", low=0, high=1)
    0.5
    >>> real(float("nan"), "score_threshold", allow_inf=True)
    Traceback (most recent call last):
    ...
    ValueError: score_threshold=nan: expected a number, not NaN.
    """
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    if low is not None and high is not None:
        where = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    else:
        where = f" {lo or hi}" if (lo or hi) else ""
    if not is_number(value):
        _fail(name, value, f"a number{where}", _string_fix(value, name) or fix,
              ArgumentTypeError)
    x = float(value)
    if math.isnan(x):
        _fail(name, value, "a number, not NaN", fix)
    if math.isinf(x) and not allow_inf:
        _fail(name, value, f"a finite number{where}", fix)
    if ((low is not None and (x < low or (low_open and x == low)))
            or (high is not None and (x > high or (high_open and x == high)))):
        _fail(name, value, f"a number{where}", fix)
    return x


def fraction(value, name: str, fix: str | None = None) -> float:
    """``value`` as a float in [0, 1] (accuracies, probabilities, shares).

    >>> fraction(80, "a")
    Traceback (most recent call last):
    ...
    ValueError: a=80: expected a number in [0, 1]. Pass fractions such as 0.8, not percent.
    """
    return real(value, name, low=0.0, high=1.0,
                fix=fix or "Pass fractions such as 0.8, not percent.")


def _string_fix(value, name: str) -> str | None:
    if isinstance(value, (str, bytes)):
        return f"Pass the number itself, not a string (e.g. {name}=float(text))."
    return None


def integer(value, name: str, *, minimum: int | None = None, maximum: int | None = None,
            fix: str | None = None) -> int:
    """``value`` as a Python int: an int, a numpy integer or a whole-valued float (``2.0``).

    Fractions (``1.7``), NaN, infinities, bools and strings are refused.

    >>> integer(3, "grid", minimum=1), integer(2.0, "items", minimum=1)
    (3, 2)
    >>> integer(True, "n")
    Traceback (most recent call last):
    ...
    dlbook.checks.ArgumentTypeError: n=True: expected a whole number, not a bool.
    """
    lo = "" if minimum is None else f" >= {minimum}"
    hi = "" if maximum is None else f" <= {maximum}"
    expected = f"a whole number{lo}{' and' if lo and hi else ''}{hi}"
    if isinstance(value, (bool, np.bool_)):
        _fail(name, value, "a whole number, not a bool", fix, ArgumentTypeError)
    if isinstance(value, (int, np.integer)):
        n = int(value)
    elif is_number(value):
        x = float(value)
        if not math.isfinite(x):
            _fail(name, value, expected, fix)
        if x != math.floor(x):
            _fail(name, value, f"{expected}, not a fraction (it would be truncated)",
                  fix or f"Pass e.g. {name}={int(x)}.", ArgumentTypeError)
        n = int(x)
    else:
        try:
            n = operator.index(value)  # other integer types (0-d integer arrays, ...)
        except TypeError:
            _fail(name, value, expected, _string_fix(value, name) or fix, ArgumentTypeError)
    if (minimum is not None and n < minimum) or (maximum is not None and n > maximum):
        _fail(name, value, expected, fix)
    return n


def optional_integer(value, name: str, *, minimum: int | None = None,
                     fix: str | None = None) -> int | None:
    """``None``, or ``value`` checked by :func:`integer`.

    >>> optional_integer(None, "max_output") is None
    True
    """
    if value is None:
        return None
    return integer(value, name, minimum=minimum,
                   fix=fix or f"Pass a whole number >= {minimum}, or None for no limit.")


def flag(value, name: str) -> bool:
    """``value`` as a bool; only ``True`` and ``False`` (numpy's included) are accepted.

    >>> flag("False", "use_bias")
    Traceback (most recent call last):
    ...
    dlbook.checks.ArgumentTypeError: use_bias='False': expected True or False. The string 'False' counts as true in Python: pass use_bias=False without quotes.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    fix = (f"The string {value!r} counts as true in Python: pass {name}={value.strip()} without "
           "quotes." if isinstance(value, str) and value.strip() in ("True", "False") else None)
    _fail(name, value, "True or False", fix, ArgumentTypeError)


def choice(value, name: str, options) -> str:
    """``value``, one of the strings ``options``.

    >>> choice("val", "split", ("train", "test"))
    Traceback (most recent call last):
    ...
    ValueError: split='val': expected one of 'train', 'test'.
    """
    options = tuple(options)
    listed = ", ".join(map(repr, options))
    if not isinstance(value, str):
        _fail(name, value, f"one of {listed}", None, ArgumentTypeError)
    if value not in options:
        _fail(name, value, f"one of {listed}")
    return value


def array(value, name: str, *, ndim=None, min_ndim: int | None = None, last: int | None = None,
          finite: bool = True, nonempty: bool = False, shape_hint: str | None = None,
          allow_bool: bool = False) -> np.ndarray:
    """``value`` as a float64 numpy array, checked.

    ``ndim``: the number of axes (an int or a tuple of allowed ones); ``min_ndim``: at least so
    many; ``last``: the length of the last axis; ``finite``: no NaN or infinity; ``nonempty``:
    at least one element; ``allow_bool``: True/False count as 1/0. ``shape_hint`` describes the expected shape, e.g. ``"(N, 4)"``.

    >>> array([[1, 2], [3]], "boxes")
    Traceback (most recent call last):
    ...
    dlbook.checks.ArgumentTypeError: boxes=[[1, 2], [3]]: expected an array of numbers (rows of equal length). Pass a list of equal-length lists or a numpy array.
    """
    hint = f" of shape {shape_hint}" if shape_hint else ""
    if isinstance(value, (str, bytes)) or value is None or isinstance(value, (dict, set)):
        _fail(name, value, f"an array of numbers{hint}", None, ArgumentTypeError)
    try:
        raw = np.asarray(value)
    except ValueError:  # ragged nesting
        raw = None
    if raw is None or raw.dtype == object:
        _fail(name, value, f"an array of numbers{hint} (rows of equal length)",
              "Pass a list of equal-length lists or a numpy array.", ArgumentTypeError)
    if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "b" and allow_bool):
        if raw.size == 0 and raw.dtype.kind in "US":
            raw = raw.astype(np.float64)
        else:
            what = {"U": "strings", "S": "bytes", "b": "booleans", "c": "complex numbers",
                    "M": "dates", "m": "time spans"}.get(raw.dtype.kind, str(raw.dtype))
            _fail(name, value, f"an array of numbers{hint}, not of {what}",
                  f"Convert it first, e.g. np.asarray({name}, dtype=float)." if what == "strings"
                  else None, ArgumentTypeError)
    a = raw.astype(np.float64, copy=False)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and a.ndim not in allowed:
        axes = " or ".join(map(str, allowed))
        _fail(name, value, f"an array{hint} ({axes} axes), got {a.ndim} axes")
    if min_ndim is not None and a.ndim < min_ndim:
        _fail(name, value, f"an array{hint} (at least {min_ndim} axes), got {a.ndim}")
    if last is not None and (a.ndim == 0 or a.shape[-1] != last):
        _fail(name, value, f"an array{hint} with {last} numbers along the last axis, got "
              f"shape {a.shape}")
    if nonempty and a.size == 0:
        _fail(name, value, f"a non-empty array{hint}")
    if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        where = f"{name}[{', '.join(map(str, bad))}]" if bad else name
        _fail(name, value, f"finite numbers, but {where} is {a[bad]:g}",
              "Drop or fix the NaN/infinite entries first (np.isfinite finds them).")
    return a


def boxes(value, name: str = "boxes") -> np.ndarray:
    """Boxes as a float64 array of shape ``(..., 4)`` with finite coordinates; ``[]`` is no box.

    >>> boxes([[0, 0, 2, 2]]).shape, boxes([]).shape
    ((1, 4), (0, 4))
    >>> boxes([0, 0, 2], "gt_boxes")
    Traceback (most recent call last):
    ...
    ValueError: gt_boxes=[0, 0, 2]: expected an array of shape (N, 4) with 4 numbers along the last axis, got shape (3,). Pass 4 coordinates per box.
    """
    a = array(value, name, finite=False, shape_hint="(N, 4)")
    if a.ndim == 1 and a.size == 0:
        a = a.reshape(0, 4)
    if a.ndim < 1 or a.shape[-1] != 4:
        _fail(name, value, f"an array of shape (N, 4) with 4 numbers along the last axis, got "
              f"shape {a.shape}", "Pass 4 coordinates per box.")
    return array(a, name, finite=True, shape_hint="(N, 4)")


def whole_array(value, name: str, *, minimum: int | None = None, maximum: int | None = None,
                ndim=None, fix: str | None = None) -> np.ndarray:
    """An array of whole numbers (class ids, labels) as int64; whole-valued floats are accepted.

    >>> whole_array([0, 2.0], "classes").tolist()
    [0, 2]
    >>> whole_array([0, 1.7], "classes")
    Traceback (most recent call last):
    ...
    dlbook.checks.ArgumentTypeError: classes=[0, 1.7]: expected whole numbers, but classes[1] is 1.7. Class ids are integers: pass e.g. np.asarray(classes).astype(int) if they are whole numbers stored as floats.
    """
    a = array(value, name, ndim=ndim)
    whole = a == np.floor(a)
    if not whole.all():
        i = tuple(int(k) for k in np.argwhere(~whole)[0])
        _fail(name, value, f"whole numbers, but {name}[{', '.join(map(str, i))}] is {a[i]:g}",
              fix or f"Class ids are integers: pass e.g. np.asarray({name}).astype(int) if they "
              "are whole numbers stored as floats.", ArgumentTypeError)
    out = a.astype(np.int64)
    lo = "" if minimum is None else f" >= {minimum}"
    hi = "" if maximum is None else f" <= {maximum}"
    if out.size and ((minimum is not None and out.min() < minimum)
                     or (maximum is not None and out.max() > maximum)):
        bad = out.min() if minimum is not None and out.min() < minimum else out.max()
        _fail(name, value, f"whole numbers{lo}{' and' if lo and hi else ''}{hi}, but it holds "
              f"{bad}", fix)
    return out


def seed(value, name: str = "seed"):
    """A random seed: a whole number >= 0, or a tuple of them (``(seed, batch)``), as numpy's
    ``default_rng`` takes.

    >>> seed(3), seed((7, 2))
    (3, (7, 2))
    """
    if isinstance(value, (tuple, list)) and value:
        return tuple(integer(v, f"{name}[{i}]", minimum=0) for i, v in enumerate(value))
    return integer(value, name, minimum=0, fix=f"Pass a whole number such as {name}=0.")


def size_pair(value, name: str, *, what: str = "(height, width)") -> tuple[float, float]:
    """A positive size given as one number (square) or a pair ``(height, width)``.

    >>> size_pair(96, "image_size"), size_pair((64, 96), "image_size")
    ((96.0, 96.0), (64.0, 96.0))
    >>> size_pair((96,), "image_size")
    Traceback (most recent call last):
    ...
    ValueError: image_size=(96,): expected one positive number or a pair (height, width). Pass image_size=96 for a square image or (height, width).
    """
    fix = f"Pass {name}=96 for a square image or {what}."
    if is_number(value) or isinstance(value, (bool, np.bool_, str, bytes)):
        side = real(value, name, low=0.0, low_open=True, fix=fix)
        return side, side
    try:
        parts = list(value)
    except TypeError:
        _fail(name, value, f"one positive number or a pair {what}", fix, ArgumentTypeError)
    if len(parts) != 2:
        _fail(name, value, f"one positive number or a pair {what}", fix)
    h = real(parts[0], name, low=0.0, low_open=True, fix=fix)
    w = real(parts[1], name, low=0.0, low_open=True, fix=fix)
    return h, w
