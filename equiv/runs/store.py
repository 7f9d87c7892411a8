"""The run store: every run (training, sweep member, data generation, MD) in one SQLite database.

``data_home()/runs.sqlite`` by default (``EQUIV_HOME`` moves it). The database is in WAL mode so
readers never block the writer; every write is one short ``BEGIN IMMEDIATE`` transaction, which
takes the write lock up front, so concurrent writers queue on the busy timeout instead of failing
with "database is locked"; each call opens its own connection, so a store object can be shared by
threads and survives ``fork``.

Life of a run::

    queued ──claim_next / mark_running──▶ running ──finish──▶ finished
      │                                     ├──fail / reap──▶ failed
      └──request_cancel──▶ cancelled ◀──────┴──request_cancel, then the worker's mark_cancelled

A run is a job: a ``kind``, a spec (``config``, JSON) and a ``result`` (JSON), whatever the kind;
:mod:`equiv.jobs.lifecycle` carries a run through this life. A worker calls
:meth:`RunStore.heartbeat` every few seconds (it returns whether a cancel was requested) and, for
training, :meth:`RunStore.log_epoch` after each epoch. :meth:`RunStore.reap` marks a running run
failed when its worker is gone: the process id is not alive (or is a zombie), or belongs to a
process with another start time (the id was reused), or there has been no heartbeat for
``stale_after_s``. The launcher's loop and the workers' heartbeat threads reap; readers (:meth:`RunStore.get`, :meth:`RunStore.list_runs`) never write.
A run whose cancel was requested and whose worker is gone ends cancelled, not failed.

Errors: every SQLite error becomes a :class:`equiv.errors.RunError` with a message a person can act
on, never a ``sqlite3.DatabaseError``: :class:`StoreUnavailable` (the file is damaged, not a
database, unreadable, or was deleted while in use), :class:`StoreBusy` (a write lock held past the
busy timeout, a full disk, an I/O error: worth retrying) and :class:`RunGone` (the run is unknown
or no longer in a state that allows the change: do not retry). Heartbeats retry a busy store with
back-off, and the final writes (:meth:`RunStore.finish`, :meth:`RunStore.mark_cancelled`,
:meth:`RunStore.fail`) retry for ``store_retry_s`` (:mod:`equiv.runs.limits`), so a finished run is
not lost to one failed write.

Quotas: a queued run is refused (:class:`QuotaError`) when the server already has
``max_active_runs`` queued or running runs, or its owner (a browser session, see :func:`run_owner`)
has ``max_active_runs_per_session``; checked in the same transaction that inserts the run.

Example:
    >>> import tempfile, os
    >>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    >>> run = store.create("train", {"model": "nequip", "molecule": "ethanol"})
    >>> run.status, store.claim_next("cpu", pid=os.getpid()).id == run.id
    ('queued', True)
    >>> store.log_epoch(run.id, 1, seconds=2.5, lr=0.01, metrics={"val_force_mae_mev_per_a": 80.0})
    >>> store.finish(run.id, {"test_metrics": {"force_mae_mev_per_a": 75.0}}).test_metrics
    {'force_mae_mev_per_a': 75.0}
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from equiv.errors import RunError
from equiv.paths import data_home
from equiv.runs.limits import Limits, load_limits
from equiv.runs.process import pid_alive, process_start_time, same_process, this_host
from equiv.runs.records import ACTIVE_STATUSES, EPOCH_METRICS, STATUSES, EpochRecord, Run

__all__ = ["RunStore", "default_store_path", "SCHEMA_VERSION", "StoreUnavailable", "StoreBusy", "RunGone",
           "QuotaError", "run_owner"]

#: 3: a generic ``result`` (JSON) replaced the columns ``test_metrics`` and ``checkpoint_path``, and
#: any kind of job may be stored (2 added ``owner``).
SCHEMA_VERSION = 3


class StoreUnavailable(RunError):
    """The run store cannot be used at all: damaged, not a database, unreadable, or deleted while
    in use. Retrying does not help; moving the file away starts a new, empty store."""


class StoreBusy(RunError):
    """A write could not be done now: another process held the write lock past the busy timeout,
    or the disk is full, or an I/O error. The run is unaffected; retrying later may succeed."""


class RunGone(RunError):
    """The run is unknown, or no longer in a state that allows the change (it ended, was reaped,
    or the store was replaced): the worker should stop without retrying."""


class QuotaError(RunError):
    """A run was refused because the server or the session already has as many active runs as
    the limits allow (:mod:`equiv.runs.limits`)."""


_OWNER: contextvars.ContextVar[str | None] = contextvars.ContextVar("equiv_run_owner", default=None)


@contextlib.contextmanager
def run_owner(owner: str | None) -> Iterator[None]:
    """Runs queued inside this block belong to ``owner`` (a browser session's id), which the
    per-session quota counts. Pages wrap their launches in it; without it a run has no owner."""
    token = _OWNER.set(owner)
    try:
        yield
    finally:
        _OWNER.reset(token)


_BUSY_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_NOMEM", "SQLITE_INTERRUPT")
_BUSY_WORDS = ("locked", "busy", "disk is full", "disk i/o", "out of memory")


def _store_error(path: Path, exc: sqlite3.Error) -> RunError:
    """The :class:`RunError` that says what an SQLite error on the store at ``path`` means."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith(_BUSY_CODES) or (not name and any(w in text.lower() for w in _BUSY_WORDS)):
        return StoreBusy(f"the run store {path} is busy or cannot be written now ({text}); try again shortly")
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreUnavailable(f"the run store {path} cannot be opened or written ({text}); check that its folder "
                                "exists and that this user may write there")
    if "no such table" in text:
        return StoreUnavailable(f"the run store {path} was deleted or replaced while in use ({text}); "
                                "reload to start from the new store")
    return StoreUnavailable(f"the run store {path} is damaged or unreadable ({text}); move it away (for example "
                            f"to {path.name}.broken) and a new, empty store is made on the next start")

_RUNS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{table}} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    config TEXT NOT NULL DEFAULT '{{{{}}}}',
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
    result TEXT,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT
)"""
_SCHEMA = _RUNS_TABLE.format(table="runs") + f""";
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, device, id);
CREATE INDEX IF NOT EXISTS runs_by_group ON runs (group_id);
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (owner, status);
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


def _legacy_result(kind: str, test_metrics: str | None, checkpoint_path: str | None) -> dict[str, Any] | None:
    """The ``result`` of a run stored under schema 1 or 2: a training run's test metrics and
    checkpoint under those names; a data generation's or MD run's 'test metrics' were its result."""
    metrics = None if test_metrics is None else json.loads(test_metrics)
    if kind in ("generate", "md"):
        result = dict(metrics or {})
    else:
        result = {} if metrics is None else {"test_metrics": metrics}
    if checkpoint_path is not None:
        result["checkpoint_path"] = checkpoint_path
    return result or None


def _migrate_to_results(conn: sqlite3.Connection) -> None:
    """Schema 2 → 3 inside the caller's transaction (foreign keys off, so the epochs stay): a new
    ``runs`` table with ``result`` in place of ``test_metrics`` and ``checkpoint_path`` and without
    the check on kinds, filled from the old one (SQLite's way to change a table's columns)."""
    conn.execute(_RUNS_TABLE.format(table="runs_v3"))
    kept = ", ".join(c for (c,) in conn.execute("SELECT name FROM pragma_table_info('runs_v3')") if c != "result")
    conn.execute(f"INSERT INTO runs_v3 ({kept}) SELECT {kept} FROM runs")
    for row in conn.execute("SELECT id, kind, test_metrics, checkpoint_path FROM runs").fetchall():
        conn.execute("UPDATE runs_v3 SET result = ? WHERE id = ?", (_dumps(_legacy_result(*row[1:])), row[0]))
    conn.execute("DROP TABLE runs")
    conn.execute("ALTER TABLE runs_v3 RENAME TO runs")


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the connection is closed next; SQLite rolls back what was not committed


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



class _DeadWorker(NamedTuple):
    """A running run whose worker is gone, as the reaper judged it."""

    pid: int | None
    heartbeat_at: float | None
    ends_as: str  # "failed", or "cancelled" when a cancel was requested
    reason: str

class RunStore:
    """Access to the run database at ``path`` (default :func:`default_store_path`).

    Args:
        path: the SQLite file (created with its tables on first use).
        busy_timeout_s: how long a write waits for another writer before failing.
        limits: quotas and timings (default: :func:`equiv.runs.limits.load_limits` for this store).

    Raises :class:`StoreUnavailable` when the file cannot be used as a run store.
    """

    def __init__(self, path: str | os.PathLike | None = None, busy_timeout_s: float = 30.0,
                 limits: Limits | None = None):
        self.path = Path(path) if path is not None else default_store_path()
        self.busy_timeout_s = busy_timeout_s
        self.limits = limits or load_limits(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot make the folder of the run store {self.path}: {exc}") from None
        self._init_schema()

    # -- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _refuse_migration_under_live_workers(self, conn: sqlite3.Connection, version: int) -> None:
        """A store with runs whose workers still beat (they run the previous equiv, which cannot
        write the new schema) is not migrated under them: :class:`StoreUnavailable` says which."""
        alive = [run_id for (run_id,) in conn.execute(
            "SELECT id FROM runs WHERE status IN ('claimed', 'running') AND heartbeat_at > ? ORDER BY id",
            (time.time() - self.limits.stale_after_s,))]
        if alive:
            conn.execute("ROLLBACK")
            runs = ", ".join(str(i) for i in alive)
            raise StoreUnavailable(
                f"{self.path} is a schema {version} run store with runs still running under the previous equiv "
                f"(runs {runs}); this version would move it to schema {SCHEMA_VERSION}, which their workers cannot "
                "write: let them end (or cancel them with the previous version), then open it again")

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
                    conn.execute("PRAGMA foreign_keys = OFF")  # a migration replaces the runs table
                    conn.execute("BEGIN IMMEDIATE")
                    version = conn.execute("PRAGMA user_version").fetchone()[0]
                    if version > SCHEMA_VERSION:
                        conn.execute("ROLLBACK")
                        raise StoreUnavailable(f"{self.path} was written by a newer equiv (schema {version}); "
                                               "update equiv")
                    if version in (1, 2):
                        self._refuse_migration_under_live_workers(conn, version)
                    if version == 1:  # schema 1 had no owner column
                        conn.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
                    if version in (1, 2):
                        _migrate_to_results(conn)
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
                return
            except sqlite3.Error as exc:
                error = _store_error(self.path, exc)
                if not isinstance(error, StoreBusy) or time.monotonic() > deadline:
                    raise error from None
                time.sleep(0.05)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, holding the write lock from its start. SQLite errors become
        :class:`StoreBusy` or :class:`StoreUnavailable`."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise _store_error(self.path, exc) from None
        except BaseException:
            _rollback(conn)
            raise
        finally:
            conn.close()

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            with contextlib.closing(self._connect()) as conn:
                return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def _retrying(self, write: Callable[[], Run], what: str) -> Run:
        """``write()``, retried with back-off (0.1 s doubling to 5 s) while the store is busy, for
        up to ``limits.store_retry_s`` seconds; then the last :class:`StoreBusy` is raised."""
        deadline = time.monotonic() + self.limits.store_retry_s
        pause = 0.1
        while True:
            try:
                return write()
            except StoreBusy as exc:
                if time.monotonic() + pause > deadline:
                    raise StoreBusy(f"could not {what} for {self.limits.store_retry_s:g} s: {exc}") from None
                time.sleep(pause)
                pause = min(5.0, pause * 2)

    @staticmethod
    def _row(conn: sqlite3.Connection, run_id: int) -> Run:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunGone(f"no run {run_id}")
        return Run.from_row(row)

    def _require(self, conn: sqlite3.Connection, run_id: int, statuses: tuple[str, ...], action: str) -> Run:
        run = self._row(conn, run_id)
        if run.status not in statuses:
            raise RunGone(f"cannot {action} run {run_id}: it is {run.status}"
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
        owner: str | None = None,
    ) -> Run:
        """A new queued run. With an ``idempotency_key`` already used, the existing run is returned
        instead (two clicks on "launch" make one run).

        ``owner`` (default: the one set by :func:`run_owner`) is who queued it, for the
        per-session quota. A queued run beyond the quotas raises :class:`QuotaError`.

        With ``owner_pid`` the run is created running for that process in the same transaction: a
        run executed in the foreground (``equiv train``) is never queued, so no background launcher
        can claim it before its own process starts it."""
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", str(kind)):
            raise RunError(f"a run kind is a short lower-case name (train, generate, ...), not {kind!r}")
        config = _clean(dict(config))
        model = model if model is not None else config.get("model")
        molecule = molecule if molecule is not None else config.get("molecule")
        with self._write() as conn:
            if idempotency_key is not None:
                row = conn.execute("SELECT id FROM runs WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
                if row is not None:
                    return self._row(conn, row["id"])
            owner = owner if owner is not None else _OWNER.get()
            if owner_pid is None:
                self._check_quota(conn, owner)
            now = time.time()
            if owner_pid is None:
                status, pid, pid_start, host, started = "queued", None, None, None, None
            else:
                status, pid, pid_start, host, started = "running", owner_pid, process_start_time(owner_pid), this_host(), now
            cur = conn.execute(
                "INSERT INTO runs (kind, status, config, dataset, model, molecule, device, group_id, "
                "idempotency_key, created_at, pid, pid_start, host, started_at, heartbeat_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, status, _dumps(config), _dumps(_clean(dataset)), None if model is None else str(model),
                 None if molecule is None else str(molecule), device, group_id, idempotency_key, now,
                 pid, pid_start, host, started, started, owner),
            )
            return self._row(conn, cur.lastrowid)

    def check_room(self, idempotency_keys: Sequence[str], owner: str | None = None) -> None:
        """Raise :class:`QuotaError` unless the runs of these keys that do not exist yet all fit in
        the quotas (``owner``: default the one set by :func:`run_owner`): a sweep is queued whole
        or not at all, never half."""
        with self._write() as conn:
            placeholders = ",".join("?" * len(idempotency_keys))
            known = conn.execute(f"SELECT COUNT(*) FROM runs WHERE idempotency_key IN ({placeholders})",
                                 tuple(idempotency_keys)).fetchone()[0] if idempotency_keys else 0
            adding = len(set(idempotency_keys)) - known
            if adding > 0:
                self._check_quota(conn, owner if owner is not None else _OWNER.get(), adding)

    def _check_quota(self, conn: sqlite3.Connection, owner: str | None, adding: int = 1) -> None:
        limits = self.limits
        active = conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')").fetchone()[0]
        more = f" and {adding} more would exceed" if adding > 1 else ""
        if active + adding > limits.max_active_runs:
            raise QuotaError(f"the server already has {active} queued or running runs{more or ','} its limit "
                             f"(max_active_runs = {limits.max_active_runs}); wait for some to end, or cancel one")
        if owner is None:
            return
        mine = conn.execute("SELECT COUNT(*) FROM runs WHERE owner = ? AND status IN ('queued', 'running')",
                            (owner,)).fetchone()[0]
        if mine + adding > limits.max_active_runs_per_session:
            raise QuotaError(f"this session already has {mine} queued or running runs{more or ','} the limit per "
                             f"session (max_active_runs_per_session = {limits.max_active_runs_per_session}); wait "
                             "for one to end, or cancel one")

    def active_counts(self, owner: str | None = None) -> tuple[int, int]:
        """(queued or running runs on the server, those of ``owner``) as the quotas count them."""
        rows = self._read("SELECT COUNT(*) AS n, COALESCE(SUM(owner IS ? AND owner IS NOT NULL), 0) AS mine "
                          "FROM runs WHERE status IN ('queued', 'running')", (owner,))
        return int(rows[0]["n"]), int(rows[0]["mine"])

    def claim_next(self, device: str, *, max_running: int = 1, pid: int | None = None) -> Run | None:
        """Atomically take the oldest queued run on ``device`` and mark it running for ``pid``
        (default: this process), unless ``max_running`` runs already run there. ``None`` when
        there is nothing to do. Two claimers never get the same run. (Dead runs count as running
        until someone reaps them: the launcher reaps before it claims.)"""
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
            raise RunGone(f"no run {run_id}")
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

    def heartbeat_claimed(self, run_ids: Iterable[int], pid: int | None = None) -> list[int]:
        """Heartbeat runs that ``pid`` (default: this process, a launcher) claimed and has not yet
        handed to their worker (still running under ``pid``); returns those it touched. A run its
        worker has taken over (another pid) or that ended is left alone."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return []
        pid = os.getpid() if pid is None else pid
        marks = ", ".join("?" * len(ids))
        with self._write() as conn:
            touched = [r["id"] for r in conn.execute(
                f"SELECT id FROM runs WHERE id IN ({marks}) AND status = 'running' AND pid = ?", (*ids, pid))]
            conn.execute(f"UPDATE runs SET heartbeat_at = ? WHERE id IN ({marks}) AND status = 'running' AND pid = ?",
                         (time.time(), *ids, pid))
            return touched

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

    def update_result(self, run_id: int, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` into a running run's (partial) result, e.g. a training run's best
        checkpoint so far."""
        with self._write() as conn:
            self._require(conn, run_id, ("running",), "update the result of")
            self._merge_result(conn, run_id, changes, "heartbeat_at = ?", time.time())

    def _merge_result(self, conn: sqlite3.Connection, run_id: int, changes: Mapping[str, Any] | None,
                      assignments: str, *params: Any) -> None:
        """``UPDATE runs SET result = <result merged with changes>, <assignments>`` for one run."""
        result = {**(self._row(conn, run_id).result or {}), **_clean(dict(changes or {}))}
        conn.execute(f"UPDATE runs SET result = ?, {assignments} WHERE id = ?", (_dumps(result or None), *params, run_id))

    def set_dataset(self, run_id: int, dataset: Mapping[str, Any]) -> None:
        """Record the data set's metadata once it is loaded."""
        with self._write() as conn:
            self._row(conn, run_id)
            conn.execute("UPDATE runs SET dataset = ? WHERE id = ?", (_dumps(_clean(dataset)), run_id))

    # -- ending -------------------------------------------------------------------------------

    def finish(self, run_id: int, result: Mapping[str, Any] | None = None, *,
               dataset: Mapping[str, Any] | None = None) -> Run:
        """The run ended normally with ``result`` (merged into its partial result; retried while
        the store is busy)."""
        return self._end(run_id, ("running",), "finish", result, "status = 'finished', heartbeat_at = ?, progress = 1.0, "
                         "dataset = COALESCE(?, dataset)", time.time(), _dumps(_clean(dataset)))

    def _end(self, run_id: int, statuses: tuple[str, ...], action: str, result: Mapping[str, Any] | None,
             assignments: str, *params: Any) -> Run:
        """A worker's final write (retried while the store is busy): ``finished_at`` now, the result
        merged, and ``assignments``."""
        def write() -> Run:
            with self._write() as conn:
                self._require(conn, run_id, statuses, action)
                self._merge_result(conn, run_id, result, f"finished_at = ?, {assignments}", time.time(), *params)
                return self._row(conn, run_id)

        return self._retrying(write, f"{action} run {run_id}")

    def fail(self, run_id: int, reason: str) -> Run:
        """The run failed with ``reason`` (retried while the store is busy). A run that already
        ended keeps its status and reason."""
        return self._retrying(lambda: self._fail(run_id, reason), f"record the failure of run {run_id}")

    def _fail(self, run_id: int, reason: str) -> Run:
        with self._write() as conn:
            run = self._row(conn, run_id)
            if not run.active:
                return run
            conn.execute("UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                         (time.time(), str(reason), run_id))
            return self._row(conn, run_id)

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

    def mark_cancelled(self, run_id: int, *, result: Mapping[str, Any] | None = None, reason: str = "cancelled") -> Run:
        """The worker stopped on a cancel request (keeping its partial result, such as the best
        checkpoint, merged with ``result``); retried while the store is busy."""
        return self._end(run_id, ACTIVE_STATUSES, "cancel", result, "status = 'cancelled', cancel_requested = 1, "
                         "error = ?", str(reason))

    # -- reading ------------------------------------------------------------------------------

    def dead_workers(self, *, stale_after_s: float | None = None) -> dict[int, str]:
        """Running runs whose worker is gone, with the reason (a read: :meth:`reap` ends them). On
        this host a run is dead when its process id is not alive (or a zombie) or now belongs to a
        process with another start time; on any host when there was no heartbeat for
        ``stale_after_s`` seconds (default: the ``stale_after_s`` limit)."""
        return {run_id: dead.reason for run_id, dead in self._dead_rows(stale_after_s).items()}

    def _dead_rows(self, stale_after_s: float | None) -> dict[int, "_DeadWorker"]:
        """The dead running runs by id (see :meth:`dead_workers`)."""
        stale_after_s = self.limits.stale_after_s if stale_after_s is None else stale_after_s
        now, host = time.time(), this_host()
        dead = {}
        # Hook (cluster runs): runs on the 'slurm' queue have no local worker process and get no
        # heartbeat from one; equiv.jobs.cluster decides their fate from SLURM's job state.
        for row in self._read("SELECT id, pid, pid_start, host, heartbeat_at, cancel_requested FROM runs "
                              "WHERE status = 'running' AND device != 'slurm'"):
            pid, reason = row["pid"], None
            if row["host"] == host and pid is not None:
                if not pid_alive(pid):
                    reason = f"worker process {pid} died (killed or out of memory)"
                elif not same_process(pid, row["pid_start"]):
                    reason = f"worker process {pid} is gone (its process id now belongs to another process)"
            beat = row["heartbeat_at"]
            if reason is None and beat is not None and now - beat > stale_after_s:
                reason = (f"no heartbeat from worker process {pid} on {row['host']} for {now - beat:.0f} s "
                          "(hung, or its machine is unreachable)")
            if reason is not None:
                if row["cancel_requested"]:
                    dead[row["id"]] = _DeadWorker(pid, beat, "cancelled", f"cancelled; {reason}")
                else:
                    dead[row["id"]] = _DeadWorker(pid, beat, "failed", reason)
        return dead

    def reap(self, *, stale_after_s: float | None = None) -> list[Run]:
        """End running runs whose worker is gone (:meth:`dead_workers`); returns them. A dead run
        whose cancel was requested ends cancelled, any other failed with the reason."""
        now = time.time()
        verdicts = self._dead_rows(stale_after_s)
        if not verdicts:
            return []
        reaped = []
        with self._write() as conn:
            for run_id, dead in verdicts.items():
                cur = conn.execute(  # only if it is still the run that was judged (same pid, same beat)
                    "UPDATE runs SET status = ?, finished_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running' AND pid IS ? AND heartbeat_at IS ?",
                    (dead.ends_as, now, dead.reason, run_id, dead.pid, dead.heartbeat_at))
                if cur.rowcount:
                    reaped.append(self._row(conn, run_id))
        return reaped

    def get(self, run_id: int) -> Run:
        """One run (a read: it writes nothing); :class:`RunError` for an unknown id."""
        rows = self._read("SELECT * FROM runs WHERE id = ?", (int(run_id),))
        if not rows:
            raise RunGone(f"no run {run_id}")
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
    ) -> list[Run]:
        """Runs matching every filter given, newest first (a read: it writes nothing)."""
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
