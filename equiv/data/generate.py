"""Generated data: Langevin molecular dynamics (ASE) on the GFN2-xTB potential-energy surface
(tblite), several independent trajectories, keeping every k-th frame with its xTB energy and forces.

Recipe: start from the library geometry (GFN2-xTB optimised) or a SMILES embedding. Run
``trajectories`` independent trajectories, each with its own random generator (seeded from
``(seed, trajectory)``): Maxwell–Boltzmann velocities at the target temperature with the
centre-of-mass momentum removed, ``equilibration_steps`` Langevin steps (ASE's ``Langevin``) thrown
away, then ``stride`` steps between kept frames. The frames of trajectory 0 come first, then those of
trajectory 1, and so on (``generation["trajectory_frames"]`` says how many each has). The defaults
follow MD17 (500 K, 0.5 fs steps); the friction 0.01 fs⁻¹ gives a 100 fs thermostat time, so 600
equilibration steps (300 fs) are three of them.

Why several trajectories and 20 fs: with one trajectory and frames 5 fs apart (the first
generator, metadata version 1), neighbouring frames were nearly the same structure and validation
frames sat next to training frames. Kept frames are now ``stride × timestep`` = 20 fs apart, well
past the lag at which the force autocorrelation falls below 1/e (recorded as
``force_autocorrelation_fs``: 3 fs for ethanol at 500 K, set by the fast X–H vibrations; the
geometry decorrelates more slowly, hence the separate trajectories), and
:func:`equiv.data.split_dataset` puts test and validation structures in trajectories that training
never saw (see ``split_rule``).

Trajectories run in parallel processes (``workers``, default: one per core, at most one per
trajectory); each is deterministic on its own, so the same arguments give bit-identical data on the
same machine whatever the number of workers (xTB is deterministic).

The centre of mass is held with ``ase.constraints.FixCom`` and ``fixcm=False``: ASE 3.29's
``fixcm=True`` (deprecated there) overheats small molecules: ethanol at 500 K ran at 704 ± 199 K,
against 495 ± 133 K with ``FixCom`` (300 frames after equilibration, 3N − 3 degrees of freedom).

Example (tiny, about a second):
    >>> ds = generate_xtb_dataset("water", frames=4, stride=2, equilibration_steps=4, trajectories=2, seed=1, workers=1)
    >>> ds.n_frames, ds.metadata.level_of_theory, ds.metadata.name, ds.metadata.generation["trajectory_frames"]
    (4, 'GFN2-xTB', 'xtb:water', [2, 2])
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from equiv.data.dataset import DataSet, DataSetMetadata
from equiv.data.xtb import XTBCalculator, single_openmp_thread
from equiv.errors import DataError, MoleculeError
from equiv.molecules import Molecule, load_molecule, molecule_from_smiles
from equiv.paths import data_home

__all__ = [
    "XTB_LEVEL_OF_THEORY",
    "GENERATOR_VERSION",
    "SPLIT_RULE",
    "outdated_generation",
    "force_autocorrelation_time",
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
#: Version of the generator's metadata. 1 (no ``generator_version`` key): one trajectory, frames
#: 5 fs apart. 2: several independent trajectories, 20 fs apart, split by trajectory.
GENERATOR_VERSION = 2
SPLIT_RULE = ("by trajectory: test = the last trajectory, validation drawn from the one before it, "
              "training from the others (so test and validation structures come from trajectories "
              "training never saw)")
#: Below this many MD steps the trajectories run in this process (a spawned worker costs seconds).
_PARALLEL_MIN_STEPS = 5000
#: Force-autocorrelation window per trajectory (MD steps recorded after equilibration).
_ACF_STEPS = 400


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
        trajectories: independent trajectories (own velocities and noise); the frames are
            shared out as evenly as possible, the first trajectories taking the remainder (never
            more trajectories than frames: :attr:`n_trajectories`).
    """

    frames: int = 1200
    temperature_K: float = 500.0
    seed: int = 0
    stride: int = 40
    equilibration_steps: int = 600
    timestep_fs: float = 0.5
    friction_per_fs: float = 0.01
    trajectories: int = 4

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.frames <= _MAX_FRAMES, f"frames must be between 1 and {_MAX_FRAMES}, not {self.frames}"),
            (0 < self.temperature_K <= 5000, f"temperature must be above 0 K and at most 5000 K, not {self.temperature_K}"),
            (self.seed >= 0, f"the seed must be zero or positive, not {self.seed}"),
            (1 <= self.stride <= 10_000, f"stride must be between 1 and 10000 steps, not {self.stride}"),
            (0 <= self.equilibration_steps <= 10_000_000, f"equilibration must be 0 or more steps, not {self.equilibration_steps}"),
            (0 < self.timestep_fs <= 5, f"the time step must be above 0 fs and at most 5 fs, not {self.timestep_fs}"),
            (0 < self.friction_per_fs <= 10, f"the friction must be above 0 and at most 10 per fs, not {self.friction_per_fs}"),
            (1 <= self.trajectories <= 1000, f"trajectories must be between 1 and 1000, not {self.trajectories}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DataError(message)

    @property
    def n_trajectories(self) -> int:
        return min(self.trajectories, self.frames)

    @property
    def total_steps(self) -> int:
        return self.n_trajectories * self.equilibration_steps + self.frames * self.stride

    @property
    def frame_spacing_fs(self) -> float:
        return self.stride * self.timestep_fs

    def trajectory_frames(self) -> list[int]:
        """Frames kept from each trajectory (sum = ``frames``)."""
        base, extra = divmod(self.frames, self.n_trajectories)
        return [base + (k < extra) for k in range(self.n_trajectories)]


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
              "--friction", f"{settings.friction_per_fs:g}", "--trajectories", str(settings.trajectories)]
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


def outdated_generation(generation: dict) -> str | None:
    """Why a generated data set's metadata is from an older generator (``None`` when current)."""
    if not generation:
        return None
    version = int(generation.get("generator_version", 1))
    if version >= GENERATOR_VERSION:
        return None
    spacing = float(generation.get("stride", 10)) * float(generation.get("timestep_fs", 0.5))
    return (f"it was written by generator version {version} (one trajectory, frames {spacing:g} fs apart, "
            "validation frames next to training frames)")


def force_autocorrelation_time(forces: np.ndarray, timestep_fs: float) -> tuple[float | None, np.ndarray]:
    """The lag (fs) at which the normalised force autocorrelation first falls below 1/e, and the
    autocorrelation per lag. ``forces``: ``[n_trajectories, n_steps, n_atoms, 3]`` recorded every
    MD step; each component's mean over time is removed, and
    ``C(τ) = Σ δF(t)·δF(t+τ) / Σ δF(t)·δF(t)`` (sums over trajectories, atoms, components and t).

    >>> t = np.arange(400) * 0.5
    >>> f = np.cos(2 * np.pi * t / 40.0)[None, :, None, None] * np.ones((1, 1, 2, 3))
    >>> force_autocorrelation_time(f, 0.5)[0]   # cos(2πτ/40) < 1/e from τ = 7.6 fs (finite record: 7.5)
    7.5
    """
    d = forces - forces.mean(axis=1, keepdims=True)  # [n_traj, n_steps, n_atoms, 3]
    n = d.shape[1]
    lags = n // 2
    acf = np.empty(lags)
    for tau in range(lags):
        acf[tau] = float(np.sum(d[:, :n - tau] * d[:, tau:])) / max(float(np.sum(d[:, :n - tau] ** 2)), 1e-300)
    below = np.nonzero(acf < 1.0 / np.e)[0]
    return (float(below[0] * timestep_fs) if below.size else None), acf


class _Trajectory(NamedTuple):
    positions: np.ndarray  # [frames, n_atoms, 3] Å
    energies: np.ndarray  # [frames] eV
    forces: np.ndarray  # [frames, n_atoms, 3] eV/Å
    temperatures: np.ndarray  # [frames] K
    acf_forces: np.ndarray  # [steps, n_atoms, 3] eV/Å, every MD step after equilibration


_SHARED_STEPS = None  # in a worker: the shared array of MD steps done per trajectory


def _init_worker(shared) -> None:  # noqa: ANN001 - a multiprocessing Array
    global _SHARED_STEPS
    _SHARED_STEPS = shared


def _run_trajectory(numbers: np.ndarray, start: np.ndarray, settings: MDSettings, index: int, frames: int,
                    step_hook: Callable[[int, int], None] | None = None) -> _Trajectory:
    """One trajectory: its own generator seeded from ``(seed, index)``; ``step_hook(index, steps)``
    after every ``stride`` steps (in a worker process the shared step counter is used instead)."""
    from ase import Atoms, units
    from ase.calculators.calculator import CalculationFailed
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary

    n_atoms = len(numbers)
    atoms = Atoms(numbers=numbers, positions=start, pbc=False)
    atoms.calc = XTBCalculator(XTB_LEVEL_OF_THEORY, accuracy=XTB_ACCURACY)
    single_openmp_thread()
    rng = np.random.default_rng([settings.seed, index])
    _thermalize(atoms, settings.temperature_K, rng)
    Stationary(atoms)
    atoms.set_constraint(FixCom())
    dyn = Langevin(atoms, timestep=settings.timestep_fs * units.fs, temperature_K=settings.temperature_K,
                   friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng)
    dof = 3 * n_atoms - 3  # centre-of-mass motion is removed
    positions = np.empty((frames, n_atoms, 3))
    energies = np.empty(frames)
    forces = np.empty((frames, n_atoms, 3))
    temperatures = np.empty(frames)
    acf_steps = min(_ACF_STEPS, frames * settings.stride)
    acf = np.empty((acf_steps, n_atoms, 3))
    recorded = 0
    steps = 0

    def step(n: int) -> None:
        nonlocal steps
        try:
            dyn.run(n)
        except CalculationFailed as exc:
            raise DataError(f"xTB failed after {steps} MD steps of trajectory {index + 1} ({str(exc).strip()[:200]}); "
                            "try a lower temperature or a smaller time step") from None
        steps += n

    def advance(n: int) -> None:
        """``n`` MD steps; inside the autocorrelation window one at a time, recording the forces."""
        nonlocal recorded
        left = n
        while left > 0:
            if steps >= settings.equilibration_steps and recorded < acf_steps:
                step(1)
                acf[recorded] = atoms.get_forces(apply_constraint=False)
                recorded += 1
                left -= 1
            else:
                step(left)
                left = 0
        if _SHARED_STEPS is not None:
            _SHARED_STEPS[index] = steps
        elif step_hook is not None:
            step_hook(index, steps)

    remaining = settings.equilibration_steps
    while remaining > 0:
        n = min(settings.stride, remaining)
        advance(n)
        remaining -= n
    for i in range(frames):
        advance(settings.stride)
        positions[i] = atoms.get_positions()
        energies[i] = atoms.get_potential_energy()
        forces[i] = atoms.get_forces(apply_constraint=False)  # FixCom would project them
        temperatures[i] = 2.0 * atoms.get_kinetic_energy() / (dof * units.kB)
        if not (np.isfinite(energies[i]) and np.isfinite(forces[i]).all()):
            raise DataError(f"xTB gave non-finite energies or forces at frame {i + 1} of trajectory {index + 1}; "
                            "try a lower temperature or a smaller time step")
    return _Trajectory(positions, energies, forces, temperatures, acf[:recorded])


def generate_xtb_dataset(
    molecule: str | Molecule | None = None,
    *,
    smiles: str | None = None,
    settings: MDSettings | None = None,
    progress: Callable[[GenerationProgress], None] | None = None,
    workers: int | None = None,
    **overrides,
) -> DataSet:
    """Run Langevin MD with GFN2-xTB forces (several trajectories) and return the kept frames (eV, eV/Å).

    Args:
        molecule: a library key (``"ethanol"``) or a :class:`Molecule`; or give ``smiles``.
        smiles: a SMILES string (RDKit embedding) instead of ``molecule``.
        settings: :class:`MDSettings`; keyword ``overrides`` (``frames=100, seed=3``) replace fields.
        progress: called about every ``stride`` MD steps (twice a second with parallel workers) with a
            :class:`GenerationProgress`; it may raise (for example to cancel) and the exception
            propagates (the workers are stopped).
        workers: parallel processes (default: one per CPU core, at most one per trajectory, and 1
            below :data:`_PARALLEL_MIN_STEPS` MD steps, where starting processes costs more than it
            saves); 1 runs the trajectories one after another in this process. The data do not
            depend on it.

    Raises:
        DataError: bad settings, an unknown molecule, or an xTB failure (with the step).
    """
    settings = MDSettings(**{**asdict(settings or MDSettings()), **overrides})
    mol, label, name, start = _start_molecule(molecule, smiles)
    n_atoms = mol.n_atoms
    if n_atoms < 2:
        raise DataError("molecular dynamics needs at least two atoms")
    counts = settings.trajectory_frames()
    per_traj_total = [settings.equilibration_steps + c * settings.stride for c in counts]
    if workers is None:
        workers = (os.cpu_count() or 1) if settings.total_steps >= _PARALLEL_MIN_STEPS else 1
    n_traj = settings.n_trajectories
    workers = max(1, min(n_traj, workers))
    t0 = time.perf_counter()
    done = [0] * n_traj

    def report() -> None:
        if progress is not None:
            steps = sum(done)
            frames_done = sum(max(0, (d - settings.equilibration_steps) // settings.stride) for d in done)
            progress(GenerationProgress(steps, settings.total_steps, min(frames_done, settings.frames), settings.frames,
                                        time.perf_counter() - t0))

    def hook(index: int, steps: int) -> None:
        done[index] = steps
        report()

    numbers, positions0 = np.asarray(mol.numbers), np.asarray(mol.positions, dtype=float)
    report()
    if workers == 1:
        trajs = [_run_trajectory(numbers, positions0, settings, k, counts[k], hook) for k in range(n_traj)]
    else:
        trajs = _run_parallel(numbers, positions0, settings, counts, workers, done, report)
    positions = np.concatenate([t.positions for t in trajs])
    energies = np.concatenate([t.energies for t in trajs])
    forces = np.concatenate([t.forces for t in trajs])
    temperatures = np.concatenate([t.temperatures for t in trajs])
    acf_len = min(len(t.acf_forces) for t in trajs)
    tau_fs = None
    if acf_len >= 4:
        tau_fs, _ = force_autocorrelation_time(np.stack([t.acf_forces[:acf_len] for t in trajs]), settings.timestep_fs)

    meta = DataSetMetadata(
        name=name,
        molecule=label,
        level_of_theory=XTB_LEVEL_OF_THEORY,
        source=generate_command(label if smiles is None else None, smiles, settings),
        original_units={"positions": "Å", "energies": "eV (tblite: Hartree × ASE's Hartree)",
                        "forces": "eV/Å (tblite: Hartree/Bohr × ASE's Hartree/Bohr)"},
        generation={
            "generator_version": GENERATOR_VERSION,
            "method": XTB_LEVEL_OF_THEORY,
            "calculator": "tblite.interface.Calculator('GFN2-xTB') through equiv.data.xtb.XTBCalculator (SCF restarted from the previous step)",
            "xtb_accuracy": XTB_ACCURACY,
            "thermostat": "Langevin (ase.md.langevin.Langevin, fixcm=False) with ase.constraints.FixCom",
            **asdict(settings),
            "n_trajectories": n_traj,
            "trajectory_frames": counts,
            "frame_spacing_fs": settings.frame_spacing_fs,
            "force_autocorrelation_fs": tau_fs,
            "force_autocorrelation_rule": (f"first lag at which the normalised force autocorrelation (every MD step, "
                                           f"first {acf_len} steps after equilibration of each trajectory) falls below 1/e"),
            "split_rule": SPLIT_RULE,
            "start_geometry": start,
            "initial_velocities": "Maxwell-Boltzmann at temperature_K from numpy.random.default_rng([seed, trajectory]); "
                                  "centre-of-mass momentum removed",
            "kept_frame_temperature_mean_K": float(temperatures.mean()),
            "kept_frame_temperature_std_K": float(temperatures.std()),
            "versions": _versions(),
        },
    )
    return DataSet(mol.numbers, positions, energies, forces, meta)


def _run_parallel(numbers: np.ndarray, start: np.ndarray, settings: MDSettings, counts: list[int], workers: int,
                  done: list[int], report: Callable[[], None]) -> list[_Trajectory]:
    """The trajectories in ``workers`` spawned processes (no fork: tblite's OpenMP and torch's
    threads do not survive one), polling their shared step counters for progress."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    shared = ctx.Array("q", len(counts), lock=False)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(shared,))
    try:
        futures = [pool.submit(_run_trajectory, numbers, start, settings, k, counts[k]) for k in range(len(counts))]
        while True:
            finished, pending = wait(futures, timeout=0.5, return_when=FIRST_EXCEPTION)
            done[:] = list(shared)
            report()
            if any(f.exception() is not None for f in finished):
                raise next(f.exception() for f in finished if f.exception() is not None)
            if not pending:
                break
        return [f.result() for f in futures]
    finally:
        for f in futures if "futures" in locals() else ():
            f.cancel()
        for proc in list(getattr(pool, "_processes", {}).values()):
            if proc.is_alive():
                proc.terminate()  # a cancel must not wait for the trajectories to finish
        pool.shutdown(wait=True, cancel_futures=True)
