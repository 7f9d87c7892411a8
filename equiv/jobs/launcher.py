"""The background launcher: one process per device queue that starts queued runs, in order, as
many at a time as the queue allows.

    python -m equiv.jobs.launcher --device cpu [--store PATH] [--idle-exit SECONDS]

It claims the oldest queued run of its device with ``RunStore.claim_next`` (which counts the runs
already running there against :func:`equiv.jobs.queues.max_running`), hands it to an
:class:`~equiv.jobs.executor.Executor` (here a detached ``python -m equiv.jobs.worker RUN_ID``
process per run) and watches the job: a job that ends without recording an outcome (it crashed
before its first write, or was killed) gets its run failed with the exit status and the last lines
of its log. The launcher leaves when it has had nothing to do for ``idle_exit`` seconds; whoever
queues a run calls :func:`ensure_launcher`, which starts one when none is there.

Nothing of this belongs to a browser session or to the Streamlit server: the launcher and its
jobs run in sessions of their own (``start_new_session``), so page reloads, closed tabs and server
restarts do not touch them; pages only read the run store (and start a launcher when they queue).

Each pass of the loop reaps the store first (:meth:`RunStore.reap`: runs whose worker died are
failed, so they stop counting against the queue's limit), keeps the runs it claimed alive
(heartbeats them until their worker marks them running, however slowly its interpreter starts) and
stops workers that should stop: a run whose cancel was requested gets SIGTERM after ``cancel_grace_s`` and SIGKILL ``kill_grace_s``
later (a run that ended, for example failed as hung, while its process lives on gets the same).
A pass that raises (the store busy or damaged for a moment) is logged with its traceback and the
loop goes on after a pause that grows with repeated failures.

One launcher per device and store: the launcher holds an exclusive ``flock`` on
``<store folder>/launchers/<device>.lock`` (with its process id inside) for its lifetime. The
kernel drops the lock when the process dies, however it dies, so a stale lock file never blocks a
new launcher, and a second launcher started by a race exits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from equiv.errors import RunError
from equiv.jobs.executor import Executor, Job, JobHandle, LocalExecutor, job_log_path, log_tail, spawn_detached
from equiv.jobs.queues import DEVICE_QUEUES, max_running
from equiv.runs import Run, RunStore, process_start_time, same_process, signal_process, this_host

__all__ = ["Launcher", "LauncherInfo", "DEFAULT_IDLE_EXIT_S", "ensure_launcher", "ensure_launchers_for_queued",
           "launcher_pid", "lock_path", "launcher_log_path", "main"]

#: A launcher with nothing queued and nothing running leaves after this many seconds
#: (``EQUIV_LAUNCHER_IDLE_S`` overrides it for launchers started by :func:`ensure_launcher`).
DEFAULT_IDLE_EXIT_S = 30.0
POLL_S = 0.5
#: The longest pause after passes of the loop that failed.
MAX_ERROR_PAUSE_S = 30.0
#: How long a freshly started launcher may take to take its lock.
STARTUP_GRACE_S = 20.0
#: How long a starting launcher keeps trying a busy lock before it concludes that another launcher
#: holds it: :func:`launcher_pid` takes the lock for a moment to probe it, and a launcher starting
#: during that moment must not leave (the queued run would then wait for nobody).
LOCK_PATIENCE_S = 2.0


def lock_path(store_path: str | os.PathLike, device: str) -> Path:
    return Path(store_path).parent / "launchers" / f"{device}.lock"


def launcher_log_path(store_path: str | os.PathLike, device: str) -> Path:
    return Path(store_path).parent / "logs" / f"launcher-{device}.log"


@contextlib.contextmanager
def _try_lock(path: Path, patience_s: float = 0.0) -> Iterator[int | None]:
    """Yields an open descriptor holding ``path``'s exclusive lock, or ``None`` when another
    process holds it (still after ``patience_s`` seconds of tries)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + patience_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield None
                    return
                time.sleep(0.05)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def launcher_pid(store_path: str | os.PathLike, device: str) -> int | None:
    """The process id of the live launcher of ``device`` for this store, or ``None``."""
    path = lock_path(store_path, device)
    if not path.exists():
        return None
    with _try_lock(path) as fd:
        if fd is not None:
            return None  # nobody holds it
    try:
        return int(path.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class LauncherInfo:
    """What :func:`ensure_launcher` found or did."""

    device: str
    pid: int | None
    started: bool
    log_path: Path


def ensure_launcher(device: str, store: RunStore | None = None, *, idle_exit_s: float | None = None) -> LauncherInfo:
    """Make sure a launcher serves ``device`` for ``store``: when none holds the lock, start one as
    a detached process (a fresh interpreter in its own session, output in
    ``<store folder>/logs/launcher-<device>.log``). Cheap when one is there (one ``flock`` try).

    Two callers racing may both start one; the second exits at once, finding the lock taken."""
    if device not in DEVICE_QUEUES:
        raise RunError(f"unknown device queue {device!r}; one of {', '.join(DEVICE_QUEUES)}")
    store = store or RunStore()
    log = launcher_log_path(store.path, device)
    pid = launcher_pid(store.path, device) or _starting_launcher(store.path, device)
    if pid is not None:
        return LauncherInfo(device, pid, False, log)
    if idle_exit_s is None:
        idle_exit_s = float(os.environ.get("EQUIV_LAUNCHER_IDLE_S", DEFAULT_IDLE_EXIT_S))
    process = spawn_detached([sys.executable, "-m", "equiv.jobs.launcher", "--device", device, "--store",
                              str(store.path), "--idle-exit", f"{idle_exit_s:g}"], log)
    _spawned_path(store.path, device).parent.mkdir(parents=True, exist_ok=True)
    _spawned_path(store.path, device).write_text(f"{process.pid} {process_start_time(process.pid)} {time.time()}")
    return LauncherInfo(device, process.pid, True, log)


def launcher_serving(store_path: str | os.PathLike, device: str) -> bool:
    """Whether a launcher serves ``device`` for this store, or is starting (a read: starts nothing)."""
    return (launcher_pid(store_path, device) or _starting_launcher(store_path, device)) is not None


def ensure_launchers_for_queued(store: RunStore) -> list[LauncherInfo]:
    """Make sure every device queue with queued runs has a launcher (one cheap read when nothing is
    queued; starts nothing then). ``equiv runs list`` and ``show`` call it, so a launcher that died
    while runs wait is replaced."""
    devices = sorted({r.device for r in store.list_runs(status="queued")} & set(DEVICE_QUEUES))
    return [ensure_launcher(device, store) for device in devices]


def _spawned_path(store_path: str | os.PathLike, device: str) -> Path:
    return lock_path(store_path, device).with_suffix(".spawned")


def _starting_launcher(store_path: str | os.PathLike, device: str) -> int | None:
    """A launcher this machine started in the last few seconds that has not taken its lock yet
    (an interpreter takes about a second to start), so a second caller does not start another.
    A launcher that took its lock removed this record: once it lets the lock go it is leaving,
    however long its process still lives, and a caller must start a new one."""
    try:
        pid_text, start_text, when_text = _spawned_path(store_path, device).read_text().split()
        pid, when = int(pid_text), float(when_text)
    except (OSError, ValueError):
        return None
    try:
        start = float(start_text)
    except ValueError:
        return None
    if time.time() - when > STARTUP_GRACE_S or not same_process(pid, start):
        return None
    return pid


def _forget_spawned(store_path: str | os.PathLike, device: str) -> None:
    """Remove the record of a starting launcher when it names this process (it has its lock now)."""
    path = _spawned_path(store_path, device)
    try:
        if int(path.read_text().split()[0]) == os.getpid():
            path.unlink()
    except (OSError, ValueError, IndexError):
        pass


def _exit_text(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


class Launcher:
    """The launcher loop of one device queue (see the module docstring).

    Args:
        device: ``cpu`` or ``cuda``.
        store: the run store.
        executor: starts jobs (default :class:`LocalExecutor`).
        idle_exit_s: leave after this long with nothing queued and no job of ours running.
        poll_s: seconds between looks at the queue.
    """

    def __init__(self, device: str, store: RunStore, executor: Executor | None = None, *,
                 idle_exit_s: float = DEFAULT_IDLE_EXIT_S, poll_s: float = POLL_S):
        if device not in DEVICE_QUEUES:
            raise RunError(f"unknown device queue {device!r}; one of {', '.join(DEVICE_QUEUES)}")
        self.device, self.store = device, store
        self.executor = executor or LocalExecutor()
        self.idle_exit_s, self.poll_s = idle_exit_s, poll_s
        self.jobs: dict[int, JobHandle] = {}
        self.errors = 0
        #: run id -> (when this launcher first saw that its worker should stop, signals sent so far)
        self._stops: dict[int, tuple[float, int]] = {}
        self._stopping = False

    def log(self, text: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} launcher {os.getpid()} [{self.device}] {text}", flush=True)

    def stop(self, *_args) -> None:
        """Stop claiming and leave (running jobs carry on; they do not belong to the launcher)."""
        self._stopping = True

    # -- one pass -------------------------------------------------------------------------------
    def collect(self) -> None:
        """Forget ended jobs; end the run of a job that ended without an outcome (cancelled when a
        cancel was requested, else failed with the exit status and the end of its log)."""
        for run_id, job in list(self.jobs.items()):
            status = job.poll()
            if status is None:
                continue
            run = self.store.get(run_id)
            self.log(f"run {run_id} ({job.describe()}) {_exit_text(status)}; run is {run.status}")
            if run.active and run.cancel_requested:
                self.store.mark_cancelled(run_id, reason=f"cancelled; its worker ({job.describe()}) "
                                                         f"{_exit_text(status)} after the cancel request")
            elif run.active:
                tail = log_tail(job_log_path(self.store.path, run_id))
                self.store.fail(run_id, f"the worker process ({job.describe()}) {_exit_text(status)} before recording "
                                        f"an outcome" + (f"; its log ends: {tail}" if tail else ""))
            del self.jobs[run_id]
            self._stops.pop(run_id, None)

    def keep_claims_alive(self) -> None:
        """Heartbeat the runs this launcher claimed whose worker has not yet marked them running
        (a worker's interpreter may take longer to start than the stale time under load)."""
        if self.jobs:
            self.store.heartbeat_claimed(list(self.jobs))

    def _signal(self, run: Run, sig: int) -> bool:
        job = self.jobs.get(run.id)
        if job is not None:
            return job.signal(sig)
        if run.host == this_host() and run.pid not in (None, os.getpid()):
            return signal_process(run.pid, run.pid_start, sig)
        return False

    def enforce_stops(self, now: float | None = None) -> None:
        """Escalate the stop of workers that should stop: runs of this queue on this host whose
        cancel was requested, and jobs of ours whose run ended while their process lives on. The
        cancel flag first; SIGTERM after ``cancel_grace_s``; SIGKILL ``kill_grace_s`` later."""
        now = time.monotonic() if now is None else now
        limits = self.store.limits
        due: dict[int, Run] = {}
        for run in self.store.list_runs(status="running", device=self.device):
            if run.cancel_requested and run.host == this_host():
                due[run.id] = run
        for run_id in self.jobs:
            if run_id not in due:
                run = self.store.get(run_id)
                if not run.active:
                    due[run_id] = run
        for run_id in [i for i in self._stops if i not in due]:
            del self._stops[run_id]
        for run_id, run in due.items():
            since, sent = self._stops.setdefault(run_id, (now, 0))
            waited = now - since
            why = "its cancel was requested" if run.active else f"its run is {run.status}"
            if sent == 0 and waited >= limits.cancel_grace_s:
                if self._signal(run, signal.SIGTERM):
                    self.log(f"run {run_id}: {why} {waited:.0f} s ago and its worker goes on: SIGTERM")
                self._stops[run_id] = (since, 1)
            elif sent == 1 and waited >= limits.cancel_grace_s + limits.kill_grace_s:
                if self._signal(run, signal.SIGKILL):
                    self.log(f"run {run_id}: its worker ignored SIGTERM for {limits.kill_grace_s:g} s: SIGKILL")
                self._stops[run_id] = (since, 2)

    def start_queued(self) -> int:
        """Claim and start queued runs while the queue allows; returns how many were started."""
        started = 0
        while not self._stopping:
            run = self.store.claim_next(self.device, max_running=max_running(self.device, self.store.path))
            if run is None:
                break
            job = Job(run.id, self.store.path, job_log_path(self.store.path, run.id), device=self.device)
            try:
                handle = self.executor.submit(job)
            except Exception as exc:  # noqa: BLE001 - any failure to start fails this run, not the launcher
                self.store.fail(run.id, f"could not start its worker process: {type(exc).__name__}: {exc}")
                self.log(f"run {run.id}: could not start: {type(exc).__name__}: {exc}")
                continue
            self.jobs[run.id] = handle
            started += 1
            self.log(f"run {run.id} ({run.kind}, {run.model or run.molecule or ''}) started as {handle.describe()}")
        return started

    def has_queued(self) -> bool:
        return bool(self.store.list_runs(status="queued", device=self.device, limit=1))

    def step(self) -> bool:
        """One pass; returns whether there is work (jobs of ours, or queued runs)."""
        self.store.reap()
        self.enforce_stops()
        self.collect()
        self.keep_claims_alive()
        if not self._stopping:
            self.start_queued()
        return bool(self.jobs) or self.has_queued()

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> int:
        """Serve the queue until idle for ``idle_exit_s`` or stopped (see :func:`serve` for the
        look at the queue after the lock is released). A pass that raises is logged and the loop
        goes on; it counts as idle unless jobs of ours run."""
        self.log("serving the queue")
        idle_since = time.monotonic()
        while True:
            pause = self.poll_s
            try:
                busy = self.step()
                self.errors = 0
            except Exception:  # noqa: BLE001 - one bad pass must not end the launcher
                self.errors += 1
                busy = bool(self.jobs)
                pause = min(MAX_ERROR_PAUSE_S, self.poll_s * 2 ** min(self.errors, 10))
                self.log(f"a pass failed ({self.errors} in a row); going on in {pause:.1f} s:\n"
                         + traceback.format_exc().rstrip())
            if busy:
                idle_since = time.monotonic()
            if self._stopping or time.monotonic() - idle_since >= self.idle_exit_s:
                break
            time.sleep(pause)
        self.log("stopping" if self._stopping else f"idle for {self.idle_exit_s:g} s; leaving")
        return 0


def serve(device: str, store: RunStore, idle_exit_s: float) -> int:
    """Take the device's lock and run the launcher; exit 0 at once when another launcher has it."""
    path = lock_path(store.path, device)
    while True:
        with _try_lock(path, patience_s=LOCK_PATIENCE_S) as fd:
            if fd is None:
                print(f"launcher {os.getpid()} [{device}]: another launcher serves this queue; leaving", flush=True)
                return 0
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            _forget_spawned(store.path, device)
            launcher = Launcher(device, store, idle_exit_s=idle_exit_s)
            signal.signal(signal.SIGTERM, launcher.stop)
            signal.signal(signal.SIGINT, launcher.stop)
            launcher.run()
            if launcher._stopping:
                return 0
        # The lock is released. Whoever queued a run before this point and saw the lock held
        # relied on us: look once more, and serve again if there is work.
        try:
            if not store.list_runs(status="queued", device=device, limit=1):
                return 0
        except RunError as exc:
            print(f"launcher {os.getpid()} [{device}]: leaving; cannot read the queue: {exc}", flush=True)
            return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m equiv.jobs.launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=DEVICE_QUEUES, default="cpu", help="the device queue to serve")
    parser.add_argument("--store", help="the run store (default: runs.sqlite in the data home)")
    parser.add_argument("--idle-exit", type=float, default=DEFAULT_IDLE_EXIT_S,
                        help=f"leave after this many idle seconds (default {DEFAULT_IDLE_EXIT_S:g})")
    args = parser.parse_args(argv)
    return serve(args.device, RunStore(args.store), args.idle_exit)


if __name__ == "__main__":
    sys.exit(main())
