"""The GFN2-xTB reference for h(r): the same MD (start geometry, ensemble, temperature, time step,
steps, friction, seed, frame stride) on the xTB surface (tblite through
:class:`equiv.data.xtb.XTBCalculator`), reduced to its h(r) and cached in
``<data home>/md_reference/<key>.npz`` (the key hashes every setting and the start geometry).

"auto" computes it on the fly only when it is short (estimated at most
:data:`AUTO_REFERENCE_S` seconds; xTB costs about 2.5 ms per step for ethanol on this 2-core
machine, growing with the square of the atom count), else uses the cache or reports none. An xTB
run that becomes unstable or fails gives no reference (said in the result).

Example (tiny):
    >>> from equiv.md.simulate import MDConfig
    >>> ref = reference_hr(MDConfig(model="untrained:nequip", molecule="water", steps=4), mode="always", cache=False)
    >>> ref.hr.shape, ref.stable
    ((500,), True)
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equiv.errors import EquivError
from equiv.md.settings import REFERENCE_MODES, MDConfig
from equiv.md.simulate import run_md, start_molecule
from equiv.paths import data_home

__all__ = ["ReferenceHR", "reference_hr", "xtb_single_points", "reference_seconds_estimate", "reference_key", "AUTO_REFERENCE_S",
           "REFERENCE_MODES"]

#: "auto" computes a reference MD on the fly when it should take at most this long (s).
AUTO_REFERENCE_S = 60.0
_XTB_S_PER_STEP_ETHANOL = 2.5e-3
_ETHANOL_ATOMS = 9


@dataclass(frozen=True)
class ReferenceHR:
    """h(r) of the xTB MD: bin centres ``[bins]`` (Å), density ``[bins]`` (1/Å), whether that MD
    stayed stable, its mean temperature (K), steps per second, and whether it came from the cache."""

    r: np.ndarray
    hr: np.ndarray
    stable: bool
    temperature_mean_k: float
    steps_per_s: float
    cached: bool
    path: str | None


def reference_seconds_estimate(n_atoms: int, steps: int) -> float:
    return steps * _XTB_S_PER_STEP_ETHANOL * max(1.0, (n_atoms / _ETHANOL_ATOMS) ** 2)


def reference_key(config: MDConfig) -> str:
    mol = start_molecule(config.molecule, config.smiles)
    h = hashlib.sha256()
    settings = {k: getattr(config, k) for k in ("ensemble", "temperature_K", "timestep_fs", "steps",
                                                 "friction_per_fs", "seed")}
    settings["stride"] = config.frame_stride
    h.update(json.dumps(settings, sort_keys=True).encode())
    h.update(np.asarray(mol.numbers, dtype=np.int64).tobytes())
    h.update(np.round(np.asarray(mol.positions, dtype=np.float64), 8).tobytes())
    return h.hexdigest()[:20]


def _cache_path(config: MDConfig) -> Path:
    return data_home() / "md_reference" / f"{reference_key(config)}.npz"


def _read(path: Path) -> ReferenceHR | None:
    try:
        with np.load(path) as z:
            return ReferenceHR(z["r"], z["hr"], bool(z["stable"]), float(z["temperature_mean_k"]),
                               float(z["steps_per_s"]), True, str(path))
    except (OSError, KeyError, ValueError):
        return None


def reference_hr(config: MDConfig, mode: str = "auto", *, cache: bool = True) -> ReferenceHR | None:
    """The xTB reference h(r) for ``config`` (``None`` when ``mode`` does not allow computing it and
    nothing is cached, or xTB failed). ``mode``: ``auto``, ``always``, ``cache`` or ``none``."""
    from ase.calculators.calculator import CalculationFailed

    from equiv.data.generate import XTB_ACCURACY, XTB_LEVEL_OF_THEORY
    from equiv.data.xtb import XTBCalculator, single_openmp_thread

    if mode not in REFERENCE_MODES:
        raise EquivError(f"reference must be one of {', '.join(REFERENCE_MODES)}, not {mode!r}")
    if mode == "none":
        return None
    path = _cache_path(config) if cache else None
    if path is not None and path.is_file():
        found = _read(path)
        if found is not None:
            return found
    mol = start_molecule(config.molecule, config.smiles)
    if mode == "cache" or (mode == "auto" and reference_seconds_estimate(mol.n_atoms, config.steps) > AUTO_REFERENCE_S):
        return None
    calc = XTBCalculator(XTB_LEVEL_OF_THEORY, accuracy=XTB_ACCURACY)
    single_openmp_thread()
    try:
        result = run_md(config, calculator=calc, calculator_label=XTB_LEVEL_OF_THEORY)
    except (CalculationFailed, EquivError):
        return None
    ref = ReferenceHR(result.hr_r, result.hr, result.stable, result.temperature_mean_k, result.steps_per_s, False,
                      None if path is None else str(path))
    if path is not None and result.stable:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, r=ref.r, hr=ref.hr, stable=ref.stable, temperature_mean_k=ref.temperature_mean_k,
                 steps_per_s=ref.steps_per_s)
        os.replace(tmp, path)
    return ref


def xtb_single_points(numbers, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GFN2-xTB energies ``[n_frames]`` (eV) and forces ``[n_frames, n, 3]`` (eV/Å) of frames
    ``[n_frames, n, 3]`` (NaN for a frame where xTB fails)."""
    from ase import Atoms
    from ase.calculators.calculator import CalculationFailed

    from equiv.data.generate import XTB_ACCURACY, XTB_LEVEL_OF_THEORY
    from equiv.data.xtb import XTBCalculator, single_openmp_thread

    single_openmp_thread()
    pos = np.asarray(positions, dtype=np.float64)
    calc = XTBCalculator(XTB_LEVEL_OF_THEORY, accuracy=XTB_ACCURACY)
    energies = np.full(len(pos), np.nan)
    forces = np.full(pos.shape, np.nan)
    for k, p in enumerate(pos):
        if not np.isfinite(p).all():
            continue
        atoms = Atoms(numbers=np.asarray(numbers), positions=p, pbc=False)
        atoms.calc = calc
        try:
            energies[k] = atoms.get_potential_energy()
            forces[k] = atoms.get_forces()
        except CalculationFailed:
            calc = XTBCalculator(XTB_LEVEL_OF_THEORY, accuracy=XTB_ACCURACY)
    return energies, forces
