"""Cluster runs on the login node: submit them, follow them, ingest what they report, cancel them.

A cluster run is an ordinary run record on the queue ``slurm`` (its ``device`` column; the device
it trains on is in its config), so no local launcher claims it and the local dead-worker reaper
leaves it alone (it has no local process). Its job writes into its run folder on the shared
filesystem (:mod:`equiv.jobs.cluster_files`); SQLite stays on the login node.

**Who ingests** (the one writer of cluster runs' progress into the store): the *cluster watcher*,
``python -m equiv.jobs.cluster watch``, a detached process like the launcher (own session, an
exclusive ``flock`` on ``<store folder>/launchers/slurm.lock``, gone after ``idle_exit`` seconds
without an active cluster run; whoever submits starts it with :func:`ensure_watcher`). Not the
page's poll: it only runs while a browser tab is open, and two tabs would race. Not only
``equiv runs sync``: nobody would type it while a sweep runs overnight; it stays as a manual pass
(the same :func:`sync`, safe beside the watcher: every step is idempotent). One pass
(:func:`sync`) asks ``squeue`` once for all jobs and, per active cluster run:

* SLURM's state decides the status: PENDING (also after a requeue) → queued; RUNNING → running;
  COMPLETED → finished (with the result of ``outcome.json``); FAILED, TIMEOUT,
  OUT_OF_MEMORY, NODE_FAIL, ... → failed with the state, SLURM's reason, the exit code and the end
  of the job's log; CANCELLED → cancelled. A job SLURM has forgotten without an outcome → failed.
* The folder's files give the rest: data set, new epochs, partial result (the best checkpoint),
  progress, message, and how often the run was resumed (starts − 1, also in the message and
  :class:`ClusterJob`).

The table ``cluster_jobs`` (in the same SQLite file, created here) maps runs to SLURM jobs.

Settings (:func:`cluster_settings`): ``<data home>/cluster.json`` or environment variables
``EQUIV_SLURM_PARTITION``, ``EQUIV_SLURM_TIME`` (minutes), ``EQUIV_SLURM_GPUS``,
``EQUIV_SLURM_ACCOUNT``, ``EQUIV_SLURM_EXTRA`` (``qos=high,constraint=a100``) and
``EQUIV_CLUSTER_DIR`` (the shared run folder; default ``<data home>/cluster-runs``). With either,
the training lab sends its runs to the cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from equiv.errors import EquivError, RunError
from equiv.jobs.cluster_files import RunFolder
from equiv.jobs.executor import spawn_detached
from equiv.jobs.launcher import LOCK_PATIENCE_S, _try_lock, launcher_pid, lock_path
from equiv.jobs.slurm import (FAILED_SLURM_STATES, SlurmExecutor, SlurmJobInfo, SlurmOptions, job_detail, parse_extra,
                              scancel, slurm_jobs)
from equiv.paths import data_home
from equiv.runs import Run, RunStore

__all__ = ["CLUSTER_QUEUE", "ClusterJob", "ClusterSettings", "cluster_settings", "cluster_job", "create_cluster_run",
           "launch_on_cluster", "queue_cluster_sweep", "record_submission", "submit_runs", "ingest", "active_jobs",
           "sync", "cancel_run", "ensure_watcher", "watcher_pid", "watch", "main"]

#: The run store's queue (``device`` column) of cluster runs.
CLUSTER_QUEUE = "slurm"
#: A job SLURM no longer knows, without an outcome file, is failed after this long (its files may
#: still be on their way over the network filesystem).
FORGOTTEN_GRACE_S = 30.0
#: A job SLURM calls CANCELLED whose worker neither stopped cleanly nor wrote a heartbeat (every 2 s)
#: for this long was killed, not cancelled: the run is failed.
KILLED_AFTER_S = 6.0
DEFAULT_WATCH_IDLE_S = 60.0
#: The longest pause between looks while SLURM or the store keeps failing.
MAX_WATCH_PAUSE_S = 60.0
WATCH_POLL_S = 2.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cluster_jobs (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    executor TEXT NOT NULL,
    job_id TEXT NOT NULL,
    folder TEXT NOT NULL,
    options TEXT,
    slurm_state TEXT,
    resumes INTEGER NOT NULL DEFAULT 0,
    epochs_ingested INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL NOT NULL,
    seen_at REAL
)
"""


@dataclass(frozen=True)
class ClusterJob:
    """A run's SLURM job: its id, run folder, options, last SLURM state seen and resumes."""

    run_id: int
    executor: str
    job_id: str
    folder: str
    options: dict[str, Any]
    slurm_state: str | None
    resumes: int
    epochs_ingested: int
    submitted_at: float
    seen_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@contextlib.contextmanager
def _db(store: RunStore, write: bool = False) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(store.path, timeout=store.busy_timeout_s, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute(_SCHEMA)
        if write:
            conn.execute("BEGIN IMMEDIATE")
        yield conn
        if write:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _job(row: sqlite3.Row) -> ClusterJob:
    data = dict(row)
    data["options"] = json.loads(data["options"] or "{}")
    return ClusterJob(**data)


def cluster_job(store: RunStore, run_id: int) -> ClusterJob | None:
    """The SLURM job of run ``run_id``, or ``None`` for a local run."""
    with _db(store) as conn:
        row = conn.execute("SELECT * FROM cluster_jobs WHERE run_id = ?", (int(run_id),)).fetchone()
    return None if row is None else _job(row)


# -- settings --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterSettings:
    """Where cluster runs go: the SLURM options and the shared run folder."""

    options: SlurmOptions
    run_root: Path

    def executor(self) -> SlurmExecutor:
        return SlurmExecutor(self.options, self.run_root)


def default_run_root() -> Path:
    return Path(os.environ.get("EQUIV_CLUSTER_DIR") or data_home() / "cluster-runs")


def cluster_settings(environ: Mapping[str, str] | None = None, path: str | os.PathLike | None = None
                     ) -> ClusterSettings | None:
    """The configured cluster (``<data home>/cluster.json``, overridden by ``EQUIV_SLURM_*``
    variables), or ``None`` when neither says anything (then runs stay local)."""
    env = os.environ if environ is None else environ
    path = Path(path) if path is not None else data_home() / "cluster.json"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise EquivError(f"{path}: not a JSON object of SLURM settings ({exc})") from None
    for key, var, cast in (("partition", "EQUIV_SLURM_PARTITION", str), ("time_min", "EQUIV_SLURM_TIME", int),
                           ("gpus", "EQUIV_SLURM_GPUS", int), ("account", "EQUIV_SLURM_ACCOUNT", str),
                           ("mem_gb", "EQUIV_SLURM_MEM_GB", float), ("cpus", "EQUIV_SLURM_CPUS", int)):
        if env.get(var):
            try:
                data[key] = cast(env[var])
            except ValueError:
                raise EquivError(f"{var}={env[var]!r}: expected {'a whole number' if cast is int else 'a number'}"
                                 ) from None
    if env.get("EQUIV_SLURM_EXTRA"):
        data["extra"] = parse_extra(env["EQUIV_SLURM_EXTRA"].split(","))
    if not isinstance(data, dict):
        raise EquivError(f"{path}: not a JSON object of SLURM settings")
    run_root = data.pop("run_root", None) or env.get("EQUIV_CLUSTER_DIR")
    unknown = sorted(set(data) - set(SlurmOptions.__dataclass_fields__))
    if unknown:
        raise EquivError(f"{path}: unknown SLURM setting {unknown[0]!r}; the settings are "
                         f"{', '.join(SlurmOptions.__dataclass_fields__)} and run_root")
    if not data and not run_root:
        return None
    return ClusterSettings(SlurmOptions.from_dict(data), Path(run_root) if run_root else default_run_root())


# -- submitting ------------------------------------------------------------------------------------

def create_cluster_run(config: Any, store: RunStore, *, kind: str = "train", group_id: str | None = None,
                       idempotency_key: str | None = None) -> Run:
    """A queued run record on the cluster queue. The config is checked (an unknown model raises
    :class:`EquivError`) but not its device: the login node may have no GPU."""
    from equiv.jobs.lifecycle import TRAINING_KINDS
    from equiv.training import TrainConfig

    if kind not in TRAINING_KINDS:
        raise RunError(f"a cluster run is of kind {' or '.join(TRAINING_KINDS)}, not {kind!r}")
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    return store.create(kind, cfg.to_dict(), device=CLUSTER_QUEUE, group_id=group_id,
                        idempotency_key=idempotency_key, model=cfg.model, molecule=cfg.molecule)


def record_submission(store: RunStore, run_id: int, executor: str, job_id: str, folder: RunFolder,
                      options: SlurmOptions) -> ClusterJob:
    """Remember that run ``run_id`` is SLURM job ``job_id`` with its run folder."""
    with _db(store, write=True) as conn:
        conn.execute("INSERT OR REPLACE INTO cluster_jobs (run_id, executor, job_id, folder, options, slurm_state, "
                     "submitted_at) VALUES (?, ?, ?, ?, ?, 'PENDING', ?)",
                     (int(run_id), executor, str(job_id), str(folder.path), json.dumps(options.to_dict()), time.time()))
    job = cluster_job(store, run_id)
    assert job is not None
    return job


def submit_runs(runs: Sequence[Run], store: RunStore, settings: ClusterSettings, *, watch: bool = True
                ) -> list[ClusterJob]:
    """``sbatch`` each queued cluster run not submitted yet (one job per run) and record its job;
    then (with ``watch``) make sure a cluster watcher ingests them. A run whose submission fails is
    failed with sbatch's message."""
    executor = settings.executor()
    jobs = []
    for run in runs:
        existing = cluster_job(store, run.id)
        if existing is not None or run.status != "queued":
            if existing is not None:
                jobs.append(existing)
            continue
        try:
            handle = executor.submit_run(run)
        except (RunError, OSError) as exc:
            store.fail(run.id, str(exc))
            continue
        jobs.append(record_submission(store, run.id, executor.name, handle.job_id, handle.folder, settings.options))
    if watch and jobs:
        ensure_watcher(store)
    return jobs


def launch_on_cluster(check: Any, nonce: str, store: RunStore, settings: ClusterSettings) -> Run:
    """The training lab's Launch on the cluster: :func:`equiv.jobs.requests.launch_request`'s
    idempotent queuing (one run per form and settings), then ``sbatch``."""
    from equiv.jobs.requests import request_key

    if not check.ok:
        raise EquivError(" ".join(check.problems) or "the request was not checked")
    run = create_cluster_run(check.config.replace(labels={**check.config.labels, "executor": "slurm"}), store,
                             idempotency_key=request_key(nonce, check.config))
    submit_runs([run], store, settings)
    return store.get(run.id)


def queue_cluster_sweep(plan: Any, store: RunStore, settings: ClusterSettings, group_id: str | None = None
                        ) -> tuple[str, list[Run], list[ClusterJob]]:
    """:func:`equiv.jobs.sweep.queue_sweep` for the cluster: check every member (the device as
    ``cpu`` on this login node, which may have no GPU; the runs keep the device asked for), queue
    them on the cluster queue and submit them. Returns the group id, the runs and their jobs."""
    from equiv.jobs.sweep import SweepPlan, checked_members, new_group_id

    device = plan.base.get("device", "auto")
    local = SweepPlan(plan.models, plan.sizes, plan.seeds, {**plan.base, "device": "cpu"},
                      [{**r, "device": "cpu"} for r in plan.requests])
    group_id = group_id or new_group_id()
    runs = [create_cluster_run(m.config.replace(device=device), store, kind="sweep_member", group_id=group_id,
                               idempotency_key=m.idempotency_key)
            for m in checked_members(local, store, group_id, executor="slurm")]
    return group_id, runs, submit_runs(runs, store, settings)


# -- ingesting -------------------------------------------------------------------------------------

def _set_status(store: RunStore, run_id: int, status: str, *, host: str | None = None,
                message: str | None = None) -> None:
    """queued ↔ running for a cluster run, which has no local worker process (so no pid: the
    store's own ``mark_running`` would record this process). The only SQL on ``runs`` here."""
    now = time.time()
    with _db(store, write=True) as conn:
        conn.execute("UPDATE runs SET status = ?, pid = NULL, pid_start = NULL, host = COALESCE(?, host), "
                     "started_at = COALESCE(started_at, ?), heartbeat_at = ?, message = COALESCE(?, message) "
                     "WHERE id = ? AND status IN ('queued', 'running')",
                     (status, host, now if status == "running" else None, now, message, run_id))


def _failure_reason(job: ClusterJob, state: str, reason: str, killed: bool = False) -> str:
    detail = job_detail(job.job_id)
    exit_code = detail.get("ExitCode")
    reason = detail.get("Reason", reason)
    tail = RunFolder(job.folder).log_tail(job.job_id)
    text = f"SLURM job {job.job_id} ended {state}"
    if killed:
        text = (f"SLURM job {job.job_id} was killed (it ended {state} without the clean stop a cancel makes, "
                "e.g. scancel --signal=KILL)")
    if reason and reason not in ("None", "(null)"):
        text += f" ({reason})"
    if exit_code and exit_code != "0:0":
        text += f", exit code {exit_code}"
    text += " before the run recorded an outcome"
    return text + (f"; its log ends: {tail}" if tail else "")


def _ingest_files(store: RunStore, run: Run, job: ClusterJob, folder: RunFolder) -> tuple[int, int]:
    """Copy the folder's data set, epochs, checkpoint and progress into a running record; returns
    (last epoch ingested, resumes)."""
    state = folder.read_json("state.json") or {}
    resumes = max(0, int(state.get("starts", 0)) - 1)
    if state.get("dataset"):
        store.set_dataset(run.id, state["dataset"])
    last = job.epochs_ingested
    for record in folder.epochs_after(job.epochs_ingested):
        store.log_epoch(run.id, record["epoch"], seconds=record["seconds"], lr=record["lr"],
                        metrics=record["metrics"], progress=record.get("progress"))
        last = record["epoch"]
    if state.get("result"):
        store.update_result(run.id, state["result"])
    message = state.get("message") or ""
    if resumes:
        message = f"{message} (resumed {resumes}×)".strip()
    store.heartbeat(run.id, progress=state.get("progress"), message=message or None)
    return last, resumes


def ingest(store: RunStore, job: ClusterJob, info: SlurmJobInfo | None, *, now: float | None = None) -> Run:
    """Bring one cluster run's record up to date from SLURM's view of its job (``info``; ``None``
    when SLURM no longer knows it) and its run folder's files; returns the record."""
    now = time.time() if now is None else now
    run = store.get(job.run_id)
    if not run.active:
        return run
    folder = RunFolder(job.folder)
    state, reason = (info.state, info.reason) if info else (None, "")
    outcome = folder.read_json("outcome.json")
    last, resumes = job.epochs_ingested, job.resumes
    if run.status == "queued" and (state in ("RUNNING", "COMPLETING", "CONFIGURING") or outcome):
        _set_status(store, run.id, "running", host=info.nodes if info and info.nodes else None)
        run = store.get(run.id)
    try:
        if run.status == "running" and (folder.path / "state.json").exists():
            last, resumes = _ingest_files(store, run, job, folder)
        _end(store, run, job, folder, outcome, state, reason, now)
    except RunError:  # another pass (the watcher beside `equiv runs sync`) ended it first
        pass
    with _db(store, write=True) as conn:
        conn.execute("UPDATE cluster_jobs SET slurm_state = COALESCE(?, slurm_state), resumes = ?, "
                     "epochs_ingested = MAX(epochs_ingested, ?), seen_at = ? WHERE run_id = ?",
                     (state, resumes, last, now, job.run_id))
    return store.get(run.id)


def _end(store: RunStore, run: Run, job: ClusterJob, folder: RunFolder, outcome: dict | None, state: str | None,
         reason: str, now: float) -> None:
    """The status change SLURM's state and the outcome file call for, if any."""
    if outcome and outcome["status"] == "finished":
        store.finish(run.id, outcome.get("result"), dataset=outcome.get("dataset"))
    elif outcome and outcome["status"] == "failed":
        store.fail(run.id, outcome.get("error") or "failed on the cluster")
    elif state == "CANCELLED" or (state is None and run.cancel_requested):
        files = folder.read_json("state.json") or {}
        clean = run.cancel_requested or not files or files.get("status") == "stopped"
        if clean:  # cancelled from equiv, before it started, or stopped cleanly on scancel's SIGTERM
            store.mark_cancelled(run.id, result=files.get("result"))
        elif now - float(files.get("heartbeat_at") or 0) > KILLED_AFTER_S:  # no clean stop, no sign of life
            store.fail(run.id, _failure_reason(job, state, reason, killed=True))
    elif state in FAILED_SLURM_STATES or state == "COMPLETED":
        store.fail(run.id, _failure_reason(job, state, reason))
    elif state is None and now - job.submitted_at > FORGOTTEN_GRACE_S:
        store.fail(run.id, f"SLURM no longer knows job {job.job_id} and the run recorded no outcome "
                           f"(see {folder.slurm_folder})")
    elif state == "PENDING" and run.status == "running":  # requeued: scontrol requeue, preemption, time limit
        _set_status(store, run.id, "queued", message=f"requeued by SLURM ({reason}); resumes from its last epoch")


def active_jobs(store: RunStore) -> list[ClusterJob]:
    """The jobs of cluster runs that are queued or running."""
    with _db(store) as conn:
        rows = conn.execute("SELECT j.* FROM cluster_jobs j JOIN runs r ON r.id = j.run_id "
                            "WHERE r.status IN ('queued', 'running') ORDER BY j.run_id").fetchall()
    return [_job(r) for r in rows]


def sync(store: RunStore | None = None) -> list[Run]:
    """One ingest pass (see the module docstring): ``squeue`` once, then :func:`ingest` per active
    cluster run; returns the runs that changed status."""
    store = store or RunStore()
    jobs = active_jobs(store)
    if not jobs:
        return []
    infos = slurm_jobs([j.job_id for j in jobs])
    changed = []
    for job in jobs:
        before = store.get(job.run_id).status
        after = ingest(store, job, infos.get(job.job_id))
        if after.status != before:
            changed.append(after)
    return changed


def cancel_run(store: RunStore, run_id: int) -> Run:
    """Cancel any run: a cluster run's job gets ``scancel`` (the watcher then records it cancelled;
    a queued one is cancelled at once), any other run :meth:`RunStore.request_cancel`."""
    job = cluster_job(store, run_id)
    run = store.get(run_id)
    if job is None or not run.active:
        return store.request_cancel(run_id)
    scancel(job.job_id)
    return store.request_cancel(run_id)  # queued: cancelled now; running: flagged until SLURM says CANCELLED


# -- the watcher -----------------------------------------------------------------------------------

def watcher_pid(store: RunStore) -> int | None:
    """The live cluster watcher's process id, or ``None`` (it holds the lock of the queue
    ``slurm`` as a launcher holds its device's)."""
    return launcher_pid(store.path, CLUSTER_QUEUE)


def has_active(store: RunStore) -> bool:
    return bool(store.list_runs(status=("queued", "running"), device=CLUSTER_QUEUE, limit=1))


def ensure_watcher(store: RunStore, idle_exit_s: float | None = None) -> int | None:
    """Start a cluster watcher (detached, own session) when none holds the lock; its pid."""
    pid = watcher_pid(store)
    if pid is not None:
        return pid
    idle = idle_exit_s if idle_exit_s is not None else float(os.environ.get("EQUIV_CLUSTER_WATCH_IDLE_S",
                                                                            DEFAULT_WATCH_IDLE_S))
    return spawn_detached([sys.executable, "-m", "equiv.jobs.cluster", "watch", "--store", str(store.path),
                           "--idle-exit", f"{idle:g}"], store.path.parent / "logs" / "cluster-watcher.log").pid


def watch(store: RunStore, idle_exit_s: float = DEFAULT_WATCH_IDLE_S, poll_s: float = WATCH_POLL_S) -> int:
    """Ingest every ``poll_s`` seconds until no cluster run was active for ``idle_exit_s``
    (holding the watcher lock; returns at once when another watcher holds it)."""
    with _try_lock(lock_path(store.path, CLUSTER_QUEUE), patience_s=LOCK_PATIENCE_S) as fd:
        if fd is None:
            print(f"cluster watcher {os.getpid()}: another watcher serves this store; leaving", flush=True)
            return 0
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        idle_since = time.monotonic()
        failures = 0
        while time.monotonic() - idle_since < idle_exit_s:
            try:
                for run in sync(store):
                    print(f"{time.strftime('%H:%M:%S')} run {run.id}: {run.status}"
                          + (f" ({run.error})" if run.error else ""), flush=True)
                failures = 0
            except (RunError, sqlite3.Error) as exc:  # SLURM or the store unavailable: try again, less often
                failures += 1
                print(f"{time.strftime('%H:%M:%S')} sync failed ({failures} in a row): {exc}", flush=True)
            try:
                if has_active(store):
                    idle_since = time.monotonic()
            except (RunError, sqlite3.Error):
                idle_since = time.monotonic()  # cannot tell: runs may be active
            time.sleep(watch_pause(poll_s, failures))
    return 0


def watch_pause(poll_s: float, failures: int) -> float:
    """Seconds until the watcher's next look: ``poll_s``, doubling with each failed look in a row up
    to :data:`MAX_WATCH_PAUSE_S` (SLURM down for an hour is asked about once a minute, not 7,200
    times).

    >>> [watch_pause(0.5, k) for k in (0, 1, 3, 20)]
    [0.5, 1.0, 4.0, 60.0]
    """
    return min(MAX_WATCH_PAUSE_S, poll_s * 2 ** min(failures, 16))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m equiv.jobs.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["watch", "sync"])
    parser.add_argument("--store", help="the run store (default: runs.sqlite in the data home)")
    parser.add_argument("--idle-exit", type=float, default=DEFAULT_WATCH_IDLE_S)
    args = parser.parse_args(argv)
    store = RunStore(args.store)
    if args.action == "sync":
        for run in sync(store):
            print(f"run {run.id}: {run.status}")
        return 0
    return watch(store, args.idle_exit)


if __name__ == "__main__":
    sys.exit(main())
