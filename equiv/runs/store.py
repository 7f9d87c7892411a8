"""The run store: every run (training, sweep member, data generation) in one SQLite database.

``data_home()/runs.sqlite`` by default (``EQUIV_HOME`` moves it). The database is in WAL mode so
readers never block the writer; every write is one short ``BEGIN IMMEDIATE`` transaction, which
takes the write lock up front, so concurrent writers queue on the busy timeout instead of failing
with "database is locked"; each call opens its own connection, so a store object can be shared by
threads and survives ``fork``.

Life of a run::

    queued ──claim_next / mark_running──▶ running ──finish──▶ finished
      │                                     ├──fail / reap──▶ failed
      └──request_cancel──▶ cancelled ◀──────┴──request_cancel, then the worker's mark_cancelled

A worker calls :meth:`RunStore.heartbeat` every few seconds (it returns whether a cancel was
requested) and :meth:`RunStore.log_epoch` after each epoch. :meth:`RunStore.reap` marks a running
run failed when its worker is gone: the process id is not alive (or is a zombie), or belongs to a
process with another start time (the id was reused), or there has been no heartbeat for
``stale_after_s``. Readers (:meth:`RunStore.get`, :meth:`RunStore.list_runs`) reap first, so no
one sees "running" for a dead process.

Example:
    >>> import tempfile, os
    >>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    >>> run = store.create("train", {"model": "nequip", "molecule": "ethanol"})
    >>> run.status, store.claim_next("cpu", pid=os.getpid()).id == run.id
    ('queued', True)
    >>> store.log_epoch(run.id, 1, seconds=2.5, lr=0.01, metrics={"val_force_mae_mev_per_a": 80.0})
    >>> store.finish(run.id, test_metrics={"force_mae_mev_per_a": 75.0}).status
    'finished'
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from equiv.errors import EquivError, RunError
from equiv.paths import data_home
from equiv.runs.process import pid_alive, process_start_time, this_host
from equiv.runs.records import ACTIVE_STATUSES, EPOCH_METRICS, KINDS, STATUSES, EpochRecord, Run

__all__ = ["RunStore", "default_store_path", "DEFAULT_STALE_AFTER_S", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
#: A running run without a heartbeat for this long is failed by :meth:`RunStore.reap`.
DEFAULT_STALE_AFTER_S = 60.0

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in KINDS)})),
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    config TEXT NOT NULL DEFAULT '{{}}',
    dataset TEXT,
    model TEXT,
    molecule TEXT,
    device TEXT NOT NULL DEFAULT 'cpu',
    group_id TEXT,
    idempotency_key TEXT UNIQUE,
    pid INTEGER,
    pid_start INTEGER,
    host TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    heartbeat_at REAL,
    progress REAL,
    message TEXT,
    test_metrics TEXT,
    checkpoint_path TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, device, id);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs (group_id);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    seconds REAL NOT NULL,
    lr REAL,
    {", ".join(f"{m} REAL" for m in EPOCH_METRICS)},
    extra TEXT,
    logged_at REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""


def default_store_path() -> Path:
    """``data_home()/runs.sqlite``."""
    return data_home() / "runs.sqlite"


def _dumps(obj: Any) -> str | None:
    return None if obj is None else json.dumps(obj, sort_keys=True, allow_nan=False, default=str)


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN and infinities become ``None``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _clean(obj.item())
    return obj


def _number(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class RunStore:
    """Access to the run database at ``path`` (default :func:`default_store_path`).

    Args:
        path: the SQLite file (created with its tables on first use).
        busy_timeout_s: how long a write waits for another writer before failing.
    """

    def __init__(self, path: str | os.PathLike | None = None, busy_timeout_s: float = 30.0):
        self.path = Path(path) if path is not None else default_store_path()
        self.busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _init_schema(self) -> None:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            try:
                with contextlib.closing(self._connect()) as conn:
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version == SCHEMA_VERSION:
                        return  # set up already: opening the store costs no write
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                        conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("BEGIN IMMEDIATE")
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        conn.execute("ROLLBACK")
                        raise RunError(f"{self.path} was written by a newer equiv (schema {version}); update equiv")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise RunError(f"cannot open the run store {self.path}: {exc}") from None
                time.sleep(0.05)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, holding the write lock from its start."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise RunError(f"the run store {self.path} is busy or unwritable ({exc})") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with contextlib.closing(self._connect()) as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    @staticmethod
    def _row(conn: sqlite3.Connection, run_id: int) -> Run:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunError(f"no run {run_id}")
        return Run.from_row(row)

    def _require(self, conn: sqlite3.Connection, run_id: int, statuses: tuple[str, ...], action: str) -> Run:
        run = self._row(conn, run_id)
        if run.status not in statuses:
            raise RunError(f"cannot {action} run {run_id}: it is {run.status}"
                           + (f" ({run.error})" if run.error else ""))
        return run

    # -- creating and claiming ----------------------------------------------------------------

    def create(
        self,
        kind: str,
        config: Mapping[str, Any],
        *,
        dataset: Mapping[str, Any] | None = None,
        device: str = "cpu",
        group_id: str | None = None,
        idempotency_key: str | None = None,
        model: str | None = None,
        molecule: str | None = None,
        owner_pid: int | None = None,
    ) -> Run:
        """A new queued run. With an ``idempotency_key`` already used, the existing run is returned
        instead (two clicks on "launch" make one run).

        With ``owner_pid`` the run is created running for that process in the same transaction: a
        run executed in the foreground (``equiv train``) is never queued, so no background launcher
        can claim it before its own process starts it."""
        if kind not in KINDS:
            raise RunError(f"unknown run kind {kind!r}; one of {', '.join(KINDS)}")
        config = _clean(dict(config))
        model = model if model is not None else config.get("model")
        molecule = molecule if molecule is not None else config.get("molecule")
        with self._write() as conn:
            if idempotency_key is not None:
                row = conn.execute("SELECT id FROM runs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
                if row is not None:
                    return self._row(conn, row["id"])
            now = time.time()
            if owner_pid is None:
                status, pid, pid_start, host, started = "queued", None, None, None, None
            else:
                status, pid, pid_start, host, started = "running", owner_pid, process_start_time(owner_pid), this_host(), now
            cur = conn.execute(
                "INSERT INTO runs (kind, status, config, dataset, model, molecule, device, group_id, "
                "idempotency_key, created_at, pid, pid_start, host, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, status, _dumps(config), _dumps(_clean(dataset)), None if model is None else str(model),
                 None if molecule is None else str(molecule), device, group_id, idempotency_key, now,
                 pid, pid_start, host, started, started),
            )
            return self._row(conn, cur.lastrowid)

    def claim_next(self, device: str, *, max_running: int = 1, pid: int | None = None) -> Run | None:
        """Atomically take the oldest queued run on ``device`` and mark it running for ``pid``
        (default: this process), unless ``max_running`` runs already run there. ``None`` when
        there is nothing to do. Two claimers never get the same run."""
        self.reap()
        pid = os.getpid() if pid is None else pid
        with self._write() as conn:
            running = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'running' AND device = ?",
                                   (device,)).fetchone()[0]
            if running >= max_running:
                return None
            row = conn.execute("SELECT id FROM runs WHERE status = 'queued' AND device = ? ORDER BY id LIMIT 1",
                               (device,)).fetchone()
            if row is None:
                return None
            now = time.time()
            conn.execute(
                "UPDATE runs SET status = 'running', pid = ?, pid_start = ?, host = ?, started_at = ?, "
                "heartbeat_at = ? WHERE id = ?",
                (pid, process_start_time(pid), this_host(), now, now, row["id"]),
            )
            return self._row(conn, row["id"])

    def mark_running(self, run_id: int, *, pid: int | None = None, dataset: Mapping[str, Any] | None = None) -> Run:
        """The worker ``pid`` (default: this process) owns the run from now: a queued run starts, a
        claimed run changes hands (a launcher that claimed it gives it to the worker it spawned)."""
        pid = os.getpid() if pid is None else pid
        with self._write() as conn:
            run = self._require(conn, run_id, ACTIVE_STATUSES, "start")
            now = time.time()
            conn.execute(
                "UPDATE runs SET status = 'running', pid = ?, pid_start = ?, host = ?, started_at = ?, "
                "heartbeat_at = ?, dataset = COALESCE(?, dataset) WHERE id = ?",
                (pid, process_start_time(pid), this_host(), run.started_at or now, now,
                 _dumps(_clean(dataset)), run_id),
            )
            return self._row(conn, run_id)

    def queue_position(self, run_id: int) -> int | None:
        """How many queued runs on the same device are ahead of a queued run (0: next); ``None``
        when it is not queued."""
        rows = self._read(
            "SELECT (SELECT COUNT(*) FROM runs q WHERE q.status = 'queued' AND q.device = r.device AND q.id < r.id) "
            "AS ahead, r.status FROM runs r WHERE r.id = ?", (run_id,))
        if not rows:
            raise RunError(f"no run {run_id}")
        return rows[0]["ahead"] if rows[0]["status"] == "queued" else None

    # -- while running ------------------------------------------------------------------------

    def heartbeat(self, run_id: int, *, progress: float | None = None, message: str | None = None) -> bool:
        """The worker is alive (and optionally how far it is). Returns whether a cancel was
        requested. Raises :class:`RunError` when the run is no longer running (for example it was
        reaped), so the worker stops."""
        with self._write() as conn:
            run = self._require(conn, run_id, ("running",), "update")
            conn.execute(
                "UPDATE runs SET heartbeat_at = ?, progress = COALESCE(?, progress), message = COALESCE(?, message) "
                "WHERE id = ?", (time.time(), _number(progress), message, run_id))
            return run.cancel_requested

    def log_epoch(
        self,
        run_id: int,
        epoch: int,
        *,
        seconds: float,
        lr: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        progress: float | None = None,
    ) -> None:
        """Record the errors after ``epoch`` (also a heartbeat). ``metrics`` keys in
        :data:`equiv.runs.EPOCH_METRICS` (meV, meV/Å) get their own columns; any other keys are
        kept in ``extra``. Logging the same epoch again replaces it."""
        metrics = dict(metrics or {})
        unknown = {k: _clean(v) for k, v in metrics.items() if k not in EPOCH_METRICS}
        values = [_number(metrics.get(m)) for m in EPOCH_METRICS]
        now = time.time()
        with self._write() as conn:
            self._require(conn, run_id, ("running",), "log an epoch of")
            conn.execute(
                f"INSERT OR REPLACE INTO epochs (run_id, epoch, seconds, lr, {', '.join(EPOCH_METRICS)}, extra, "
                f"logged_at) VALUES (?, ?, ?, ?, {', '.join('?' * len(EPOCH_METRICS))}, ?, ?)",
                (run_id, int(epoch), float(seconds), _number(lr), *values, _dumps(unknown or None), now),
            )
            conn.execute("UPDATE runs SET heartbeat_at = ?, progress = COALESCE(?, progress) WHERE id = ?",
                         (now, _number(progress), run_id))

    def set_checkpoint(self, run_id: int, path: str | os.PathLike) -> None:
        """Record the best checkpoint so far."""
        with self._write() as conn:
            self._require(conn, run_id, ("running",), "set the checkpoint of")
            conn.execute("UPDATE runs SET checkpoint_path = ?, heartbeat_at = ? WHERE id = ?",
                         (str(path), time.time(), run_id))

    def set_dataset(self, run_id: int, dataset: Mapping[str, Any]) -> None:
        """Record the data set's metadata once it is loaded."""
        with self._write() as conn:
            self._row(conn, run_id)
            conn.execute("UPDATE runs SET dataset = ? WHERE id = ?", (_dumps(_clean(dataset)), run_id))

    # -- ending -------------------------------------------------------------------------------

    def finish(
        self,
        run_id: int,
        *,
        test_metrics: Mapping[str, Any] | None = None,
        checkpoint_path: str | os.PathLike | None = None,
        dataset: Mapping[str, Any] | None = None,
    ) -> Run:
        """The run ended normally with ``test_metrics``."""
        with self._write() as conn:
            self._require(conn, run_id, ("running",), "finish")
            conn.execute(
                "UPDATE runs SET status = 'finished', finished_at = ?, heartbeat_at = ?, progress = 1.0, "
                "test_metrics = ?, checkpoint_path = COALESCE(?, checkpoint_path), dataset = COALESCE(?, dataset) "
                "WHERE id = ?",
                (time.time(), time.time(), _dumps(_clean(test_metrics)),
                 None if checkpoint_path is None else str(checkpoint_path), _dumps(_clean(dataset)), run_id),
            )
            return self._row(conn, run_id)

    def fail(self, run_id: int, reason: str) -> Run:
        """The run failed with ``reason``. A run that already ended keeps its status and reason."""
        with self._write() as conn:
            run = self._row(conn, run_id)
            if not run.active:
                return run
            conn.execute("UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                         (time.time(), str(reason), run_id))
            return self._row(conn, run_id)

    @contextlib.contextmanager
    def recording_failure(self, run_id: int) -> Iterator[None]:
        """Fail run ``run_id`` with the reason of any exception raised inside (then re-raise it):
        an :class:`equiv.errors.EquivError`'s message, "interrupted", or "internal error: ..."."""
        try:
            yield
        except EquivError as exc:
            self.fail(run_id, str(exc))
            raise
        except KeyboardInterrupt:
            self.fail(run_id, "interrupted")
            raise
        except BaseException as exc:
            self.fail(run_id, f"internal error: {type(exc).__name__}: {exc}")
            raise

    def request_cancel(self, run_id: int) -> Run:
        """Cancel: a queued run is cancelled at once; a running run gets the flag and its worker
        stops at its next check (then calls :meth:`mark_cancelled`); an ended run is unchanged."""
        with self._write() as conn:
            run = self._row(conn, run_id)
            if run.status == "queued":
                conn.execute("UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished_at = ?, "
                             "error = 'cancelled before it started' WHERE id = ?", (time.time(), run_id))
            elif run.status == "running":
                conn.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))
            return self._row(conn, run_id)

    def cancel_requested(self, run_id: int) -> bool:
        """Whether a cancel was requested (cheap; no write)."""
        rows = self._read("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise RunError(f"no run {run_id}")
        return bool(rows[0]["cancel_requested"])

    def mark_cancelled(self, run_id: int, *, checkpoint_path: str | os.PathLike | None = None,
                       test_metrics: Mapping[str, Any] | None = None) -> Run:
        """The worker stopped on a cancel request (keeping its best checkpoint, if any)."""
        with self._write() as conn:
            self._require(conn, run_id, ACTIVE_STATUSES, "cancel")
            conn.execute(
                "UPDATE runs SET status = 'cancelled', cancel_requested = 1, finished_at = ?, error = 'cancelled', "
                "checkpoint_path = COALESCE(?, checkpoint_path), test_metrics = COALESCE(?, test_metrics) "
                "WHERE id = ?",
                (time.time(), None if checkpoint_path is None else str(checkpoint_path),
                 _dumps(_clean(test_metrics)), run_id),
            )
            return self._row(conn, run_id)

    # -- reading ------------------------------------------------------------------------------

    def reap(self, *, stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[Run]:
        """Fail running runs whose worker is gone; returns them. On this host a run is dead when its
        process id is not alive (or a zombie) or now belongs to a process with another start
        time; on any host when there was no heartbeat for ``stale_after_s`` seconds."""
        now, host = time.time(), this_host()
        verdicts = []
        # Hook (cluster runs): runs on the 'slurm' queue have no local worker process and get no
        # heartbeat from one; equiv.jobs.cluster decides their fate from SLURM's job state.
        for row in self._read("SELECT id, pid, pid_start, host, heartbeat_at FROM runs "
                              "WHERE status = 'running' AND device != 'slurm'"):
            pid, reason = row["pid"], None
            if row["host"] == host and pid is not None:
                if not pid_alive(pid):
                    reason = f"worker process {pid} died (killed or out of memory)"
                elif row["pid_start"] is not None and process_start_time(pid) not in (None, row["pid_start"]):
                    reason = f"worker process {pid} is gone (its process id now belongs to another process)"
            beat = row["heartbeat_at"]
            if reason is None and beat is not None and now - beat > stale_after_s:
                reason = (f"no heartbeat from worker process {pid} on {row['host']} for {now - beat:.0f} s "
                          "(hung, or its machine is unreachable)")
            if reason is not None:
                verdicts.append((row["id"], pid, beat, reason))
        if not verdicts:
            return []
        reaped = []
        with self._write() as conn:
            for run_id, pid, beat, reason in verdicts:
                cur = conn.execute(
                    "UPDATE runs SET status = 'failed', finished_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running' AND pid IS ? AND heartbeat_at IS ?",
                    (now, reason, run_id, pid, beat))
                if cur.rowcount:
                    reaped.append(self._row(conn, run_id))
        return reaped

    def get(self, run_id: int, *, reap: bool = True) -> Run:
        """One run (reaping dead runs first); :class:`RunError` for an unknown id."""
        if reap:
            self.reap()
        rows = self._read("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            raise RunError(f"no run {run_id}")
        return Run.from_row(rows[0])

    def epochs(self, run_id: int) -> list[EpochRecord]:
        """Per-epoch records of a run, in epoch order."""
        return [EpochRecord.from_row(r) for r in
                self._read("SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch", (int(run_id),))]

    def list_runs(
        self,
        *,
        status: str | Iterable[str] | None = None,
        kind: str | None = None,
        model: str | None = None,
        molecule: str | None = None,
        group_id: str | None = None,
        device: str | None = None,
        limit: int | None = None,
        reap: bool = True,
    ) -> list[Run]:
        """Runs matching every filter given, newest first."""
        if reap:
            self.reap()
        where, params = [], []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise RunError(f"unknown status {bad[0]!r}; one of {', '.join(STATUSES)}")
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params += statuses
        for column, value in (("kind", kind), ("model", model), ("molecule", molecule), ("group_id", group_id),
                              ("device", device)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Run.from_row(r) for r in self._read(sql, params)]
