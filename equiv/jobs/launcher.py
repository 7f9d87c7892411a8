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
restarts do not touch them; pages only read the run store.

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
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from equiv.errors import RunError
from equiv.jobs.executor import Executor, Job, JobHandle, LocalExecutor, job_log_path, log_tail
from equiv.jobs.queues import DEVICE_QUEUES, max_running
from equiv.runs import RunStore, pid_alive, process_start_time

__all__ = ["Launcher", "LauncherInfo", "DEFAULT_IDLE_EXIT_S", "ensure_launcher", "launcher_pid", "lock_path",
           "launcher_log_path", "main"]

#: A launcher with nothing queued and nothing running leaves after this many seconds
#: (``EQUIV_LAUNCHER_IDLE_S`` overrides it for launchers started by :func:`ensure_launcher`).
DEFAULT_IDLE_EXIT_S = 30.0
POLL_S = 0.5
#: How long a freshly started launcher may take to take its lock.
STARTUP_GRACE_S = 20.0


def lock_path(store_path: str | os.PathLike, device: str) -> Path:
    return Path(store_path).parent / "launchers" / f"{device}.lock"


def launcher_log_path(store_path: str | os.PathLike, device: str) -> Path:
    return Path(store_path).parent / "logs" / f"launcher-{device}.log"


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[int | None]:
    """Yields an open descriptor holding ``path``'s exclusive lock, or ``None`` when another
    process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
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
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "equiv.jobs.launcher", "--device", device, "--store", str(store.path),
               "--idle-exit", f"{idle_exit_s:g}"]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, close_fds=True)
    _spawned_path(store.path, device).parent.mkdir(parents=True, exist_ok=True)
    _spawned_path(store.path, device).write_text(f"{process.pid} {process_start_time(process.pid)} {time.time()}")
    return LauncherInfo(device, process.pid, True, log)


def _spawned_path(store_path: str | os.PathLike, device: str) -> Path:
    return lock_path(store_path, device).with_suffix(".spawned")


def _starting_launcher(store_path: str | os.PathLike, device: str) -> int | None:
    """A launcher this machine started in the last few seconds that has not taken its lock yet
    (an interpreter takes about a second to start), so a second caller does not start another."""
    try:
        pid_text, start_text, when_text = _spawned_path(store_path, device).read_text().split()
        pid, when = int(pid_text), float(when_text)
    except (OSError, ValueError):
        return None
    if time.time() - when > STARTUP_GRACE_S or not pid_alive(pid) or str(process_start_time(pid)) != start_text:
        return None
    return pid


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
        self._stopping = False

    def log(self, text: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} launcher {os.getpid()} [{self.device}] {text}", flush=True)

    def stop(self, *_args) -> None:
        """Stop claiming and leave (running jobs carry on; they do not belong to the launcher)."""
        self._stopping = True

    # -- one pass -------------------------------------------------------------------------------
    def collect(self) -> None:
        """Forget ended jobs; fail the run of a job that ended without an outcome."""
        for run_id, job in list(self.jobs.items()):
            status = job.poll()
            if status is None:
                continue
            del self.jobs[run_id]
            run = self.store.get(run_id, reap=False)
            self.log(f"run {run_id} ({job.describe()}) {_exit_text(status)}; run is {run.status}")
            if run.active:
                tail = log_tail(job_log_path(self.store.path, run_id))
                self.store.fail(run_id, f"the worker process ({job.describe()}) {_exit_text(status)} before recording "
                                        f"an outcome" + (f"; its log ends: {tail}" if tail else ""))

    def start_queued(self) -> int:
        """Claim and start queued runs while the queue allows; returns how many were started."""
        started = 0
        while not self._stopping:
            run = self.store.claim_next(self.device, max_running=max_running(self.device, self.store.path))
            if run is None:
                break
            job = Job(run.id, self.store.path, job_log_path(self.store.path, run.id))
            try:
                handle = self.executor.submit(job)
            except OSError as exc:
                self.store.fail(run.id, f"could not start its worker process: {exc}")
                self.log(f"run {run.id}: could not start: {exc}")
                continue
            self.jobs[run.id] = handle
            started += 1
            self.log(f"run {run.id} ({run.kind}, {run.model or run.molecule or ''}) started as {handle.describe()}")
        return started

    def has_queued(self) -> bool:
        return bool(self.store.list_runs(status="queued", device=self.device, limit=1, reap=False))

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> int:
        """Serve the queue until idle for ``idle_exit_s`` or stopped (see :func:`serve` for the
        look at the queue after the lock is released)."""
        self.log("serving the queue")
        idle_since = time.monotonic()
        while True:
            self.collect()
            if not self._stopping and self.start_queued():
                idle_since = time.monotonic()
            if self.jobs or self.has_queued():
                idle_since = time.monotonic()
            if self._stopping or time.monotonic() - idle_since >= self.idle_exit_s:
                break
            time.sleep(self.poll_s)
        self.log("stopping" if self._stopping else f"idle for {self.idle_exit_s:g} s; leaving")
        return 0


def serve(device: str, store: RunStore, idle_exit_s: float) -> int:
    """Take the device's lock and run the launcher; exit 0 at once when another launcher has it."""
    path = lock_path(store.path, device)
    while True:
        with _try_lock(path) as fd:
            if fd is None:
                print(f"launcher {os.getpid()} [{device}]: another launcher serves this queue; leaving", flush=True)
                return 0
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            launcher = Launcher(device, store, idle_exit_s=idle_exit_s)
            signal.signal(signal.SIGTERM, launcher.stop)
            signal.signal(signal.SIGINT, launcher.stop)
            launcher.run()
            if launcher._stopping:
                return 0
        # The lock is released. Whoever queued a run before this point and saw the lock held
        # relied on us: look once more, and serve again if there is work.
        if not store.list_runs(status="queued", device=device, limit=1, reap=False):
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
