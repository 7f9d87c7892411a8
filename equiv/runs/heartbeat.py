"""A worker's heartbeat in a background thread, so a long epoch never looks like a dead worker.

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

import threading

from equiv.errors import RunError
from equiv.runs.store import RunStore

__all__ = ["Heartbeat"]


class Heartbeat:
    """Calls :meth:`RunStore.heartbeat` every ``every_s`` seconds until stopped.

    Attributes:
        cancel_requested: set when someone asked the run to stop (check it between batches).
        lost: set when the run is no longer running in the store (it was reaped or ended
            elsewhere); the worker should stop without writing more.
    """

    def __init__(self, store: RunStore, run_id: int, every_s: float = 5.0):
        self.store, self.run_id, self.every_s = store, run_id, every_s
        self.cancel_requested = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._progress: float | None = None
        self._message: str | None = None
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-run-{run_id}", daemon=True)

    def report(self, progress: float | None = None, message: str | None = None) -> None:
        """Sent with the next beat: fraction done (0–1) and a short status line."""
        self._progress, self._message = progress, message

    def _beat(self) -> None:
        try:
            if self.store.heartbeat(self.run_id, progress=self._progress, message=self._message):
                self.cancel_requested.set()
        except RunError:
            self.lost.set()
            self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._beat()
            self._stop.wait(self.every_s)

    def start(self) -> "Heartbeat":
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
