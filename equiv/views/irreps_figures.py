"""Plotly figures of the irreps lab: annotated matrix heatmaps, Clebsch–Gordan slices and
spherical-harmonic surfaces.

Figures carry no LaTeX (plotly would fetch MathJax from the network) and every colour scale is
defined here, red for positive, blue for negative, white at zero.

Example:
    >>> import torch
    >>> fig = matrix_heatmap(torch.eye(3), ["x", "y", "z"], ["x", "y", "z"], title="I")
    >>> fig.data[0].type
    'heatmap'
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from equiv.formatting import format_significant
from equiv.o3 import component_labels, sphere_grid, spherical_harmonics

__all__ = [
    "DIVERGING",
    "cg_heatmaps",
    "coefficient_bars",
    "harmonics_surfaces",
    "matrix_heatmap",
    "short_labels",
    "surfaces_row",
]

#: Blue (negative) – white (zero) – red (positive).
DIVERGING = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#f4a582"], [1.0, "#b2182b"]]
#: One colour per order l (bars and labels).
L_COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#bab0ac", "#eeca3b"]
_FONT = dict(size=13)


def short_labels(l: int) -> list[str]:
    """Tick labels for the components of order l: x, y, z for l = 1, else m = −l … l."""
    if l == 1:
        return component_labels(1)
    return [str(m).replace("-", "−") for m in range(-l, l + 1)]


def _as_array(M: torch.Tensor | np.ndarray) -> np.ndarray:
    return M.detach().cpu().numpy() if isinstance(M, torch.Tensor) else np.asarray(M)


def _zmax(values: np.ndarray, zmax: float | None) -> float:
    if zmax is None:
        zmax = float(np.abs(values).max()) if values.size else 0.0
    return zmax if zmax > 0 else 1.0


def matrix_heatmap(
    M: torch.Tensor | np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    title: str | None = None,
    zmax: float | None = None,
    annotate: bool = True,
    blocks: Sequence[int] | None = None,
    height: int | None = None,
) -> go.Figure:
    """A matrix ``[r, c]`` as a heatmap in matrix orientation (row 0 on top), values written in.

    Args:
        rows, cols: tick labels.
        zmax: colour range ±zmax (default: the largest |entry|), to compare several matrices.
        blocks: sizes of diagonal blocks to outline (e.g. ``[1, 3, 5]`` for D⁰ ⊕ D¹ ⊕ D²).
        height: pixels (default grows with the number of rows).
    """
    z = _as_array(M).astype(np.float64)  # [r, c]
    zm = _zmax(z, zmax)
    digits = 4 if len(cols) <= 3 else 3
    text = [[format_significant(v, digits) for v in row] for row in z] if annotate else None
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(cols),
            y=list(rows),
            text=text,
            texttemplate="%{text}" if annotate else None,
            textfont=dict(size=12 if len(cols) <= 5 else 10),
            colorscale=DIVERGING,
            zmin=-zm,
            zmax=zm,
            showscale=False,
            xgap=1,
            ygap=1,
            hovertemplate="row %{y}, column %{x}: %{z:.6g}<extra></extra>",
        )
    )
    for start, size in zip(np.cumsum([0, *(blocks or [])]), blocks or []):
        fig.add_shape(
            type="rect", x0=start - 0.5, x1=start + size - 0.5, y0=start - 0.5, y1=start + size - 0.5,
            line=dict(color="#333333", width=2), xref="x", yref="y",
        )
    n = len(rows)
    fig.update_layout(
        title=dict(text=title, x=0.5, xanchor="center", y=0.99, yref="container", yanchor="top", font=dict(size=14))
        if title
        else None,
        height=height or min(600, 90 + 50 * n),
        margin=dict(l=10, r=10, t=62 if title else 30, b=10),
        font=_FONT,
        plot_bgcolor="white",
    )
    fig.update_xaxes(type="category", side="top", showgrid=False, tickangle=0, constrain="domain")
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False, scaleanchor="x", constrain="domain")
    return fig


def cg_heatmaps(C: torch.Tensor, l1: int, l2: int, L: int, max_cols: int = 6) -> go.Figure:
    """The Clebsch–Gordan tensor ``C[m1, m2, M]`` ``[2l1+1, 2l2+1, 2L+1]``: one heatmap over
    (m1 rows, m2 columns) for each output component M, on one shared colour scale."""
    values = _as_array(C).astype(np.float64)
    n = 2 * L + 1
    cols = min(n, max_cols)
    nrows = math.ceil(n / cols)
    titles = [f"M = {lab}" for lab in short_labels(L)]
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=titles, horizontal_spacing=0.03, vertical_spacing=0.12 / nrows)
    zm = _zmax(values, None)
    annotate = values.shape[0] * values.shape[1] <= 25
    ylab, xlab = short_labels(l1), short_labels(l2)
    for k in range(n):
        r, c = divmod(k, cols)
        z = values[:, :, k]
        fig.add_trace(
            go.Heatmap(
                z=z, x=xlab, y=ylab, coloraxis="coloraxis", xgap=1, ygap=1,
                text=[[format_significant(v) for v in row] for row in z] if annotate else None,
                texttemplate="%{text}" if annotate else None,
                textfont=dict(size=10),
                hovertemplate=f"M = {titles[k][4:]}<br>m1 = %{{y}}, m2 = %{{x}}: %{{z:.6g}}<extra></extra>",
            ),
            row=r + 1, col=c + 1,
        )
    fig.update_xaxes(type="category", showgrid=False, tickfont=dict(size=10), constrain="domain")
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False, tickfont=dict(size=10), constrain="domain")
    for k in range(n):
        suffix = "" if k == 0 else str(k + 1)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
    fig.update_layout(
        coloraxis=dict(colorscale=DIVERGING, cmin=-zm, cmax=zm, colorbar=dict(thickness=12, len=0.8)),
        height=60 + nrows * (150 if cols >= 5 else 220),
        margin=dict(l=10, r=10, t=40, b=10),
        font=_FONT,
        plot_bgcolor="white",
    )
    return fig


def _triad(R: np.ndarray, origin: np.ndarray, length: float) -> list[go.Scatter3d]:
    """The axes R x̂, R ŷ, R ẑ drawn from ``origin``, labelled x, y, z."""
    traces = []
    for i, (name, colour) in enumerate(zip("xyz", ["#d62728", "#2ca02c", "#1f77b4"])):
        end = origin + length * R[:, i]
        traces.append(
            go.Scatter3d(
                x=[origin[0], end[0]], y=[origin[1], end[1]], z=[origin[2], end[2]],
                mode="lines+text", text=["", name], textposition="top center",
                line=dict(color=colour, width=5), textfont=dict(color=colour, size=13),
                hoverinfo="skip", showlegend=False,
            )
        )
    return traces


def surfaces_row(
    values: Sequence[np.ndarray],
    labels: Sequence[str],
    directions: np.ndarray,
    frames: Sequence[np.ndarray | None] | None = None,
    height: int = 340,
    legend_axes: bool = False,
    view_aspect: float = 4.0,
) -> go.Figure:
    """Spherical functions side by side in one 3D scene: radius |f(r̂)|, colour f(r̂).

    Args:
        values: one ``[n_theta, n_phi]`` array per function, sampled at ``directions``.
        labels: one caption per function (written under it).
        directions: unit vectors ``[n_theta, n_phi, 3]``.
        frames: optional 3×3 matrix per function whose columns are drawn through it as an axes
            triad (the identity for the original frame, R for a rotated one).
        legend_axes: draw one small x, y, z triad left of the row instead.
        view_aspect: expected width / height of the chart in pixels (sets the camera distance so
            the row fills the chart).
    """
    n = len(values)
    cmax = max(float(np.abs(v).max()) for v in values) or 1.0
    spacing = 2.4 * cmax
    fig = go.Figure()
    for k, (f, label) in enumerate(zip(values, labels)):
        offset = np.array([k * spacing, 0.0, 0.0])
        pts = np.abs(f)[..., None] * directions + offset  # [n_theta, n_phi, 3]
        fig.add_trace(
            go.Surface(
                x=pts[..., 0].astype(np.float32), y=pts[..., 1].astype(np.float32), z=pts[..., 2].astype(np.float32),
                surfacecolor=f.astype(np.float32), colorscale=DIVERGING, cmin=-cmax, cmax=cmax,
                showscale=k == n - 1, colorbar=dict(thickness=12, len=0.7, title=dict(text="f")),
                name=label, hovertemplate=f"{label}<br>f = %{{surfacecolor:.3f}}<extra></extra>",
                lighting=dict(ambient=0.7, diffuse=0.5, specular=0.1),
            )
        )
        if frames is not None and frames[k] is not None:
            fig.add_traces(_triad(np.asarray(frames[k]), offset, 1.25 * cmax))
    x0 = -0.5 * spacing
    if legend_axes:
        x0 = -1.0 * spacing
        fig.add_traces(_triad(np.eye(3), np.array([-0.8 * spacing, -0.3 * cmax, -0.6 * cmax]), 0.6 * cmax))
    x1 = (n - 0.5) * spacing
    width = (x1 - x0) / spacing  # scene box in units of one lobe's cell
    distance = max(1.5, 1.65 * width / view_aspect)
    hidden = dict(visible=False, showbackground=False)
    fig.update_layout(
        scene=dict(
            xaxis={**hidden, "range": [x0, x1]},
            yaxis={**hidden, "range": [-spacing / 2, spacing / 2]},
            zaxis={**hidden, "range": [-spacing / 2, spacing / 2]},
            aspectmode="manual",
            aspectratio=dict(x=width, y=1, z=1),
            camera=dict(eye=dict(x=0.0, y=-0.93 * distance, z=0.37 * distance), center=dict(x=0, y=0, z=-0.05)),
            annotations=[
                dict(x=k * spacing, y=0, z=-0.45 * spacing, text=label, showarrow=False, font=dict(size=13))
                for k, label in enumerate(labels)
            ],
        ),
        height=height,
        margin=dict(l=0, r=0, t=0, b=0),
        font=_FONT,
    )
    return fig


def harmonics_surfaces(l: int, n_theta: int = 31, n_phi: int = 61) -> go.Figure:
    """The 2l + 1 real spherical harmonics ``Y_l,m`` (e3nn's order and integral normalisation)."""
    grid = sphere_grid(n_theta, n_phi)  # [n_theta, n_phi, 3]
    Y = spherical_harmonics(l, grid).numpy()  # [n_theta, n_phi, 2l+1]
    labels = [f"Y {l},{lab}" for lab in short_labels(l)]
    return surfaces_row([Y[..., i] for i in range(2 * l + 1)], labels, grid.numpy(), height=280,
                        legend_axes=True)


def coefficient_bars(orders: Sequence[int], labels: Sequence[str], values: Sequence[float], title: str) -> go.Figure:
    """Bars of coefficients over ``Y_l'm'``, coloured by order l' (to show which orders are used)."""
    fig = go.Figure()
    for l in sorted(set(orders)):
        idx = [i for i, k in enumerate(orders) if k == l]
        fig.add_trace(
            go.Bar(
                x=[f"{l}:{labels[i]}" for i in idx], y=[values[i] for i in idx], name=f"l' = {l}",
                marker_color=L_COLOURS[l % len(L_COLOURS)],
                hovertemplate="%{x}: %{y:.3g}<extra></extra>",
            )
        )
    vmax = max(1.0, max(abs(v) for v in values))
    fig.update_layout(
        title=dict(text=title, x=0.5, xanchor="center", font=dict(size=14)),
        height=300, margin=dict(l=10, r=10, t=40, b=10), font=_FONT, bargap=0.15,
        yaxis=dict(range=[-1.05 * vmax, 1.05 * vmax], zeroline=True, title="coefficient"),
        xaxis=dict(tickangle=-60, tickfont=dict(size=10)),
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
    )
    return fig
