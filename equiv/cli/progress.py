"""Progress bars on stderr for long CLI commands: tqdm's, fed with ``done`` / ``total`` counts.

On a terminal the bar redraws at most every ``min_interval_s``; elsewhere (a log file, a pipe) at
most every 10 s, so logs stay short.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar("generate", unit="frames", stream=out)
    >>> bar.update(5, 10); bar.close()
    >>> "5/10" in out.getvalue()
    True
"""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO, TypeVar

from tqdm import tqdm

from equiv.jobs.lifecycle import graceful_stop

__all__ = ["ProgressBar", "run_in_foreground"]

T = TypeVar("T")


class ProgressBar:
    """``update(done, total)`` as often as you like (counts so far, not increments); ``byte_units``
    shows bytes as kB, MB, GB."""

    def __init__(self, label: str, unit: str = "", stream: TextIO | None = None, min_interval_s: float = 0.1,
                 byte_units: bool = False):
        stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(stream, "isatty", lambda: False)())
        self._bar = tqdm(desc=label, unit=unit or "it", file=stream, mininterval=min_interval_s if tty else 10.0,
                         unit_scale=byte_units, unit_divisor=1000, dynamic_ncols=tty, ascii=not tty)

    def update(self, done: float, total: float = 0) -> None:
        if total and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def run_in_foreground(execute: Callable[..., T], run_id: int, store: Any, label: str | None, unit: str,
                      counts: Callable[[Any], tuple[float, float]]) -> T:
    """``execute(run_id, store, progress=..., stop=...)``: a job run in this process, which SIGINT
    and SIGTERM stop cleanly (:func:`equiv.jobs.lifecycle.graceful_stop`), its progress drawn as a
    bar labelled ``label`` (``None``: no bar) from ``counts(progress) = (done, total)``."""
    bar = None if label is None else ProgressBar(label, unit=unit)
    try:
        with graceful_stop() as stop:
            return execute(run_id, store, progress=None if bar is None else lambda p: bar.update(*counts(p)), stop=stop)
    finally:
        if bar is not None:
            bar.close()
