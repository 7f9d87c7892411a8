"""The rotation lab's settings: one frozen record, its deep-link form, and the rotation it means.

A deep link such as ``/rotate?molecule=aspirin&axis=z&angle=90&reflect=1&models=gvp,nequip,mlp``
reproduces what the page shows. Parsing never raises: each bad value gives a message that says
what was wrong and which value is used instead (the default).

Query keys:
    ``molecule``: a library key (``aspirin``); uploaded and SMILES molecules have no link.
    ``axis``: ``x``, ``y``, ``z``, ``xyz`` or three numbers ``1,1,0``; ``angle``: degrees about it
    (wrapped into [−180, 180]: ``angle=400`` is 40°).
    ``euler``: ZYZ Euler angles α, β, γ in degrees (``euler=30,45,60``; α and γ wrap, β lies in
    [0, 180]); when given, the rotation
    is set by Euler angles instead of axis–angle (``axis`` then only sets the spin axis).
    ``reflect``: 1 to follow the rotation by the mirror x → −x (an improper rotation, det −1).
    ``overlay``: 0 to hide R·f(x); ``spin``: 1 to play a full turn about the axis; ``vectors``: ``forces`` or ``atom_vectors``;
    ``models``: the panels shown, from ``gvp``, ``nequip``, ``nequip-so3``, ``mlp`` (trained on aligned
    frames), ``mlp-aug`` (trained with random rotations), ``xtb``: which MLP is shown is which is listed.
    ``geometry``: ``snapshot`` (a thermal snapshot, the default: forces worth drawing) or ``library``
    (the relaxed library geometry, near a minimum: tiny forces).
    ``scale``: ``panel`` (each panel's longest arrow the same length, the default) or ``common`` (one
    scale for every panel, so arrow lengths compare across panels).

Example:
    >>> s, problems = parse_query({"molecule": "ethanol", "axis": "y", "angle": "400"})
    >>> s.molecule, s.axis, s.angle, problems
    ('ethanol', (0.0, 1.0, 0.0), 40.0, [])
    >>> parse_query({"euler": "10,200,0"})[1]
    ['link parameter euler=10,200,0: three ZYZ Euler angles α,β,γ in degrees (α, γ wrap into -180 … 180; β from 0 to 180); using axis–angle']
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch

from equiv import links
from equiv.molecules import LIBRARY
from equiv.o3 import axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle, matrix_to_euler, random_rotation

__all__ = [
    "AXIS_PRESETS",
    "GEOMETRIES",
    "SCALES",
    "MIRROR",
    "PANELS",
    "PANEL_TITLES",
    "RotationSettings",
    "axis_label",
    "axis_preset",
    "parse_query",
    "random_settings",
    "to_query",
]

Vector = tuple[float, float, float]

#: Named rotation axes (lab frame: x to the right, y up, z out of the screen at the start).
AXIS_PRESETS: dict[str, Vector] = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0), "xyz": (1.0, 1.0, 1.0)}

#: The mirror used by the reflection toggle: x → −x (the plane x = 0), so left and right swap on screen.
MIRROR = np.diag([-1.0, 1.0, 1.0])

#: Every panel the page can show, in display order: three architectures, the SO(3)-only NequIP,
#: and the GFN2-xTB reference.
PANELS: tuple[str, ...] = ("gvp", "nequip", "nequip-so3", "mlp", "mlp-aug", "xtb")
PANEL_TITLES: dict[str, str] = {
    "gvp": "GVP-GNN",
    "nequip": "NequIP",
    "nequip-so3": "NequIP, SO(3) only",
    "mlp": "MLP (trained aligned)",
    "mlp-aug": "MLP (rotation-augmented)",
    "xtb": "Reference: GFN2-xTB",
}
DEFAULT_PANELS: tuple[str, ...] = ("gvp", "nequip", "mlp", "xtb")
VECTOR_KINDS: tuple[str, ...] = ("forces", "atom_vectors")
#: Which geometry of a library molecule is turned: a thermal snapshot (``assets/snapshots/``) or
#: the relaxed library geometry.
GEOMETRIES: tuple[str, ...] = ("snapshot", "library")
#: Arrow scales: per panel (each panel's longest arrow equally long) or common to every panel.
SCALES: tuple[str, ...] = ("panel", "common")
DEFAULT_MOLECULE = "aspirin"


@dataclass(frozen=True)
class RotationSettings:
    """What the rotation lab shows (angles in degrees).

    Attributes:
        molecule: library key of the molecule (ignored while an uploaded/SMILES molecule is shown).
        mode: ``"axis"`` (axis–angle) or ``"euler"`` (ZYZ Euler angles).
        axis: rotation axis (any nonzero length); also the axis of the spin and of the error plot.
        angle: rotation angle about ``axis`` in [−180, 180] (axis mode).
        euler: (α, β, γ) with α, γ in [−180, 180] and β in [0, 180] (Euler mode).
        reflect: apply :data:`MIRROR` after the rotation.
        overlay: draw R·f(x) next to f(R·x).
        spin: play a full turn about ``axis`` in the browser.
        vectors: which per-atom vectors the arrows show, ``forces`` or ``atom_vectors``.
        models: the panels shown (a subsequence of :data:`PANELS`).
        geometry: ``snapshot`` or ``library`` (:data:`GEOMETRIES`; library molecules only).
        scale: ``panel`` or ``common`` arrow scale (:data:`SCALES`).
    """

    molecule: str = DEFAULT_MOLECULE
    mode: str = "axis"
    axis: Vector = (0.0, 0.0, 1.0)
    angle: float = 0.0
    euler: Vector = (0.0, 0.0, 0.0)
    reflect: bool = False
    overlay: bool = True
    spin: bool = False
    vectors: str = "forces"
    models: tuple[str, ...] = DEFAULT_PANELS
    geometry: str = "snapshot"
    scale: str = "panel"

    def replace(self, **changes) -> "RotationSettings":
        return dataclasses.replace(self, **changes)

    def proper_rotation(self) -> torch.Tensor:
        """The rotation part ``[3, 3]`` (float64, det +1)."""
        if self.mode == "euler":
            a, b, g = (math.radians(v) for v in self.euler)
            return euler_to_matrix(a, b, g)
        return axis_angle_to_matrix(torch.tensor(self.axis, dtype=torch.float64), math.radians(self.angle))

    def matrix(self) -> torch.Tensor:
        """The transformation ``[3, 3]`` (float64) applied to the molecule: R, or MIRROR·R."""
        R = self.proper_rotation()
        return torch.from_numpy(MIRROR) @ R if self.reflect else R

    def description(self) -> str:
        """A one-line description for people (plain text)."""
        if self.mode == "euler":
            a, b, g = self.euler
            text = f"ZYZ Euler angles α = {a:g}°, β = {b:g}°, γ = {g:g}°"
        else:
            text = f"{self.angle:g}° about {axis_label(self.axis)}"
        return text + (", then the mirror x → −x" if self.reflect else "")


def axis_preset(axis: Vector) -> str | None:
    """The key of :data:`AXIS_PRESETS` pointing the same way as ``axis`` (``"xyz"`` for ``(2, 2, 2)``), or ``None``."""
    return next((name for name, preset in AXIS_PRESETS.items() if _same_direction(axis, preset)), None)


def axis_label(axis: Vector) -> str:
    """``"z"`` for a preset axis, else ``"(1, 2, 0.5)"``."""
    name = axis_preset(axis)
    if name is not None:
        return name if len(name) == 1 else "(1, 1, 1)"
    return "(" + ", ".join(f"{v:g}" for v in axis) + ")"


def _same_direction(a: Vector, b: Vector) -> bool:
    u, v = np.asarray(a, float), np.asarray(b, float)
    return bool(np.allclose(u / np.linalg.norm(u), v / np.linalg.norm(v), atol=1e-9))


# -- deep links ---------------------------------------------------------------------------------

#: Query key → its rule (:mod:`equiv.links`); the page reads and writes these keys.
QUERY: dict[str, links.Rule] = {
    "molecule": links.Choice(tuple(LIBRARY)),
    "axis": links.Vector(3, nonzero=True, names=tuple(AXIS_PRESETS.items())),
    "angle": links.Angle(),
    "euler": links.EulerAngles(),
    "reflect": links.Flag(),
    "overlay": links.Flag(),
    "spin": links.Flag(),
    "vectors": links.Choice(VECTOR_KINDS),
    "models": links.Names(PANELS),
    "geometry": links.Choice(GEOMETRIES),
    "scale": links.Choice(SCALES),
}
QUERY_KEYS: tuple[str, ...] = tuple(QUERY)
#: Keys always in a link (the rest only when they differ from the default).
_ALWAYS = ("molecule", "axis", "angle", "euler")


def _values(settings: RotationSettings) -> dict:
    values = {key: getattr(settings, key) for key in QUERY}
    values["axis"] = AXIS_PRESETS.get(axis_preset(settings.axis) or "", settings.axis)  # (2, 2, 2) → xyz
    values["euler" if settings.mode == "axis" else "angle"] = None
    return values


def parse_query(query: Mapping[str, str], base: RotationSettings | None = None) -> tuple[RotationSettings, list[str]]:
    """Settings from URL query parameters (strings), and a message for each value not used.

    Unknown keys are ignored (other pages' keys may be present). Never raises.
    """
    base = base or RotationSettings()
    fallback = links.encode({key: getattr(base, key) for key in QUERY}, QUERY) | {"euler": "axis–angle"}
    values, problems = links.decode(query, QUERY, fallback)
    if "euler" in values:
        values["mode"] = "euler"
    return base.replace(**values), problems


def to_query(settings: RotationSettings, molecule_in_link: bool = True) -> dict[str, str]:
    """The deep-link query of ``settings`` (defaults left out, except the molecule and rotation)."""
    values = _values(settings)
    if not molecule_in_link:
        values["molecule"] = None
    defaults = {key: value for key, value in _values(RotationSettings()).items() if key not in _ALWAYS}
    return links.encode(values, QUERY, defaults)


def random_settings(settings: RotationSettings, generator: torch.Generator | None = None) -> RotationSettings:
    """A Haar-random rotation in the settings' mode, angles rounded to whole degrees."""
    R = random_rotation(generator=generator)
    if settings.mode == "euler":
        a, b, g = (round(math.degrees(float(v))) for v in matrix_to_euler(R))
        return settings.replace(euler=(float(a), float(min(max(b, 0), 180)), float(g)))
    axis, angle = matrix_to_axis_angle(R)
    axis_t = tuple(round(float(v), 3) for v in axis)
    if math.hypot(*axis_t) < 1e-6:
        axis_t = (0.0, 0.0, 1.0)
    return settings.replace(axis=axis_t, angle=float(round(math.degrees(float(angle)))))
