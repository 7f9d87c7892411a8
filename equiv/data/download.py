"""Download the official rMD17 release and write its split files.

The release is one archive, ``rmd17.tar.bz2`` (1,066,301,513 bytes), on figshare (article
12672038, CC0) and mirrored on the Materials Cloud Archive (record 466, 2020.82). It holds
``rmd17/npz_data/rmd17_<molecule>.npz`` (100,000 structures per molecule; 99,988 for azobenzene)
and ``rmd17/splits/index_<train|test>_<NN>.csv`` (five 1,000 / 1,000 index sets). From them this
module writes ``rmd17_<molecule>_<train|test>_<NN>.npz`` (the same keys, the indexed frames), the
layout :mod:`equiv.data.rmd17` reads.

Downloads go through pooch (``pooch.retrieve`` with its HTTP downloader): the archive streams into
a temporary file that becomes ``rmd17.tar.bz2`` only when its SHA-256 is the expected one, else it
is deleted. An archive given by path (``--archive``, or a ``file://`` URL, which pooch does not
fetch) is checked with ``pooch.file_hash``. The expected SHA-256 and size come from public records
of figshare's metadata for file 23950376 (a project note giving size, MD5 and SHA-256, and the
load-atoms package's SHA-256 prefix ``cddeea2ec2c4``, which agrees); they could not be re-checked
against figshare from the machine this was written on (no internet). A mismatch stops with both
digests shown, and ``--sha256`` accepts another digest for a different archive.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tarfile
import time
import urllib.parse
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


class _PoochProgress:
    """The progress-bar object pooch's HTTP downloader drives (``total``, ``update``, ``reset``,
    ``close``), reporting bytes to a :data:`Progress` callback."""

    def __init__(self, progress: Progress, url: str):
        self.progress, self.url, self.total, self.done = progress, url, 0, 0

    def update(self, n: int) -> None:
        self.done += n
        _report(self.progress, "download", min(self.done, self.total) if self.total else self.done, self.total, self.url)

    def reset(self) -> None:
        self.done = 0

    def close(self) -> None:
        pass


def _download(urls: Sequence[str], folder: Path, expected_sha256: str, timeout: float,
              progress: Progress | None) -> tuple[Path, str]:
    """``(archive, url)`` from the first of ``urls`` that answers: downloaded by pooch into
    ``folder`` and kept only if its SHA-256 is ``expected_sha256``; for a ``file://`` URL (which
    pooch does not fetch) that file itself, unchecked."""
    import pooch  # here, not at the top: requests (under pooch) takes longer to import than most commands run
    import requests

    reasons = []
    for url in urls:
        if url.startswith("file:"):
            return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)), url
        downloader = pooch.HTTPDownloader(progressbar=_PoochProgress(progress, url) if progress else False,
                                          chunk_size=_CHUNK, timeout=timeout,
                                          headers={"User-Agent": "equiv (rMD17 downloader)"})
        try:
            return Path(pooch.retrieve(url, known_hash=f"sha256:{expected_sha256}", fname=RMD17_ARCHIVE_NAME,
                                       path=folder, downloader=downloader)), url
        except ValueError as exc:  # pooch's hash mismatch (it has deleted the download)
            raise DataError(f"checksum mismatch for {url}: {exc} Download again, or pass --sha256 for another "
                            "archive") from None
        except (requests.RequestException, OSError) as exc:
            reasons.append(f"{url}: {_why(exc)}")
    raise DataError(
        "could not download rMD17 (" + "; ".join(reasons) + "). Without network, download "
        f"{RMD17_URLS[0]} (rmd17.tar.bz2, figshare article 12672038, about 1 GB) elsewhere and run "
        f"`equiv data download rmd17 --archive PATH`, or copy the rmd17_<molecule>_<train|test>_<NN>.npz "
        f"files into {folder.parent}")


def _why(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect (no network?)"
    return str(exc) or type(exc).__name__


def _verify(path: Path, expected_sha256: str | None, source: str) -> tuple[str, str]:
    """Check a local archive's SHA-256 (and size, for the official one); returns (digest, what it was checked against)."""
    import pooch

    sha = pooch.file_hash(str(path), alg="sha256")
    if expected_sha256 is not None:
        if sha != expected_sha256.lower():
            raise DataError(f"checksum mismatch for {source}: SHA-256 {sha}, expected {expected_sha256.lower()} (given)")
        return sha, "the given SHA-256"
    size = path.stat().st_size
    if sha != RMD17_ARCHIVE_SHA256 or size != RMD17_ARCHIVE_BYTES:
        raise DataError(f"checksum mismatch for {source} (not the official rmd17.tar.bz2, or damaged): {size} bytes, "
                        f"expected {RMD17_ARCHIVE_BYTES}; SHA-256 {sha}, expected {RMD17_ARCHIVE_SHA256}. Delete it and "
                        "download again, or pass --sha256 for another archive")
    return sha, "the official size and SHA-256"


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
        sha256: expected SHA-256 of a different archive; by default the official SHA-256 (and,
            for a local archive, size) are checked.
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
    try:
        if archive is not None:
            path = Path(archive).expanduser()
            source = str(path)
        else:
            path, source = _download(urls or RMD17_URLS, work, (sha256 or RMD17_ARCHIVE_SHA256).lower(), timeout_s, progress)
        downloaded = path.resolve().parent == work.resolve()
        if downloaded:  # downloaded, and checked, by pooch
            sha, checked = (sha256 or RMD17_ARCHIVE_SHA256).lower(), "the given SHA-256" if sha256 else "the official SHA-256"
        else:  # the user's own file: checked here, never deleted
            if not path.is_file():
                raise DataError(f"no archive at {path}")
            _report(progress, "download", path.stat().st_size, path.stat().st_size, source)
            sha, checked = _verify(path, sha256, source)
        npz, csvs = _extract(path, work / "raw", progress)
        written, skipped = _write_splits(npz, csvs, target, progress)
        report = {
            "data_dir": str(target), "source": source, "bytes": path.stat().st_size, "sha256": sha,
            "verified_against": checked, "files": written, "skipped": skipped,
            "molecules": sorted(npz), "splits": sorted({int(f[-6:-4]) for f in written}),
        }
        (target / "rmd17_download.json").write_text(json.dumps(report, indent=1))
        if keep_raw:
            raw = target / "raw"
            shutil.rmtree(raw, ignore_errors=True)
            (work / "raw").rename(raw)
            if downloaded:  # not the user's own file
                path.rename(raw / RMD17_ARCHIVE_NAME)
        report["seconds"] = round(time.perf_counter() - t0, 1)
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)
