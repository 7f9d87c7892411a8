"""Execute one queued training run as a self-contained command::

    python -m equiv.training.worker RUN_ID [--store PATH]

It runs :func:`equiv.training.execute_run` in this process (the run record gets this process's id,
heartbeats, per-epoch errors, the checkpoint and the outcome) and exits with 0 when the run
finished or was cancelled, 1 when it failed (the reason is in the record and on stderr). SIGTERM or
Ctrl-C stops the run cleanly, as a cancel does. Background workers start it in a new session
(``subprocess.Popen([...], start_new_session=True)``) so it outlives whoever launched it; a cluster
executor runs the same command on another machine that sees the same store.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from equiv.errors import EquivError
from equiv.runs import RunStore
from equiv.training.executor import execute_run, graceful_stop

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m equiv.training.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id", type=int, help="a queued (or claimed) training run")
    parser.add_argument("--store", help="the run store (default: runs.sqlite in the data home)")
    args = parser.parse_args(argv)
    try:
        with graceful_stop() as stop:
            result = execute_run(args.run_id, RunStore(args.store), stop=stop)
    except EquivError as exc:
        print(f"run {args.run_id} failed: {exc}", file=sys.stderr)
        return 1
    print(f"run {args.run_id} {'cancelled' if result.cancelled else 'finished'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
