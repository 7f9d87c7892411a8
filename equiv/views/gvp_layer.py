"""One GVP layer on two input vectors, before and after a rotation: its output vectors turn with it.

For the tour's GVP step. The layer is :class:`equiv.models.gvp.GVP` (the model's own building
block) with seeded random weights, in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from equiv.models.gvp import GVP
from equiv.o3 import random_rotation

__all__ = ["GVPDemo", "gvp_demo", "gvp_figure"]


@dataclass(frozen=True)
class GVPDemo:
    """Input vectors ``[2, 3]``, output vectors ``V(x)`` ``[3, 3]``, ``V(R x)`` and ``R V(x)``; scalars ``[4]``."""

    rotation: np.ndarray  # [3, 3]
    inputs: np.ndarray  # [2, 3]
    outputs: np.ndarray  # [3, 3]
    outputs_rotated: np.ndarray  # V(R x) [3, 3]
    predicted: np.ndarray  # R V(x) [3, 3]
    scalars: np.ndarray  # [4]
    scalars_rotated: np.ndarray  # [4]

    @property
    def vector_error(self) -> float:
        return float(np.abs(self.outputs_rotated - self.predicted).max())

    @property
    def scalar_error(self) -> float:
        return float(np.abs(self.scalars_rotated - self.scalars).max())


def gvp_demo(seed: int = 0) -> GVPDemo:
    """A GVP (2 scalars, 2 vectors) → (4 scalars, 3 vectors) on seeded inputs and a random rotation."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        layer = GVP((2, 2), (4, 3)).double()
    s = torch.randn(1, 2, dtype=torch.float64, generator=g)
    V = torch.randn(1, 2, 3, dtype=torch.float64, generator=g)
    R = random_rotation(dtype=torch.float64, generator=g)
    with torch.no_grad():
        s_out, V_out = layer(s, V)
        s_rot, V_rot = layer(s, V @ R.T)
    return GVPDemo(R.numpy(), V[0].numpy(), V_out[0].numpy(), V_rot[0].numpy(), (V_out[0] @ R.T).numpy(),
                   s_out[0].numpy(), s_rot[0].numpy())


def gvp_figure(demo: GVPDemo) -> go.Figure:
    """3D arrows: inputs, outputs V(x); after the rotation V(R x) (solid) over R V(x) (dashed)."""
    traces = []

    def arrow(v, name, color, dash="solid", group=None):
        traces.append(go.Scatter3d(x=[0, v[0]], y=[0, v[1]], z=[0, v[2]], mode="lines", name=name, legendgroup=group,
                                   line=dict(color=color, width=6, dash=dash)))

    for i, v in enumerate(demo.inputs):
        arrow(v, f"input v{i + 1}", "#868e96")
    for i, v in enumerate(demo.outputs):
        arrow(v, f"output V{i + 1}(x)", "#2f9e44")
    for i, v in enumerate(demo.outputs_rotated):
        arrow(v, f"V{i + 1}(R x)", "#1971c2")
    for i, v in enumerate(demo.predicted):
        arrow(v, f"R V{i + 1}(x)", "#f08c00", "dash")
    fig = go.Figure(traces)
    fig.update_layout(height=380, margin=dict(l=0, r=0, t=10, b=0),
                      scene=dict(aspectmode="cube", xaxis_title="x", yaxis_title="y", zaxis_title="z"))
    return fig
