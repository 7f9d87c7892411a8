"""Job commands: stop cleanly on a signal (:func:`graceful_stop`) and the shared ``main`` of the
job workers (:func:`job_main`).

Every job command (``python -m equiv.training.worker``, ``python -m equiv.jobs.worker``, ``equiv
train`` in the foreground) wraps its work in :func:`graceful_stop`, so SIGTERM from a launcher, a
cluster scheduler or ``kill`` and Ctrl-C ask for the same clean stop as a cancel in the run store.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Any, Callable, Iterator, Sequence

from equiv.errors import EquivError
from equiv.runs.store import RunStore

__all__ = ["graceful_stop", "job_main"]


@contextlib.contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """SIGINT (Ctrl-C) and SIGTERM set the yielded event, which a job (``equiv.training.execute_run``,
    a data generation) treats like a cancel (stop cleanly, keep the best checkpoint); a second signal
    raises ``KeyboardInterrupt``.
    Outside the main thread the event is only set by the caller."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return

    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield event
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def job_main(argv: Sequence[str] | None, prog: str, description: str | None,
             execute: Callable[[int, RunStore, threading.Event], str]) -> int:
    """``prog RUN_ID [--store PATH]``: run ``execute(run_id, store, stop)`` (which returns the run's
    final status) under :func:`graceful_stop`. Exit status 0 when the run finished or was
    cancelled, 1 when it failed (the reason on stderr; it is in the run record too)."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id", type=int, help="a queued (or claimed) run")
    parser.add_argument("--store", help="the run store (default: runs.sqlite in the data home)")
    args = parser.parse_args(argv)
    try:
        with graceful_stop() as stop:
            status = execute(args.run_id, RunStore(args.store), stop)
    except EquivError as exc:
        print(f"run {args.run_id} failed: {exc}", file=sys.stderr)
        return 1
    print(f"run {args.run_id} {status}", file=sys.stderr)
    return 0 if status in ("finished", "cancelled") else 1
