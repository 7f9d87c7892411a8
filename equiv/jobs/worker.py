"""Execute one run of any kind as a self-contained command (what the launcher starts per job)::

    python -m equiv.jobs.worker RUN_ID [--store PATH]

The run's kind names the function that carries it to its end (:data:`equiv.jobs.lifecycle.KINDS`:
training through :func:`equiv.jobs.train.execute_run`, data generation through
:func:`equiv.jobs.generate.execute_generate`, MD through :func:`equiv.jobs.md.execute_md`). Exit
status 0 when the run finished or was cancelled, 1 when it failed (the reason is in the run record
and on stderr). SIGTERM and Ctrl-C stop it cleanly, as a cancel does. Background workers start it
in a new session (``subprocess.Popen([...], start_new_session=True)``) so it outlives whoever
launched it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from equiv.errors import EquivError, RunError
from equiv.jobs.lifecycle import KINDS, graceful_stop
from equiv.runs import RunStore

__all__ = ["main", "run_job"]


def run_job(run_id: int, store: RunStore, stop=None) -> str:
    """Carry run ``run_id`` to its end in this process; returns its final status."""
    kind = store.get(run_id).kind
    if kind not in KINDS:
        raise RunError(f"run {run_id} is of kind {kind!r}, which this equiv cannot run (one of {', '.join(KINDS)})")
    module, _, name = KINDS[kind].partition(":")
    try:
        getattr(importlib.import_module(module), name)(run_id, store, stop=stop)
    except EquivError:
        if store.get(run_id).status != "cancelled":  # generation and MD say "cancelled" by raising
            raise
    return store.get(run_id).status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m equiv.jobs.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id", type=int, help="a queued (or claimed) run")
    parser.add_argument("--store", help="the run store (default: runs.sqlite in the data home)")
    args = parser.parse_args(argv)
    try:
        with graceful_stop() as stop:
            status = run_job(args.run_id, RunStore(args.store), stop)
    except EquivError as exc:
        print(f"run {args.run_id} failed: {exc}", file=sys.stderr)
        return 1
    print(f"run {args.run_id} {status}", file=sys.stderr)
    return 0 if status in ("finished", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
