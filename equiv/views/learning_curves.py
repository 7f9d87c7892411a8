"""Learning curves: test error against training-set size, with the spread over seeds, one fitted
slope per seed, and the difference of slopes between models.

For each model (and data set) the finished runs are grouped by training-set size; each size gets
the mean, sample standard deviation, minimum and maximum of the test force MAE over its seeds.

Slopes (``log10(MAE) = a + b · log10(n_train)``). Within one seed the training sets are nested and
share their validation and test sets, so the points of one seed are not independent draws; the
seeds are. So:

* one least-squares slope is fitted **per seed** (:func:`fit_loglog` through that seed's sizes);
* the model's slope is the mean over seeds ± their sample standard deviation, with a 95 % interval
  of that mean from Student's t over the seeds (``mean ± t₀.₉₇₅,k−1 · sd/√k`` for k seeds; none
  with one seed). Not a bootstrap: with 3 seeds a bootstrap has 10 distinct resamples and its
  percentile interval never leaves [min, max] of the seeds, far too narrow for k = 3;
* ``Δslope`` of each model against the reference (NequIP l = 0 when the sweep has it, else the
  first model) is paired by seed: the mean of ``b_model,s − b_ref,s`` over the seeds both have, with
  its own t interval. The NequIP paper's claim (Batzner et al. 2022, Fig. 4) is Δslope < 0
  for l ≥ 1: an interval wholly below zero supports it;
* a run within 10 % of the zero-force error (``|MAE − zero| ≤ 0.1 · zero``; :data:`NEAR_ZERO_FRACTION`)
  has learned nothing, its point says nothing about the power law: it is left out of the fits (and
  drawn hollow).

``fit`` (one line through every kept run) is what the plot draws; ``slope`` is the per-seed mean.

Example:
    >>> fit = fit_loglog([10, 100, 1000], [100.0, 31.6227766, 10.0])
    >>> round(fit.slope, 6), fit.stderr < 1e-6, fit.n_points
    (-0.5, True, 3)
    >>> s = summarize_slopes({0: -0.5, 1: -0.4, 2: -0.45})
    >>> round(s.mean, 3), round(s.sd, 3), s.n_seeds, s.ci95[0] <= s.mean <= s.ci95[1]
    (-0.45, 0.05, 3, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from equiv.runs import Run
from equiv.jobs.lifecycle import TRAINING_KINDS

__all__ = ["CurvePoint", "SlopeFit", "SlopeSummary", "LearningCurve", "CurveSample", "fit_loglog",
           "summarize_slopes", "curves_from_samples", "learning_curves", "slope_rows", "slope_table", "NEAR_ZERO_FRACTION",
           "REFERENCE_MODEL", "near_zero"]

#: A run within this fraction of the zero-force error has learned nothing: left out of the fits.
NEAR_ZERO_FRACTION = 0.10
#: The model Δslope is measured against when a sweep has it (else the first model).
REFERENCE_MODEL = "nequip-l0"


def near_zero(value: float, zero: float | None) -> bool:
    """Whether a test force MAE lies within :data:`NEAR_ZERO_FRACTION` of the zero-force error."""
    return zero is not None and zero > 0 and abs(value - zero) <= NEAR_ZERO_FRACTION * zero


class CurveSample(NamedTuple):
    """One run's point: training-set size, test error, seed, run id (``None`` outside the store),
    the zero-force error of its test set and whether it converged (``None``: not recorded)."""

    n_train: int
    value: float
    seed: int
    run_id: int | None = None
    zero: float | None = None
    converged: bool | None = None


@dataclass(frozen=True)
class CurvePoint:
    """One training-set size: the test errors of its runs (one per seed) and their summary."""

    n_train: int
    values: tuple[float, ...]
    run_ids: tuple[int | None, ...]
    #: per value: left out of the fits (within 10 % of the zero-force error); drawn hollow.
    excluded: tuple[bool, ...] = ()

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
class SlopeSummary:
    """Slopes (or slope differences) per seed, their mean ± sample sd, and the 95 % t interval of the mean."""

    per_seed: dict[int, float]
    mean: float
    sd: float | None
    ci95: tuple[float, float] | None

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)

    def text(self) -> str:
        out = f"{self.mean:+.2f}"
        if self.sd is not None:
            out += f" ± {self.sd:.2f}"
        if self.ci95 is not None:
            out += f" [{self.ci95[0]:+.2f}, {self.ci95[1]:+.2f}]"
        return out + f" ({self.n_seeds} seed{'s' if self.n_seeds != 1 else ''})"


def summarize_slopes(per_seed: dict[int, float]) -> SlopeSummary | None:
    """Mean, sample sd and the 95 % Student-t interval of the mean of per-seed values (``None`` if
    empty; no sd or interval with one seed)."""
    from scipy.stats import t as student_t

    if not per_seed:
        return None
    values = np.array([per_seed[k] for k in sorted(per_seed)], dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return SlopeSummary(dict(per_seed), mean, None, None)
    sd = float(values.std(ddof=1))
    half = float(student_t.ppf(0.975, values.size - 1)) * sd / math.sqrt(values.size)
    return SlopeSummary(dict(per_seed), mean, sd, (mean - half, mean + half))


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
    #: per-seed slopes, their mean ± sd and 95 % interval (``None``: no seed has two sizes).
    slopes: SlopeSummary | None = None
    #: this model's slope minus the reference model's, paired by seed (``None`` for the reference).
    delta: SlopeSummary | None = None
    reference: str | None = None
    #: fraction of its runs that converged (``None``: none recorded it).
    converged: float | None = None

    @property
    def slope(self) -> float | None:
        return None if self.slopes is None else self.slopes.mean

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


def _seed_slopes(samples: Sequence[CurveSample]) -> dict[int, float]:
    by_seed: dict[int, list[CurveSample]] = {}
    for x in samples:
        if not near_zero(x.value, x.zero):
            by_seed.setdefault(x.seed, []).append(x)
    out = {}
    for seed, points in sorted(by_seed.items()):
        fit = fit_loglog([p.n_train for p in points], [p.value for p in points])
        if fit is not None:
            out[seed] = fit.slope
    return out


def curves_from_samples(groups: dict[tuple[str, str], list[CurveSample]], levels: dict[tuple[str, str], str] | None = None,
                        metric: str = "force_mae_mev_per_a") -> list[LearningCurve]:
    """Curves from ``{(model, data set): samples}`` (in that order), with per-seed slopes and
    Δslopes against :data:`REFERENCE_MODEL` (or the first model) on the same data set."""
    levels = levels or {}
    bare = []
    for (model, dataset), samples in groups.items():
        by_size: dict[int, list[CurveSample]] = {}
        for x in samples:
            by_size.setdefault(x.n_train, []).append(x)
        points = [CurvePoint(n, tuple(x.value for x in xs), tuple(x.run_id for x in xs),
                             tuple(near_zero(x.value, x.zero) for x in xs)) for n, xs in sorted(by_size.items())]
        kept = [x for x in samples if not near_zero(x.value, x.zero)]
        fit = fit_loglog([x.n_train for x in kept], [x.value for x in kept]) if kept else None
        zeros = [x.zero for x in samples if x.zero is not None]
        flags = [x.converged for x in samples if x.converged is not None]
        bare.append((model, dataset, points, fit, float(np.mean(zeros)) if zeros else None,
                     _seed_slopes(samples), float(np.mean(flags)) if flags else None))
    curves = []
    for model, dataset, points, fit, zero, per_seed, converged in bare:
        same_data = [b for b in bare if b[1] == dataset]
        ref = next((b for b in same_data if b[0] == REFERENCE_MODEL), same_data[0])
        delta = None
        if ref[0] != model:
            paired = {s: per_seed[s] - ref[5][s] for s in per_seed if s in ref[5]}
            delta = summarize_slopes(paired)
        curves.append(LearningCurve(model, dataset, levels.get((model, dataset), ""), metric, points, fit, zero,
                                    summarize_slopes(per_seed), delta, ref[0], converged))
    return curves


def learning_curves(runs: Iterable[Run], metric: str = "force_mae_mev_per_a") -> list[LearningCurve]:
    """Curves of the finished training runs among ``runs``, one per (model, data set), in the order
    the models first appear. Runs without the metric are left out."""
    groups: dict[tuple[str, str], list[CurveSample]] = {}
    levels: dict[tuple[str, str], str] = {}
    for run in sorted(runs, key=lambda r: r.id):
        if run.kind not in TRAINING_KINDS or run.status != "finished":
            continue
        value = _metric(run, metric)
        n_train = run.config.get("n_train")
        if value is None or not isinstance(n_train, int):
            continue
        dataset = str(run.config.get("data") or (run.dataset or {}).get("name") or "?")
        key = (str(run.model), dataset)
        zero = _metric(run, "force_mae_zero_mev_per_a") if metric.startswith("force") else None
        converged = (run.test_metrics or {}).get("converged")
        seed = run.config.get("seed")
        groups.setdefault(key, []).append(CurveSample(n_train, value, int(seed) if isinstance(seed, int) else 0, run.id,
                                                      zero, converged if isinstance(converged, bool) else None))
        levels.setdefault(key, str((run.dataset or {}).get("level_of_theory") or ""))
    return curves_from_samples(groups, levels, metric)


def slope_table(curves: Sequence[LearningCurve]) -> "pandas.io.formats.style.Styler":
    """:func:`slope_rows` for ``st.dataframe``: numbers to 3 decimals, missing values as "–" (not
    "None": a model at the zero-force level has no slope)."""
    import pandas as pd

    return pd.DataFrame(slope_rows(curves)).style.format(na_rep="–", precision=3)


def _interval(ci: tuple[float, float] | None) -> str | None:
    return None if ci is None else f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def slope_rows(curves: Sequence[LearningCurve]) -> list[dict]:
    """One row per curve for a table: model, data set, sizes, runs, the per-seed slope mean ± sd and
    its 95 % interval, Δslope against the reference with its interval, and the converged share."""
    rows = []
    for c in curves:
        s, d = c.slopes, c.delta
        rows.append({
            "model": c.model,
            "data set": c.dataset,
            "level of theory": c.level_of_theory,
            "sizes": ", ".join(str(p.n_train) for p in c.points),
            "runs": c.n_runs,
            "left out (at zero forces)": sum(sum(p.excluded) for p in c.points),
            "slope (mean over seeds)": None if s is None else round(s.mean, 3),
            "± sd": None if s is None or s.sd is None else round(s.sd, 3),
            "95% interval": None if s is None else _interval(s.ci95),
            f"Δslope vs {c.reference}": None if d is None else round(d.mean, 3),
            "Δ 95% interval": None if d is None else _interval(d.ci95),
            "converged": None if c.converged is None else f"{c.converged:.0%}",
        })
    return rows
