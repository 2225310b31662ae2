"""Argument checks shared by gdlab's modules: each raises ``ValueError`` naming the argument and its value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_int(name: str, v: Any, minimum: int = 1) -> int:
    """``v`` as an int, which must be an integer (not a bool) at least ``minimum``."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"Invalid {name}: {name}={v!r} (expected an integer >= {minimum})")
    return int(v)


def positive_float(name: str, v: Any, allow_zero: bool = False) -> float:
    """``v`` as a float, which must be finite and positive (or zero with ``allow_zero``)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {name}: {name}={v!r} (expected a number)") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"Invalid {name}: {name}={v!r} (expected a finite number {bound})")
    return x
