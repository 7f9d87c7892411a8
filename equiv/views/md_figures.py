"""Plotly figures of the MD page: energies against time, h(r) against the xTB reference, and the
structure explorer's map of frames; and the stability verdict in words.

Energies are shown relative to the first step's total energy (eV), so that the drift of the total
is visible next to the exchange between kinetic and potential.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["energy_figure", "hr_figure", "frame_map_figure", "verdict_text", "md_status_line", "ENERGY_COLORS"]

ENERGY_COLORS = {"kinetic": "#e03131", "potential": "#1971c2", "total": "#212529", "temperature": "#f08c00"}


def _clean(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def energy_figure(time_fs: Sequence[float], potential_ev: Sequence[float | None], kinetic_ev: Sequence[float | None],
                  temperature_k: Sequence[float | None] | None = None, unstable_at_fs: float | None = None,
                  max_points: int = 4000) -> go.Figure:
    """Kinetic, potential and total energy (eV, relative to the start's total) against time (ps),
    the temperature (K) beneath, and a red line where the run became unstable."""
    t = _clean(time_fs) / 1000.0
    pot, kin = _clean(potential_ev), _clean(kinetic_ev)
    every = max(1, len(t) // max_points)
    t, pot, kin = t[::every], pot[::every], kin[::every]
    ref = pot[0] + kin[0] if len(t) else 0.0
    rows = 2 if temperature_k is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.65, 0.35] if rows == 2 else None)
    for name, y in (("kinetic", kin), ("potential", pot - ref), ("total", pot + kin - ref)):
        fig.add_trace(go.Scatter(x=t, y=y, name=f"{name} energy", mode="lines",
                                 line={"color": ENERGY_COLORS[name], "width": 2 if name == "total" else 1.3}),
                      row=1, col=1)
    fig.update_yaxes(title_text="E − E_total(0) (eV)", row=1, col=1)
    if temperature_k is not None:
        temp = _clean(temperature_k)[::every]
        fig.add_trace(go.Scatter(x=t, y=temp, name="temperature", mode="lines",
                                 line={"color": ENERGY_COLORS["temperature"], "width": 1.2}), row=2, col=1)
        fig.update_yaxes(title_text="T (K)", row=2, col=1)
    if unstable_at_fs is not None:
        fig.add_vline(x=unstable_at_fs / 1000.0, line={"color": "#c92a2a", "dash": "dash"})
    fig.update_xaxes(title_text="time (ps)", row=rows, col=1)
    fig.update_layout(height=460 if rows == 2 else 340, margin={"l": 60, "r": 20, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": 1.08})
    return fig


def hr_figure(r: Sequence[float], hr: Sequence[float | None], hr_reference: Sequence[float | None] | None,
              hr_error: float | None = None, label: str = "model") -> go.Figure:
    """h(r) of the model's MD and of the GFN2-xTB reference MD (1/Å against Å)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(r), y=_clean(hr), name=f"{label} MD", mode="lines", line={"color": "#6741d9"}))
    if hr_reference is not None:
        fig.add_trace(go.Scatter(x=list(r), y=_clean(hr_reference), name="GFN2-xTB MD (reference)", mode="lines",
                                 line={"color": "#495057", "dash": "dot"}))
    filled = [float(x) for x, a, b in zip(r, _clean(hr), _clean(hr_reference) if hr_reference is not None else _clean(hr))
              if (a > 0) or (b > 0)]
    if filled:
        fig.update_xaxes(range=[0.0, max(filled) + 0.5])
    title = "h(r): distribution of all interatomic distances"
    if hr_error is not None:
        title += f" · ∫|h − h_xTB| dr = {hr_error:.3f}"
    fig.update_layout(title=title, xaxis_title="r (Å)", yaxis_title="h(r) (1/Å)", height=340,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig


def frame_map_figure(x: Sequence[float], y: Sequence[float], color: Sequence[float], *, x_label: str, y_label: str,
                     color_label: str, selected: int | None = None) -> go.Figure:
    """One point per frame (``customdata`` = frame index), coloured by a property; the selected
    frame ringed. Points are selectable (``st.plotly_chart(on_select=...)``)."""
    idx = np.arange(len(x))
    fig = go.Figure(go.Scatter(
        x=list(x), y=list(y), mode="markers", customdata=idx,
        marker={"color": _clean(color), "colorscale": "Viridis", "size": 8, "showscale": True,
                "colorbar": {"title": {"text": color_label}}},
        hovertemplate=f"frame %{{customdata}}<br>{x_label} %{{x:.4g}}<br>{y_label} %{{y:.4g}}<extra></extra>",
        name="frames"))
    if selected is not None and 0 <= selected < len(x):
        fig.add_trace(go.Scatter(x=[x[selected]], y=[y[selected]], mode="markers", hoverinfo="skip",
                                 marker={"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": "#e03131", "width": 2.5}},
                                 name=f"frame {selected}"))
    fig.update_layout(xaxis_title=x_label, yaxis_title=y_label, height=420, clickmode="event+select",
                      dragmode="select", margin={"l": 60, "r": 20, "t": 30, "b": 40}, showlegend=False)
    return fig


def verdict_text(summary: dict) -> str:
    """The stability verdict of an MD summary in one or two sentences."""
    steps, fs = summary.get("steps", 0), summary.get("simulated_fs", 0.0)
    if summary.get("stable"):
        text = f"Stable: the molecule held together for all {steps:,} steps ({fs / 1000:.2f} ps)."
    else:
        text = (f"Unstable after {summary.get('unstable_at_fs', 0):g} fs (step {steps:,}): "
                f"{summary.get('unstable_reason') or 'the stability rule failed'}. The run stopped there.")
    drift = summary.get("energy_drift_mev_per_atom_per_ps")
    if drift is not None:
        text += f" Energy drift {drift:+.3f} meV/atom/ps (NVE)."
    text += f" Mean temperature {summary.get('temperature_mean_k', float('nan')):.0f} K."
    hr_error = summary.get("hr_error")
    if hr_error is not None:
        text += f" h(r) error against GFN2-xTB MD: {hr_error:.3f} (0 = identical, 2 = disjoint)."
    return text


def md_status_line(run, queue_ahead: int | None = None) -> str:
    """"MD run 3 · pretrained:ethanol:nequip · ethanol · nve 300 K · 2,000 steps · running"."""
    c = run.config
    where = f"{queue_ahead} ahead in the queue" if run.status == "queued" and queue_ahead is not None else run.status
    return (f"MD run {run.id} · {c.get('model')} · {run.molecule} · {c.get('ensemble')} {c.get('temperature_K', 0):g} K · "
            f"{int(c.get('steps', 0)):,} steps · {where}")
