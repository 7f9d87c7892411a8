"""Numbers as people read them: one formatter per kind of number, used by every page and command.

* :func:`format_number`: the shortest text that reads back as the same float (links, text boxes);
* :func:`format_duration`: seconds as ``42 s``, ``3 min 05 s``, ``2 h 10 min``;
* :func:`format_metric`: a recorded metric, ``–`` when missing or not finite;
* :func:`format_significant`: ``digits`` significant digits with a true minus sign, ``0`` for
  rounding noise (tables of numbers checked on a page).

Example:
    >>> format_number(1.0), format_number(0.1 + 0.2), format_duration(185), format_metric(None)
    ('1', '0.30000000000000004', '3 min 05 s', '–')
    >>> format_significant(-0.000123456, 3), format_significant(1e-15)
    ('−0.000123', '0')
"""

from __future__ import annotations

import math

__all__ = ["format_number", "format_duration", "format_metric", "format_significant"]


def format_number(x: float) -> str:
    """Shortest text that reads back as the same float, without a trailing ``.0``: 1.0 → ``"1"``."""
    x = float(x) + 0.0  # no "-0"
    text = repr(x)
    return text[:-2] if text.endswith(".0") else text


def format_duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 10 min``; ``–`` for ``None``."""
    if seconds is None:
        return "–"
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def format_metric(value: object, spec: str = ".2f") -> str:
    """A recorded number for display: ``"–"`` when missing, NaN, infinite or not a number.

    >>> format_metric(3.14159), format_metric(float("nan")), format_metric("x")
    ('3.14', '–', '–')
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "–"
    return format(value, spec)


def format_significant(x: float, digits: int = 4) -> str:
    """``digits`` significant digits, a true minus sign (−), and ``0`` for rounding noise below 1e-12."""
    if abs(x) < 1e-12:
        return "0"
    return f"{x:.{digits}g}".replace("-", "−")
