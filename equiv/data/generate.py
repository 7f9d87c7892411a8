"""Generated data: Langevin molecular dynamics (ASE) on the GFN2-xTB potential-energy surface
(tblite), keeping every k-th frame with its xTB energy and forces.

Recipe: start from the library geometry (GFN2-xTB optimised) or a SMILES embedding; draw
Maxwell–Boltzmann velocities at the target temperature from the seed and remove the
centre-of-mass momentum; run ``equilibration_steps`` Langevin steps (ASE's ``Langevin``) that are
thrown away; then run ``frames × stride`` steps, keeping the positions, energy and forces after
every ``stride``-th step. The defaults follow MD17 (500 K, 0.5 fs steps); the friction 0.01 fs⁻¹
gives a 100 fs thermostat time, so 1,000 equilibration steps are five of them.

The centre of mass is held with ``ase.constraints.FixCom`` and ``fixcm=False``: ASE 3.29's
``fixcm=True`` (deprecated there) overheats small molecules: ethanol at 500 K ran at 704 ± 199 K,
against 495 ± 133 K with ``FixCom`` (300 frames after equilibration, 3N − 3 degrees of freedom).

The same arguments give bit-identical data on the same machine (the random numbers come from one
``numpy.random.default_rng(seed)``, and xTB is deterministic).

Example (tiny, about a second):
    >>> ds = generate_xtb_dataset("water", frames=3, stride=2, equilibration_steps=4, seed=1)
    >>> ds.n_frames, ds.metadata.level_of_theory, ds.metadata.name
    (3, 'GFN2-xTB', 'xtb:water')
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from equiv.data.dataset import DataSet, DataSetMetadata
from equiv.data.xtb import XTBCalculator, single_openmp_thread
from equiv.errors import DataError, MoleculeError
from equiv.molecules import Molecule, load_molecule, molecule_from_smiles
from equiv.paths import data_home

__all__ = [
    "XTB_LEVEL_OF_THEORY",
    "MDSettings",
    "GenerationProgress",
    "generate_xtb_dataset",
    "generate_command",
    "default_xtb_path",
    "datasets_dir",
]

XTB_LEVEL_OF_THEORY = "GFN2-xTB"
#: tblite's SCF accuracy for generated labels (its default is 1.0). At 0.01 ethanol forces agree
#: with a fully converged (0.001) calculation to 1e-6 eV/Å, against 1.4e-4 eV/Å at 1.0, for 25 %
#: more time per step.
XTB_ACCURACY = 0.01
_MAX_FRAMES = 1_000_000


@dataclass(frozen=True)
class MDSettings:
    """Parameters of a generation run (all recorded in the data set's metadata).

    Attributes:
        frames: frames kept.
        temperature_K: thermostat temperature and initial velocity temperature, K.
        seed: seed of the one random generator (velocities and Langevin noise).
        stride: MD steps between kept frames.
        equilibration_steps: MD steps run and discarded before the first kept frame.
        timestep_fs: MD time step, fs.
        friction_per_fs: Langevin friction, 1/fs.
    """

    frames: int = 2000
    temperature_K: float = 500.0
    seed: int = 0
    stride: int = 10
    equilibration_steps: int = 1000
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.01

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.frames <= _MAX_FRAMES, f"frames must be between 1 and {_MAX_FRAMES}, not {self.frames}"),
            (0 < self.temperature_K <= 5000, f"temperature must be above 0 K and at most 5000 K, not {self.temperature_K}"),
            (self.seed >= 0, f"the seed must be zero or positive, not {self.seed}"),
            (1 <= self.stride <= 10_000, f"stride must be between 1 and 10000 steps, not {self.stride}"),
            (0 <= self.equilibration_steps <= 10_000_000, f"equilibration must be 0 or more steps, not {self.equilibration_steps}"),
            (0 < self.timestep_fs <= 5, f"the time step must be above 0 fs and at most 5 fs, not {self.timestep_fs}"),
            (0 < self.friction_per_fs <= 10, f"the friction must be above 0 and at most 10 per fs, not {self.friction_per_fs}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DataError(message)

    @property
    def total_steps(self) -> int:
        return self.equilibration_steps + self.frames * self.stride


@dataclass(frozen=True)
class GenerationProgress:
    """Where a generation run is: MD steps and kept frames so far, and seconds since it started."""

    steps_done: int
    steps_total: int
    frames_done: int
    frames_total: int
    seconds: float

    @property
    def fraction(self) -> float:
        return self.steps_done / self.steps_total if self.steps_total else 1.0


def datasets_dir() -> Path:
    """Where generated data sets live by default: ``data_home()/datasets``."""
    return data_home() / "datasets"


def default_xtb_path(molecule: str) -> Path:
    """The file the spec ``xtb:<molecule>`` refers to."""
    return datasets_dir() / f"xtb_{molecule}.npz"


def generate_command(molecule: str | None = None, smiles: str | None = None, settings: MDSettings = MDSettings(),
                     out: str | os.PathLike | None = None) -> str:
    """The ``equiv data generate`` command line for these arguments."""
    parts = ["equiv", "data", "generate"]
    parts += ["--molecule", molecule] if molecule else ["--smiles", smiles or ""]
    parts += ["--frames", str(settings.frames), "--temperature", f"{settings.temperature_K:g}",
              "--seed", str(settings.seed), "--stride", str(settings.stride),
              "--equilibration", str(settings.equilibration_steps), "--timestep", f"{settings.timestep_fs:g}",
              "--friction", f"{settings.friction_per_fs:g}"]
    if out is not None:
        parts += ["--out", str(out)]
    return shlex.join(parts)


def _start_molecule(molecule: str | Molecule | None, smiles: str | None) -> tuple[Molecule, str, str, str]:
    """(molecule, label for metadata, data-set name, description of the starting geometry)."""
    if (molecule is None) == (smiles is None):
        raise DataError("give either a library molecule or a SMILES string")
    try:
        if isinstance(molecule, Molecule):
            label = molecule.name or molecule.formula
            return molecule, label, f"xtb:{label}", f"given geometry of {label}"
        if molecule is not None:
            key = molecule.strip().lower().replace(" ", "_")
            mol = load_molecule(key)
            return mol, key, f"xtb:{key}", f"library geometry assets/molecules/{key}.xyz (GFN2-xTB optimised)"
        mol = molecule_from_smiles(smiles or "", seed=0)
        return mol, smiles.strip(), f"xtb:smiles:{smiles.strip()}", \
            f"SMILES {smiles.strip()} embedded with RDKit ETKDG (seed 0) and MMFF94 relaxed"
    except MoleculeError as exc:
        raise DataError(str(exc)) from None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("tblite", "ase", "numpy", "equiv"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _thermalize(atoms, temperature_K: float, rng: np.random.Generator) -> None:
    """Maxwell–Boltzmann momenta from ``rng`` (ASE ≥ 3.29 calls it ``thermalize_momenta``)."""
    from ase.md import velocitydistribution as vd

    if hasattr(vd, "thermalize_momenta"):
        vd.thermalize_momenta(atoms, temperature_K, rng=rng)
    else:  # pragma: no cover - older ASE
        vd.MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=rng)


def generate_xtb_dataset(
    molecule: str | Molecule | None = None,
    *,
    smiles: str | None = None,
    settings: MDSettings | None = None,
    progress: Callable[[GenerationProgress], None] | None = None,
    **overrides,
) -> DataSet:
    """Run Langevin MD with GFN2-xTB forces and return the kept frames (eV, eV/Å).

    Args:
        molecule: a library key (``"ethanol"``) or a :class:`Molecule`; or give ``smiles``.
        smiles: a SMILES string (RDKit embedding) instead of ``molecule``.
        settings: :class:`MDSettings`; keyword ``overrides`` (``frames=100, seed=3``) replace fields.
        progress: called after every ``stride`` MD steps with a :class:`GenerationProgress`; it may
            raise (for example to cancel) and the exception propagates.

    Raises:
        DataError: bad settings, an unknown molecule, or an xTB failure (with the step).
    """
    from ase import Atoms, units
    from ase.calculators.calculator import CalculationFailed
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary

    settings = MDSettings(**{**asdict(settings or MDSettings()), **overrides})
    mol, label, name, start = _start_molecule(molecule, smiles)
    n_atoms = mol.n_atoms
    if n_atoms < 2:
        raise DataError("molecular dynamics needs at least two atoms")
    atoms = Atoms(numbers=mol.numbers, positions=mol.positions, pbc=False)
    atoms.calc = XTBCalculator(XTB_LEVEL_OF_THEORY, accuracy=XTB_ACCURACY)
    single_openmp_thread()
    rng = np.random.default_rng(settings.seed)
    _thermalize(atoms, settings.temperature_K, rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep=settings.timestep_fs * units.fs, temperature_K=settings.temperature_K,
                   friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng)
    dof = 3 * n_atoms - 3  # centre-of-mass motion is removed

    positions = np.empty((settings.frames, n_atoms, 3))
    energies = np.empty(settings.frames)
    forces = np.empty((settings.frames, n_atoms, 3))
    temperatures = np.empty(settings.frames)
    t0 = time.perf_counter()
    steps = 0

    def report(frames_done: int) -> None:
        if progress is not None:
            progress(GenerationProgress(steps, settings.total_steps, frames_done, settings.frames,
                                        time.perf_counter() - t0))

    def advance(n: int) -> None:
        nonlocal steps
        try:
            dyn.run(n)
        except CalculationFailed as exc:
            raise DataError(f"xTB failed after {steps} MD steps ({str(exc).strip()[:200]}); "
                            "try a lower temperature or a smaller time step") from None
        steps += n

    report(0)
    remaining = settings.equilibration_steps
    while remaining > 0:
        n = min(settings.stride, remaining)
        advance(n)
        remaining -= n
        report(0)
    for i in range(settings.frames):
        advance(settings.stride)
        positions[i] = atoms.get_positions()
        energies[i] = atoms.get_potential_energy()
        forces[i] = atoms.get_forces(apply_constraint=False)  # FixCom would project them
        temperatures[i] = 2.0 * atoms.get_kinetic_energy() / (dof * units.kB)
        if not (np.isfinite(energies[i]) and np.isfinite(forces[i]).all()):
            raise DataError(f"xTB gave non-finite energies or forces at frame {i + 1}; "
                            "try a lower temperature or a smaller time step")
        report(i + 1)

    meta = DataSetMetadata(
        name=name,
        molecule=label,
        level_of_theory=XTB_LEVEL_OF_THEORY,
        source=generate_command(label if smiles is None else None, smiles, settings),
        original_units={"positions": "Å", "energies": "eV (tblite: Hartree × ASE's Hartree)",
                        "forces": "eV/Å (tblite: Hartree/Bohr × ASE's Hartree/Bohr)"},
        generation={
            "method": XTB_LEVEL_OF_THEORY,
            "calculator": "tblite.interface.Calculator('GFN2-xTB') through equiv.data.xtb.XTBCalculator (SCF restarted from the previous step)",
            "xtb_accuracy": XTB_ACCURACY,
            "thermostat": "Langevin (ase.md.langevin.Langevin, fixcm=False) with ase.constraints.FixCom",
            **asdict(settings),
            "start_geometry": start,
            "initial_velocities": "Maxwell-Boltzmann at temperature_K from the seed; centre-of-mass momentum removed",
            "kept_frame_temperature_mean_K": float(temperatures.mean()),
            "kept_frame_temperature_std_K": float(temperatures.std()),
            "versions": _versions(),
        },
    )
    return DataSet(mol.numbers, positions, energies, forces, meta)
