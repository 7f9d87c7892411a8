"""The run store: every run (a job of any kind: a spec in, a result out) in one SQLite database
(``data_home()/runs.sqlite``), written by several processes at once, with per-epoch metrics and
detection of runs whose worker died. How a job runs is :mod:`equiv.jobs.lifecycle`'s business."""

from equiv.runs.heartbeat import Heartbeat
from equiv.runs.limits import SETTINGS, Limits, load_limits
from equiv.runs.process import pid_alive, process_start_time, same_process, signal_process, this_host
from equiv.runs.records import ACTIVE_STATUSES, EPOCH_METRICS, STATUSES, EpochRecord, Run
from equiv.runs.store import (
    QuotaError,
    RunGone,
    RunStore,
    StoreBusy,
    StoreUnavailable,
    default_store_path,
    run_owner,
)

__all__ = [
    "ACTIVE_STATUSES",
    "EPOCH_METRICS",
    "STATUSES",
    "EpochRecord",
    "Heartbeat",
    "Limits",
    "QuotaError",
    "Run",
    "RunGone",
    "RunStore",
    "SETTINGS",
    "StoreBusy",
    "StoreUnavailable",
    "default_store_path",
    "load_limits",
    "pid_alive",
    "process_start_time",
    "run_owner",
    "same_process",
    "signal_process",
    "this_host",
]
