"""Download the official rMD17 release and write its split files.

The release is one archive, ``rmd17.tar.bz2`` (1,066,301,513 bytes), on figshare (article
12672038, CC0) and mirrored on the Materials Cloud Archive (record 466, 2020.82). It holds
``rmd17/npz_data/rmd17_<molecule>.npz`` (100,000 structures per molecule; 99,988 for azobenzene)
and ``rmd17/splits/index_<train|test>_<NN>.csv`` (five 1,000 / 1,000 index sets). From them this
module writes ``rmd17_<molecule>_<train|test>_<NN>.npz`` (the same keys, the indexed frames), the
layout :mod:`equiv.data.rmd17` reads.

Checksums: the archive is checked against its size, SHA-256 and MD5 as recorded below. figshare
lists an MD5 for each file; these values come from public records of that metadata (a project note
giving size, MD5 and SHA-256 of figshare file 23950376, and the load-atoms package's SHA-256 prefix
``cddeea2ec2c4``, which agrees). They could not be re-checked against figshare from the machine
this was written on (no internet); a mismatch stops with both digests shown, and ``--sha256``
accepts another digest for a different archive.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from equiv.data.npzfile import atomic_write_bytes
from equiv.data.rmd17 import RMD17_MOLECULES, rmd17_data_dir
from equiv.errors import DataError

__all__ = [
    "RMD17_URLS",
    "RMD17_ARCHIVE_NAME",
    "RMD17_ARCHIVE_BYTES",
    "RMD17_ARCHIVE_SHA256",
    "RMD17_ARCHIVE_MD5",
    "DownloadProgress",
    "download_rmd17",
]

#: Where the archive is fetched from, in order (figshare file 23950376, then the Materials Cloud mirror).
RMD17_URLS = (
    "https://figshare.com/ndownloader/files/23950376",
    "https://archive.materialscloud.org/record/file?filename=rmd17.tar.bz2&record_id=466",
)
RMD17_ARCHIVE_NAME = "rmd17.tar.bz2"
RMD17_ARCHIVE_BYTES = 1_066_301_513
RMD17_ARCHIVE_SHA256 = "cddeea2ec2c4b22a9de16a9a65a3eeedac5b29da9c99c20bbff0153912bf922b"
RMD17_ARCHIVE_MD5 = "cb1a927628d96f2e966025da4fb63d18"
_NPZ = re.compile(r"(?:^|/)npz_data/rmd17_([a-z]+)\.npz$")
_CSV = re.compile(r"(?:^|/)splits/index_(train|test)_(\d\d)\.csv$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DownloadProgress:
    """``stage`` is ``download``, ``extract`` or ``write``; ``done``/``total`` count bytes (download)
    or files; ``total`` is 0 when unknown."""

    stage: str
    done: int
    total: int
    message: str = ""


Progress = Callable[[DownloadProgress], None]


def _report(progress: Progress | None, *args) -> None:
    if progress is not None:
        progress(DownloadProgress(*args))


def _hashes(path: Path) -> tuple[str, str, int]:
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), md5.hexdigest(), size


def _fetch(url: str, dest: Path, timeout: float, progress: Progress | None) -> tuple[str, str, int]:
    """Stream ``url`` into ``dest``; returns (sha256, md5, bytes)."""
    request = urllib.request.Request(url, headers={"User-Agent": "equiv (rMD17 downloader)"})
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        _report(progress, "download", 0, total, url)
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            out.write(chunk)
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
            _report(progress, "download", size, total, url)
    return sha.hexdigest(), md5.hexdigest(), size


def _why(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            return "the host name could not be resolved (no network?)"
        return str(reason)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return str(exc) or type(exc).__name__


def _verify(sha: str, md5: str, size: int, expected_sha256: str | None, source: str) -> str:
    """Check digests; returns what they were checked against."""
    if expected_sha256 is not None:
        if sha != expected_sha256.lower():
            raise DataError(f"checksum mismatch for {source}: SHA-256 {sha}, expected {expected_sha256.lower()} (given)")
        return "the given SHA-256"
    problems = []
    if size != RMD17_ARCHIVE_BYTES:
        problems.append(f"{size} bytes, expected {RMD17_ARCHIVE_BYTES}")
    if sha != RMD17_ARCHIVE_SHA256:
        problems.append(f"SHA-256 {sha}, expected {RMD17_ARCHIVE_SHA256}")
    if md5 != RMD17_ARCHIVE_MD5:
        problems.append(f"MD5 {md5}, expected {RMD17_ARCHIVE_MD5}")
    if problems:
        raise DataError(f"checksum mismatch for {source} (not the official rmd17.tar.bz2, or damaged): "
                        + "; ".join(problems) + ". Delete it and download again, or pass --sha256 for another archive")
    return "the official size, SHA-256 and MD5"


def _extract(archive: Path, raw_dir: Path, progress: Progress | None) -> tuple[dict[str, Path], dict[tuple[str, int], Path]]:
    """Copy the molecule npz files and split CSVs out of the archive (one sequential pass)."""
    npz: dict[str, Path] = {}
    csvs: dict[tuple[str, int], Path] = {}
    try:
        with tarfile.open(archive, "r|bz2") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                m_npz, m_csv = _NPZ.search(member.name), _CSV.search(member.name)
                if m_npz and m_npz.group(1) in RMD17_MOLECULES:
                    dest = raw_dir / "npz_data" / f"rmd17_{m_npz.group(1)}.npz"
                    npz[m_npz.group(1)] = dest
                elif m_csv:
                    dest = raw_dir / "splits" / f"index_{m_csv.group(1)}_{m_csv.group(2)}.csv"
                    csvs[(m_csv.group(1), int(m_csv.group(2)))] = dest
                else:
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                with open(dest, "wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                _report(progress, "extract", len(npz) + len(csvs), 0, dest.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"could not unpack {archive.name}: {exc}") from None
    if not npz:
        raise DataError(f"{archive.name} holds no rmd17/npz_data/rmd17_<molecule>.npz files: not the rMD17 archive")
    return npz, csvs


def _read_indices(path: Path) -> np.ndarray:
    values = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            try:
                values.append(int(float(cells[0])))
            except ValueError:
                if values:  # only a header line may be non-numeric
                    raise DataError(f"{path.name}: {cells[0]!r} is not a frame index") from None
    idx = np.asarray(values, dtype=np.int64)
    if idx.size == 0 or len(np.unique(idx)) != idx.size or idx.min() < 0:
        raise DataError(f"{path.name}: expected distinct non-negative frame indices")
    return idx


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _write_splits(npz: dict[str, Path], csvs: dict[tuple[str, int], Path], target: Path,
                  progress: Progress | None) -> tuple[list[str], list[str]]:
    splits = sorted({n for (_, n) in csvs if ("train", n) in csvs and ("test", n) in csvs})
    if not splits:
        raise DataError("the archive has no complete split (index_train_NN.csv with index_test_NN.csv)")
    indices = {key: _read_indices(path) for key, path in csvs.items()}
    for n in splits:
        if np.intersect1d(indices[("train", n)], indices[("test", n)]).size:
            raise DataError(f"split {n:02d}: the train and test index files overlap")
    written, skipped = [], []
    total = len(npz) * len(splits) * 2
    for name in sorted(npz):
        with np.load(npz[name], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        n_frames = len(arrays["energies"])
        for n in splits:
            for part in ("train", "test"):
                idx = indices[(part, n)]
                file = f"rmd17_{name}_{part}_{n:02d}.npz"
                if idx.max() >= n_frames:
                    skipped.append(f"{file} (index {int(idx.max())} beyond {n_frames} structures)")
                    continue
                out = {k: (v[idx] if v.ndim and v.shape[0] == n_frames and k != "nuclear_charges" else v)
                       for k, v in arrays.items()}
                atomic_write_bytes(target / file, _npz_bytes(out))
                written.append(file)
                _report(progress, "write", len(written) + len(skipped), total, file)
    return written, skipped


def download_rmd17(
    data_dir: str | os.PathLike | None = None,
    *,
    urls: Sequence[str] | None = None,
    archive: str | os.PathLike | None = None,
    sha256: str | None = None,
    keep_raw: bool = False,
    timeout_s: float = 60.0,
    progress: Progress | None = None,
) -> dict:
    """Fetch (or take) the rMD17 archive, verify it, and write the split files into the rMD17 folder.

    Args:
        data_dir: target folder (default: :func:`equiv.data.rmd17_data_dir`).
        urls: where to download from, tried in order (default :data:`RMD17_URLS`); ``file://``
            URLs work too.
        archive: an already downloaded ``rmd17.tar.bz2`` to use instead (never deleted).
        sha256: expected SHA-256 of a different archive; by default the official size, SHA-256
            and MD5 are checked.
        keep_raw: keep the downloaded archive and the extracted full npz files (about 2 GB) under
            ``<data_dir>/raw``.
        progress: called with :class:`DownloadProgress` while downloading, extracting and writing.

    Returns a report (folder, digests, files written, what was skipped, seconds). Raises
    :class:`DataError` without network (saying how to get the archive by hand) or on a checksum
    mismatch (the partial download is removed; nothing is written).
    """
    t0 = time.perf_counter()
    target = rmd17_data_dir(data_dir)
    work = target / ".rmd17-download"
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot write to {target} ({exc.strerror}); choose another folder with --data-dir") from None
    used_url = None
    try:
        if archive is not None:
            path = Path(archive).expanduser()
            if not path.is_file():
                raise DataError(f"no archive at {path}")
            sha, md5, size = _hashes(path)
            source = str(path)
        else:
            path = work / RMD17_ARCHIVE_NAME
            reasons = []
            for url in urls or RMD17_URLS:
                try:
                    sha, md5, size = _fetch(url, path, timeout_s, progress)
                    used_url = url
                    break
                except (urllib.error.URLError, OSError, ValueError) as exc:
                    path.unlink(missing_ok=True)
                    reasons.append(f"{url}: {_why(exc)}")
            else:
                raise DataError(
                    "could not download rMD17 (" + "; ".join(reasons) + "). Without network, download "
                    f"{RMD17_URLS[0]} (rmd17.tar.bz2, figshare article 12672038, about 1 GB) elsewhere and run "
                    f"`equiv data download rmd17 --archive PATH`, or copy the rmd17_<molecule>_<train|test>_<NN>.npz "
                    f"files into {target}")
            source = used_url
        try:
            checked = _verify(sha, md5, size, sha256, source)
        except DataError:
            if archive is None:
                path.unlink(missing_ok=True)
            raise
        npz, csvs = _extract(path, work / "raw", progress)
        written, skipped = _write_splits(npz, csvs, target, progress)
        report = {
            "data_dir": str(target), "source": source, "bytes": size, "sha256": sha, "md5": md5,
            "verified_against": checked, "files": written, "skipped": skipped,
            "molecules": sorted(npz), "splits": sorted({int(f[-6:-4]) for f in written}),
        }
        (target / "rmd17_download.json").write_text(json.dumps(report, indent=1))
        if keep_raw:
            raw = target / "raw"
            shutil.rmtree(raw, ignore_errors=True)
            (work / "raw").rename(raw)
            if archive is None:
                path.rename(raw / RMD17_ARCHIVE_NAME)
        report["seconds"] = round(time.perf_counter() - t0, 1)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)
