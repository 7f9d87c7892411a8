"""Shared test fixtures."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The committed CC0 slice of rMD17 split 01 (60 train + 40 test frames of ethanol, aspirin and
#: benzene; tests/data/rmd17/README.md): what every test that reads rMD17 uses.
RMD17_SLICE = REPO_ROOT / "tests" / "data" / "rmd17"
#: The full 1,000 + 1,000-frame split files, for the few tests marked ``rmd17_full``: the folder
#: named by ``EQUIV_RMD17_FULL`` (``make test`` sets it when the project's data folder is beside
#: the repository). Without them those tests are deselected (a fresh clone skips nothing).
RMD17_FULL = Path(os.environ.get("EQUIV_RMD17_FULL") or REPO_ROOT / "no-full-rmd17").expanduser()


def full_rmd17_present() -> bool:
    return (RMD17_FULL / "rmd17_ethanol_train_01.npz").is_file()


def pytest_report_header(config):
    where = RMD17_FULL if full_rmd17_present() else "absent (set EQUIV_RMD17_FULL), rmd17_full tests deselected"
    return f"full rMD17 splits: {where}"


def pytest_collection_modifyitems(config, items):
    """Deselect the ``rmd17_full`` tests where the full split files are not present."""
    if full_rmd17_present():
        return
    deselected = [item for item in items if item.get_closest_marker("rmd17_full")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("rmd17_full")]


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Poll ``predicate`` every 20 ms until it returns something true (returned), or fail after
    ``timeout`` seconds saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own EQUIV_HOME so nothing touches the user's data directory."""
    monkeypatch.setenv("EQUIV_HOME", str(tmp_path_factory.mktemp("equiv-home")))


@pytest.fixture(autouse=True)
def _no_tf32():
    """Equivariance tolerances assume exact float32 matmuls (TF32 off)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
