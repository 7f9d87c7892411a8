"""Bounds checked on molecule and data files before ASE reads them.

ASE's readers trust the sizes a file states: an ``.xyz`` whose first line claims 100,000,000 atoms
makes its reader call ``readline`` that many times (minutes, at the end of a 20-byte file); an
extended-XYZ ``Properties=…:R:999999`` header asks for arrays a million columns wide; an ASE
``.json`` file of 100 bytes can ask ``numpy.empty`` for 8 GB. On a shared server one such upload
would stall or exhaust the process. This module reads what a file claims, cheaply and without
allocating what it asks for, and refuses the file unless every claim fits: an atom count at most
the cap and at most the lines that follow, per-atom property widths at most 3, JSON arrays of
known numeric types and a bounded size. Then ASE reads only the checked text (the first
structure, for molecule files).

ASE has no such limits of its own and a child process per upload (the other way to bound it)
costs a fresh interpreter with ASE imported (about a second) per file, so the checks are written
here. They are deliberately strict; a file that fails them gets one sentence saying which claim
was too large (callers put the file's name in front).

Example:
    >>> first_xyz_frame("2\\ncomment\\nH 0 0 0\\nH 0 0 0.74\\n", max_atoms=10).splitlines()[0]
    '2'
    >>> first_xyz_frame("100000000\\n\\n", max_atoms=10)
    Traceback (most recent call last):
    ...
    equiv.errors.MoleculeError: line 1: 100000000 atoms are more than this app handles (10)
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Iterator, NamedTuple

from equiv.errors import MoleculeError

__all__ = [
    "MAX_COMMENT_CHARS",
    "MAX_PROPERTY_WIDTH",
    "XyzFrame",
    "check_ase_json",
    "first_pdb_model",
    "first_sdf_record",
    "first_xyz_frame",
    "scan_xyz_frames",
]

#: Longest extended-XYZ comment (second) line accepted, in characters. equiv's own files put the
#: data set's metadata there as JSON (about 1 kB).
MAX_COMMENT_CHARS = 65_536
#: Widest per-atom property (columns) in an extended-XYZ ``Properties=`` header (positions, forces: 3).
MAX_PROPERTY_WIDTH = 3
#: Most per-atom properties in one ``Properties=`` header.
MAX_PROPERTIES = 32
#: Array element types an ASE JSON file may use (anything else, e.g. sub-array types, is refused).
JSON_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                         "float16", "float32", "float64", "complex64", "complex128"})



class XyzFrame(NamedTuple):
    """Where one frame of an (extended) XYZ text is: its first line (0-based) and atom count."""

    start: int
    n_atoms: int

    @property
    def stop(self) -> int:
        """One past the frame's last line."""
        return self.start + self.n_atoms + 2


def _atom_count(line: str, line_no: int, max_atoms: int) -> int:
    text = line.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise MoleculeError(f"line {line_no}: expected the number of atoms, got {text[:40]!r}")
    n = int(text)
    if n < 1:
        raise MoleculeError(f"line {line_no}: a frame needs at least one atom")
    if n > max_atoms:
        raise MoleculeError(f"line {line_no}: {n} atoms are more than this app handles ({max_atoms})")
    return n


def _check_comment(line: str, line_no: int) -> None:
    if len(line) > MAX_COMMENT_CHARS:
        raise MoleculeError(f"line {line_no}: the comment line has {len(line):,} characters "
                            f"(at most {MAX_COMMENT_CHARS:,})")
    if "properties" not in line.lower():
        return
    from ase.io.extxyz import key_val_str_to_dict

    try:  # the comment as ASE's reader will see it (linear in the line's length)
        info = key_val_str_to_dict(line.strip())
    except Exception:  # noqa: BLE001 - ASE refuses the same line later with its own message
        return
    value = info.get("Properties")
    if value is None:
        return
    fields = str(value).split(":")
    if not isinstance(value, str) or len(fields) % 3 or len(fields) // 3 > MAX_PROPERTIES:
        raise MoleculeError(f"line {line_no}: Properties= must be name:type:width triples "
                            f"(at most {MAX_PROPERTIES})")
    for name, kind, width in zip(fields[0::3], fields[1::3], fields[2::3]):
        if kind.upper() not in ("S", "R", "I", "L") or not width.isascii() or not width.isdigit() \
                or not 1 <= int(width[:6]) <= MAX_PROPERTY_WIDTH:
            raise MoleculeError(f"line {line_no}: property {name[:40]!r} has type {kind[:10]!r} and "
                                f"width {width[:20]!r}; types are S, R, I, L and widths 1 to {MAX_PROPERTY_WIDTH}")


def scan_xyz_frames(lines: Iterable[str], max_atoms: int, max_frames: int | None = None) -> Iterator[XyzFrame]:
    """Check the frames of an (extended) XYZ text given line by line, yielding each frame's place.

    Each frame's atom count must be a whole number from 1 to ``max_atoms``, and that many atom
    lines must follow; comment lines are bounded and their ``Properties=`` widths at most
    :data:`MAX_PROPERTY_WIDTH`. Blank lines at the end are allowed. Work is linear in the lines
    read. Raises :class:`MoleculeError` naming the line (1-based).
    """
    it = iter(lines)
    line_no = 0  # lines consumed so far
    frames = 0
    for line in it:
        line_no += 1
        if not line.strip():
            if any(rest.strip() for rest in it):  # only blank lines may follow a blank line here
                raise MoleculeError(f"line {line_no}: a blank line where a frame's atom count belongs")
            break
        n = _atom_count(line, line_no, max_atoms)
        if max_frames is not None and frames >= max_frames:
            raise MoleculeError(f"it has more than {max_frames:,} frames; split it")
        start = line_no - 1
        comment = next(it, None)
        if comment is None:
            raise MoleculeError(f"it ends after line {line_no}: a frame of {n} atoms needs a comment line "
                                "and one line per atom")
        line_no += 1
        _check_comment(comment, line_no)
        for k in range(n):
            if next(it, None) is None:
                raise MoleculeError(f"it ends after line {line_no}: the frame starting on line {start + 1} "
                                    f"claims {n} atoms but has {k}")
            line_no += 1
        frames += 1
        yield XyzFrame(start, n)


def first_xyz_frame(text: str, max_atoms: int) -> str:
    """The first frame of an (extended) XYZ text, checked (see :func:`scan_xyz_frames`)."""
    lines = text.splitlines()
    for frame in scan_xyz_frames(lines, max_atoms):
        return "\n".join(lines[frame.start:frame.stop]) + "\n"
    raise MoleculeError("it contains no atoms")


def first_sdf_record(text: str, max_atoms: int) -> str:
    """The first record of an SDF/MOL text (up to ``$$$$``), its V2000 counts line checked: at most
    ``max_atoms`` atoms and that many atom lines present."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith("$$$$")), len(lines))
    record = lines[:end]
    if len(record) < 4:
        raise MoleculeError("it is not a MOL/SDF record: it needs three header lines and a counts line")
    counts = record[3]
    head = counts[:3].strip() or (counts.split() or [""])[0]
    if "V3000" in counts:
        raise MoleculeError("it is a V3000 MOL file; save it as V2000")
    n = _atom_count(head, 4, max_atoms)
    if len(record) < 4 + n:
        raise MoleculeError(f"it claims {n} atoms on line 4 but has {len(record) - 4} lines after it")
    return "\n".join(record) + "\n"


def first_pdb_model(text: str, max_atoms: int) -> str:
    """The first model of a PDB text (up to ``ENDMDL`` or ``END``), with at most ``max_atoms``
    ATOM/HETATM records."""
    kept: list[str] = []
    n_atoms = 0
    for line in text.splitlines():
        record = line[:6].strip().upper()
        if record in ("ATOM", "HETATM"):
            n_atoms += 1
            if n_atoms > max_atoms:
                raise MoleculeError(f"more than {max_atoms} atoms in its first model (this app's limit)")
        kept.append(line)
        if record in ("ENDMDL", "END"):
            break
    if n_atoms == 0:
        raise MoleculeError("it has no ATOM or HETATM records")
    return "\n".join(kept) + "\n"


def _check_json_value(value: Any, max_elements: int, depth: int = 0) -> None:
    if depth > 20:
        raise MoleculeError("the JSON is nested too deeply for a molecule file")
    if isinstance(value, dict):
        for key in ("__ndarray__", "__complex_ndarray__"):
            if key in value:
                _check_json_array(key, value[key], max_elements)
        for item in value.values():
            _check_json_value(item, max_elements, depth + 1)
    elif isinstance(value, list):
        if len(value) > max_elements:
            raise MoleculeError(f"a list of {len(value):,} entries is more than a molecule file needs")
        for item in value:
            _check_json_value(item, max_elements, depth + 1)


def _check_json_array(key: str, spec: Any, max_elements: int) -> None:
    if key == "__complex_ndarray__":
        return  # ASE builds these with numpy.array from the listed numbers: bounded by the file
    if not (isinstance(spec, list) and len(spec) == 3):
        raise MoleculeError("an array entry must be [shape, dtype, data]")
    shape, dtype, data = spec
    if (not isinstance(shape, list) or len(shape) > 4
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= max_elements for s in shape)):
        raise MoleculeError(f"an array's shape must be at most 4 whole numbers up to {max_elements:,}")
    size = math.prod(shape)
    if size > max_elements:
        raise MoleculeError(f"an array of shape {tuple(shape)} ({size:,} numbers) is more than a "
                            f"molecule file needs (at most {max_elements:,})")
    if not isinstance(dtype, str) or dtype not in JSON_DTYPES:
        raise MoleculeError(f"array type {str(dtype)[:40]!r} is not one of {', '.join(sorted(JSON_DTYPES))}")
    if not isinstance(data, list) or len(data) != size:
        raise MoleculeError(f"an array of shape {tuple(shape)} must list {size:,} numbers")


def check_ase_json(text: str, max_atoms: int) -> None:
    """Refuse an ASE JSON database text whose arrays are larger than ``max_atoms`` atoms need,
    of unknown element types, or whose stated shape disagrees with the numbers listed."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MoleculeError(f"it is not valid JSON: {str(exc)[:120]}") from None
    _check_json_value(value, max_elements=9 * max_atoms + 64)

