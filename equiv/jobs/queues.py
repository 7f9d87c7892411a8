"""How many runs may run at once on each device queue (default one on each).

Kept in ``<store folder>/queues.json`` (``{"cpu": 1, "cuda": 2}``), which the launcher re-reads
before every claim, so a change applies to the next run without restarting anything.

Example:
    >>> import tempfile, os
    >>> store = os.path.join(tempfile.mkdtemp(), "runs.sqlite")
    >>> max_running("cpu", store), set_max_running("cpu", 2, store), max_running("cpu", store)
    (1, 2, 2)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from equiv.data.npzfile import atomic_write_bytes
from equiv.errors import RunError
from equiv.runs import default_store_path

__all__ = ["DEVICE_QUEUES", "DEFAULT_MAX_RUNNING", "MAX_CONCURRENCY", "max_running", "set_max_running", "queues_path"]

#: The device queues (``auto`` runs go to the queue of the device they will use).
DEVICE_QUEUES = ("cpu", "cuda")
DEFAULT_MAX_RUNNING = 1
#: Above this many concurrent runs per device the machine only thrashes.
MAX_CONCURRENCY = 16


def queues_path(store_path: str | os.PathLike | None = None) -> Path:
    return Path(store_path or default_store_path()).parent / "queues.json"


def _read(store_path) -> dict:
    try:
        data = json.loads(queues_path(store_path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _check_device(device: str) -> None:
    if device not in DEVICE_QUEUES:
        raise RunError(f"unknown device queue {device!r}; one of {', '.join(DEVICE_QUEUES)}")


def max_running(device: str, store_path: str | os.PathLike | None = None) -> int:
    """Concurrent runs allowed on ``device`` (a bad or missing entry counts as the default)."""
    _check_device(device)
    value = _read(store_path).get(device, DEFAULT_MAX_RUNNING)
    return value if isinstance(value, int) and 1 <= value <= MAX_CONCURRENCY else DEFAULT_MAX_RUNNING


def set_max_running(device: str, n: int, store_path: str | os.PathLike | None = None) -> int:
    """Allow ``n`` concurrent runs on ``device``; returns ``n``."""
    _check_device(device)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CONCURRENCY:
        raise RunError(f"concurrent runs per device must be a whole number from 1 to {MAX_CONCURRENCY}, not {n!r}")
    data = _read(store_path)
    data[device] = n
    path = queues_path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(data, sort_keys=True).encode())
    return n
