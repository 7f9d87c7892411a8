"""A worker's heartbeat in a background thread, tied to the progress of the worker's loop.

The thread beats every ``every_s`` seconds, but only while the worker shows progress: each
:meth:`Heartbeat.report` (or :meth:`Heartbeat.touch`) from the worker's loop counts, and so does
the process computing (CPU time of at least :data:`BUSY_CPU_FRACTION` of the silent time, and at
least :data:`BUSY_CPU_MIN_S`: an evaluation pass that reports nothing is busy, not hung). When the loop has shown
neither for ``hang_after_s`` (a step stuck in a deadlock, a stalled read), the thread fails the
run with that reason and stops beating, so a hung worker is not kept "alive" by its timer thread
alone; the launcher then stops its process (SIGTERM, then SIGKILL). A loop spinning without
reporting is not caught; only the stale heartbeat of a frozen process is (``stale_after_s``).

A busy store (lock timeout, full disk) skips a beat and retries with back-off; the run is only
given up (:attr:`Heartbeat.lost`) when the store says it is gone (ended, reaped, store replaced).

Every ``stale_after_s / 2`` seconds a beat also reaps the store (:meth:`RunStore.reap`): while any
worker lives, a run whose worker died is failed without anyone reading the store having to write.

Example:
    >>> import os, tempfile
    >>> from equiv.runs import RunStore
    >>> store = RunStore(os.path.join(tempfile.mkdtemp(), "runs.sqlite"))
    >>> run = store.mark_running(store.create("train", {}).id)
    >>> with Heartbeat(store, run.id, every_s=0.05) as beat:
    ...     _ = store.request_cancel(run.id)
    ...     beat.cancel_requested.wait(5)
    True
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from equiv.errors import RunError
from equiv.runs.store import RunStore, StoreBusy

__all__ = ["Heartbeat"]

#: The longest pause between tries while the store is busy.
MAX_BACKOFF_S = 5.0
#: CPU time (as a fraction of the silent wall time, and at least :data:`BUSY_CPU_MIN_S`) that
#: counts as progress when the worker's loop reports nothing.
BUSY_CPU_FRACTION = 0.05
BUSY_CPU_MIN_S = 0.5


class Heartbeat:
    """Calls :meth:`RunStore.heartbeat` every ``every_s`` seconds while the worker makes progress.

    Args:
        store, run_id: the run.
        every_s: seconds between beats.
        hang_after_s: fail the run as hung after this long without a report (default: the store's
            ``hang_after_s`` limit).
        busy_cpu_min_s: the least CPU time that counts as progress (see the module docstring).

    Attributes:
        cancel_requested: set when someone asked the run to stop (check it between batches).
        lost: set when the run is no longer running in the store (it was reaped, ended elsewhere,
            or failed here as hung); the worker should stop without writing more.
        hung: set when this heartbeat failed the run for making no progress.
        busy_beats: beats that found the store busy (each retried).
    """

    def __init__(self, store: RunStore, run_id: int, every_s: float = 5.0, hang_after_s: float | None = None,
                 busy_cpu_min_s: float = BUSY_CPU_MIN_S):
        self.store, self.run_id, self.every_s = store, run_id, every_s
        self.busy_cpu_min_s = busy_cpu_min_s
        self.hang_after_s = store.limits.hang_after_s if hang_after_s is None else hang_after_s
        self.cancel_requested = threading.Event()
        self.lost = threading.Event()
        self.hung = threading.Event()
        self.busy_beats = 0
        self._busy_streak = 0
        self._stop = threading.Event()
        self._progress: float | None = None
        self._message: str | None = None
        self._last_progress = time.monotonic()
        self._cpu_at_progress = time.process_time()
        self._reaped_at = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-run-{run_id}", daemon=True)

    def report(self, progress: float | None = None, message: str | None = None) -> None:
        """The worker's loop moved on: fraction done (0–1) and a short status line, sent with the
        next beat."""
        self._progress, self._message = progress, message
        self.touch()

    def touch(self) -> None:
        """The worker's loop moved on (without news to show)."""
        self._last_progress = time.monotonic()
        self._cpu_at_progress = time.process_time()

    def _beat(self) -> float:
        """One beat; returns the seconds to wait before the next."""
        silent = time.monotonic() - self._last_progress
        if silent > self.hang_after_s:
            computed = time.process_time() - self._cpu_at_progress
            if computed >= max(self.busy_cpu_min_s, BUSY_CPU_FRACTION * silent):
                self.touch()  # busy without reporting (a long evaluation): not hung
                silent = 0.0
        if silent > self.hang_after_s:
            self.hung.set()
            self.lost.set()
            self._stop.set()
            try:
                self.store.fail(self.run_id, f"the worker made no progress for {silent:.0f} s (hung; the limit is "
                                             f"hang_after_s = {self.hang_after_s:g} s)")
            except RunError:
                pass  # the reaper ends it when its heartbeat is stale
            return 0.0
        try:
            if self.store.heartbeat(self.run_id, progress=self._progress, message=self._message):
                self.cancel_requested.set()
        except StoreBusy as exc:
            self.busy_beats += 1
            self._busy_streak += 1
            pause = min(MAX_BACKOFF_S, self.every_s, 0.25 * 2 ** min(self._busy_streak, 8))
            print(f"heartbeat of run {self.run_id}: {exc}; retrying in {pause:.2f} s", file=sys.stderr, flush=True)
            return pause
        except RunError:
            self.lost.set()
            self._stop.set()
            return 0.0
        self._busy_streak = 0
        if time.monotonic() - self._reaped_at > self.store.limits.stale_after_s / 2:
            self._reaped_at = time.monotonic()
            with contextlib.suppress(RunError):  # busy: the next reap catches up
                self.store.reap()
        return self.every_s

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self._beat())

    def start(self) -> "Heartbeat":
        self.touch()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
