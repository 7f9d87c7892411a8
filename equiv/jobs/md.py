"""Molecular dynamics with a model as a job: a run record of kind ``md`` carried through
:func:`equiv.md.run_md` (and the xTB reference h(r)) to a trajectory file by the job lifecycle
(:mod:`equiv.jobs.lifecycle`: progress, heartbeats, cancel), in the foreground (``equiv md``) or
in the background (the MD page, through the launcher and ``python -m equiv.jobs.worker``).

The record's config holds the :class:`~equiv.md.MDConfig` fields, ``reference`` (the h(r)
reference mode) and ``out`` (the extxyz trajectory, resolved when the run is created). At the end
the trajectory and ``<out>.json`` (the summary and the per-step series: time, potential, kinetic,
temperature, h(r) of the model and of the reference) are written atomically, and the summary is
the run's result. An unstable trajectory is a finished run with ``stable: false``.

Example (tiny):
    >>> import os, tempfile
    >>> from equiv.runs import RunStore
    >>> home = tempfile.mkdtemp()
    >>> store = RunStore(os.path.join(home, "runs.sqlite"))
    >>> run = create_md_run(MDConfig(model="untrained:gvp", molecule="water", steps=3), store, reference="none",
    ...                     out=os.path.join(home, "water.extxyz"))
    >>> outcome = execute_md(run.id, store)
    >>> outcome.summary["steps"], store.get(run.id).status
    (3, 'finished')
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from equiv.errors import EquivError
from equiv.jobs.lifecycle import HEARTBEAT_EVERY_S, running_job
from equiv.md import MDConfig, MDProgress, MDResult, run_md
from equiv.md.reference import REFERENCE_MODES, reference_hr
from equiv.md.simulate import write_trajectory
from equiv.md.stability import hr_distance
from equiv.paths import data_home
from equiv.runs import Run, RunStore

__all__ = ["MD_KIND", "MDOutcome", "create_md_run", "execute_md", "md_dir", "series_path", "read_series"]

MD_KIND = "md"


def md_dir() -> Path:
    """Where MD trajectories go by default: ``<data home>/md``."""
    return data_home() / "md"


def series_path(trajectory: str | os.PathLike) -> Path:
    """The JSON file written beside a trajectory (summary and per-step series)."""
    return Path(str(trajectory) + ".json")


def read_series(trajectory: str | os.PathLike) -> dict:
    """What :func:`execute_md` wrote beside ``trajectory`` (:class:`EquivError` when missing)."""
    path = series_path(trajectory)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise EquivError(f"no MD results at {path}") from None


@dataclass
class MDOutcome:
    """A finished ``md`` run: its summary (the JSON numbers), the result and the files written."""

    summary: dict
    result: MDResult
    trajectory: Path


def create_md_run(config: MDConfig, store: RunStore | None = None, *, reference: str = "auto",
                  out: str | os.PathLike | None = None, idempotency_key: str | None = None,
                  owner_pid: int | None = None) -> Run:
    """An ``md`` run record (queued on the CPU; with ``owner_pid``, running for that process).
    ``out`` defaults to ``<data home>/md/run-<id>.extxyz``, fixed now."""
    store = store or RunStore()
    if reference not in REFERENCE_MODES:
        raise EquivError(f"reference must be one of {', '.join(REFERENCE_MODES)}, not {reference!r}")
    payload = {**config.to_dict(), "reference": reference, "out": None if out is None else str(Path(out).resolve())}
    run = store.create(MD_KIND, payload, model=config.model, molecule=config.molecule or config.smiles, device="cpu",
                       idempotency_key=idempotency_key, owner_pid=owner_pid)
    return run


def _config(payload: dict) -> MDConfig:
    names = {f.name for f in fields(MDConfig)}
    return MDConfig(**{k: v for k, v in payload.items() if k in names})


def execute_md(run_id: int, store: RunStore | None = None, *, progress: Callable[[MDProgress], None] | None = None,
               stop: threading.Event | None = None, heartbeat_every_s: float = HEARTBEAT_EVERY_S) -> MDOutcome:
    """Carry the ``md`` run ``run_id`` to its end in this process (see the module docstring).

    A cancel (in the store, or ``stop``) records "cancelled" and raises :class:`EquivError`; bad
    settings and other errors fail the run with their reason and are raised."""
    store = store or RunStore()
    with running_job(store, run_id, (MD_KIND,), "molecular dynamics", stop=stop,
                     heartbeat_every_s=heartbeat_every_s) as job:
        config = _config(job.spec)
        mode = job.spec.get("reference", "auto")
        out = Path(job.spec.get("out") or md_dir() / f"run-{run_id}.extxyz")

        def report(p: MDProgress) -> None:
            if progress is not None:
                progress(p)
            job.report(0.9 * p.fraction, f"{p.steps_done:,}/{p.steps_total:,} steps · {p.time_fs / 1000:.2f} ps · "
                                         f"{p.temperature_K:.0f} K")
            job.check()

        result = run_md(config, progress=report, store_path=store.path)
        job.report(0.9, "xTB reference MD for h(r)" if mode != "none" else "writing the trajectory")
        job.check()
        ref = reference_hr(config, mode)
        job.check()
        summary = result.summary()
        summary["hr_error"] = None if ref is None or not ref.stable else round(hr_distance(result.hr, ref.hr), 5)
        summary["reference"] = (None if ref is None else
                                {"method": "GFN2-xTB (tblite) MD, same settings", "stable": ref.stable,
                                 "temperature_mean_k": round(ref.temperature_mean_k, 2),
                                 "steps_per_s": round(ref.steps_per_s, 2), "cached": ref.cached})
        write_trajectory(result, out)
        summary["trajectory"] = str(out)
        series = {
            "summary": summary,
            "time_fs": _finite(result.time_fs),
            "potential_ev": _finite(result.potential_ev),
            "kinetic_ev": _finite(result.kinetic_ev),
            "temperature_k": _finite(result.temperature_K),
            "hr_r": _finite(result.hr_r),
            "hr": _finite(result.hr),
            "hr_reference": None if ref is None else _finite(ref.hr),
        }
        tmp = series_path(out).with_name(series_path(out).name + ".tmp")
        tmp.write_text(json.dumps(series, allow_nan=False, default=_json_default))
        os.replace(tmp, series_path(out))
        job.result = summary
    if job.cancelled:
        raise EquivError(f"MD cancelled (run {run_id}); no trajectory was written")
    return MDOutcome(summary, result, out)


def _finite(values: np.ndarray) -> list[float | None]:
    """A JSON list of ``values`` with non-finite entries as ``null``."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x).__name__)
