"""The data-set file format: one ``.npz`` (a zip of ``.npy`` arrays) with its metadata inside.

Members: ``numbers.npy`` [n_atoms] int64, ``positions.npy`` [n_frames, n_atoms, 3] float64 Å,
``energies.npy`` [n_frames] float64 eV, ``forces.npy`` [n_frames, n_atoms, 3] float64 eV/Å, and
``metadata.json`` (``{"format": "equiv-dataset", "version": 1, "metadata": {...}}``).

Why npz and not extended XYZ: the numbers are kept bit-exact in float64 (extended XYZ prints 8
decimals), it loads in milliseconds, NumPy reads it without ``equiv``
(``np.load(path)["forces"]``), and the metadata travels inside the file. Files are written
deterministically (fixed zip timestamps, members in a fixed order), so the same data give the
same bytes, and atomically (a temporary file renamed into place), so a reader never sees half a
file. :func:`equiv.data.write_extxyz_dataset` exports to extended XYZ for other tools.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import zipfile
from pathlib import Path

import numpy as np

from equiv.data.dataset import DataSet, DataSetMetadata
from equiv.errors import DataError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "write_dataset_npz", "read_dataset_npz", "atomic_write_bytes"]

FORMAT_NAME = "equiv-dataset"
FORMAT_VERSION = 1
_ARRAYS = ("numbers", "positions", "energies", "forces")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any file
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dataset_npz_bytes(ds: DataSet) -> bytes:
    """The file's bytes (deterministic for the same data set)."""
    buf = io.BytesIO()
    arrays = {"numbers": ds.numbers, "positions": ds.positions, "energies": ds.energies, "forces": ds.forces}
    with zipfile.ZipFile(buf, "w") as zf:
        for name in _ARRAYS:
            npy = io.BytesIO()
            np.lib.format.write_array(npy, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            zf.writestr(_member(f"{name}.npy"), npy.getvalue())
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "metadata": ds.metadata.to_dict()}
        zf.writestr(_member("metadata.json"), json.dumps(header, indent=1, sort_keys=True, ensure_ascii=False))
    return buf.getvalue()


def write_dataset_npz(ds: DataSet, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` (atomically; parent folders are created)."""
    return atomic_write_bytes(path, dataset_npz_bytes(ds))


def read_dataset_npz(path: str | os.PathLike, name: str | None = None) -> DataSet:
    """Read a file written by :func:`write_dataset_npz`; ``name`` overrides the stored name."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data-set file at {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "metadata.json" not in names:
                raise DataError(f"{path} is an .npz file but not an equiv data set (no metadata.json inside); "
                                "rMD17 files are read with the rmd17: spec")
            header = json.loads(zf.read("metadata.json"))
    except zipfile.BadZipFile:
        raise DataError(f"{path} is not a readable .npz file (damaged or not a zip archive)") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path}: its metadata.json is not valid JSON") from None
    if header.get("format") != FORMAT_NAME:
        raise DataError(f"{path}: unknown data-set format {header.get('format')!r}")
    if int(header.get("version", 0)) > FORMAT_VERSION:
        raise DataError(f"{path} was written by a newer equiv (format version {header['version']}); update equiv")
    missing = [f"{n}.npy" for n in _ARRAYS if f"{n}.npy" not in names]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {n: z[n] for n in _ARRAYS}
    except ValueError as exc:
        raise DataError(f"{path}: could not read its arrays ({exc})") from None
    meta = DataSetMetadata.from_dict(header["metadata"])
    if name is not None:
        meta = meta.replace(name=name)
    return DataSet(arrays["numbers"], arrays["positions"], arrays["energies"], arrays["forces"], meta)
