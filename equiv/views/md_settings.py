"""The MD page's form as a plain record, and its deep links (``/md?model=...&molecule=...``).

Keys: ``model`` (a model spec: ``pretrained:ethanol:nequip``, ``run:12``, ``untrained:nequip``),
``molecule`` (a library key; an rMD17 name such as ``salicylic`` is mapped to its key),
``ensemble`` (``nve``/``langevin``), ``temperature`` (K), ``timestep`` (fs), ``steps``, ``seed``,
``show`` (the MD run shown). A bad value gives a message and its default.

Example:
    >>> form, problems = parse_md_query({"molecule": "aspirin", "steps": "500", "ensemble": "nose"})
    >>> form.molecule, form.steps, form.ensemble, len(problems)
    ('aspirin', 500, 'nve', 1)
    >>> md_query(form)["model"]
    'pretrained:aspirin:nequip'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from equiv.errors import EquivError
from equiv.md.settings import ENSEMBLES, MAX_STEPS
from equiv.md.calculator import parse_model_spec
from equiv.molecules import LIBRARY

__all__ = ["MDForm", "parse_md_query", "md_query", "library_key", "PAGE_MAX_STEPS"]

#: The page's step limit (the CLI allows up to ``MAX_STEPS``).
PAGE_MAX_STEPS = min(MAX_STEPS, 100_000)


@dataclass(frozen=True)
class MDForm:
    """What the MD page's form holds. ``model`` empty: the shipped NequIP of the molecule."""

    model: str = ""
    molecule: str = "ethanol"
    ensemble: str = "nve"
    temperature: float = 300.0
    timestep: float = 0.5
    steps: int = 2000
    seed: int = 0

    @property
    def model_spec(self) -> str:
        return self.model or f"pretrained:{self.molecule}:nequip"


def library_key(name: str) -> str | None:
    """A library key for a library key or an rMD17 name (``salicylic`` → ``salicylic_acid``)."""
    name = (name or "").strip().lower()
    if name in LIBRARY:
        return name
    return next((k for k, e in LIBRARY.items() if e.rmd17 == name), None)


def _number(text: str, kind: type, lo: float, hi: float, what: str) -> float | int:
    try:
        value = kind(text)
    except ValueError:
        raise EquivError(f"{what} must be a number, not {text[:20]!r}") from None
    if not lo <= value <= hi:
        raise EquivError(f"{what} must be between {lo:g} and {hi:g}, not {value:g}")
    return value


def parse_md_query(query: dict[str, str]) -> tuple[MDForm, list[str]]:
    """The form a link asks for, and one sentence per value that was ignored."""
    form, problems = MDForm(), []
    changes: dict = {}
    if "molecule" in query:
        key = library_key(query["molecule"])
        if key is None:
            problems.append(f"unknown molecule {query['molecule'][:30]!r}; showing {form.molecule}")
        else:
            changes["molecule"] = key
    if "model" in query:
        try:
            changes["model"] = parse_model_spec(query["model"]).text
        except EquivError as exc:
            problems.append(str(exc))
    if "ensemble" in query:
        if query["ensemble"] in ENSEMBLES:
            changes["ensemble"] = query["ensemble"]
        else:
            problems.append(f"ensemble must be one of {', '.join(ENSEMBLES)}, not {query['ensemble'][:20]!r}")
    for key, kind, lo, hi, what in (("temperature", float, 1, 5000, "temperature (K)"),
                                    ("timestep", float, 0.05, 5, "time step (fs)"),
                                    ("steps", int, 1, PAGE_MAX_STEPS, "steps"), ("seed", int, 0, 2**31 - 1, "seed")):
        if key in query:
            try:
                changes[key] = _number(query[key], kind, lo, hi, what)
            except EquivError as exc:
                problems.append(str(exc))
    return replace(form, **changes), problems


def md_query(form: MDForm) -> dict[str, str]:
    """The link of a form (every key, so that it can be shared)."""
    d = asdict(form)
    d["model"] = form.model_spec
    return {k: (f"{v:g}" if isinstance(v, float) else str(v)) for k, v in d.items()}
