"""3D scenes of MD trajectories and of single frames for the app's viewer component
(:mod:`equiv.widgets.molviewer`), in the same JSON format as the rotation lab's
(:func:`equiv.views.scene3d.build_scene`): every frame is sent once and the browser plays them (no
round trip per frame).

Forces are optional arrows (orange: the model's, eV/Å; in a single frame also a wide translucent
blue: the reference's), with one arrow scale for the whole trajectory.

Example:
    >>> import numpy as np
    >>> pos = np.zeros((2, 3, 3)); pos[:, 1, 0] = 0.96; pos[:, 2, 1] = 0.96
    >>> s = trajectory_scene([8, 1, 1], pos, forces=None, times_fs=[0.0, 5.0], title="water")
    >>> len(s["frames"]), s["panels"][0]["title"]
    (2, 'water')
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase.data import chemical_symbols

from equiv.views.scene3d import ARROW_COLORS, DECIMALS, LONGEST_ARROW, arrow_scale, bonds, scene_key

__all__ = ["trajectory_scene", "frame_scene", "FRAMES_PER_SECOND"]

#: Playback speed of a trajectory in the viewer.
FRAMES_PER_SECOND = 20.0


def _arrows(positions: np.ndarray, vectors: np.ndarray | None, scale: float) -> list[list[float]]:
    if vectors is None or scale == 0 or not np.isfinite(vectors).all():
        return []
    return np.round(np.concatenate([positions, positions + scale * vectors], axis=1), DECIMALS).tolist()


def _scene(numbers: Sequence[int], frames: list[dict], *, key: str, bond_list: list[list[int]], title: str,
           subtitle: str, scale: float, legend: list[dict], transform: str, fps: float, height: int) -> dict:
    return {
        "key": key,
        "elements": [chemical_symbols[int(z)] for z in numbers],
        "bonds": bond_list,
        "panels": [{"id": "md", "title": title, "subtitle": subtitle,
                    "scale_text": f"arrow scale: longest = {LONGEST_ARROW / scale:.3g} eV/Å" if scale > 0 else "",
                    "note": ""}],
        "frames": frames,
        "start_frame": 0,
        "seconds_per_turn": max(len(frames) / fps, 0.5),
        "colors": ARROW_COLORS,
        "legend": legend,
        "transform": transform,
        "height": int(height),
    }


def trajectory_scene(numbers: Sequence[int], positions: np.ndarray, *, forces: np.ndarray | None,
                     times_fs: Sequence[float], title: str, subtitle: str = "", energies_ev: Sequence[float] | None = None,
                     fps: float = FRAMES_PER_SECOND, height: int = 420) -> dict:
    """A scene that plays ``positions`` ``[n_frames, n, 3]`` (Å), with ``forces`` ``[n_frames, n, 3]``
    (eV/Å) as arrows when given. Bonds are drawn from the first frame's geometry."""
    pos = np.asarray(positions, dtype=np.float64)
    scale = arrow_scale(np.asarray(forces).reshape(-1, 3)) if forces is not None else 0.0
    frames = []
    for k in range(len(pos)):
        stats = [f"t = {float(times_fs[k]):.1f} fs"]
        if energies_ev is not None:
            stats.append(f"E = {float(energies_ev[k]):.4f} eV")
        frames.append({"positions": np.round(pos[k], DECIMALS).tolist(),
                       "panels": {"md": {"arrows": _arrows(pos[k], None if forces is None else forces[k], scale),
                                         "overlay": [], "stats": stats, "verdict": ""}}})
    legend = [{"color": ARROW_COLORS["rotated"], "style": "solid", "text": "forces of the model (eV/Å)"}] if scale else []
    return _scene(numbers, frames, key=scene_key(title, numbers, pos[0]), bond_list=bonds(numbers, pos[0]), title=title,
                  subtitle=subtitle, scale=scale, legend=legend, transform=f"{len(pos)} frames, {fps:g} per second",
                  fps=fps, height=height)


def frame_scene(numbers: Sequence[int], positions: np.ndarray, *, forces: np.ndarray | None,
                reference_forces: np.ndarray | None, title: str, subtitle: str = "", stats: Sequence[str] = (),
                height: int = 420) -> dict:
    """One frame ``[n, 3]`` with the model's forces (orange) and the reference's (blue sleeve)."""
    pos = np.asarray(positions, dtype=np.float64)
    both = [f for f in (forces, reference_forces) if f is not None]
    scale = arrow_scale(np.concatenate(both)) if both else 0.0
    frame = {"positions": np.round(pos, DECIMALS).tolist(),
             "panels": {"md": {"arrows": _arrows(pos, forces, scale), "overlay": _arrows(pos, reference_forces, scale),
                               "stats": list(stats), "verdict": ""}}}
    legend = []
    if forces is not None:
        legend.append({"color": ARROW_COLORS["rotated"], "style": "solid", "text": "model forces"})
    if reference_forces is not None:
        legend.append({"color": ARROW_COLORS["expected"], "style": "sleeve", "text": "reference forces"})
    return _scene(numbers, [frame], key=scene_key(title, numbers, pos), bond_list=bonds(numbers, pos), title=title,
                  subtitle=subtitle, scale=scale, legend=legend, transform="", fps=FRAMES_PER_SECOND, height=height)
