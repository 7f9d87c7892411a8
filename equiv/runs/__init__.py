"""The run store: every run (training, sweep member, data generation) in one SQLite database
(``data_home()/runs.sqlite``), written by several processes at once, with per-epoch metrics and
detection of runs whose worker died."""

from equiv.runs.heartbeat import Heartbeat
from equiv.runs.limits import SETTINGS, Limits, load_limits
from equiv.runs.process import pid_alive, process_start_time, same_process, signal_process, this_host
from equiv.runs.records import ACTIVE_STATUSES, EPOCH_METRICS, KINDS, STATUSES, EpochRecord, Run
from equiv.runs.stopping import graceful_stop, job_main
from equiv.runs.store import (
    DEFAULT_STALE_AFTER_S,
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
    "DEFAULT_STALE_AFTER_S",
    "EPOCH_METRICS",
    "KINDS",
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
    "graceful_stop",
    "job_main",
    "load_limits",
    "pid_alive",
    "process_start_time",
    "run_owner",
    "same_process",
    "signal_process",
    "this_host",
]
