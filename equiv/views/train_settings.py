"""The training lab's form as a deep link: ``/train?model=gvp&molecule=aspirin&n_train=200&epochs=50``.

The URL follows the form (only values that differ from the defaults are written), so a reload
keeps what was typed and a link reproduces a form. Parsing never raises: a bad value gives a
message and the default. The bounds are the form's own.

Example:
    >>> values, problems = parse_form_query({"model": "gvp", "n_train": "200", "layers": "99"})
    >>> values, problems
    ({'model': 'gvp', 'n_train': 200}, ['link parameter layers=99: layers is a whole number from 1 to 8; using the preset'])
    >>> form_query({**FORM_DEFAULTS, "model": "gvp", "n_train": 200})
    {'model': 'gvp', 'n_train': '200'}
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from equiv.jobs.requests import DATA_KINDS, DEFAULT_SWEEP_STEPS, LAB_MODELS, REQUEST_MAXIMA, TrainRequest
from equiv.molecules import LIBRARY
from equiv.training import DEVICES

__all__ = ["FORM_DEFAULTS", "SWEEP_DEFAULTS", "FORM_BOUNDS", "parse_form_query", "form_query", "form_request"]

#: The form's fields and their defaults (``None``: empty, meaning the preset's or the default).
FORM_DEFAULTS: dict[str, Any] = {
    "model": "nequip-l1", "data": "xtb", "molecule": "ethanol", "n_train": 100, "n_val": 50, "epochs": 30,
    "seconds": 0.0, "steps": 0, "device": "auto", "seed": 0, "lr": None, "batch": 5, "layers": None, "channels": None,
}
#: (lowest, highest) of the numeric fields, as the form's inputs allow.
FORM_BOUNDS: dict[str, tuple[float, float]] = {
    "n_train": (1, 10_000_000), "n_val": (1, 10_000_000), "epochs": (0, REQUEST_MAXIMA["epochs"]),
    "seconds": (0, REQUEST_MAXIMA["seconds"]), "steps": (0, REQUEST_MAXIMA["steps"]), "seed": (0, 2**31 - 1),
    "lr": (1e-12, 10.0),
    "batch": (1, REQUEST_MAXIMA["batch"]), "layers": (1, REQUEST_MAXIMA["layers"]),
    "channels": (1, REQUEST_MAXIMA["channels"]),
}
#: The sweep form starts smaller: a grid of short runs with the fair budget, the same optimizer
#: steps for every member (cosine schedule to zero). Its default grid (mlp, nequip-l0, nequip-l1;
#: 25–200 structures; 2 seeds: 24 runs) takes about 15 minutes on a 2-core CPU.
SWEEP_DEFAULTS: dict[str, Any] = {**FORM_DEFAULTS, "n_val": 25, "epochs": 0, "seconds": 0.0,
                                  "steps": DEFAULT_SWEEP_STEPS, "layers": 2, "channels": 8}
_CHOICES = {"model": LAB_MODELS, "data": tuple(DATA_KINDS), "molecule": tuple(LIBRARY), "device": DEVICES}
_INTEGERS = ("n_train", "n_val", "epochs", "steps", "seed", "batch", "layers", "channels")


def _whole(key: str) -> Callable[[str], int]:
    low, high = FORM_BOUNDS[key]

    def parse(text: str) -> int:
        value = int(text.strip())
        if not low <= value <= high:
            raise ValueError
        return value

    return parse


def _real(key: str) -> Callable[[str], float]:
    low, high = FORM_BOUNDS[key]

    def parse(text: str) -> float:
        value = float(text.strip())
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError
        return value

    return parse


def _choice(key: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in _CHOICES[key]:
            raise ValueError
        return value

    return parse


def _rule(key: str) -> str:
    if key in _CHOICES:
        return f"{key} is one of {', '.join(_CHOICES[key])}"
    low, high = FORM_BOUNDS[key]
    if key in _INTEGERS:
        return f"{key} is a whole number from {low:,} to {high:,}"
    return f"{key} is a number from {low:g} to {high:g}"


_PARSERS = {key: (_choice(key) if key in _CHOICES else _whole(key) if key in _INTEGERS else _real(key))
            for key in FORM_DEFAULTS}


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_form_query(query: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The form values a link sets (only the valid ones) and a message for each bad one. Keys
    that are not form fields (``run``, ``group``) are left alone."""
    values, problems = {}, []
    for key, parse in _PARSERS.items():
        if key not in query:
            continue
        raw = str(query[key])
        try:
            values[key] = parse(raw)
        except (ValueError, OverflowError):
            default = FORM_DEFAULTS[key]
            fallback = ("the preset" if key in ("layers", "channels") else "the default") if default is None else _shown(default)
            problems.append(f"link parameter {key}={raw[:40]}: {_rule(key)}; using {fallback}")
    return values, problems


def form_query(values: Mapping[str, Any]) -> dict[str, str]:
    """The link of a form: the values that differ from :data:`FORM_DEFAULTS`, as strings."""
    out = {}
    for key, default in FORM_DEFAULTS.items():
        value = values.get(key, default)
        if value is None or value == default:
            continue
        out[key] = _shown(float(value)) if key in ("seconds", "lr") else str(value)
    return out


def form_request(values: Mapping[str, Any], data_dir: str | None = None) -> TrainRequest:
    """The :class:`TrainRequest` of a form's values (0 epochs, seconds or steps: no limit of that kind)."""
    v = {**FORM_DEFAULTS, **values}
    return TrainRequest(
        model=v["model"], data_kind=v["data"], molecule=v["molecule"], n_train=int(v["n_train"]), n_val=int(v["n_val"]),
        epochs=int(v["epochs"] or 0) or None, max_time_s=float(v["seconds"] or 0) or None,
        steps=int(v["steps"] or 0) or None, device=v["device"],
        seed=int(v["seed"]), lr=None if v["lr"] is None else float(v["lr"]), batch_size=int(v["batch"]),
        layers=None if v["layers"] is None else int(v["layers"]),
        channels=None if v["channels"] is None else int(v["channels"]),
        data_dir=data_dir if v["data"] == "rmd17" else None,
    )
