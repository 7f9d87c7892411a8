"""Deep links: one codec for every page's settings in a URL query (``?molecule=aspirin&angle=90``).

A page declares its query keys once, each with a :class:`Rule` (what a value may be), and gets
from :func:`decode` the values a link sets plus one message per value it cannot use (the page
keeps its own value then), and from :func:`encode` the query of its settings. Parsing a link never
raises; a rule's :meth:`Rule.parse` raises :class:`LinkError`, whose message is the rule in words.

One rule per kind of value, the same on every page:

* numbers (:class:`Whole`, :class:`Real`) within stated bounds;
* angles in degrees (:class:`Angle`, :class:`EulerAngles`) **wrap** into [−180, 180] (400 → 40);
  the ZYZ angle β is not periodic and must lie in [0, 180];
* flags (:class:`Flag`): ``1``/``0`` (also ``true``/``false``, ``yes``/``no``, ``on``/``off``);
* vectors (:class:`Vector`): numbers separated by commas or spaces, optionally in brackets;
* names (:class:`Choice`, :class:`Names`): case-insensitive, ``-`` and spaces read as ``_``.

Written here rather than taken from a library: the rules are the app's own (bounds, wrapping,
the messages people see), and the standard library's ``urllib.parse`` already does the URL part.

Example:
    >>> keys = {"angle": Angle(), "reflect": Flag(), "n": Whole(1, 10)}
    >>> decode({"angle": "400", "reflect": "yes", "n": "99", "other": "x"}, keys)
    ({'angle': 40.0, 'reflect': True}, ['link parameter n=99: a whole number from 1 to 10'])
    >>> encode({"angle": 40.0, "reflect": True, "n": 3}, keys, defaults={"n": 3})
    {'angle': '40', 'reflect': '1'}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from equiv.errors import EquivError
from equiv.formatting import format_number

__all__ = ["LinkError", "Rule", "Whole", "Real", "Angle", "EulerAngles", "Flag", "Vector", "Choice", "Names",
           "wrap_degrees", "decode", "encode"]

#: Longest raw value quoted back in a message.
_QUOTED_CHARS = 60


class LinkError(EquivError):
    """A value a rule cannot take; the message says what the rule expects."""


def wrap_degrees(x: float) -> float:
    """An angle in degrees wrapped into [−180, 180] (180 stays 180, −180 stays −180).

    >>> wrap_degrees(400.0), wrap_degrees(-190.0), wrap_degrees(180.0), wrap_degrees(-180.0)
    (40.0, 170.0, 180.0, -180.0)
    """
    if -180.0 <= x <= 180.0:
        return float(x) + 0.0  # no −0.0
    return (x + 180.0) % 360.0 - 180.0 + 0.0


def _numbers(text: str, n: int) -> list[float]:
    parts = [p for p in re.split(r"[,;\s]+", str(text).strip().strip("[]()")) if p]
    if len(parts) != n:
        raise ValueError
    values = [float(p) for p in parts]
    if not all(math.isfinite(v) for v in values):
        raise ValueError
    return values


def _name(text: str) -> str:
    return str(text).strip().lower().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True)
class Rule:
    """What one query value may be. Subclasses define :meth:`read` (text → value, raising
    ``ValueError``), :meth:`show` (value → canonical text) and :attr:`rule` (the rule in words)."""

    def read(self, text: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def show(self, value: Any) -> str:
        return format_number(value) if isinstance(value, float) else str(value)

    @property
    def rule(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, text: str) -> Any:
        """``text`` as a value; :class:`LinkError` (the rule in words) when it is not one."""
        try:
            return self.read(str(text))
        except (ValueError, TypeError, OverflowError, KeyError):
            raise LinkError(self.rule) from None


@dataclass(frozen=True)
class Whole(Rule):
    """A whole number from ``low`` to ``high`` (``"3"``, also ``"3.0"``)."""

    low: int
    high: int

    def read(self, text: str) -> int:
        value = float(text)
        if not (value.is_integer() and self.low <= value <= self.high):
            raise ValueError
        return int(value)

    @property
    def rule(self) -> str:
        return f"a whole number from {self.low:,} to {self.high:,}"


@dataclass(frozen=True)
class Real(Rule):
    """A finite number from ``low`` to ``high`` (``low_open``: above ``low``, not equal to it)."""

    low: float
    high: float
    low_open: bool = False

    def read(self, text: str) -> float:
        value = float(text)
        above = value > self.low if self.low_open else value >= self.low
        if not (math.isfinite(value) and above and value <= self.high):
            raise ValueError
        return value + 0.0

    @property
    def rule(self) -> str:
        if self.low_open:
            return f"a number above {format_number(self.low)} and at most {format_number(self.high)}"
        return f"a number from {format_number(self.low)} to {format_number(self.high)}"


@dataclass(frozen=True)
class Angle(Rule):
    """An angle in degrees, wrapped into [−180, 180]; ``whole``: rounded to a whole degree."""

    whole: bool = False

    def read(self, text: str) -> float | int:
        value = float(text)
        if not math.isfinite(value) or abs(value) > 1e9:
            raise ValueError
        wrapped = wrap_degrees(value)
        return int(round(wrapped)) if self.whole else wrapped

    @property
    def rule(self) -> str:
        return "an angle in degrees (wrapped into -180 … 180)"


@dataclass(frozen=True)
class EulerAngles(Rule):
    """ZYZ Euler angles ``α,β,γ`` in degrees: α and γ wrap into [−180, 180], β lies in [0, 180];
    ``whole``: rounded to whole degrees."""

    whole: bool = False

    def read(self, text: str) -> tuple[float, float, float] | tuple[int, int, int]:
        alpha, beta, gamma = _numbers(text, 3)
        if not 0 <= beta <= 180 or max(abs(alpha), abs(gamma)) > 1e9:
            raise ValueError
        angles = (wrap_degrees(alpha), beta + 0.0, wrap_degrees(gamma))
        return tuple(int(round(a)) for a in angles) if self.whole else angles  # type: ignore[return-value]

    def show(self, value: Sequence[float]) -> str:
        return ",".join(format_number(float(v)) for v in value)

    @property
    def rule(self) -> str:
        return "three ZYZ Euler angles α,β,γ in degrees (α, γ wrap into -180 … 180; β from 0 to 180)"


@dataclass(frozen=True)
class Flag(Rule):
    """On or off: ``1``/``0`` (also true/false, yes/no, on/off)."""

    def read(self, text: str) -> bool:
        return {"1": True, "true": True, "yes": True, "on": True,
                "0": False, "false": False, "no": False, "off": False}[_name(text)]

    def show(self, value: bool) -> str:
        return "1" if value else "0"

    @property
    def rule(self) -> str:
        return "1 (on) or 0 (off)"


@dataclass(frozen=True)
class Vector(Rule):
    """``n`` finite numbers (``1,2,3``, ``1 2 3`` or ``[1, 2, 3]``), each ``|x| ≤ max_abs``;
    ``nonzero``: not all (nearly) zero; ``names``: named vectors also accepted (``x`` → (1, 0, 0))."""

    n: int = 3
    max_abs: float = 1e6
    nonzero: bool = False
    names: tuple[tuple[str, tuple[float, ...]], ...] = ()

    def read(self, text: str) -> tuple[float, ...]:
        named = dict(self.names).get(_name(text))
        if named is not None:
            return tuple(named)
        values = _numbers(text, self.n)
        if max(abs(v) for v in values) > self.max_abs or (self.nonzero and math.hypot(*values) < 1e-9):
            raise ValueError
        return tuple(v + 0.0 for v in values)

    def show(self, value: Sequence[float]) -> str:
        name = next((k for k, v in self.names if tuple(v) == tuple(value)), None)
        return name or ",".join(format_number(float(v)) for v in value)

    @property
    def rule(self) -> str:
        example = ",".join(str(i + 1) for i in range(self.n))
        what = f"{self.n} numbers like {example}, each from -{format_number(self.max_abs)} to {format_number(self.max_abs)}"
        named = f"{', '.join(k for k, _ in self.names)} or " if self.names else ""
        return named + what + (", not all zero" if self.nonzero else "")


@dataclass(frozen=True)
class Choice(Rule):
    """One of ``options`` (case-insensitive; ``aliases`` map other spellings to an option).

    >>> Choice(("e", "o"), aliases=(("even", "e"), ("-1", "o"))).parse("-1")
    'o'
    """

    options: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...] = ()

    def read(self, text: str) -> str:
        key = _name(text)
        key = {_name(a): o for a, o in self.aliases}.get(key, key)
        by_name = {_name(o): o for o in self.options}
        return by_name[key]

    @property
    def rule(self) -> str:
        return f"one of {', '.join(self.options)}"


@dataclass(frozen=True)
class Names(Rule):
    """A comma-separated, non-empty subset of ``options``, returned in the options' order."""

    options: tuple[str, ...]

    def read(self, text: str) -> tuple[str, ...]:
        by_name = {_name(o): o for o in self.options}
        chosen = {by_name[_name(p)] for p in str(text).split(",") if p.strip()}
        if not chosen:
            raise ValueError
        return tuple(o for o in self.options if o in chosen)

    def show(self, value: Sequence[str]) -> str:
        return ",".join(value)

    @property
    def rule(self) -> str:
        return f"a comma-separated list from {', '.join(self.options)}"


def _quoted(raw: Any) -> str:
    text = raw[-1] if isinstance(raw, list) else str(raw)
    return text[:_QUOTED_CHARS] + ("…" if len(text) > _QUOTED_CHARS else "")


def decode(query: Mapping[str, Any], keys: Mapping[str, Rule],
           fallback: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The values a link sets (keys of ``keys`` only) and one message per value not used.

    Args:
        query: the URL query (a value may be a list: the last one counts).
        keys: query key → its rule.
        fallback: query key → what the page uses instead, for the message (``"; using 0"``).

    Never raises; keys of other pages are left alone.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, rule in keys.items():
        if key not in query:
            continue
        raw = query[key]
        try:
            values[key] = rule.parse(raw[-1] if isinstance(raw, list) else raw)
        except LinkError as exc:
            using = f"; using {fallback[key]}" if fallback and key in fallback else ""
            problems.append(f"link parameter {key}={_quoted(raw)}: {exc}{using}")
    return values, problems


def encode(values: Mapping[str, Any], keys: Mapping[str, Rule],
           defaults: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The query of ``values`` (keys of ``keys`` only, in their order), leaving out ``None`` and the
    values equal to ``defaults``."""
    out = {}
    for key, rule in keys.items():
        if key not in values or values[key] is None:
            continue
        if defaults is not None and key in defaults and values[key] == defaults[key]:
            continue
        out[key] = rule.show(values[key])
    return out
