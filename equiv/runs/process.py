"""Is a worker process still there, and is it still ours? Process checks through ``psutil``.

A process id alone is not an identity: after a process dies the kernel may give its id to a new
process. The run store therefore keeps the process's start time too (``psutil.Process.create_time``,
Unix seconds) and treats a live process with another start time as a different process. Start
times are compared with a tolerance of :data:`START_TIME_TOLERANCE_S`: psutil derives them from the
boot time, which each process reads once and which moves when the wall clock is stepped, while a
process id reused within two seconds of the original's start is not a practical risk. A zombie
(exited, not yet collected by its parent) counts as dead.

Example:
    >>> import os
    >>> pid_alive(os.getpid()), same_process(os.getpid(), process_start_time(os.getpid()))
    (True, True)
"""

from __future__ import annotations

import socket

import psutil

__all__ = ["START_TIME_TOLERANCE_S", "pid_alive", "process_start_time", "same_process", "signal_process",
           "this_host"]

#: Two start times closer than this belong to the same process (see the module docstring).
START_TIME_TOLERANCE_S = 2.0


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (Unix seconds), or ``None`` when there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host and has not exited (zombies count as dead)."""
    if pid is None or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else


def same_process(pid: int | None, start: float | None) -> bool:
    """Whether ``pid`` is alive and is the process that started at ``start`` (``None``: any start)."""
    if pid is None or not pid_alive(pid):
        return False
    if start is None:
        return True
    now = process_start_time(pid)
    return now is None or abs(now - float(start)) < START_TIME_TOLERANCE_S


def signal_process(pid: int | None, start: float | None, sig: int) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the process that started at ``start``; returns
    whether it was sent (never to a process that has taken over a dead worker's id)."""
    if not same_process(pid, start):
        return False
    try:
        psutil.Process(pid).send_signal(sig)
    except psutil.Error:
        return False
    return True


def this_host() -> str:
    return socket.gethostname()
