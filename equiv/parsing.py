"""Parsing what a person types (CLI arguments, text boxes, URL query values) into numbers.

Every function raises :class:`equiv.errors.EquivError` with a message that says what was expected.

Example:
    >>> parse_vector("1, -2.5, 3e-1")
    [1.0, -2.5, 0.3]
"""

from __future__ import annotations

import math
import re

from equiv.errors import EquivError

__all__ = ["parse_vector"]


def parse_vector(text: str, n: int = 3, max_abs: float | None = None) -> list[float]:
    """``"1,2,3"`` (commas and/or spaces, optional brackets) → ``[1.0, 2.0, 3.0]``.

    Args:
        text: the typed value.
        n: how many numbers are expected.
        max_abs: if given, every number must satisfy ``|x| ≤ max_abs``.

    Raises:
        EquivError: wrong count, something that is not a number, NaN/infinity, or too large.
    """
    example = ",".join(str(i + 1) for i in range(n))
    parts = [p for p in re.split(r"[,\s]+", text.strip().strip("[]()")) if p]
    if len(parts) != n:
        raise EquivError(f"a vector needs {n} comma-separated numbers like {example}; got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise EquivError(f"{text!r} is not {n} numbers like {example}") from None
    if not all(math.isfinite(v) for v in values):
        raise EquivError(f"{text!r} contains NaN or infinity")
    if max_abs is not None and any(abs(v) > max_abs for v in values):
        raise EquivError(f"{text!r}: each number must lie between −{max_abs:g} and {max_abs:g}")
    return values
