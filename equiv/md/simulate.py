"""Molecular dynamics with an equiv model (ASE's integrators), with a stability verdict.

:func:`run_md` starts from a library molecule (GFN2-xTB optimised geometry) or a SMILES embedding,
draws Maxwell–Boltzmann velocities at the temperature from the seed, removes the centre-of-mass
momentum and holds the centre of mass with ``ase.constraints.FixCom`` (as the data generation
does), then runs

* ``nve``: velocity Verlet (``ase.md.verlet.VelocityVerlet``), or
* ``langevin``: ``ase.md.langevin.Langevin`` with friction ``friction_per_fs``,

checking the stability rule of :mod:`equiv.md.stability` after every step; the first failure ends
the run (``stable: false``), never an exception. It records the potential, kinetic and total energy
and the temperature (3N − 3 degrees of freedom) of every step, and keeps every ``stride``-th frame
(positions, forces) for the trajectory file and h(r).

Energy drift (NVE): the least-squares slope of the total energy against time over the stable part,
per atom, in meV/atom/ps.

Example (tiny):
    >>> r = run_md(MDConfig(model="untrained:gvp", molecule="water", steps=5, temperature_K=100))
    >>> r.steps_done, r.stable, len(r.potential_ev)
    (5, True, 6)
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from equiv.errors import EquivError, MoleculeError
from equiv.md.calculator import LoadedModel, ModelCalculator, load_md_model
from equiv.md.settings import ENSEMBLES, MAX_STEPS, MDConfig, auto_stride
from equiv.md.stability import RULE_TEXT, StabilityRule, hr_histogram
from equiv.molecules import LIBRARY, Molecule, load_molecule, molecule_from_smiles

__all__ = ["MAX_STEPS", "ENSEMBLES", "MDConfig", "MDProgress", "MDResult", "run_md", "start_molecule", "prepare_md",
           "check_start",
           "write_trajectory", "auto_stride"]

@dataclass(frozen=True)
class MDProgress:
    """Where a run is: steps done of the total, simulated time, current temperature (K)."""

    steps_done: int
    steps_total: int
    time_fs: float
    temperature_K: float
    seconds: float

    @property
    def fraction(self) -> float:
        return self.steps_done / self.steps_total if self.steps_total else 1.0


@dataclass
class MDResult:
    """A finished (possibly unstable) simulation.

    Attributes:
        config: what was run.
        model_label: where the model came from; ``trained``: whether it was trained at all.
        numbers: atomic numbers ``[n_atoms]``.
        time_fs, potential_ev, kinetic_ev, temperature_K: per step, step 0 included ``[steps_done + 1]``.
        frame_steps: step index of each kept frame ``[n_frames]``; frame_positions ``[n_frames, n, 3]`` (Å)
            and frame_forces ``[n_frames, n, 3]`` (eV/Å).
        steps_done: steps run (fewer than asked when it became unstable).
        seconds: wall time of the MD loop.
        stable: whether the rule held to the end; unstable_at_fs and reason say when and why not.
        hr_r, hr: the model's h(r) (bin centres in Å, density in 1/Å) over the kept frames.
    """

    config: MDConfig
    model_label: str
    trained: bool
    numbers: np.ndarray
    time_fs: np.ndarray
    potential_ev: np.ndarray
    kinetic_ev: np.ndarray
    temperature_K: np.ndarray
    frame_steps: np.ndarray
    frame_positions: np.ndarray
    frame_forces: np.ndarray
    steps_done: int
    seconds: float
    stable: bool
    unstable_at_fs: float | None
    reason: str | None
    hr_r: np.ndarray
    hr: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def total_ev(self) -> np.ndarray:
        return self.potential_ev + self.kinetic_ev

    @property
    def steps_per_s(self) -> float:
        return self.steps_done / self.seconds if self.seconds > 0 else float("nan")

    @property
    def temperature_mean_k(self) -> float:
        return float(self.temperature_K[1:].mean()) if len(self.temperature_K) > 1 else float(self.temperature_K[0])

    @property
    def energy_drift_mev_per_atom_per_ps(self) -> float | None:
        """Slope of the total energy against time (NVE only; ``None`` for Langevin or < 3 steps)."""
        if self.config.ensemble != "nve" or len(self.time_fs) < 3:
            return None
        t_ps = self.time_fs / 1000.0
        slope = np.polyfit(t_ps, self.total_ev, 1)[0]  # eV/ps
        return float(slope * 1000.0 / self.n_atoms)

    def summary(self) -> dict:
        """The JSON numbers (the CLI's and the run record's)."""
        drift = self.energy_drift_mev_per_atom_per_ps
        return {
            "model": self.config.model,
            "model_label": self.model_label,
            "trained": self.trained,
            "molecule": self.config.molecule or self.config.smiles,
            "n_atoms": self.n_atoms,
            "ensemble": self.config.ensemble,
            "temperature_k": self.config.temperature_K,
            "timestep_fs": self.config.timestep_fs,
            "steps_requested": self.config.steps,
            "steps": self.steps_done,
            "simulated_fs": float(self.time_fs[-1]),
            "seconds": round(self.seconds, 3),
            "steps_per_s": round(self.steps_per_s, 2),
            "energy_drift_mev_per_atom_per_ps": None if drift is None else round(drift, 4),
            "temperature_mean_k": round(self.temperature_mean_k, 2),
            "stable": self.stable,
            "unstable_at_fs": self.unstable_at_fs,
            "unstable_reason": self.reason,
            "stability_rule": RULE_TEXT,
            "n_frames": int(len(self.frame_steps)),
            "warnings": list(self.warnings),
        }


def start_molecule(molecule: str | None, smiles: str | None) -> Molecule:
    """The start geometry: a library molecule or a SMILES embedding (:class:`EquivError` if neither works)."""
    try:
        if molecule is not None:
            key = molecule.strip().lower().replace(" ", "_")
            if key not in LIBRARY:
                raise EquivError(f"unknown molecule {molecule!r}; choose one of {', '.join(LIBRARY)} or give --smiles")
            return load_molecule(key)
        return molecule_from_smiles(smiles or "", seed=0)
    except MoleculeError as exc:
        raise EquivError(str(exc)) from None


def _thermalize(atoms, temperature_K: float, rng: np.random.Generator) -> None:
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:  # pragma: no cover - older ASE
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)


def check_start(atoms) -> None:
    """:class:`EquivError` when the calculator of ``atoms`` gives non-finite energy or forces."""
    forces, energy = atoms.get_forces(), atoms.get_potential_energy()
    if not (np.isfinite(forces).all() and math.isfinite(energy)):
        raise EquivError("the model gives non-finite energy or forces for the start geometry")


def prepare_md(config: MDConfig, store_path: str | Path | None = None) -> LoadedModel:
    """Check ``config`` before anything is recorded: the molecule, the model, its elements and finite
    forces at the start geometry. Returns the loaded model; :class:`EquivError` says what is wrong."""
    from ase import Atoms

    mol = start_molecule(config.molecule, config.smiles)
    loaded = load_md_model(config.model, dtype=config.dtype, numbers=mol.numbers, store_path=store_path)
    atoms = Atoms(numbers=mol.numbers, positions=mol.positions, pbc=False)
    atoms.calc = ModelCalculator(loaded.model, threads=config.threads)
    check_start(atoms)
    return loaded


def make_dynamics(atoms, config: MDConfig, rng: np.random.Generator):
    """Velocities from ``rng`` and the ASE integrator of ``config`` for ``atoms`` (calculator set)."""
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary
    from ase.md.verlet import VelocityVerlet

    _thermalize(atoms, config.temperature_K, rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    if config.ensemble == "nve":
        return VelocityVerlet(atoms, timestep=config.timestep_fs * units.fs)
    return Langevin(atoms, timestep=config.timestep_fs * units.fs, temperature_K=config.temperature_K,
                    friction=config.friction_per_fs / units.fs, fixcm=False, rng=rng)


def run_md(config: MDConfig, *, loaded: LoadedModel | None = None, calculator=None, calculator_label: str = "",
           progress: Callable[[MDProgress], None] | None = None, progress_every_s: float = 0.5,
           store_path: str | Path | None = None) -> MDResult:
    """Run the MD of ``config`` and return its :class:`MDResult` (see the module docstring).

    ``loaded`` (a model already built) or ``calculator`` (any ASE calculator, e.g. xTB for the
    reference) replace loading ``config.model``. ``progress`` is called about every
    ``progress_every_s`` seconds and at the end; it may raise (to cancel) and that propagates.

    Raises:
        EquivError: an unknown model or molecule, elements the model does not know, non-finite
            forces at the start geometry.
    """
    from ase import Atoms, units

    mol = start_molecule(config.molecule, config.smiles)
    if mol.n_atoms < 2:
        raise EquivError("molecular dynamics needs at least two atoms")
    warnings: list[str] = []
    if calculator is None:
        loaded = loaded or load_md_model(config.model, dtype=config.dtype, numbers=mol.numbers, store_path=store_path)
        calculator = ModelCalculator(loaded.model, threads=config.threads)
        label, trained = loaded.label, loaded.spec.trained
        if not trained:
            warnings.append("untrained model (random weights): its forces are meaningless, expect it to fall apart")
        elif loaded.molecule and config.molecule and loaded.molecule not in (config.molecule, _rmd17_name(config.molecule)):
            warnings.append(f"the model was trained on {loaded.molecule}, not {config.molecule}")
        if config.smiles and trained:
            warnings.append("a molecule from SMILES: the model was trained on another molecule")
    else:
        label, trained = calculator_label or type(calculator).__name__, True
    atoms = Atoms(numbers=mol.numbers, positions=mol.positions, pbc=False)
    atoms.calc = calculator
    check_start(atoms)
    rule = StabilityRule.for_molecule(mol.numbers, mol.positions)
    rng = np.random.default_rng(config.seed)
    dyn = make_dynamics(atoms, config, rng)

    n, steps, stride = mol.n_atoms, config.steps, config.frame_stride
    dof = 3 * n - 3
    kB = units.kB
    potential = np.empty(steps + 1)
    kinetic = np.empty(steps + 1)
    frame_steps, frame_pos, frame_forces = [], [], []
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    stable, reason, done = True, None, 0
    t0 = time.perf_counter()
    last_report = t0
    try:
        for step, _ in enumerate(dyn.irun(steps)):
            # irun yields once before the first step (step 0) and after every step.
            positions = atoms.positions
            e_pot = atoms.get_potential_energy()
            e_kin = atoms.get_kinetic_energy()
            potential[step], kinetic[step] = e_pot, e_kin
            done = step
            forces = atoms.get_forces(apply_constraint=False)
            problem = rule.check(positions)
            if problem is None and not (math.isfinite(e_pot) and math.isfinite(e_kin) and np.isfinite(forces).all()):
                problem = "energy or forces became non-finite"
            if step % stride == 0 or problem is not None:
                frame_steps.append(step)
                frame_pos.append(positions.copy())
                frame_forces.append(forces.copy())
            if problem is not None:
                stable, reason = False, problem
                break
            now = time.perf_counter()
            if progress is not None and now - last_report >= progress_every_s:
                last_report = now
                progress(MDProgress(step, steps, step * config.timestep_fs, 2 * e_kin / (dof * kB), now - t0))
    finally:
        torch.set_num_threads(previous_threads)
    seconds = time.perf_counter() - t0
    potential, kinetic = potential[: done + 1], kinetic[: done + 1]
    time_fs = np.arange(done + 1) * config.timestep_fs
    temperature = 2 * kinetic / (dof * kB)
    if progress is not None:
        progress(MDProgress(done, steps, float(time_fs[-1]), float(temperature[-1]), seconds))
    positions_arr = np.array(frame_pos)
    hr_frames = positions_arr[:-1] if not stable and len(positions_arr) > 1 else positions_arr
    hr_frames = hr_frames[np.isfinite(hr_frames).all(axis=(1, 2))]
    r, h = hr_histogram(hr_frames) if len(hr_frames) else hr_histogram(np.asarray(mol.positions)[None])
    return MDResult(
        config=config, model_label=label, trained=trained, numbers=np.asarray(mol.numbers),
        time_fs=time_fs, potential_ev=potential, kinetic_ev=kinetic, temperature_K=temperature,
        frame_steps=np.array(frame_steps, dtype=np.int64), frame_positions=positions_arr,
        frame_forces=np.array(frame_forces), steps_done=done, seconds=seconds, stable=stable,
        unstable_at_fs=None if stable else float(done * config.timestep_fs), reason=reason, hr_r=r, hr=h,
        warnings=warnings,
    )


def _rmd17_name(molecule: str) -> str | None:
    entry = LIBRARY.get(molecule)
    return entry.rmd17 if entry is not None else None


def write_trajectory(result: MDResult, path: str | os.PathLike) -> Path:
    """Write the kept frames as extended XYZ (energy, forces, time_fs, temperature_K, kinetic and
    total energy per frame), atomically."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for k, step in enumerate(result.frame_steps):
        atoms = Atoms(numbers=result.numbers, positions=result.frame_positions[k], pbc=False)
        atoms.info.update(step=int(step), time_fs=float(result.time_fs[step]),
                          temperature_K=float(result.temperature_K[step]),
                          kinetic_energy=float(result.kinetic_ev[step]),
                          total_energy=float(result.total_ev[step]))
        atoms.calc = SinglePointCalculator(atoms, energy=float(result.potential_ev[step]),
                                           forces=result.frame_forces[k])
        frames.append(atoms)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp, frames, format="extxyz")
    os.replace(tmp, path)
    return path

