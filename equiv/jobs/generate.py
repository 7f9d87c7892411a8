"""Data generation as a job: a run record of kind ``generate`` carried through GFN2-xTB molecular
dynamics to a data-set file, with progress, heartbeats and cancel.

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
from equiv.errors import DataError, EquivError, RunError
from equiv.runs import Heartbeat, Run, RunStore

__all__ = ["GENERATE_KIND", "create_generate_run", "execute_generate", "generation_seconds_estimate",
           "active_generation"]

GENERATE_KIND = "generate"
HEARTBEAT_EVERY_S = 2.0
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


class _Cancelled(Exception):
    pass


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
    run = store.get(run_id)
    if run.kind != GENERATE_KIND:
        raise RunError(f"run {run_id} is a {run.kind} run, not a data generation")
    if not run.active:
        raise RunError(f"cannot start run {run_id}: it is {run.status}" + (f" ({run.error})" if run.error else ""))
    config = run.config
    try:
        settings = _settings(config)
        out = Path(config["out"])
    except (EquivError, KeyError, TypeError) as exc:
        store.fail(run_id, f"bad generation settings: {exc}")
        raise
    store.mark_running(run_id)
    t0 = time.perf_counter()
    with Heartbeat(store, run_id, every_s=heartbeat_every_s) as beat:

        def report(p: GenerationProgress) -> None:
            if progress is not None:
                progress(p)
            if p.frames_done:
                message = f"{p.frames_done:,}/{p.frames_total:,} frames"
            else:
                message = f"equilibrating ({p.steps_done:,}/{settings.n_trajectories * settings.equilibration_steps:,} MD steps)"
            beat.report(p.fraction, message)
            if beat.cancel_requested.is_set() or beat.lost.is_set() or (stop is not None and stop.is_set()):
                raise _Cancelled

        cancelled = False
        with store.recording_failure(run_id):
            try:
                molecule = None if config.get("smiles") else config.get("molecule")
                ds = generate_xtb_dataset(molecule, smiles=config.get("smiles"), settings=settings, progress=report)
                if out.suffix.lower() == ".npz":
                    write_dataset_npz(ds, out)
                else:
                    write_extxyz_dataset(ds, out)
            except _Cancelled:
                cancelled = True
    if cancelled:
        if not beat.lost.is_set():
            store.mark_cancelled(run_id)
        raise DataError(f"generation cancelled (run {run_id}); nothing was written")
    seconds = time.perf_counter() - t0
    store.finish(run_id, dataset=ds.describe(), test_metrics={"seconds": seconds, "path": str(out),
                                                              "n_frames": ds.n_frames})
    return ds
