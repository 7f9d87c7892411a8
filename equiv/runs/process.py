"""Is a worker process still there? Process ids, start times and the host name.

A process id alone is not an identity: after a process dies the kernel may give its id to a new
process. The run store therefore keeps the process's start time too (Linux: clock ticks since boot,
field 22 of ``/proc/<pid>/stat``) and treats a live process with another start time as a different
process. A zombie (exited, not yet collected by its parent) counts as dead.

Example:
    >>> import os
    >>> pid_alive(os.getpid()), process_start_time(os.getpid()) == process_start_time(os.getpid())
    (True, True)
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["pid_alive", "process_start_time", "this_host"]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first), or ``None``."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux), or ``None`` if unknown."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host and has not exited (zombies count as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat_fields(pid)
    return not (fields is not None and fields[0] in ("Z", "X"))


def this_host() -> str:
    return socket.gethostname()
