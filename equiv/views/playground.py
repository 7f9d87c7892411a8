"""What the playground page shows: the verdict as text and tables, f(g·x) against D(g) f(x), figures.

No Streamlit: the page lays these out. The math is in :mod:`equiv.playground`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from equiv.playground import BUILTINS, BUILTINS_BY_KEY, TOLERANCE, SideBySide, Verdict
from equiv.views.figure_export import plot_config

__all__ = ["PlaygroundSettings", "parse_query", "to_query", "verdict_headline", "errors_table", "side_by_side_table",
           "side_by_side_figure", "vectors_figure", "builtins_table", "PLOT_CONFIG"]

#: Plotly's modebar "download plot" offline in the browser, as PNG at twice the size (for slides).
PLOT_CONFIG = plot_config("png", "equiv-playground")
CUSTOM = "custom"
VERDICT_ICONS = {"invariant": ":material/check_circle:", "equivariant": ":material/check_circle:",
                 "rotations only": ":material/warning:", "neither": ":material/cancel:"}


@dataclass(frozen=True)
class PlaygroundSettings:
    """The playground's state in a link: ``?f=cross`` (built-in key) or ``?expr=...`` (typed), ``seed``."""

    function: str = "cross"  # a key of BUILTINS_BY_KEY or CUSTOM
    expression: str = "cross(a, b)"
    seed: int = 0

    @property
    def text(self) -> str:
        return BUILTINS_BY_KEY[self.function].expression if self.function in BUILTINS_BY_KEY else self.expression


def parse_query(query: Mapping[str, str]) -> tuple[PlaygroundSettings, list[str]]:
    """Settings from a link's query; a bad value gives a message and the default."""
    s, problems = PlaygroundSettings(), []
    key = query.get("f")
    expr = query.get("expr")
    if key is not None:
        if key in BUILTINS_BY_KEY:
            s = PlaygroundSettings(key, BUILTINS_BY_KEY[key].expression, s.seed)
        else:
            problems.append(f"link parameter f={key[:40]}: not a built-in function (one of {', '.join(BUILTINS_BY_KEY)})")
    if expr is not None and key is None:
        s = PlaygroundSettings(CUSTOM, expr[:300], s.seed)
    if "seed" in query:
        try:
            s = PlaygroundSettings(s.function, s.expression, max(0, min(int(query["seed"]), 10**6)))
        except ValueError:
            problems.append(f"link parameter seed={query['seed'][:20]}: not a whole number")
    return s, problems


def to_query(s: PlaygroundSettings) -> dict[str, str]:
    q = {"f": s.function} if s.function != CUSTOM else {"expr": s.expression}
    if s.seed:
        q["seed"] = str(s.seed)
    return q


def verdict_headline(v: Verdict) -> str:
    """One line: ``equivariant: 1e · translation-invariant · max error 3.1e-16``."""
    what = v.kind + (f": {v.irreps}" if v.irreps else "")
    trans = {"invariant": "translation-invariant", "moves with r": "moves with translations of r",
             "neither": "not translation-invariant"}[v.translation]
    error = f"max error {v.error:.1e}" if v.equivariant else f"closest representation off by {v.error:.1e}"
    return f"{what} · {trans} · {error}"


def errors_table(v: Verdict) -> pd.DataFrame:
    """One row a trial: the error against invariance and against the identified irreps."""
    rows = [{"trial": e.trial, "|f(g·x) − f(x)|": e.invariant,
             f"|f(g·x) − D(g) f(x)| ({v.irreps or '—'})": e.equivariant, "passes": (
                 "yes" if e.equivariant is not None and e.equivariant <= TOLERANCE else "no")} for e in v.errors]
    rows.append({"trial": "translation", "|f(g·x) − f(x)|": v.translation_error,
                 f"|f(g·x) − D(g) f(x)| ({v.irreps or '—'})": None, "passes": "yes" if v.translation != "neither" else "no"})
    return pd.DataFrame(rows)


def side_by_side_table(s: SideBySide) -> pd.DataFrame:
    return pd.DataFrame({"entry": list(s.labels), "f(x)": s.original.numpy(), "f(g·x)": s.transformed.numpy(),
                         f"D(g) f(x) [{s.representation}]": s.predicted.numpy(),
                         "difference": (s.transformed - s.predicted).numpy()})


def side_by_side_figure(s: SideBySide, title: str | None = None) -> go.Figure:
    """Bars: f(g·x) beside D(g) f(x) for every output number (equal bars: equivariant)."""
    x = list(s.labels)
    fig = go.Figure([
        go.Bar(x=x, y=s.transformed.numpy(), name="f(g·x)", marker_color="#1971c2"),
        go.Bar(x=x, y=s.predicted.numpy(), name=f"D(g) f(x)  [{s.representation}]", marker_color="#f08c00"),
    ])
    fig.update_layout(barmode="group", height=300, margin=dict(l=10, r=10, t=40, b=10),
                      title=title or f"{s.trial}: f(g·x) against D(g) f(x)", legend=dict(orientation="h", y=-0.25))
    return fig


def _arrow(v: np.ndarray, name: str, color: str, dash: str = "solid") -> go.Scatter3d:
    return go.Scatter3d(x=[0, v[0]], y=[0, v[1]], z=[0, v[2]], mode="lines+markers", name=name,
                        line=dict(color=color, width=7, dash=dash), marker=dict(size=[0, 5], color=color))


def vectors_figure(inputs: Mapping[str, np.ndarray], s: SideBySide | None) -> go.Figure:
    """A small 3D view: the input vectors, and for a vector output f(g·x) against D(g) f(x)."""
    colors = {"a": "#495057", "b": "#868e96"}
    traces = [_arrow(np.asarray(v), name, colors.get(name, "#adb5bd")) for name, v in inputs.items()]
    if s is not None and len(s.labels) == 3 and s.representation.startswith("1"):
        traces += [_arrow(s.transformed.numpy(), "f(g·x)", "#1971c2"),
                   _arrow(s.predicted.numpy(), "D(g) f(x)", "#f08c00", "dash")]
    fig = go.Figure(traces)
    fig.update_layout(height=320, margin=dict(l=0, r=0, t=10, b=0), legend=dict(orientation="h"),
                      scene=dict(aspectmode="cube", xaxis_title="x", yaxis_title="y", zaxis_title="z"))
    return fig


def builtins_table() -> pd.DataFrame:
    """The built-in functions with their expected verdicts (the seminar's list)."""
    return pd.DataFrame([{"function": f.label, "formula": f.expression, "verdict": f.expected, "irreps": f.irreps or "—",
                          "translation": f.translation, "why": f.why} for f in BUILTINS])
