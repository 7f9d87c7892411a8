"""Quotas and limits for a shared server: one definition of each setting, with its default.

Each setting is read, in this order, from the environment variable ``EQUIV_<NAME>`` (upper case),
from ``limits.json`` beside the run store (``{"max_active_runs": 40, ...}``), or else its default.
:data:`SETTINGS` lists them with what they mean; ``README.md`` ("Quotas and limits") shows the same
table. A value that is not a number, or below the setting's minimum, is ignored (the default holds).

Example:
    >>> import os, tempfile
    >>> store = os.path.join(tempfile.mkdtemp(), "runs.sqlite")
    >>> load_limits(store).max_active_runs_per_session
    50
    >>> os.environ["EQUIV_MAX_ACTIVE_RUNS_PER_SESSION"] = "2"
    >>> load_limits(store).max_active_runs_per_session
    2
    >>> del os.environ["EQUIV_MAX_ACTIVE_RUNS_PER_SESSION"]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

__all__ = ["Limits", "Setting", "SETTINGS", "load_limits", "limits_path"]


class Setting(NamedTuple):
    name: str
    default: float
    minimum: float
    meaning: str


#: Every setting: name, default, smallest allowed value, meaning. The one place defaults live.
SETTINGS: tuple[Setting, ...] = (
    Setting("max_active_runs", 200, 1,
            "queued + running background runs on the server; a launch beyond it is refused"),
    Setting("max_active_runs_per_session", 50, 1,
            "queued + running runs one browser session may have (a sweep counts each of its runs)"),
    Setting("worker_memory_mb", 6144, 0,
            "memory a run may need by its estimate (MiB); a larger run is refused before it is queued (0: no check)"),
    Setting("worker_address_space_mb", 12288, 0,
            "address-space limit (RLIMIT_AS, MiB) of each CPU worker process (0: none; CUDA workers get none)"),
    Setting("worker_nice", 10, 0, "niceness of worker processes (0: as the launcher)"),
    Setting("stale_after_s", 60, 0.1, "a running run without a heartbeat for this long is failed"),
    Setting("hang_after_s", 300, 0.1,
            "a worker whose loop made no progress for this long is failed as hung (its heartbeat stops)"),
    Setting("cancel_grace_s", 30, 0, "after a cancel request, the worker gets SIGTERM after this many seconds"),
    Setting("kill_grace_s", 15, 0, "after SIGTERM, the worker gets SIGKILL after this many seconds"),
    Setting("store_retry_s", 120, 0,
            "how long a worker retries its final write (finish, cancel) while the store is busy or full"),
)


@dataclass(frozen=True)
class Limits:
    """The settings in effect (see :data:`SETTINGS` for their meaning)."""

    max_active_runs: int
    max_active_runs_per_session: int
    worker_memory_mb: int
    worker_address_space_mb: int
    worker_nice: int
    stale_after_s: float
    hang_after_s: float
    cancel_grace_s: float
    kill_grace_s: float
    store_retry_s: float


_DEFAULTS = {s.name: s for s in SETTINGS}
assert set(_DEFAULTS) == {f.name for f in fields(Limits)}


def limits_path(store_path: str | os.PathLike | None = None) -> Path:
    """``limits.json`` beside the run store (default: in the data home)."""
    if store_path is None:
        from equiv.paths import data_home

        return data_home() / "limits.json"
    return Path(store_path).parent / "limits.json"


def _file_values(store_path) -> dict:
    try:
        data = json.loads(limits_path(store_path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_limits(store_path: str | os.PathLike | None = None) -> Limits:
    """The limits for the store at ``store_path``: environment, then ``limits.json``, then defaults."""
    from_file = _file_values(store_path)
    values = {}
    for f in fields(Limits):
        setting = _DEFAULTS[f.name]
        value = setting.default
        for raw in (from_file.get(f.name), os.environ.get(f"EQUIV_{f.name.upper()}")):
            try:
                number = float(raw) if raw is not None else None
            except (TypeError, ValueError):
                number = None
            if number is not None and number >= setting.minimum and number == number and number != float("inf"):
                value = number
        values[f.name] = int(value) if f.type in (int, "int") else float(value)
    return Limits(**values)
