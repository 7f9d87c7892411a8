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

import sys
from typing import Sequence

from equiv.runs import RunStore, job_main
from equiv.training.executor import execute_run

__all__ = ["main"]


def _execute(run_id: int, store: RunStore, stop) -> str:
    result = execute_run(run_id, store, stop=stop)
    return "cancelled" if result.cancelled else "finished"


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(argv, "python -m equiv.training.worker", __doc__, _execute)


if __name__ == "__main__":
    sys.exit(main())
