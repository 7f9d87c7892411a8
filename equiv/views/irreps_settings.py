"""The irreps lab's settings: one frozen record, its deep-link form and the random draws.

A deep link such as ``/irreps?a=1,2,3&b=4,5,6&rot=30,45,60&inv=0&l1=2&p1=e&l2=1&p2=o&L=3``
reproduces what the page shows. Parsing never raises: each bad value gives a message that says
what was wrong and which value is used instead (the one of ``base``, normally the default).

Query keys:
    ``a``, ``b``: vectors (x, y, z); ``rot``: ZYZ Euler angles α, β, γ in whole degrees (α and γ
    wrap into [−180, 180], β lies in [0, 180]);
    ``inv``: 1 to compose the rotation with the inversion −I; ``l1``, ``p1``, ``l2``, ``p2``, ``L``:
    the Clebsch–Gordan inputs (orders 0–4, parities ``e``/``o``) and the output order shown;
    ``l``, ``p``, ``m``: the order, parity and component used in the spherical-harmonics and
    Wigner-D sections; ``rot2``: the second rotation of the Wigner-D checks; ``lmax``, ``mul``,
    ``layer``: the NequIP panel (maximum order 0–3, channels, ``first`` or ``hidden`` layer).

Example:
    >>> s, problems = parse_query({"l1": "2", "l2": "7", "rot": "400,10,0"})
    >>> s.l1, s.l2, s.euler, problems
    (2, 1, (40, 10, 0), ['link parameter l2=7: a whole number from 0 to 4; using 1'])
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

import torch

from equiv import links
from equiv.o3 import euler_to_matrix, inversion, matrix_to_euler, random_rotation

__all__ = [
    "IrrepsLabSettings",
    "L_MAX",
    "QUERY_KEYS",
    "NEQUIP_L_MAX",
    "VECTOR_MAX_ABS",
    "parse_lab_vector",
    "parse_query",
    "random_euler_degrees",
    "random_vectors",
    "to_query",
]

#: Largest order offered for l1, l2 and the spherical harmonics.
L_MAX = 4
#: Largest l_max of the NequIP panel.
NEQUIP_L_MAX = 3
#: Typed vector components must lie in [−VECTOR_MAX_ABS, VECTOR_MAX_ABS].
VECTOR_MAX_ABS = 1000.0
#: Largest number of channels per irrep in the NequIP panel.
MUL_MAX = 256

Vector = tuple[float, float, float]
Angles = tuple[int, int, int]


@dataclass(frozen=True)
class IrrepsLabSettings:
    """Everything the irreps lab shows is a function of these values (angles in degrees)."""

    a: Vector = (1.0, 2.0, 3.0)
    b: Vector = (4.0, 5.0, 6.0)
    alpha: int = 30
    beta: int = 45
    gamma: int = 60
    inversion: bool = False
    l1: int = 1
    p1: str = "o"
    l2: int = 1
    p2: str = "o"
    L: int = 2
    l: int = 2
    p: str = "e"
    m: int = 0
    rot2: Angles = (-40, 70, 15)
    lmax: int = 2
    mul: int = 32
    layer: str = "hidden"

    @property
    def ir1(self) -> str:
        return f"{self.l1}{self.p1}"

    @property
    def ir2(self) -> str:
        return f"{self.l2}{self.p2}"

    @property
    def euler(self) -> Angles:
        return (self.alpha, self.beta, self.gamma)

    def allowed_L(self) -> range:
        """Output orders of ``l1 ⊗ l2``: ``|l1 − l2| … l1 + l2``."""
        return range(abs(self.l1 - self.l2), self.l1 + self.l2 + 1)

    def normalized(self) -> "IrrepsLabSettings":
        """``L`` moved into ``allowed_L()`` and ``m`` into ``−l … l`` (nearest value)."""
        allowed = self.allowed_L()
        L = min(max(self.L, allowed.start), allowed.stop - 1)
        m = min(max(self.m, -self.l), self.l)
        return dataclasses.replace(self, L=L, m=m)

    def rotation(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """``R`` ``[3, 3]``: ``R_z(α) R_y(β) R_z(γ)``, times ``−I`` when ``inversion`` is on."""
        R = _euler_matrix(self.euler, dtype)
        return inversion(dtype) @ R if self.inversion else R

    def rotation2(self, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """The second (proper) rotation ``[3, 3]`` of the Wigner-D homomorphism check."""
        return _euler_matrix(self.rot2, dtype)


def _euler_matrix(angles_deg: tuple[float, float, float], dtype: torch.dtype) -> torch.Tensor:
    a, b, g = (math.radians(x) for x in angles_deg)
    return euler_to_matrix(torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype), torch.tensor(g, dtype=dtype))


# -- deep links ----------------------------------------------------------------------------------

_ORDER = links.Whole(0, L_MAX)
_PARITY = links.Choice(("e", "o"), aliases=(("even", "e"), ("1", "e"), ("+1", "e"), ("odd", "o"), ("-1", "o")))
_VECTOR = links.Vector(3, max_abs=VECTOR_MAX_ABS)
_ANGLES = links.EulerAngles(whole=True)
#: Query key → its rule (:mod:`equiv.links`).
QUERY: dict[str, links.Rule] = {
    "a": _VECTOR, "b": _VECTOR, "rot": _ANGLES, "inv": links.Flag(),
    "l1": _ORDER, "p1": _PARITY, "l2": _ORDER, "p2": _PARITY, "L": links.Whole(0, 2 * L_MAX),
    "l": _ORDER, "p": _PARITY, "m": links.Whole(-L_MAX, L_MAX), "rot2": _ANGLES,
    "lmax": links.Whole(0, NEQUIP_L_MAX), "mul": links.Whole(1, MUL_MAX), "layer": links.Choice(("first", "hidden")),
}
#: The query keys this page owns (others, such as the bound ``section`` of the tabs, are left alone).
QUERY_KEYS: tuple[str, ...] = tuple(QUERY)


def parse_lab_vector(text: str) -> Vector:
    """A typed or linked vector ``"1, 2, 3"`` → ``(1.0, 2.0, 3.0)``, each |x| ≤ ``VECTOR_MAX_ABS``.

    Raises:
        LinkError: not three such numbers (the message is the rule).
    """
    return _VECTOR.parse(text)


def _values(s: IrrepsLabSettings) -> dict[str, object]:
    return {key: s.euler if key == "rot" else s.inversion if key == "inv" else getattr(s, key) for key in QUERY}


def to_query(settings: IrrepsLabSettings) -> dict[str, str]:
    """The deep-link query of ``settings`` (every key, canonical text)."""
    return links.encode(_values(settings), QUERY)


def parse_query(
    query: Mapping[str, str | list[str]], base: IrrepsLabSettings | None = None
) -> tuple[IrrepsLabSettings, list[str]]:
    """Settings from a query (missing keys keep ``base``'s values) and one message per bad value.

    Never raises. ``L`` outside ``|l1 − l2| … l1 + l2`` and ``m`` outside ``−l … l`` are moved to
    the nearest allowed value, with a message.
    """
    base = base or IrrepsLabSettings()
    values, problems = links.decode(query, QUERY, fallback=to_query(base))
    if "rot" in values:
        values.update(zip(("alpha", "beta", "gamma"), values.pop("rot")))
    if "inv" in values:
        values["inversion"] = values.pop("inv")
    settings = dataclasses.replace(base, **values)
    fixed = settings.normalized()
    if fixed.L != settings.L:
        problems.append(
            f"link parameter L={settings.L}: {settings.l1} ⊗ {settings.l2} contains L = "
            f"{settings.allowed_L().start} … {settings.allowed_L().stop - 1} only; using {fixed.L}"
        )
    if fixed.m != settings.m:
        problems.append(f"link parameter m={settings.m}: m must lie in −{settings.l} … {settings.l}; using {fixed.m}")
    return fixed, problems


# -- random draws (reproducible: draw k always gives the same values) -----------------------------


def random_vectors(draw: int) -> tuple[Vector, Vector]:
    """Two vectors with components rounded to one decimal (so they read back exactly from a link)."""
    g = torch.Generator().manual_seed(10_000 + draw)
    v = torch.round(2 * torch.randn(2, 3, dtype=torch.float64, generator=g), decimals=1) + 0.0  # no −0.0
    a, b = (tuple(float(x) for x in row) for row in v)
    return a, b  # type: ignore[return-value]


def random_euler_degrees(draw: int) -> Angles:
    """ZYZ angles (whole degrees) of a Haar-random rotation."""
    g = torch.Generator().manual_seed(20_000 + draw)
    R = random_rotation(dtype=torch.float64, generator=g)
    alpha, beta, gamma = (math.degrees(float(x)) for x in matrix_to_euler(R))
    return tuple(int(round(x)) for x in (links.wrap_degrees(alpha), beta, links.wrap_degrees(gamma)))  # type: ignore[return-value]
