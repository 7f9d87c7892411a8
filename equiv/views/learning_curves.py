"""Learning curves: test error against training-set size, with the spread over seeds and a
fitted slope per model.

For each model (and data set) the finished runs are grouped by training-set size; each size gets
the mean, sample standard deviation, minimum and maximum of the test force MAE over its seeds. The
slope is the least-squares fit of ``log10(MAE) = a + b · log10(n_train)`` through every run (each
seed one point), with the standard error of ``b`` from the residuals (``s² = SSR / (m − 2)``,
``se(b) = √(s² / Σ(x − x̄)²)`` for m points), so the spread over seeds shows up in the
uncertainty. A model whose error falls as ``n^b`` has slope ``b``; the NequIP paper's claim is
that equivariant features (l ≥ 1) give a steeper (more negative) slope than l = 0.

Example:
    >>> fit = fit_loglog([10, 100, 1000], [100.0, 31.6227766, 10.0])
    >>> round(fit.slope, 6), fit.stderr < 1e-6, fit.n_points
    (-0.5, True, 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from equiv.runs import Run
from equiv.training import TRAINING_KINDS

__all__ = ["CurvePoint", "SlopeFit", "LearningCurve", "fit_loglog", "learning_curves", "slope_rows"]


@dataclass(frozen=True)
class CurvePoint:
    """One training-set size: the test errors of its runs (one per seed) and their summary."""

    n_train: int
    values: tuple[float, ...]
    run_ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (``None`` for one seed)."""
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else None

    @property
    def low(self) -> float:
        return float(min(self.values))

    @property
    def high(self) -> float:
        return float(max(self.values))


@dataclass(frozen=True)
class SlopeFit:
    """``log10(y) = intercept + slope · log10(n)``; ``stderr`` of the slope (``None`` with only
    two points: a line through two points has no residual to estimate it from)."""

    slope: float
    intercept: float
    stderr: float | None
    n_points: int
    n_sizes: int

    def predict(self, n: float | np.ndarray) -> np.ndarray:
        return 10.0 ** (self.intercept + self.slope * np.log10(np.asarray(n, dtype=float)))

    def text(self) -> str:
        return f"{self.slope:.2f}" + (f" ± {self.stderr:.2f}" if self.stderr is not None else " (2 points, no uncertainty)")


def fit_loglog(n: Sequence[float], y: Sequence[float]) -> SlopeFit | None:
    """Least squares in log-log (see the module docstring); ``None`` with fewer than two distinct
    sizes. Non-positive or non-finite values are refused (a log needs positive numbers)."""
    n_arr, y_arr = np.asarray(n, dtype=float), np.asarray(y, dtype=float)
    if n_arr.shape != y_arr.shape:
        raise ValueError("n and y must have the same length")
    if not (np.all(np.isfinite(n_arr)) and np.all(np.isfinite(y_arr)) and np.all(n_arr > 0) and np.all(y_arr > 0)):
        raise ValueError("a log-log fit needs positive, finite sizes and errors")
    x, z = np.log10(n_arr), np.log10(y_arr)
    sizes = len(np.unique(n_arr))
    if sizes < 2:
        return None
    xm, zm = x.mean(), z.mean()
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (z - zm)) / sxx)
    intercept = float(zm - slope * xm)
    m = len(x)
    stderr = None
    if m > 2:
        ssr = float(np.sum((z - intercept - slope * x) ** 2))
        stderr = math.sqrt(ssr / (m - 2) / sxx)
    return SlopeFit(slope, intercept, stderr, m, sizes)


@dataclass(frozen=True)
class LearningCurve:
    """One model on one data set: its points by size and the fitted slope."""

    model: str
    dataset: str
    level_of_theory: str
    metric: str
    points: list[CurvePoint] = field(default_factory=list)
    fit: SlopeFit | None = None
    #: The test error of predicting zero forces (mean |F| component of the test set, meV/Å):
    #: a curve at this line has learned nothing. ``None`` for runs recorded without it.
    zero_baseline: float | None = None

    @property
    def label(self) -> str:
        return f"{self.model} on {self.dataset}"

    @property
    def n_runs(self) -> int:
        return sum(p.count for p in self.points)


def _metric(run: Run, metric: str) -> float | None:
    value = (run.test_metrics or {}).get(metric)
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def learning_curves(runs: Iterable[Run], metric: str = "force_mae_mev_per_a") -> list[LearningCurve]:
    """Curves of the finished training runs among ``runs``, one per (model, data set), in the order
    the models first appear. Runs without the metric are left out."""
    groups: dict[tuple[str, str], dict[int, list[tuple[float, int]]]] = {}
    levels: dict[tuple[str, str], str] = {}
    baselines: dict[tuple[str, str], list[float]] = {}
    for run in sorted(runs, key=lambda r: r.id):
        if run.kind not in TRAINING_KINDS or run.status != "finished":
            continue
        value = _metric(run, metric)
        n_train = run.config.get("n_train")
        if value is None or not isinstance(n_train, int):
            continue
        dataset = str(run.config.get("data") or (run.dataset or {}).get("name") or "?")
        key = (str(run.model), dataset)
        groups.setdefault(key, {}).setdefault(n_train, []).append((value, run.id))
        levels.setdefault(key, str((run.dataset or {}).get("level_of_theory") or ""))
        zero = _metric(run, "force_mae_zero_mev_per_a") if metric.startswith("force") else None
        if zero is not None:
            baselines.setdefault(key, []).append(zero)
    curves = []
    for (model, dataset), by_size in groups.items():
        points = [CurvePoint(n, tuple(v for v, _ in items), tuple(i for _, i in items))
                  for n, items in sorted(by_size.items())]
        ns = [p.n_train for p in points for _ in p.values]
        ys = [v for p in points for v in p.values]
        zeros = baselines.get((model, dataset))
        curves.append(LearningCurve(model, dataset, levels[(model, dataset)], metric, points, fit_loglog(ns, ys),
                                    float(np.mean(zeros)) if zeros else None))
    return curves


def slope_rows(curves: Sequence[LearningCurve]) -> list[dict]:
    """One row per curve for a table: model, data set, sizes, runs, slope and its standard error."""
    rows = []
    for c in curves:
        rows.append({
            "model": c.model,
            "data set": c.dataset,
            "level of theory": c.level_of_theory,
            "sizes": ", ".join(str(p.n_train) for p in c.points),
            "runs": c.n_runs,
            "slope": None if c.fit is None else round(c.fit.slope, 3),
            "± (std. error)": None if c.fit is None or c.fit.stderr is None else round(c.fit.stderr, 3),
        })
    return rows
