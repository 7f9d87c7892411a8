"""Worker processes for the run-store tests (``python -m tests.run_store_worker MODE ...``).

Modes:
  writer N          create a run, mark it running, then N times: log an epoch and heartbeat.
  claimer DEVICE T  at Unix time T, claim queued runs until none is left; print the ids (JSON).
  running           create a run, mark it running, print its id, then sleep (to be killed).
  cancellable ID    take run ID, log an epoch every 50 ms and stop cleanly when cancelled.
  slowstart ID S    sleep S seconds (a slow interpreter start), then take run ID and finish it.
  polite ID         take run ID, ignore the cancel flag, stop cleanly (cancelled) on SIGTERM.
  stubborn ID       take run ID, ignore the cancel flag and SIGTERM, keep making progress.
  hang ID           take run ID with a heartbeat, report progress once, then hang.
"""

from __future__ import annotations

import json
import signal
import sys
import time

from equiv.jobs.lifecycle import graceful_stop
from equiv.runs import Heartbeat, RunStore


def writer(n: int) -> None:
    store = RunStore()
    run = store.create("train", {"model": "mlp", "molecule": "ethanol", "writer": True})
    store.mark_running(run.id)
    for epoch in range(1, n + 1):
        store.log_epoch(run.id, epoch, seconds=epoch * 0.01, lr=1e-3,
                        metrics={"val_force_mae_mev_per_a": 100.0 / epoch, "train_loss": 1.0 / epoch})
        store.heartbeat(run.id, progress=epoch / n)
    store.finish(run.id, {"test_metrics": {"force_mae_mev_per_a": 1.0}})
    print(json.dumps({"run_id": run.id}))


def claimer(device: str, start_at: float) -> None:
    store = RunStore()
    time.sleep(max(0.0, start_at - time.time()))  # all claimers start together
    claimed = []
    while (run := store.claim_next(device, max_running=10_000)) is not None:
        claimed.append(run.id)
    print(json.dumps(claimed))


def running() -> None:
    store = RunStore()
    run = store.create("train", {"model": "gvp", "molecule": "ethanol"})
    store.mark_running(run.id)
    print(run.id, flush=True)
    time.sleep(600)


def cancellable(run_id: int) -> None:
    store = RunStore()
    store.mark_running(run_id)
    print("running", flush=True)
    epoch = 0
    while True:
        epoch += 1
        store.log_epoch(run_id, epoch, seconds=epoch * 0.05, metrics={"val_force_mae_mev_per_a": 50.0})
        if store.heartbeat(run_id):
            store.mark_cancelled(run_id, result={"checkpoint_path": f"/tmp/run-{run_id}-best.pt"})
            print(f"cancelled after {epoch} epochs", flush=True)
            return
        time.sleep(0.05)


def slowstart(run_id: int, seconds: float) -> None:
    time.sleep(seconds)
    store = RunStore()
    store.mark_running(run_id)
    store.finish(run_id, {"slow": True})


def _progressing(run_id: int, stop=None) -> None:
    store = RunStore()
    store.mark_running(run_id)
    print("running", flush=True)
    with Heartbeat(store, run_id, every_s=0.05) as beat:
        while stop is None or not stop.is_set():
            beat.touch()
            time.sleep(0.02)
    store.mark_cancelled(run_id)


def polite(run_id: int) -> None:
    with graceful_stop() as stop:
        _progressing(run_id, stop)


def stubborn(run_id: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _progressing(run_id)


def hang(run_id: int) -> None:
    store = RunStore()
    store.mark_running(run_id)
    with Heartbeat(store, run_id, every_s=0.05) as beat:
        beat.report(0.1, "step 1")
        print("hanging", flush=True)
        time.sleep(600)  # the loop never reports again


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    {"writer": lambda: writer(int(rest[0])), "claimer": lambda: claimer(rest[0], float(rest[1])), "running": running,
     "cancellable": lambda: cancellable(int(rest[0])), "slowstart": lambda: slowstart(int(rest[0]), float(rest[1])),
     "polite": lambda: polite(int(rest[0])), "stubborn": lambda: stubborn(int(rest[0])),
     "hang": lambda: hang(int(rest[0]))}[mode]()
