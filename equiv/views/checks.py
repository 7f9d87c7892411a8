"""Numeric checks shown on pages: a named error, the tolerance it must meet, pass or fail.

Example:
    >>> c = Check.scaled("parts sum back to a bᵀ", 3.5e-15, scale=32.0)
    >>> c.passed, c.tolerance
    (True, 3.2e-09)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import pandas as pd

__all__ = ["Check", "FLOAT64_TOLERANCE", "checks_table"]

#: Relative tolerance for float64 identities (errors are ~1e-15 in practice).
FLOAT64_TOLERANCE = 1e-10


@dataclass(frozen=True)
class Check:
    """``error`` (max abs error) passes when it is finite and at most ``tolerance``."""

    name: str
    error: float
    tolerance: float = FLOAT64_TOLERANCE

    @classmethod
    def scaled(cls, name: str, error: float, scale: float, rel: float = FLOAT64_TOLERANCE) -> "Check":
        """A check whose tolerance is ``rel · max(1, scale)``: for quantities of size ``scale``."""
        return cls(name, float(error), rel * max(1.0, float(scale)))

    @property
    def passed(self) -> bool:
        return math.isfinite(self.error) and self.error <= self.tolerance


def checks_table(checks: Iterable[Check]) -> pd.DataFrame:
    """One row a check: ``check``, ``max abs error``, ``tolerance``, ``result`` ("pass" / "FAIL")."""
    rows = [
        {"check": c.name, "max abs error": c.error, "tolerance": c.tolerance, "result": "pass" if c.passed else "FAIL"}
        for c in checks
    ]
    return pd.DataFrame(rows, columns=["check", "max abs error", "tolerance", "result"])
