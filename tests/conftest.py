"""Shared test fixtures."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The shared rMD17 files (tests and benchmarks may read them; the app never needs them).
RMD17_DIR = Path(os.environ.get("EQUIV_RMD17_DIR", REPO_ROOT.parent / "shared" / "data" / "rmd17"))


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
