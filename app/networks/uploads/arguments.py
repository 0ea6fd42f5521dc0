"""The arguments of layers and operations accepted only with plain values: each argument a
layer description names (LayerKind.plain) is checked against its kind of value, and no
other argument is allowed beside the ones every layer has. A number is a finite JSON
number, never a string Keras would look up or an object it would build."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from app.networks.uploads.limits import Refused

COMMON = frozenset({"name", "trainable", "dtype", "data_format"})
MAX_VALUES = 4096  # a Normalization's mean, a Reshape's shape: never longer than this


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and 0 < len(v) <= MAX_VALUES and all(_number(x) for x in v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -1 <= v <= 1_000_000


def _ints(v: Any) -> bool:
    return isinstance(v, list) and 0 < len(v) <= 8 and all(_int(x) for x in v)


CHECKS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "int": ("a whole number", _int),
    "ints": ("a list of whole numbers", _ints),
    "int or ints": ("a whole number or a list of them", lambda v: _int(v) or _ints(v)),
    "int or ints or none": ("a whole number, a list of them, or null",
                            lambda v: v is None or _int(v) or _ints(v)),
    "number or numbers": ("a number or a list of numbers", lambda v: _number(v) or _numbers(v)),
    "numbers or none": ("a number, a list of numbers, or null",
                        lambda v: v is None or _number(v) or _numbers(v)),
    "pairs": ("an int, a pair, or a pair of pairs of whole numbers",
              lambda v: _int(v) or _ints(v) or (isinstance(v, list) and len(v) == 2
                                                and all(_ints(p) for p in v))),
    "interpolation": ("nearest or bilinear", lambda v: v in ("nearest", "bilinear")),
}


def check_plain(config: dict[str, Any], plain: dict[str, str], where: str) -> None:
    """Every argument is one every layer has, or one of `plain`, with its kind of value."""
    for arg, value in config.items():
        if arg in COMMON:
            continue
        kind = plain.get(arg)
        if kind is None:
            allowed = ", ".join(sorted(plain)) or "none"
            raise Refused(f"{where}: the argument {arg[:40]!r} is not accepted here (its own "
                          f"arguments are: {allowed})")
        what, ok = CHECKS[kind]
        if not ok(value):
            raise Refused(f"{where}.{arg}: must be {what}, not {str(value)[:60]!r}")
