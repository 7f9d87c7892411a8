"""Molecular dynamics with trained models: an ASE calculator for any equiv model
(:mod:`~equiv.md.calculator`), MD runs with a stability verdict, energy drift and temperature
(:mod:`~equiv.md.simulate`, rule in :mod:`~equiv.md.stability`), and the bond-length distribution
h(r) against a GFN2-xTB reference MD (:mod:`~equiv.md.reference`).

Layer 4 (beside training and runs): it uses models, molecules and data, and reads the run store to
find a run's checkpoint.
"""

from equiv.md.calculator import ModelCalculator, ModelSpec, load_md_model, parse_model_spec
from equiv.md.simulate import MAX_STEPS, MDConfig, MDProgress, MDResult, run_md
from equiv.md.stability import StabilityRule, covalent_bonds, hr_distance, hr_histogram

__all__ = [
    "MAX_STEPS",
    "MDConfig",
    "MDProgress",
    "MDResult",
    "ModelCalculator",
    "ModelSpec",
    "StabilityRule",
    "covalent_bonds",
    "hr_distance",
    "hr_histogram",
    "load_md_model",
    "parse_model_spec",
    "run_md",
]
