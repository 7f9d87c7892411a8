"""Data generation as a job: a run record of kind ``generate`` carried through GFN2-xTB molecular
dynamics to a data-set file by the job lifecycle (:mod:`equiv.jobs.lifecycle`: progress,
heartbeats, cancel). Its result: ``{"path", "n_frames", "seconds"}``.

The record's config is all the job needs (``molecule`` or ``smiles``, the :class:`MDSettings`
fields, ``out``: the file to write), so it runs the same in the foreground (``equiv data
generate``) and in the background (the training lab's "generate" button, through the launcher).
The file is written atomically at the end: a cancelled or failed job leaves nothing half-written.

Example (tiny, about a second):
    >>> import os, tempfile
    >>> from equiv.runs import RunStore
    >>> home = tempfile.mkdtemp()
    >>> store = RunStore(os.path.join(home, "runs.sqlite"))
    >>> run = create_generate_run("water", MDSettings(frames=3, stride=2, equilibration_steps=4), store,
    ...                           out=os.path.join(home, "water.npz"))
    >>> execute_generate(run.id, store).n_frames, store.get(run.id).status
    (3, 'finished')
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

from equiv.data import (
    DataSet,
    GenerationProgress,
    MDSettings,
    default_xtb_path,
    generate_xtb_dataset,
    parse_spec,
    write_dataset_npz,
    write_extxyz_dataset,
)
from equiv.errors import DataError, EquivError
from equiv.jobs.lifecycle import HEARTBEAT_EVERY_S, running_job
from equiv.runs import Run, RunStore

__all__ = ["GENERATE_KIND", "create_generate_run", "execute_generate", "generation_seconds_estimate",
           "active_generation"]

GENERATE_KIND = "generate"
#: GFN2-xTB MD step time on this 2-core machine (ethanol, 9 atoms: 2,000 frames in 53 s); the cost
#: grows about with the square of the atom count for these small molecules.
_SECONDS_PER_STEP_ETHANOL = 53.0 / 21000
_ETHANOL_ATOMS = 9


def generation_seconds_estimate(n_atoms: int, settings: MDSettings) -> float:
    """A rough wall time for generating ``settings`` on this machine (seconds; the trajectories run
    in parallel, one per core)."""
    parallel = max(1, min(settings.n_trajectories, os.cpu_count() or 1))
    return settings.total_steps * _SECONDS_PER_STEP_ETHANOL * max(1.0, (n_atoms / _ETHANOL_ATOMS) ** 2) / parallel


def create_generate_run(molecule: str | None, settings: MDSettings, store: RunStore | None = None, *,
                        smiles: str | None = None, out: str | os.PathLike | None = None,
                        idempotency_key: str | None = None, owner_pid: int | None = None) -> Run:
    """A ``generate`` run record (queued on the CPU; with ``owner_pid``, running for that process).

    ``out`` defaults to the file of the spec ``xtb:<molecule>`` in the current data home, resolved
    now, so the job writes where the caller looks, whatever the job's environment."""
    store = store or RunStore()
    key = None
    if molecule is not None:
        key = parse_spec(f"xtb:{molecule}").molecule  # a library key, or a DataError naming the choices
    elif not smiles:
        raise DataError("give a library molecule or a SMILES string to generate data for")
    if out is None:
        if key is None:
            raise DataError("give an output file for a data set generated from SMILES")
        out = default_xtb_path(key)
    config = {"molecule": key or smiles, "smiles": smiles, **asdict(settings), "out": str(Path(out).resolve())}
    return store.create(GENERATE_KIND, config, molecule=key or smiles, device="cpu", idempotency_key=idempotency_key,
                        owner_pid=owner_pid)


def active_generation(store: RunStore, out: str | os.PathLike) -> Run | None:
    """The queued or running ``generate`` run that writes ``out``, if any."""
    target = str(Path(out).resolve())
    for run in store.list_runs(status=("queued", "running"), kind=GENERATE_KIND):
        if run.config.get("out") == target:
            return run
    return None


def _settings(config: dict) -> MDSettings:
    names = {f.name for f in fields(MDSettings)}
    return MDSettings(**{k: v for k, v in config.items() if k in names})


def execute_generate(run_id: int, store: RunStore | None = None, *,
                     progress: Callable[[GenerationProgress], None] | None = None,
                     stop: threading.Event | None = None, heartbeat_every_s: float = HEARTBEAT_EVERY_S) -> DataSet:
    """Carry the ``generate`` run ``run_id`` to its end in this process.

    Returns the data set (also written to the config's ``out``). A cancel (in the store, or
    ``stop``) stops at the next kept frame, records "cancelled" and raises :class:`DataError`
    ("nothing was written"); any other error fails the run with its reason and is raised."""
    store = store or RunStore()
    with running_job(store, run_id, (GENERATE_KIND,), "a data generation", stop=stop,
                     heartbeat_every_s=heartbeat_every_s) as job:
        config = job.spec
        try:
            settings = _settings(config)
            out = Path(config["out"])
        except (EquivError, KeyError, TypeError) as exc:
            raise DataError(f"bad generation settings: {exc}") from None
        t0 = time.perf_counter()

        def report(p: GenerationProgress) -> None:
            if progress is not None:
                progress(p)
            if p.frames_done:
                message = f"{p.frames_done:,}/{p.frames_total:,} frames"
            else:
                message = f"equilibrating ({p.steps_done:,}/{settings.n_trajectories * settings.equilibration_steps:,} MD steps)"
            job.report(p.fraction, message)
            job.check()

        molecule = None if config.get("smiles") else config.get("molecule")
        ds = generate_xtb_dataset(molecule, smiles=config.get("smiles"), settings=settings, progress=report)
        if out.suffix.lower() == ".npz":
            write_dataset_npz(ds, out)
        else:
            write_extxyz_dataset(ds, out)
        job.result = {"path": str(out), "n_frames": ds.n_frames, "seconds": time.perf_counter() - t0}
        job.dataset = ds.describe()
    if job.cancelled:
        raise DataError(f"generation cancelled (run {run_id}); nothing was written")
    return ds
