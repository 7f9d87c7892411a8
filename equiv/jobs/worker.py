"""Execute one run of any kind as a self-contained command (what the launcher starts per job)::

    python -m equiv.jobs.worker RUN_ID [--store PATH]

Training runs (``train``, ``sweep_member``) go through ``equiv.training.execute_run`` (the same as
``python -m equiv.training.worker``), data generation through
:func:`equiv.jobs.generate.execute_generate`. Exit status 0 when the run finished or was
cancelled, 1 when it failed (the reason is in the run record and on stderr). SIGTERM and Ctrl-C
stop it cleanly, as a cancel does.
"""

from __future__ import annotations

import sys
from typing import Sequence

from equiv.errors import EquivError
from equiv.runs import RunStore, job_main

__all__ = ["main", "run_job"]


def run_job(run_id: int, store: RunStore, stop=None) -> str:
    """Carry run ``run_id`` to its end in this process; returns its final status."""
    run = store.get(run_id)
    if run.kind == "md":
        from equiv.jobs.md import run_md_job

        return run_md_job(run_id, store, stop)
    if run.kind == "generate":
        from equiv.jobs.generate import execute_generate

        try:
            execute_generate(run_id, store, stop=stop)
        except EquivError:
            if store.get(run_id).status != "cancelled":
                raise
    else:
        from equiv.training import execute_run  # imports torch: only for training jobs

        execute_run(run_id, store, stop=stop)
    return store.get(run_id, reap=False).status


def main(argv: Sequence[str] | None = None) -> int:
    return job_main(argv, "python -m equiv.jobs.worker", __doc__, run_job)


if __name__ == "__main__":
    sys.exit(main())
