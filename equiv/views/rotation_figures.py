"""Plotly figures of the rotation lab: equivariance error versus rotation angle, and NequIP's hidden
features drawn as functions on the sphere.

Glyph of a feature of order l with coefficients h (2l + 1 numbers in e3nn's real basis):
``f(r̂) = Σ_m h_m Y_lm(r̂)``, drawn as the surface ``|f(r̂)| r̂`` coloured by the sign and size of f.
Turning the molecule by R turns the coefficients by D^l(R) and so the glyph by R. The plotly
camera starts where the 3D viewers' camera starts (looking down −z, y up), so glyphs and molecule
are seen from the same side.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from equiv.o3 import sphere_grid, spherical_function
from equiv.views.rotation_settings import PANEL_TITLES
from equiv.views.rotation_view import TurnResult, reference_curves
from equiv.views.scene3d import EQUIVARIANT_TOLERANCE

__all__ = ["PANEL_COLORS", "ERROR_FLOOR", "error_curves", "error_figure", "glyph_surface", "glyph_figure", "glyph_irreps",
           "reference_figure"]

#: One colour per model, the same in every figure of the page.
PANEL_COLORS = {"gvp": "#2f9e44", "nequip": "#1971c2", "nequip-so3": "#9c36b5", "mlp": "#e03131", "mlp-aug": "#f08c00",
                "xtb": "#495057"}
#: Errors of exactly zero (a turn by 180° about a coordinate axis can be exact in floating point)
#: are drawn here on the log axis; every other value is drawn as it is.
ERROR_FLOOR = 1e-17
#: The viewers' initial camera: looking down −z with y up.
_CAMERA = {"eye": {"x": 0.0, "y": 0.0, "z": 2.0}, "up": {"x": 0.0, "y": 1.0, "z": 0.0}}


def error_curves(result: TurnResult, kind: str = "forces") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Panel id → (angles in degrees, relative error of ``kind``) over the turn, without the
    identity at 0° (where every model is exact and the log scale has no place for it)."""
    curves = {}
    keep = result.angles > 0
    for pid, comps in result.comparisons.items():
        errors = np.array([c.error(kind) if not math.isnan(c.error(kind)) else c.force_error for c in comps])
        curves[pid] = (result.angles[keep], np.maximum(errors[keep], ERROR_FLOOR))
    return curves


def error_figure(result: TurnResult, axis_text: str, kind: str = "forces", current_angle: float | None = None) -> go.Figure:
    """Log-scale relative error ‖f(g·x) − g·f(x)‖/‖f(x)‖ against the angle about the axis.

    Built from plain dicts in one go, without a named template (plotly's add_hline/add_vline,
    make_subplots and templates cost tens of milliseconds per call, and the page rebuilds its
    figures on every rotation change; Streamlit's chart theme styles them anyway).
    """
    data = []
    for pid, (angles, errors) in error_curves(result, kind).items():
        title = PANEL_TITLES.get(pid, pid)
        data.append({
            "type": "scatter", "x": angles, "y": errors, "mode": "lines+markers", "name": title,
            "line": {"color": PANEL_COLORS.get(pid, "#000"), "width": 2}, "marker": {"size": 5},
            "hovertemplate": "%{x:.0f}°: %{y:.2e}<extra>" + title + "</extra>",
        })
    shapes = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": EQUIVARIANT_TOLERANCE,
               "y1": EQUIVARIANT_TOLERANCE, "line": {"dash": "dot", "color": "#868e96"}}]
    if current_angle is not None:
        shapes.append({"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": current_angle % 360,
                       "x1": current_angle % 360, "line": {"dash": "dash", "color": "#adb5bd"}})
    what = "force" if kind == "forces" else "atom-vector"
    layout = {
        "title": {"text": f"Equivariance error over a turn about {axis_text}", "x": 0.0},
        "xaxis": {"title": {"text": "rotation angle / degrees"}, "range": [0, 360], "dtick": 45},
        "yaxis": {"title": {"text": f"relative {what} error"}, "type": "log", "exponentformat": "power"},
        "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "height": 380,
        "shapes": shapes,
        "annotations": [{"text": f"threshold {EQUIVARIANT_TOLERANCE:.0e}", "xref": "paper", "x": 1, "xanchor": "right", "yref": "y",
                         "y": math.log10(EQUIVARIANT_TOLERANCE), "yanchor": "top", "showarrow": False,
                         "font": {"color": "#868e96", "size": 11}}],
    }
    return go.Figure(data=data, layout=layout)


def glyph_irreps(features: dict[str, np.ndarray], max_l: int = 2) -> list[str]:
    """The irreps drawn as glyphs: for each l up to ``max_l`` the one with the parity of the
    spherical harmonics (0e, 1o, 2e), else the other parity (the SO(3)-only model has 1e)."""
    chosen = []
    for l in range(max_l + 1):
        for p in ("e", "o") if l % 2 == 0 else ("o", "e"):
            name = f"{l}{p}"
            if name in features:
                chosen.append(name)
                break
    return chosen


def glyph_surface(coefficients: np.ndarray, n_theta: int = 30, n_phi: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Surface points ``[n_theta, n_phi, 3]`` (``|f(r̂)| r̂``, normalised so the largest is 1) and the
    values ``f(r̂)`` ``[n_theta, n_phi]`` (same normalisation) of ``Σ_m h_m Y_lm``."""
    h = torch.as_tensor(np.asarray(coefficients, dtype=np.float64))
    l = (h.numel() - 1) // 2
    r = sphere_grid(n_theta, n_phi)  # [n_theta, n_phi, 3]
    f = spherical_function(l, h, r).numpy()  # [n_theta, n_phi]
    top = float(np.abs(f).max())
    f = f / top if top > 0 else f
    return np.abs(f)[..., None] * r.numpy(), f


def glyph_figure(features: dict[str, np.ndarray], atom: int, channel: int, atom_label: str) -> go.Figure:
    """One glyph per order l for ``features[irrep][atom, channel]`` (features ``[n_atoms, mul, 2l+1]``)."""
    names = glyph_irreps(features)
    n = len(names)
    data, layout = [], {}
    annotations = []
    for i, name in enumerate(names):
        pts, f = glyph_surface(features[name][atom, channel])
        scene = "scene" + (str(i + 1) if i else "")
        data.append({
            "type": "surface", "x": pts[..., 0], "y": pts[..., 1], "z": pts[..., 2], "surfacecolor": f,
            "cmin": -1, "cmax": 1, "colorscale": "RdBu_r", "showscale": i == n - 1, "scene": scene,
            "colorbar": {"title": {"text": "f / max|f|"}, "len": 0.8, "thickness": 12},
            "hovertemplate": "f = %{surfacecolor:.2f}<extra>" + name + "</extra>",
        })
        axis = {"range": [-1.1, 1.1], "showticklabels": False}
        layout[scene] = {
            "domain": {"x": [i / n, (i + 1) / n - 0.01], "y": [0, 0.9]},
            "xaxis": {**axis, "title": {"text": "x"}}, "yaxis": {**axis, "title": {"text": "y"}},
            "zaxis": {**axis, "title": {"text": "z"}}, "aspectmode": "cube", "camera": _CAMERA,
        }
        annotations.append({"text": _glyph_title(name, features[name][atom, channel]), "xref": "paper", "yref": "paper",
                            "x": (i + 0.5) / n, "y": 0.97, "xanchor": "center", "showarrow": False, "font": {"size": 13}})
    layout.update({
        "title": {"text": f"NequIP hidden features of atom {atom_label}, channel {channel}", "x": 0.0},
        "annotations": annotations, "height": 360, "margin": {"l": 0, "r": 0, "t": 50, "b": 0},
        "uirevision": "glyphs",
    })
    return go.Figure(data=data, layout=layout)


def _glyph_title(name: str, h: Sequence[float]) -> str:
    return f"{name}: ‖h‖ = {float(np.linalg.norm(h)):.3g}"


def reference_figure(result: TurnResult, reference_forces: np.ndarray, axis_text: str,
                     current_angle: float | None = None) -> go.Figure:
    """Force MAE (meV/Å, log scale) against GFN2-xTB over a turn about the axis, per model, with
    the zero-force line (:func:`~equiv.views.rotation_view.reference_curves`). An equivariant
    model's curve is level; the aligned MLP's rises from its error at 0° (the orientation it was
    trained in) past the zero-force line (a coordinate MLP extrapolates: the shipped ethanol one
    errs by about 3,000 eV/Å at 90°, hence the log scale); the augmented MLP's stays at one, high,
    level."""
    curves, zero = reference_curves(result, reference_forces)
    angles = np.append(result.angles, 360.0)  # close the turn
    data = []
    for pid, mae in curves.items():
        title = PANEL_TITLES.get(pid, pid)
        data.append({
            "type": "scatter", "x": angles, "y": np.append(mae, mae[0]), "mode": "lines+markers", "name": title,
            "line": {"color": PANEL_COLORS.get(pid, "#000"), "width": 2}, "marker": {"size": 5},
            "hovertemplate": "%{x:.0f}°: %{y:.0f} meV/Å<extra>" + title + "</extra>",
        })
    data.append({"type": "scatter", "x": angles, "y": np.append(zero, zero[0]), "mode": "lines",
                 "name": "zero forces", "line": {"color": "#868e96", "dash": "dot", "width": 2},
                 "hovertemplate": "%{x:.0f}°: %{y:.0f} meV/Å<extra>predicting zero forces</extra>"})
    shapes = []
    if current_angle is not None:
        shapes.append({"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": current_angle % 360,
                       "x1": current_angle % 360, "line": {"dash": "dash", "color": "#adb5bd"}})
    layout = {
        "title": {"text": f"Force error against GFN2-xTB over a turn about {axis_text}", "x": 0.0},
        "xaxis": {"title": {"text": "rotation angle / degrees"}, "range": [0, 360], "dtick": 45},
        "yaxis": {"title": {"text": "force MAE / meV/Å"}, "type": "log", "exponentformat": "power"},
        "legend": {"orientation": "h", "y": -0.25},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "height": 380,
        "shapes": shapes,
    }
    return go.Figure(data=data, layout=layout)
