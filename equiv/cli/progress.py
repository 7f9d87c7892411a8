"""A plain progress bar on stderr for long CLI commands.

On a terminal it redraws one line (``\\r``); otherwise (a log file, a pipe) it prints a line at
every tenth of the way, so logs stay short.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> bar = ProgressBar("generate", unit="frames", stream=out)
    >>> bar.update(5, 10); bar.close()
    >>> "5/10 frames" in out.getvalue()
    True
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from equiv.views.run_progress import format_duration as format_seconds

__all__ = ["ProgressBar", "format_seconds"]


class ProgressBar:
    """``update(done, total)`` as often as you like; it draws at most every ``min_interval_s``."""

    def __init__(self, label: str, unit: str = "", stream: TextIO | None = None, width: int = 28,
                 min_interval_s: float = 0.1, scale: float = 1.0):
        self.label, self.unit, self.width, self.scale = label, unit, width, scale
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval_s = min_interval_s
        self.t0 = time.perf_counter()
        self._last_draw = -1e9
        self._last_decile = -1
        self._line = ""

    def _text(self, done: float, total: float) -> str:
        elapsed = time.perf_counter() - self.t0
        frac = min(1.0, done / total) if total else 0.0
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        count = f"{done * self.scale:,.0f}/{total * self.scale:,.0f} {self.unit}".rstrip() if total else \
            f"{done * self.scale:,.0f} {self.unit}".rstrip()
        eta = f"  ETA {format_seconds(elapsed / frac * (1 - frac))}" if 0 < frac < 1 and elapsed > 1 else ""
        return f"{self.label} [{bar}] {count} {frac:4.0%}  {format_seconds(elapsed)}{eta}"

    def update(self, done: float, total: float = 0) -> None:
        now = time.perf_counter()
        finished = bool(total) and done >= total
        if self.tty:
            if finished or now - self._last_draw >= self.min_interval_s:
                self._line = self._text(done, total)
                self.stream.write("\r" + self._line.ljust(100)[:100])
                self.stream.flush()
                self._last_draw = now
            return
        decile = int(10 * done / total) if total else -1
        if decile > self._last_decile:
            self._last_decile = decile
            self.stream.write(self._text(done, total) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty and self._line:
            self.stream.write("\n")
            self.stream.flush()
