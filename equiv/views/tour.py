"""The seminar's story as the tour's steps: one typed list, the only place the step texts live.

"E(3)-equivariant neural networks": functions of 3D coordinates should rotate with their input →
which functions are equivariant → GVP → irreps and tensor products → NequIP → data efficiency and
the MD17 table. Each step is a short statement and one live widget of the app (``widget`` names it,
``params`` sets it); ``/tour?step=N`` (1-based) opens step N.

Example:
    >>> [s.widget for s in STEPS][:3]
    ['rotation', 'playground', 'playground']
    >>> parse_step("3"), parse_step("99"), parse_step("x")
    ((3, None), (10, 'step=99 is out of range: 1 … 10'), (1, 'step=x is not a whole number'))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["TourStep", "STEPS", "WIDGETS", "parse_step", "RecordedCurve", "RECORDED_SWEEP", "recorded_sweep_figure"]

#: The widget kinds a step can show (the tour page has one renderer for each).
WIDGETS = ("rotation", "playground", "decomposition", "gvp", "clebsch_gordan", "nequip_messages",
           "learning_curve", "results", "summary")


@dataclass(frozen=True)
class TourStep:
    """One step: a title, a short statement (markdown, may hold LaTeX), the widget and its settings,
    and a link to the page where the audience can try more."""

    title: str
    statement: str
    widget: str
    params: Mapping[str, object] = field(default_factory=dict)
    more: str = ""  # a page of the app, e.g. "app_pages/playground.py"

    def __post_init__(self) -> None:
        if self.widget not in WIDGETS:
            raise ValueError(f"unknown tour widget {self.widget!r}")


STEPS: tuple[TourStep, ...] = (
    TourStep(
        "Functions of 3D coordinates should rotate with their input",
        r"Rotate a molecule and its forces must rotate with it: $f(R\,x) = D(R)\,f(x)$. GVP and NequIP do "
        r"this exactly; an MLP on raw coordinates does not, however it is trained.",
        "rotation", {"molecule": "aspirin", "models": ("gvp", "nequip", "mlp"), "axis": (1.0, 1.0, 0.0), "angle": 120.0},
        "app_pages/rotate.py"),
    TourStep(
        "Which functions are equivariant? These are",
        r"Linear combinations of vectors $c_1 a + c_2 b$, the scalar product $a\cdot b$, the outer product "
        r"$a b^\top$, the cross product $a\times b$ and any function of a scalar $\sigma(a\cdot b)$. "
        r"Here: $a \times b$, a pseudovector (1e).",
        "playground", {"function": "cross"}, "app_pages/playground.py"),
    TourStep(
        "… and these are not",
        r"A linear combination of coordinates $\sum_i c_i r_i$ and an elementwise $\sigma(r_x), \sigma(r_y), "
        r"\sigma(r_z)$ treat x, y, z differently from how a rotation mixes them.",
        "playground", {"function": "sigma_r"}, "app_pages/playground.py"),
    TourStep(
        "A vector times a vector: 1 ⊗ 1 = 0 ⊕ 1 ⊕ 2",
        r"$(1, 2, 3)\otimes(4, 5, 6)$ splits into its trace $(a\cdot b)/3\,I$ (0e), its antisymmetric part "
        r"(1e, the cross product) and its symmetric traceless part (2e).",
        "decomposition", {"a": (1.0, 2.0, 3.0), "b": (4.0, 5.0, 6.0)}, "app_pages/irreps.py"),
    TourStep(
        "GVP: scalars and vectors, kept apart",
        r"A geometric vector perceptron mixes vector channels only linearly and gates them with scalars "
        r"(norms): its output vectors turn with the input, its scalars do not change.",
        "gvp", {"seed": 0}, "app_pages/rotate.py"),
    TourStep(
        "Irreps and tensor products",
        r"Features of order $l$ transform with Wigner-D matrices $D^l(R)$. The tensor product of $l_1$ and "
        r"$l_2$ contains $|l_1-l_2| \ldots l_1+l_2$; Clebsch–Gordan coefficients pick each part.",
        "clebsch_gordan", {"ir1": "1o", "ir2": "1o", "L": 2}, "app_pages/irreps.py"),
    TourStep(
        "NequIP: messages are tensor products",
        r"Each message is a feature of the neighbour ⊗ the spherical harmonics of the edge direction, "
        r"weighted by a learned function of the distance. The paths for $l_{max} = 2$:",
        "nequip_messages", {"lmax": 2, "mul": 8}, "app_pages/irreps.py"),
    TourStep(
        "Equivariant models learn from less data",
        r"Test force error against training-set size on a log-log plot: the curves of equivariant models with "
        r"$l \geq 1$ fall faster than the invariant $l = 0$; the coordinate MLP learns nothing.",
        "learning_curve", {}, "app_pages/runs.py"),
    TourStep(
        "The MD17 table",
        r"This app's results beside the published numbers: NequIP on MD17 (Batzner et al. 2022) and on rMD17.",
        "results", {}, "app_pages/runs.py"),
    TourStep(
        "Summary",
        r"Build networks from equivariant pieces (scalar products, tensor products, gates) and equivariance "
        r"holds exactly for every input; the payoff is accuracy from less data.",
        "summary", {}, "app_pages/playground.py"),
)


def parse_step(text: str | None) -> tuple[int, str | None]:
    """The 1-based step from a link's ``step`` value, and a message when it had to be changed."""
    if text is None or text == "":
        return 1, None
    try:
        k = int(text)
    except ValueError:
        return 1, f"step={text[:20]} is not a whole number"
    if not 1 <= k <= len(STEPS):
        return min(max(k, 1), len(STEPS)), f"step={k} is out of range: 1 … {len(STEPS)}"
    return k, None


@dataclass(frozen=True)
class RecordedCurve:
    """A learning curve measured once and written down (shown when the run store has no sweep)."""

    model: str
    n_train: tuple[int, ...]
    force_mae_mev_per_a: tuple[float, ...]
    slope: float


#: The README's three-model sweep (bench/sweep_demo.py): rMD17 ethanol, 2 layers × 8 channels, 40 epochs,
#: 2 seeds (the means), all 1,000 test structures; far from converged.
RECORDED_SWEEP: tuple[RecordedCurve, ...] = (
    RecordedCurve("mlp", (25, 200), (878.0, 878.0), 0.00),
    RecordedCurve("nequip-l0", (25, 200), (222.0, 132.0), -0.25),
    RecordedCurve("nequip-l1", (25, 200), (199.0, 106.0), -0.30),
)


def recorded_sweep_figure() -> "go.Figure":
    """Log-log learning curves of :data:`RECORDED_SWEEP` (test force MAE against training-set size)."""
    import plotly.graph_objects as go

    from equiv.views.training_figures import model_color

    fig = go.Figure([
        go.Scatter(x=list(c.n_train), y=list(c.force_mae_mev_per_a), mode="lines+markers", name=f"{c.model} (slope {c.slope:+.2f})",
                   line=dict(color=model_color(c.model, i)))
        for i, c in enumerate(RECORDED_SWEEP)
    ])
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10), title="Recorded sweep: rMD17 ethanol (README)",
                      xaxis=dict(type="log", title="training structures"),
                      yaxis=dict(type="log", title="test force MAE (meV/Å)"))
    return fig
