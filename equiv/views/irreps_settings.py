"""The irreps lab's settings: one frozen record, its deep-link form and the random draws.

A deep link such as ``/irreps?a=1,2,3&b=4,5,6&rot=30,45,60&inv=0&l1=2&p1=e&l2=1&p2=o&L=3``
reproduces what the page shows. Parsing never raises: each bad value gives a message that says
what was wrong and which value is used instead (the one of ``base``, normally the default).

Query keys:
    ``a``, ``b``: vectors (x, y, z); ``rot``: ZYZ Euler angles α, β, γ in degrees;
    ``inv``: 1 to compose the rotation with the inversion −I; ``l1``, ``p1``, ``l2``, ``p2``, ``L``:
    the Clebsch–Gordan inputs (orders 0–4, parities ``e``/``o``) and the output order shown;
    ``l``, ``p``, ``m``: the order, parity and component used in the spherical-harmonics and
    Wigner-D sections; ``rot2``: the second rotation of the Wigner-D checks; ``lmax``, ``mul``,
    ``layer``: the NequIP panel (maximum order 0–3, channels, ``first`` or ``hidden`` layer).

Example:
    >>> s, problems = parse_query({"l1": "2", "l2": "7"})
    >>> s.l1, s.l2, problems
    (2, 1, ["link parameter l2='7': an order l must be an integer from 0 to 4; using l2 = 1"])
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch

from equiv.errors import EquivError
from equiv.o3 import euler_to_matrix, inversion, matrix_to_euler, random_rotation
from equiv.parsing import parse_vector

__all__ = [
    "IrrepsLabSettings",
    "L_MAX",
    "QUERY_KEYS",
    "NEQUIP_L_MAX",
    "VECTOR_MAX_ABS",
    "format_number",
    "format_vector",
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


# -- formatting ----------------------------------------------------------------------------------


def format_number(x: float) -> str:
    """Shortest text that reads back as the same float, without a trailing ``.0``: 1.0 → ``"1"``."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def format_vector(v: tuple[float, ...]) -> str:
    """``(1.0, -2.5, 3.0)`` → ``"1, -2.5, 3"`` (what the text boxes show)."""
    return ", ".join(format_number(x) for x in v)


def _format_angles(v: tuple[int, ...]) -> str:
    return ",".join(str(int(x)) for x in v)


# -- parsing one value ---------------------------------------------------------------------------


def _parse_int_range(lo: int, hi: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (value.is_integer() and lo <= value <= hi):
            raise EquivError(f"{what} must be an integer from {lo} to {hi}")
        return int(value)

    return parse


def _parse_parity(text: str) -> str:
    t = text.strip().lower()
    aliases = {"e": "e", "even": "e", "1": "e", "+1": "e", "o": "o", "odd": "o", "-1": "o"}
    if t not in aliases:
        raise EquivError("a parity must be e (even) or o (odd)")
    return aliases[t]


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off", ""):
        return False
    raise EquivError("must be 1 (on) or 0 (off)")


def parse_lab_vector(text: str) -> Vector:
    """A typed or linked vector ``"1, 2, 3"`` → ``(1.0, 2.0, 3.0)``, each |x| ≤ ``VECTOR_MAX_ABS``.

    Raises:
        EquivError: see :func:`equiv.parsing.parse_vector`.
    """
    return tuple(parse_vector(text, 3, max_abs=VECTOR_MAX_ABS))  # type: ignore[return-value]


def _wrap_degrees(x: float) -> int:
    """Round to a whole degree and wrap into [−180, 180]."""
    return int(round((x + 180.0) % 360.0 - 180.0)) if x != 180.0 else 180


def _parse_angles(text: str) -> Angles:
    """ZYZ angles "α,β,γ" in degrees: α and γ wrap into [−180, 180], β must lie in [0, 180]."""
    try:
        alpha, beta, gamma = parse_vector(text, 3)
    except EquivError:
        raise EquivError("a rotation needs three ZYZ Euler angles in degrees like 30,45,60") from None
    if not 0 <= beta <= 180:
        raise EquivError("the Euler angle β must lie between 0 and 180 degrees")
    return (_wrap_degrees(alpha), int(round(beta)), _wrap_degrees(gamma))


def _parse_layer(text: str) -> str:
    t = text.strip().lower()
    if t not in ("first", "hidden"):
        raise EquivError("the layer must be 'first' or 'hidden'")
    return t


# Query key → (fields, parser, formatter). Fields listed together are set from one value.
_QUERY: dict[str, tuple[tuple[str, ...], Callable[[str], object], Callable[[IrrepsLabSettings], str]]] = {
    "a": (("a",), parse_lab_vector, lambda s: format_vector(s.a).replace(" ", "")),
    "b": (("b",), parse_lab_vector, lambda s: format_vector(s.b).replace(" ", "")),
    "rot": (("alpha", "beta", "gamma"), _parse_angles, lambda s: _format_angles(s.euler)),
    "inv": (("inversion",), _parse_bool, lambda s: "1" if s.inversion else "0"),
    "l1": (("l1",), _parse_int_range(0, L_MAX, "an order l"), lambda s: str(s.l1)),
    "p1": (("p1",), _parse_parity, lambda s: s.p1),
    "l2": (("l2",), _parse_int_range(0, L_MAX, "an order l"), lambda s: str(s.l2)),
    "p2": (("p2",), _parse_parity, lambda s: s.p2),
    "L": (("L",), _parse_int_range(0, 2 * L_MAX, "the output order L"), lambda s: str(s.L)),
    "l": (("l",), _parse_int_range(0, L_MAX, "an order l"), lambda s: str(s.l)),
    "p": (("p",), _parse_parity, lambda s: s.p),
    "m": (("m",), _parse_int_range(-L_MAX, L_MAX, "the component m"), lambda s: str(s.m)),
    "rot2": (("rot2",), _parse_angles, lambda s: _format_angles(s.rot2)),
    "lmax": (("lmax",), _parse_int_range(0, NEQUIP_L_MAX, "l_max"), lambda s: str(s.lmax)),
    "mul": (("mul",), _parse_int_range(1, MUL_MAX, "the number of channels"), lambda s: str(s.mul)),
    "layer": (("layer",), _parse_layer, lambda s: s.layer),
}

#: The query keys this page owns (others, such as the bound ``section`` of the tabs, are left alone).
QUERY_KEYS: tuple[str, ...] = tuple(_QUERY)


def to_query(settings: IrrepsLabSettings) -> dict[str, str]:
    """The deep-link query of ``settings`` (every key, canonical text)."""
    return {key: fmt(settings) for key, (_, _, fmt) in _QUERY.items()}


def parse_query(
    query: Mapping[str, str | list[str]], base: IrrepsLabSettings | None = None
) -> tuple[IrrepsLabSettings, list[str]]:
    """Settings from a query (missing keys keep ``base``'s values) and one message per bad value.

    Never raises. ``L`` outside ``|l1 − l2| … l1 + l2`` and ``m`` outside ``−l … l`` are moved to
    the nearest allowed value, with a message.
    """
    base = base or IrrepsLabSettings()
    values: dict[str, object] = {}
    problems: list[str] = []
    for key, (fields, parse, fmt) in _QUERY.items():
        if key not in query:
            continue
        raw = query[key]
        text = raw[-1] if isinstance(raw, list) else raw
        try:
            parsed = parse(text)
        except EquivError as exc:
            problems.append(f"link parameter {key}={str(text)[:60]!r}: {str(exc)[:200]}; using {key} = {fmt(base)}")
            continue
        if len(fields) == 1:
            values[fields[0]] = parsed
        else:
            values.update(zip(fields, parsed))  # type: ignore[arg-type]
    settings = dataclasses.replace(base, **values)
    fixed = settings.normalized()
    if fixed.L != settings.L:
        problems.append(
            f"link parameter L={settings.L}: {settings.l1} ⊗ {settings.l2} contains L = "
            f"{settings.allowed_L().start} … {settings.allowed_L().stop - 1} only; using L = {fixed.L}"
        )
    if fixed.m != settings.m:
        problems.append(f"link parameter m={settings.m}: m must lie in −{settings.l} … {settings.l}; using m = {fixed.m}")
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
    return (_wrap_degrees(alpha), int(round(beta)), _wrap_degrees(gamma))
