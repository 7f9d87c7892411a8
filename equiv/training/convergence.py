"""Whether a training run converged: one stated rule, applied to its validation history.

Rule: a run *converged* when the best validation force MAE improved by less than
:data:`CONVERGENCE_TOLERANCE` (10 %, relative) over the second half (:data:`CONVERGENCE_WINDOW`) of
its optimizer steps, i.e. ``(best in the first half − best overall) / best in the first half < 0.1``.
A run with no validation in the first half (too few validations to tell) did not converge. The
window is half the run, not its last few percent, because a cosine schedule makes the last steps
small whatever the model still has to learn: 200 steps of NequIP on ethanol gained under 5 % in
their last quarter while their force error was still 5× the converged one. Doubling the steps of a
run that passes this rule is expected to gain little more than the 10 %.

Example:
    >>> check_convergence([(100, 50.0), (200, 30.0), (300, 29.5), (400, 29.0)])
    Convergence(converged=True, relative_improvement=0.0333, steps=400, rule='best validation force MAE improved < 10% over the last 50% of steps')
    >>> check_convergence([(100, 50.0), (200, 40.0), (300, 30.0), (400, 20.0)]).converged
    False
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

__all__ = ["CONVERGENCE_TOLERANCE", "CONVERGENCE_WINDOW", "CONVERGENCE_RULE", "Convergence", "check_convergence"]

#: Relative improvement of the best validation force MAE below which a run counts as converged.
CONVERGENCE_TOLERANCE = 0.10
#: The share of the optimizer steps at the end that the improvement is measured over.
CONVERGENCE_WINDOW = 0.50
CONVERGENCE_RULE = (f"best validation force MAE improved < {CONVERGENCE_TOLERANCE:.0%} over the last "
                    f"{CONVERGENCE_WINDOW:.0%} of steps")


class Convergence(NamedTuple):
    """The verdict: ``relative_improvement`` over the window (``None`` when it cannot be told)."""

    converged: bool
    relative_improvement: float | None
    steps: int
    rule: str = CONVERGENCE_RULE


def check_convergence(validations: Sequence[tuple[int, float]]) -> Convergence:
    """Apply the rule to ``(optimizer steps so far, validation force MAE)`` pairs in order."""
    points = [(int(s), float(v)) for s, v in validations if v is not None and math.isfinite(v)]
    if not points:
        return Convergence(False, None, 0)
    total = points[-1][0]
    edge = (1.0 - CONVERGENCE_WINDOW) * total
    before = [v for s, v in points if s <= edge]
    if not before:
        return Convergence(False, None, total)
    best_before, best = min(before), min(v for _, v in points)
    gain = (best_before - best) / best_before if best_before > 0 else 0.0
    return Convergence(gain < CONVERGENCE_TOLERANCE, round(gain, 4), total)
