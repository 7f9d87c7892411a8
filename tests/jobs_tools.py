"""Helpers for tests that start background jobs: a tiny generated data set, tiny training
requests, and a fixture that stops the launchers and workers a test started (by process id)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from equiv.data import default_xtb_path, generate_xtb_dataset, write_dataset_npz
from equiv.jobs.launcher import _starting_launcher, launcher_pid
from equiv.jobs.queues import DEVICE_QUEUES
from equiv.runs import RunStore, pid_alive, this_host

#: A training run of a few seconds (most of it the worker's interpreter start).
TINY = dict(model="nequip-l1", data="xtb", molecule="ethanol", n_train=10, n_val=5, epochs=2, layers=1,
            channels=4, device="cpu")


def tiny_request(**changes) -> dict:
    """The training lab's form values of a tiny run (setting keys, equiv.run_settings.LAB)."""
    return {**TINY, **changes}


def tiny_xtb(molecule: str = "ethanol", frames: int = 60) -> int:
    """Write a small GFN2-xTB data set as ``xtb:<molecule>`` in this test's data home (about a
    second); returns its pool size (the first three quarters)."""
    ds = generate_xtb_dataset(molecule, frames=frames, stride=2, equilibration_steps=20, seed=1, trajectories=1)
    write_dataset_npz(ds, default_xtb_path(molecule))
    return frames - round(frames * 0.25)


def stop_background(store: RunStore, timeout: float = 20.0) -> None:
    """Stop what this test started: the launchers of ``store`` (SIGTERM: they stop claiming and
    leave) and the workers of its running runs (SIGKILL)."""
    pids = []
    for device in DEVICE_QUEUES:
        for pid in (launcher_pid(store.path, device), _starting_launcher(store.path, device)):
            if pid:
                pids.append(pid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for run in store.list_runs(status="running"):
        if run.pid and run.host == this_host() and pid_alive(run.pid):
            try:
                os.kill(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)


@pytest.fixture
def background_store(monkeypatch):
    """The test's run store; launchers leave after 2 idle seconds, and everything the test started
    in the background is stopped afterwards."""
    monkeypatch.setenv("EQUIV_LAUNCHER_IDLE_S", "2")
    store = RunStore()
    yield store
    stop_background(store)


def finished_run(store: RunStore, model: str, n_train: int, seed: int, force: float, energy: float = 1.0,
                 data: str = "xtb:ethanol", level: str = "GFN2-xTB", group: str | None = None, epochs: int = 0,
                 checkpoint: str | None = None, config: dict | None = None, zero: float | None = None,
                 metrics: dict | None = None):
    """A finished training record with these test errors (meV/Å, meV) and ``epochs`` logged epochs,
    written through the store's own API (what a worker writes, without training)."""
    run = store.create("sweep_member" if group else "train", {"model": model, "data": data, "n_train": n_train,
                                                               "seed": seed, **(config or {})},
                       molecule=data.split(":")[1],
                       group_id=group)
    store.mark_running(run.id, dataset={"name": data, "level_of_theory": level})
    for e in range(1, epochs + 1):
        store.log_epoch(run.id, e, seconds=e, lr=0.01, metrics={"val_force_mae_mev_per_a": force * (1 + 1 / e),
                                                                "val_energy_mae_mev": energy * 2 / e,
                                                                "train_force_mae_mev_per_a": force * 1.5 / e})
    return store.finish(run.id, {"test_metrics": {"force_mae_mev_per_a": force, "energy_mae_mev": energy,
                                                  "n_test": 10, "epochs": epochs, "best_epoch": epochs,
                                                  "force_mae_zero_mev_per_a": zero, **(metrics or {})},
                                 "checkpoint_path": None if checkpoint is None else str(checkpoint)})
