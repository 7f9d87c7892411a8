"""The rMD17 downloader, run on a small archive laid out like the official one (built here from
the committed slice of the split files, tests/data/rmd17), served from a file:// URL and from a real local HTTP server. Never the
network."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import socket
import tarfile
import threading

import numpy as np
import pytest

from equiv.cli import main
from equiv.data import download_rmd17, load_rmd17
from equiv.data.download import RMD17_ARCHIVE_BYTES, RMD17_ARCHIVE_SHA256
from equiv.errors import DataError
from tests.conftest import RMD17_SLICE

KEYS = ("nuclear_charges", "coords", "energies", "forces", "old_indices", "old_energies", "old_forces")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """rmd17/npz_data/rmd17_ethanol.npz: the 60 + 40 structures of split 01 shuffled into one file;
    rmd17/splits/index_{train,test}_01.csv pointing back at them (and a split 02 with the roles
    swapped)."""
    folder = tmp_path_factory.mktemp("archive")
    train = np.load(RMD17_SLICE / "rmd17_ethanol_train_01.npz")
    test = np.load(RMD17_SLICE / "rmd17_ethanol_test_01.npz")
    n = len(train["energies"])
    perm = np.random.default_rng(0).permutation(n + len(test["energies"]))  # full[perm[j]] = combined[j]
    full = {}
    for key in KEYS:
        combined = np.concatenate([train[key], test[key]]) if key != "nuclear_charges" else train[key]
        if key == "nuclear_charges":
            full[key] = combined
        else:
            full[key] = np.empty_like(combined)
            full[key][perm] = combined
    train_idx, test_idx = perm[:n], perm[n:]
    npz = io.BytesIO()
    np.savez(npz, **full)
    path = folder / "rmd17.tar.bz2"
    with tarfile.open(path, "w:bz2") as tar:
        _add(tar, "rmd17/readme.txt", b"revised MD17 (test copy)\n")
        _add(tar, "rmd17/npz_data/rmd17_ethanol.npz", npz.getvalue())
        for name, idx in [("index_train_01.csv", train_idx), ("index_test_01.csv", test_idx),
                          ("index_train_02.csv", test_idx), ("index_test_02.csv", train_idx)]:
            _add(tar, f"rmd17/splits/{name}", "".join(f"{i}\n" for i in idx).encode())
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def http_url(archive):
    path, _ = archive
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/rmd17.tar.bz2"


def test_download_writes_the_split_files_exactly(archive, tmp_path):
    path, sha = archive
    seen = []
    report = download_rmd17(tmp_path, urls=[path.as_uri()], sha256=sha, progress=seen.append)
    assert report["molecules"] == ["ethanol"] and report["splits"] == [1, 2]
    assert sorted(report["files"]) == ["rmd17_ethanol_test_01.npz", "rmd17_ethanol_test_02.npz",
                                       "rmd17_ethanol_train_01.npz", "rmd17_ethanol_train_02.npz"]
    assert report["verified_against"] == "the given SHA-256" and report["sha256"] == sha
    for part in ("train", "test"):
        written, original = np.load(tmp_path / f"rmd17_ethanol_{part}_01.npz"), np.load(RMD17_SLICE / f"rmd17_ethanol_{part}_01.npz")
        assert set(written.files) == set(KEYS)
        for key in KEYS:
            np.testing.assert_array_equal(written[key], original[key])
    np.testing.assert_array_equal(np.load(tmp_path / "rmd17_ethanol_train_02.npz")["coords"],
                                  np.load(RMD17_SLICE / "rmd17_ethanol_test_01.npz")["coords"])
    ours, reference = load_rmd17("ethanol", "train", data_dir=tmp_path), load_rmd17("ethanol", "train", data_dir=RMD17_SLICE)
    np.testing.assert_array_equal(ours.energies, reference.energies)
    assert {p.stage for p in seen} == {"download", "extract", "write"}
    assert seen[0].stage == "download" and max(p.done for p in seen if p.stage == "download") == path.stat().st_size
    assert not (tmp_path / ".rmd17-download").exists() and not (tmp_path / "raw").exists()
    assert json.loads((tmp_path / "rmd17_download.json").read_text())["sha256"] == sha


def test_cli_download_over_http(http_url, archive, tmp_path, capsys):
    _, sha = archive
    assert main(["data", "download", "rmd17", "--data-dir", str(tmp_path), "--url", http_url, "--sha256", sha,
                 "--keep-raw", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == http_url and out["data_dir"] == str(tmp_path) and len(out["files"]) == 4
    assert isinstance(out["seconds"], float) and out["skipped"] == []
    assert (tmp_path / "raw" / "rmd17.tar.bz2").is_file() and (tmp_path / "raw" / "npz_data" / "rmd17_ethanol.npz").is_file()
    assert main(["data", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["datasets"]
    assert listed[0]["spec"] == "rmd17:ethanol" and listed[0]["splits"] == [1, 2]


def test_official_checksum_refuses_another_archive(archive, tmp_path):
    path, sha = archive
    assert sha != RMD17_ARCHIVE_SHA256
    with pytest.raises(DataError) as exc:
        download_rmd17(tmp_path, urls=[path.as_uri()])
    text = str(exc.value)
    assert "checksum mismatch" in text and RMD17_ARCHIVE_SHA256 in text and str(RMD17_ARCHIVE_BYTES) in text
    assert not list(tmp_path.glob("*.npz")) and not (tmp_path / ".rmd17-download").exists()
    with pytest.raises(DataError, match="checksum mismatch .* expected 0000"):
        download_rmd17(tmp_path, archive=path, sha256="0000")
    assert path.is_file()  # a given archive is never deleted


def test_local_archive(archive, tmp_path):
    path, sha = archive
    report = download_rmd17(tmp_path, archive=path, sha256=sha.upper())
    assert report["source"] == str(path) and len(report["files"]) == 4 and path.is_file()


def test_no_network_is_a_clear_message(tmp_path, capsys):
    with pytest.raises(DataError) as exc:
        download_rmd17(tmp_path, urls=[_closed_port_url()], timeout_s=5)
    text = str(exc.value)
    assert "could not download rMD17" in text and "--archive" in text and str(tmp_path) in text
    assert main(["data", "download", "rmd17", "--data-dir", str(tmp_path), "--url", _closed_port_url(), "--json"]) == 2
    assert "could not download rMD17" in json.loads(capsys.readouterr().out)["error"]


def test_damaged_archive(tmp_path):
    bad = tmp_path / "rmd17.tar.bz2"
    bad.write_bytes(b"BZh9 this is not bzip2 data" * 100)
    sha = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(DataError, match="could not unpack"):
        download_rmd17(tmp_path / "out", archive=bad, sha256=sha)
