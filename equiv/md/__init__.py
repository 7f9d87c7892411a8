"""Molecular dynamics with trained models: an ASE calculator for any equiv model
(:mod:`~equiv.md.calculator`), MD runs with a stability verdict, energy drift and temperature
(:mod:`~equiv.md.simulate`, settings in :mod:`~equiv.md.settings`, the rule in
:mod:`~equiv.md.stability`), and the bond-length distribution h(r) against a GFN2-xTB reference
MD (:mod:`~equiv.md.reference`).

Layer 4 (beside training and runs): it uses models, molecules and data, and reads the run store to
find a run's checkpoint. Names are imported on first use, so ``equiv.md.settings`` (what the CLI's
parser needs) does not import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelCalculator": "calculator", "ModelSpec": "calculator", "load_md_model": "calculator",
    "parse_model_spec": "calculator",
    "MAX_STEPS": "settings", "MDConfig": "settings",
    "MDProgress": "simulate", "MDResult": "simulate", "run_md": "simulate",
    "StabilityRule": "stability", "covalent_bonds": "stability", "hr_distance": "stability",
    "hr_histogram": "stability",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"equiv.md.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'equiv.md' has no attribute {name!r}")
