"""Parsing what a person types (CLI arguments, text boxes, URL query values) into run ids and
folders; numbers, vectors and angles have their rules in :mod:`equiv.links`.

Every function raises :class:`equiv.errors.EquivError` with a message that says what was expected.

Example:
    >>> parse_run_ids("12,13")
    ([12, 13], [])
"""

from __future__ import annotations

import os
from pathlib import Path

from equiv.errors import EquivError

__all__ = ["MAX_FOLDER_CHARS", "MAX_LINKED_RUNS", "MAX_RUN_ID", "parse_folder", "parse_run_id", "parse_run_ids"]

#: Largest run id a link may name (SQLite integers are 64-bit; ids are counted from 1).
MAX_RUN_ID = 10**12
#: Most runs one ``?run=`` link may name.
MAX_LINKED_RUNS = 5
#: Longest folder name accepted in a text box (Linux allows 4,096 bytes per path, 255 per part).
MAX_FOLDER_CHARS = 1024


def parse_run_id(text: str) -> int:
    """A run id as typed in a link: ASCII digits only, from 1 to :data:`MAX_RUN_ID`.

    Raises:
        EquivError: anything else (signs, spaces inside, superscripts such as ``²``, huge numbers).
    """
    t = str(text).strip()
    if not (t.isascii() and t.isdigit()) or len(t) > len(str(MAX_RUN_ID)) or not 1 <= int(t) <= MAX_RUN_ID:
        raise EquivError(f"a run is given by its number (1 to {MAX_RUN_ID:,}), not {t[:40]!r}")
    return int(t)


def parse_run_ids(text: str, max_count: int = MAX_LINKED_RUNS) -> tuple[list[int], list[str]]:
    """Comma-separated run ids from a link (``?run=3,7``) → (ids without repeats, one message per
    value not used). Never raises; at most ``max_count`` ids are kept."""
    ids: list[int] = []
    problems: list[str] = []
    parts = [p for p in str(text).split(",") if p.strip()]
    for part in parts[:max_count]:
        try:
            run_id = parse_run_id(part)
        except EquivError as exc:
            problems.append(f"link parameter run={part.strip()[:40]}: {exc}")
            continue
        if run_id not in ids:
            ids.append(run_id)
    if len(parts) > max_count:
        problems.append(f"link parameter run: {len(parts)} runs named; showing at most {max_count}")
    return ids, problems


def parse_folder(text: str) -> Path:
    """A folder typed into a text box → an existing, readable folder (``~`` expanded).

    Raises:
        EquivError: too long, a NUL character, an unknown user in ``~user``, no such folder, a name
        the system refuses (a part over 255 bytes), or a folder that cannot be listed.
    """
    t = str(text).strip()
    shown = repr(t[:60] + ("…" if len(t) > 60 else ""))
    if not t:
        raise EquivError("enter a folder")
    if len(t) > MAX_FOLDER_CHARS or "\x00" in t:
        raise EquivError(f"the folder {shown} is not a usable name ({len(t):,} characters; at most {MAX_FOLDER_CHARS:,})")
    try:
        path = Path(t).expanduser()
    except RuntimeError:  # ~user for a user this machine does not know
        raise EquivError(f"the folder {shown} names a user this machine does not know") from None
    try:
        if not path.is_dir():
            raise EquivError(f"there is no folder {shown} on the server")
        os.listdir(path)
    except OSError as exc:
        raise EquivError(f"the folder {shown} cannot be read: {exc.strerror or type(exc).__name__}") from None
    return path
