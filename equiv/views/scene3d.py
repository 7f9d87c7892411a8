"""The rotation lab's 3D scene as plain JSON-able data for the browser viewer.

A scene is a molecule (elements and bonds), the panels (one per model and the reference), and one
or more *frames*: atom positions and, for every panel, two lists of arrows,

* ``arrows``: f(g·x), the model's vectors for the transformed molecule, and
* ``overlay``: g·f(x), its vectors for the original molecule, transformed afterwards,

with the energy and the equivariance error of that frame. A static view has one frame; the spin
animation has a full turn of frames, all computed by the models here and played by the browser.

An arrow is ``[x0, y0, z0, x1, y1, z1]`` in Å: it starts at the atom and its length is the vector
times the panel's ``scale`` (Å per unit of the vector), chosen from f(x) so that the longest arrow
of the unrotated molecule is :data:`LONGEST_ARROW` long and kept for every rotation. For an
equivariant model the two lists coincide (to rounding); for the MLP they do not.

Strings in the scene (titles, molecule names) are data: the viewer puts them in the page with
``textContent``, never as HTML.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase.data import chemical_symbols, covalent_radii

from equiv.views.rotation_lab import Comparison

__all__ = [
    "ARROW_COLORS",
    "EQUIVARIANT_TOLERANCE",
    "LONGEST_ARROW",
    "PanelInfo",
    "PanelFrame",
    "arrow_scale",
    "bonds",
    "build_scene",
    "format_mev",
    "panel_frame",
    "scene_key",
    "verdict",
]

#: Length in Å of the longest arrow of the unrotated molecule in each panel.
LONGEST_ARROW = 1.5
#: f(g·x) (solid) and g·f(x) (wide, translucent): the same two colours in every panel.
ARROW_COLORS = {"rotated": "#ffa03a", "expected": "#4dabf7"}
#: Relative error below which a panel is labelled equivariant. The lab's float64 models reach
#: ~1e-13 (float32 checkpoints ~1e-7); the SO(3)-only NequIP on a mirrored chiral molecule and the
#: MLP are far above.
EQUIVARIANT_TOLERANCE = 1e-5
#: Decimals kept for coordinates (0.1 mÅ), to keep the data small.
DECIMALS = 4


@dataclass(frozen=True)
class PanelInfo:
    """What a panel shows, besides the numbers of each frame.

    Attributes:
        id: panel key (``gvp``, ``nequip``, ``nequip-so3``, ``mlp``, ``xtb``).
        title: heading, e.g. "NequIP".
        subtitle: where the model comes from, e.g. "untrained (random weights, seed 0)".
        scale: arrow length per unit of the vector (Å per eV/Å for forces); 0 when nothing is drawn.
        unit: the vectors' unit, e.g. "eV/Å".
        note: a message instead of arrows (e.g. why the reference is not computed), or "".
    """

    id: str
    title: str
    subtitle: str
    scale: float
    unit: str
    note: str = ""


@dataclass(frozen=True)
class PanelFrame:
    """One panel in one frame."""

    arrows: list[list[float]]
    overlay: list[list[float]]
    energy_ev: float | None
    energy_change_mev: float | None
    error: float | None


def bonds(numbers: Sequence[int], positions: np.ndarray, tolerance: float = 0.45) -> list[list[int]]:
    """Pairs ``[i, j]`` (i < j) closer than the sum of their covalent radii plus ``tolerance`` Å."""
    pos = np.asarray(positions, dtype=np.float64)
    radii = covalent_radii[np.asarray(numbers, dtype=np.int64)]  # [n]
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)  # [n, n]
    close = d < radii[:, None] + radii[None, :] + tolerance
    i, j = np.nonzero(np.triu(close, k=1))
    return [[int(a), int(b)] for a, b in zip(i, j)]


def arrow_scale(vectors: np.ndarray | None, longest: float = LONGEST_ARROW) -> float:
    """Å per unit so that the longest of ``vectors`` ``[n, 3]`` is ``longest`` Å (0 if all zero)."""
    if vectors is None:
        return 0.0
    top = float(np.linalg.norm(vectors, axis=-1).max(initial=0.0))
    return longest / top if top > 0 and math.isfinite(top) else 0.0


def _arrows(positions: np.ndarray, vectors: np.ndarray | None, scale: float) -> list[list[float]]:
    if vectors is None or scale == 0:
        return []
    ends = positions + scale * vectors  # [n, 3]
    return np.round(np.concatenate([positions, ends], axis=1), DECIMALS).tolist()


def panel_frame(positions: np.ndarray, comparison: Comparison | None, kind: str, scale: float, overlay: bool) -> PanelFrame:
    """Arrows and numbers of one panel for the transformed molecule ``positions`` ``[n, 3]``."""
    if comparison is None:
        return PanelFrame([], [], None, None, None)
    vectors = comparison.rotated.vectors(kind)
    if vectors is None:  # the reference has no atom vectors: it shows forces
        kind, vectors = "forces", comparison.rotated.forces
    error = comparison.error(kind)
    return PanelFrame(
        arrows=_arrows(positions, vectors, scale),
        overlay=_arrows(positions, comparison.expected(kind), scale) if overlay else [],
        energy_ev=comparison.rotated.energy,
        energy_change_mev=comparison.energy_change_mev,
        error=None if math.isnan(error) else error,
    )


def scene_key(name: str, numbers: Sequence[int], positions: np.ndarray) -> str:
    """Identity of a molecule for the viewer: the camera is fitted again only when it changes."""
    h = hashlib.sha1()
    h.update(name.encode())
    h.update(np.asarray(numbers, dtype=np.int64).tobytes())
    h.update(np.round(np.asarray(positions, dtype=np.float64), 6).tobytes())
    return h.hexdigest()[:16]


def _stats(frame: PanelFrame, vectors_label: str) -> list[str]:
    if frame.energy_ev is None:
        return []
    lines = [f"E = {frame.energy_ev:.4f} eV · ΔE = {format_mev(frame.energy_change_mev)} meV"]
    if frame.error is not None:
        lines.append(f"{vectors_label} error {frame.error:.1e}")
    return lines


def format_mev(value: float) -> str:
    """An energy change in meV: three decimals, or scientific notation below 0.001 meV (never "−0.000").

    Not :func:`equiv.formatting.format_significant`: a change shows its sign (``+2.0e-04``) and a
    fixed number of decimals, so that values side by side in the panels line up."""
    if value == 0:
        return "0"
    return f"{value:+.3f}" if abs(value) >= 1e-3 else f"{value:+.1e}"


def verdict(panel: str, error: float | None, identity: bool) -> str:
    """What a panel's relative ``error`` says: "" (nothing computed), "not turned yet" (``identity``:
    the molecule is not transformed), "reference" (the xTB panel), "equivariant" (below
    :data:`EQUIVARIANT_TOLERANCE`) or "not equivariant"."""
    if error is None:
        return ""
    if identity:
        return "not turned yet"
    if panel == "xtb":
        return "reference"
    return "equivariant" if error < EQUIVARIANT_TOLERANCE else "not equivariant"


def build_scene(
    *,
    key: str,
    numbers: Sequence[int],
    bond_list: list[list[int]],
    panels: Sequence[PanelInfo],
    frames_positions: Sequence[np.ndarray],
    frames: Sequence[dict[str, PanelFrame]],
    identities: Sequence[bool] | None = None,
    kind: str,
    overlay: bool,
    transform_label: str,
    start_frame: int = 0,
    seconds_per_turn: float = 6.0,
    height: int = 420,
) -> dict:
    """The viewer's arguments (JSON-able) for ``frames`` (one dict ``panel id → PanelFrame`` per
    geometry in ``frames_positions``). ``identities`` marks frames where the molecule is not turned
    at all (every model is trivially "equivariant" there, so the viewer says so instead)."""
    vectors_label = "force" if kind == "forces" else "atom-vector"
    out_frames = []
    for k, (pos, frame) in enumerate(zip(frames_positions, frames)):
        identity = bool(identities[k]) if identities is not None else False
        out_frames.append(
            {
                "positions": np.round(np.asarray(pos, dtype=np.float64), DECIMALS).tolist(),
                "panels": {
                    pid: {
                        "arrows": pf.arrows,
                        "overlay": pf.overlay,
                        "stats": _stats(pf, vectors_label if pid != "xtb" else "force"),
                        "verdict": verdict(pid, pf.error, identity),
                    }
                    for pid, pf in frame.items()
                },
            }
        )
    legend = [{"color": ARROW_COLORS["rotated"], "style": "solid", "text": "f(R·x): the model run on the turned molecule"}]
    if overlay:
        legend.append(
            {"color": ARROW_COLORS["expected"], "style": "sleeve", "text": "R·f(x): its output for the original molecule, turned afterwards"}
        )
    return {
        "key": key,
        "elements": [chemical_symbols[int(z)] for z in numbers],
        "bonds": bond_list,
        "panels": [
            {
                "id": p.id,
                "title": p.title,
                "subtitle": p.subtitle,
                "scale_text": (f"arrow scale: longest = {LONGEST_ARROW / p.scale:.3g} {p.unit}" if p.scale > 0 else ""),
                "note": p.note,
            }
            for p in panels
        ],
        "frames": out_frames,
        "start_frame": int(start_frame) % max(len(out_frames), 1),
        "seconds_per_turn": float(seconds_per_turn),
        "colors": ARROW_COLORS,
        "legend": legend,
        "transform": transform_label,
        "height": int(height),
    }
