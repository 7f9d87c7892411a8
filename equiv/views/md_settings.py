"""The MD page's form as a plain record, and its deep links (``/md?model=...&molecule=...``).

Keys: ``model`` (a model spec: ``pretrained:ethanol:nequip``, ``run:12``, ``untrained:nequip``),
``molecule`` (a library key; an rMD17 name such as ``salicylic`` is mapped to its key),
``ensemble`` (``nve``/``langevin``), ``temperature`` (K), ``timestep`` (fs), ``steps``, ``seed``,
``show`` (the MD run shown). A bad value gives a message and its default (:mod:`equiv.links`).

Example:
    >>> form, problems = parse_md_query({"molecule": "aspirin", "steps": "500", "ensemble": "nose"})
    >>> form.molecule, form.steps, form.ensemble, problems
    ('aspirin', 500, 'nve', ['link parameter ensemble=nose: one of nve, langevin; using nve'])
    >>> md_query(form)["model"]
    'pretrained:aspirin:nequip'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from equiv import links
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


class _Model(links.Rule):
    """A model spec (:func:`equiv.md.calculator.parse_model_spec`), as its canonical text."""

    def read(self, text: str) -> str:
        try:
            return parse_model_spec(text).text
        except EquivError:
            raise ValueError from None

    @property
    def rule(self) -> str:
        return "a model: pretrained:MOLECULE:MODEL (e.g. pretrained:ethanol:nequip), run:ID, checkpoint:FILE.pt or untrained:PRESET"


_MOLECULE = links.Choice(tuple(LIBRARY), aliases=tuple((e.rmd17, k) for k, e in LIBRARY.items() if e.rmd17))
#: Query key → its rule (:mod:`equiv.links`).
QUERY: dict[str, links.Rule] = {
    "model": _Model(), "molecule": _MOLECULE, "ensemble": links.Choice(ENSEMBLES),
    "temperature": links.Real(1, 5000), "timestep": links.Real(0.05, 5),
    "steps": links.Whole(1, PAGE_MAX_STEPS), "seed": links.Whole(0, 2**31 - 1),
}


def library_key(name: str) -> str | None:
    """A library key for a library key or an rMD17 name (``salicylic`` → ``salicylic_acid``)."""
    try:
        return _MOLECULE.parse(name or "")
    except links.LinkError:
        return None


def parse_md_query(query: dict[str, str]) -> tuple[MDForm, list[str]]:
    """The form a link asks for, and one sentence per value that was ignored."""
    form = MDForm()
    fallback = md_query(form) | {"model": "the shipped NequIP of the molecule"}
    values, problems = links.decode(query, QUERY, fallback)
    return replace(form, **values), problems


def md_query(form: MDForm) -> dict[str, str]:
    """The link of a form (every key, so that it can be shared)."""
    return links.encode(asdict(form) | {"model": form.model_spec}, QUERY)
