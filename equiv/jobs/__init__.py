"""Background jobs: runs of the run store executed away from whoever asked for them.

* :mod:`~equiv.jobs.executor`: the executor seam (a job = a run id + one self-contained command,
  ``python -m equiv.jobs.worker RUN_ID``); :class:`LocalExecutor` runs it as a detached process.
* :mod:`~equiv.jobs.launcher`: one launcher process per device queue starts queued runs in order,
  as many at a time as :mod:`~equiv.jobs.queues` allows; :func:`ensure_launcher` starts it.
  The launcher also keeps its claims alive until their worker takes them and escalates cancels
  (flag, SIGTERM, SIGKILL); workers start niced with an address-space cap (``equiv.runs.limits``).
* :mod:`~equiv.jobs.lifecycle`: the one job lifecycle every kind goes through (marked running,
  heartbeat, progress, failure, result, cancel) and the kinds of job.
* :mod:`~equiv.jobs.train`, :mod:`~equiv.jobs.generate`, :mod:`~equiv.jobs.md`: training, GFN2-xTB
  data generation and MD with a model as jobs.
* :mod:`~equiv.jobs.requests`: what the training lab's form asks for, checked with reasons, into a
  ``TrainConfig``; :mod:`~equiv.jobs.sweep`: data-efficiency sweeps queued as ordinary runs.

Import from the modules (``from equiv.jobs.launcher import ensure_launcher``): the launcher and the
worker are also ``python -m`` commands, which must not be imported by the package first.
"""
