"""Plotly figures of the training lab and the runs page: one run's error curves while it trains,
several runs' validation curves overlaid, and the log-log learning curves of a sweep.

Errors are energy MAE per molecule in meV and force MAE per Cartesian component in meV/Å, on log
axes (they fall over orders of magnitude).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from equiv.runs import EpochRecord
from equiv.views.learning_curves import LearningCurve

__all__ = ["MODEL_COLORS", "curves_figure", "overlay_figure", "learning_curve_figure", "model_color", "log_axis"]

#: One colour per lab model, the same in every figure.
MODEL_COLORS = {"mlp": "#e03131", "gvp": "#2f9e44", "nequip-l0": "#f08c00", "nequip-l1": "#1971c2",
                "nequip-l2": "#6741d9", "nequip-l3": "#0c8599", "nequip": "#6741d9"}
_CYCLE = ["#1971c2", "#e03131", "#2f9e44", "#f08c00", "#6741d9", "#0c8599", "#c2255c", "#495057"]


def model_color(model: str, i: int = 0) -> str:
    return MODEL_COLORS.get(model, _CYCLE[i % len(_CYCLE)])


def _column(epochs: Sequence[EpochRecord], name: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for e in epochs:
        value = getattr(e, name)
        if value is not None and value > 0:
            xs.append(e.epoch)
            ys.append(value)
    return xs, ys


def _two_panels(title: str | None) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("energy MAE (meV, per molecule)",
                                                        "force MAE (meV/Å, per component)"),
                        horizontal_spacing=0.1)
    for col in (1, 2):
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(title=title, height=360, margin={"l": 50, "r": 20, "t": 60 if title else 40, "b": 40},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def log_axis(values: Sequence[float]) -> dict:
    """A log axis with its ticks written out: at 1, 2 and 5 × 10ⁿ over more than a decade, at every
    digit × 10ⁿ within one (plotly's default labels minor ticks with bare digits, "100, 2, 3, 5",
    which reads as nonsense next to a power of ten)."""
    positive = [float(v) for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not positive:
        return {"type": "log"}
    lo, hi = min(positive), max(positive)
    digits = (1, 2, 5) if hi / lo > 10 else (1, 2, 3, 4, 5, 6, 7, 8, 9)
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
             for m in digits]
    ticks = [t for t in ticks if lo / 1.3 <= t <= hi * 1.3]
    if len(ticks) < 2:
        return {"type": "log"}
    return {"type": "log", "tickvals": ticks, "ticktext": [f"{t:.10g}" for t in ticks]}


def _log_panels(fig: go.Figure) -> go.Figure:
    for col, axis in ((1, "x"), (2, "x2")):
        values = [y for t in fig.data if t.xaxis == axis for y in (t.y or ())]
        fig.update_yaxes(**log_axis(values), row=1, col=col)
    return fig


def curves_figure(epochs: Sequence[EpochRecord], title: str | None = None) -> go.Figure:
    """Train (dashed; the batches as trained on) and validation (solid; EMA weights) errors of one
    run against the epoch."""
    fig = _two_panels(title)
    for col, quantity in ((1, "energy_mae_mev"), (2, "force_mae_mev_per_a")):
        for part, dash, color in (("train", "dash", "#868e96"), ("val", "solid", "#1971c2")):
            xs, ys = _column(epochs, f"{part}_{quantity}")
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="train" if part == "train" else "validation",
                                     line={"color": color, "dash": dash}, marker={"size": 4},
                                     legendgroup=part, showlegend=col == 1), row=1, col=col)
    return _log_panels(fig)


def overlay_figure(series: Sequence[tuple[str, str, Sequence[EpochRecord]]], title: str | None = None) -> go.Figure:
    """Validation errors of several runs: ``series`` holds (label, model, epochs) per run."""
    fig = _two_panels(title)
    for i, (label, model, epochs) in enumerate(series):
        color = _CYCLE[i % len(_CYCLE)] if len(series) > 1 else model_color(model)
        for col, quantity in ((1, "val_energy_mae_mev"), (2, "val_force_mae_mev_per_a")):
            xs, ys = _column(epochs, quantity)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label, line={"color": color},
                                     marker={"size": 4}, legendgroup=label, showlegend=col == 1), row=1, col=col)
    return _log_panels(fig)


def learning_curve_figure(curves: Sequence[LearningCurve], title: str | None = None) -> go.Figure:
    """Test force MAE against training-set size on log-log axes: every run as a faint dot (hollow
    when it is within 10 % of the zero-force error and so left out of the fits), the mean over seeds
    with bars from the lowest to the highest seed, and the fitted power law. The legend gives the
    slope as the mean ± sd of the per-seed slopes, Δslope against the reference model, and the share
    of converged runs (see :mod:`equiv.views.learning_curves`). With one data set, a grey dotted line
    marks the error of predicting zero forces on its test set: a curve on that line has learned
    nothing."""
    fig = go.Figure()
    for i, curve in enumerate(curves):
        color = model_color(curve.model, i)
        name = curve.model if len({c.dataset for c in curves}) == 1 else curve.label
        fit = curve.fit
        if curve.slopes is not None:
            legend = f"{name}: slope {curve.slopes.text()}"
            if curve.delta is not None:
                legend += f", Δ vs {curve.reference} {curve.delta.mean:+.2f}"
        elif fit is not None:
            legend = f"{name}: slope {fit.text()}"
        elif any(any(p.excluded) for p in curve.points):
            left_out = sum(sum(p.excluded) for p in curve.points)
            legend = f"{name}: no slope ({left_out} run{'s' if left_out != 1 else ''} at the zero-force error left out)"
        else:
            legend = f"{name} (one size: no slope yet)"
        if curve.converged is not None and curve.converged < 1:
            legend += f", {curve.converged:.0%} converged"
        for hollow in (False, True):
            xs_run = [p.n_train for p in curve.points for v, out in zip(p.values, p.excluded or (False,) * p.count) if out == hollow]
            ys_run = [v for p in curve.points for v, out in zip(p.values, p.excluded or (False,) * p.count) if out == hollow]
            if not xs_run:
                continue
            fig.add_trace(go.Scatter(
                x=xs_run, y=ys_run, mode="markers", name=f"{name}, " + ("left out (at zero forces)" if hollow else "each run"),
                legendgroup=name, showlegend=False,
                marker={"color": color, "size": 7 if hollow else 6, "opacity": 0.8 if hollow else 0.35,
                        "symbol": "circle-open" if hollow else "circle"},
                hovertemplate="n = %{x}: %{y:.1f} meV/Å" + (" (left out of the fit)" if hollow else "")
                              + "<extra>" + name + "</extra>"))
        ns = np.array([p.n_train for p in curve.points], dtype=float)
        means = np.array([p.mean for p in curve.points])
        fig.add_trace(go.Scatter(
            x=ns, y=means, mode="markers" if fit is not None else "lines+markers", name=legend, legendgroup=name,
            marker={"color": color, "size": 10},
            error_y={"type": "data", "symmetric": False, "array": [p.high - p.mean for p in curve.points],
                     "arrayminus": [p.mean - p.low for p in curve.points], "color": color, "thickness": 1.5},
            customdata=[[p.count] for p in curve.points],
            hovertemplate="n = %{x}: mean %{y:.1f} meV/Å over %{customdata[0]} seed(s)<extra>" + name + "</extra>"))
        if fit is not None:
            grid = np.geomspace(ns.min(), ns.max(), 20)
            fig.add_trace(go.Scatter(x=grid, y=fit.predict(grid), mode="lines", name=f"{name} fit", legendgroup=name,
                                     showlegend=False, line={"color": color, "dash": "dash", "width": 2},
                                     hoverinfo="skip"))
    xs = [x for c in curves for p in c.points for x in (p.n_train,)]
    ys = [v for c in curves for p in c.points for v in p.values]
    zeros = [c.zero_baseline for c in curves if c.zero_baseline is not None]
    if zeros and xs and len({c.dataset for c in curves}) == 1:
        zero = float(np.mean(zeros))
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[zero, zero], mode="lines",
                                 name=f"zero forces: {zero:.0f} meV/Å (learned nothing)",
                                 line={"color": "#9aa0a6", "dash": "dot", "width": 1.5}, hoverinfo="skip"))
        ys.append(zero)
    sizes = sorted({int(x) for x in xs})  # ticks at the sizes trained on (25 and 400 are not 1-2-5 ticks)
    x_axis = {"type": "log", "tickvals": sizes, "ticktext": [str(n) for n in sizes]} if len(sizes) > 1 else log_axis(xs)
    fig.update_xaxes(**x_axis, title_text="training-set size (structures)")
    fig.update_yaxes(**log_axis(ys), title_text="test force MAE (meV/Å)")
    fig.update_layout(title=title, height=440, margin={"l": 60, "r": 20, "t": 50 if title else 20, "b": 50},
                      legend={"orientation": "v"})
    return fig
