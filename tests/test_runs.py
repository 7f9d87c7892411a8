"""The run store on a real SQLite file with real processes: concurrent writers and claimers, dead
and reused process ids, stale heartbeats, cancellation, and the ``equiv runs`` CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from equiv.cli import main
from equiv.errors import RunError
from equiv.runs import EPOCH_METRICS, RunStore, default_store_path
from tests.conftest import REPO_ROOT, wait_for


def worker(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.run_store_worker", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture
def store() -> RunStore:
    return RunStore()


# -- the API, in one process -----------------------------------------------------------------

def test_store_lives_in_the_data_home_in_wal_mode(store):
    assert store.path == default_store_path() and store.path.name == "runs.sqlite"
    assert str(store.path).startswith(os.environ["EQUIV_HOME"])
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1


def test_life_of_a_run(store):
    run = store.create("train", {"model": "nequip", "molecule": "ethanol", "lr": 0.01}, device="cpu", group_id="g1")
    assert (run.status, run.model, run.molecule, run.group_id, run.pid) == ("queued", "nequip", "ethanol", "g1", None)
    assert store.queue_position(run.id) == 0
    claimed = store.claim_next("cpu")
    assert claimed.id == run.id and claimed.status == "running" and claimed.pid == os.getpid()
    assert claimed.pid_start is not None and claimed.host and store.queue_position(run.id) is None
    store.set_dataset(run.id, {"name": "rmd17:ethanol", "level_of_theory": "PBE/def2-SVP"})
    for epoch in (1, 2):
        store.log_epoch(run.id, epoch, seconds=1.5 * epoch, lr=0.01,
                        metrics={"train_force_mae_mev_per_a": 90.0 / epoch, "val_force_mae_mev_per_a": 100.0 / epoch,
                                 "val_energy_mae_mev": float("nan"), "loss": 0.5})
    store.log_epoch(run.id, 2, seconds=3.1, lr=0.008, metrics={"val_force_mae_mev_per_a": 49.0})  # replaces epoch 2
    assert store.heartbeat(run.id, progress=0.5, message="epoch 2") is False
    store.set_checkpoint(run.id, "/tmp/best.pt")
    done = store.finish(run.id, test_metrics={"force_mae_mev_per_a": 40.0, "energy_mae_mev": 5.0})
    assert done.status == "finished" and done.progress == 1.0 and done.checkpoint_path == "/tmp/best.pt"
    assert done.dataset["name"] == "rmd17:ethanol" and done.seconds >= 0
    epochs = store.epochs(run.id)
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[0].val_force_mae_mev_per_a == 100.0 and epochs[0].val_energy_mae_mev is None
    assert epochs[0].extra == {"loss": 0.5} and epochs[1].lr == 0.008 and epochs[1].val_force_mae_mev_per_a == 49.0
    with pytest.raises(RunError, match="cannot log an epoch of run 1: it is finished"):
        store.log_epoch(run.id, 3, seconds=1.0)
    with pytest.raises(RunError, match="no run 99"):
        store.get(99)


def test_filters_and_order(store):
    a = store.create("train", {"model": "mlp", "molecule": "ethanol"})
    b = store.create("sweep_member", {"model": "gvp", "molecule": "aspirin"}, group_id="sweep-1")
    c = store.create("generate", {"molecule": "water"}, device="cuda")
    store.fail(a.id, "NaN loss at epoch 3")
    assert [r.id for r in store.list_runs()] == [c.id, b.id, a.id]
    assert [r.id for r in store.list_runs(status="failed")] == [a.id]
    assert [r.id for r in store.list_runs(status=["queued"], model="gvp")] == [b.id]
    assert [r.id for r in store.list_runs(molecule="water", device="cuda")] == [c.id]
    assert [r.id for r in store.list_runs(group_id="sweep-1", kind="sweep_member")] == [b.id]
    assert len(store.list_runs(limit=2)) == 2
    assert store.get(a.id).error == "NaN loss at epoch 3"
    with pytest.raises(RunError, match="unknown status"):
        store.list_runs(status="done")
    with pytest.raises(RunError, match="unknown run kind"):
        store.create("eval", {})


def test_idempotency_key_makes_one_run(store):
    first = store.create("train", {"model": "mlp"}, idempotency_key="click-42")
    second = store.create("train", {"model": "mlp"}, idempotency_key="click-42")
    assert first.id == second.id and len(store.list_runs()) == 1


def test_claims_respect_device_queue_order_and_concurrency_limit(store):
    runs = [store.create("train", {"i": i}, device=d) for i, d in enumerate(["cpu", "cuda", "cpu", "cpu"])]
    assert store.queue_position(runs[3].id) == 2
    first = store.claim_next("cpu", max_running=2)
    second = store.claim_next("cpu", max_running=2)
    assert (first.id, second.id) == (runs[0].id, runs[2].id)
    assert store.claim_next("cpu", max_running=2) is None  # two already run on the CPU
    assert store.claim_next("cuda").id == runs[1].id  # queues are per device
    store.finish(first.id)
    assert store.claim_next("cpu", max_running=2).id == runs[3].id
    assert store.claim_next("cpu", max_running=5) is None  # nothing queued


def test_cancel_of_a_queued_run_is_immediate(store):
    run = store.create("train", {})
    cancelled = store.request_cancel(run.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert store.claim_next("cpu") is None
    with pytest.raises(RunError, match="cannot start run .* it is cancelled"):
        store.mark_running(run.id)
    assert store.request_cancel(run.id).status == "cancelled"  # ended runs stay as they are


def test_fail_keeps_the_first_reason(store):
    run = store.create("train", {})
    store.mark_running(run.id)
    store.fail(run.id, "out of GPU memory")
    assert store.fail(run.id, "later reason").error == "out of GPU memory"
    with pytest.raises(RunError, match="cannot update run .* it is failed \\(out of GPU memory\\)"):
        store.heartbeat(run.id)


# -- dead workers ---------------------------------------------------------------------------

def test_a_killed_worker_is_reported_failed(store):
    proc = worker("running")
    run_id = int(proc.stdout.readline())
    assert store.get(run_id).status == "running" and store.get(run_id).pid == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    # Not yet collected by its parent: a zombie, which must count as dead.
    wait_for(lambda: store.get(run_id).status == "failed", what="the reaper")
    run = store.get(run_id)
    assert run.error == f"worker process {proc.pid} died (killed or out of memory)"
    assert run.finished_at is not None
    proc.wait()


def test_a_reused_process_id_is_not_mistaken_for_the_worker(store):
    run = store.create("train", {})
    store.mark_running(run.id)  # this (live) process, with its real start time
    assert store.reap() == [] and store.get(run.id).status == "running"
    with sqlite3.connect(store.path) as conn:  # as if the worker had started at another time
        conn.execute("UPDATE runs SET pid_start = pid_start - 1 WHERE id = ?", (run.id,))
    reaped = store.reap()
    assert [r.id for r in reaped] == [run.id]
    assert "its process id now belongs to another process" in store.get(run.id).error


def test_a_silent_worker_is_failed_after_the_stale_time(store):
    run = store.create("train", {})
    store.mark_running(run.id)
    time.sleep(0.3)
    assert store.reap(stale_after_s=60) == []
    assert [r.id for r in store.reap(stale_after_s=0.1)] == [run.id]
    assert "no heartbeat from worker process" in store.get(run.id).error


def test_a_run_on_another_host_is_judged_by_its_heartbeat(store):
    run = store.create("train", {})
    store.mark_running(run.id)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET host = 'elsewhere', pid = 999999999 WHERE id = ?", (run.id,))
    assert store.reap() == []  # its pid means nothing here
    assert len(store.reap(stale_after_s=0.0)) == 1


# -- several processes at once -------------------------------------------------------------

def test_concurrent_writers_lose_nothing(store):
    n_procs, n_epochs = 4, 200
    t0 = time.perf_counter()
    procs = [worker("writer", str(n_epochs)) for _ in range(n_procs)]
    outs = [p.communicate(timeout=240) for p in procs]
    seconds = time.perf_counter() - t0
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "locked" not in err
    ids = [json.loads(out)["run_id"] for out, _ in outs]
    assert len(set(ids)) == n_procs
    for run_id in ids:
        run = store.get(run_id)
        assert run.status == "finished" and run.progress == 1.0
        epochs = store.epochs(run_id)
        assert [e.epoch for e in epochs] == list(range(1, n_epochs + 1))
        assert epochs[-1].extra == {"train_loss": 1.0 / n_epochs}
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == n_procs * n_epochs
    print(f"\n{n_procs} processes × {n_epochs} epochs + heartbeats: {seconds:.1f} s "
          f"({2 * n_procs * n_epochs / seconds:.0f} write transactions per second, with process start-up)")


@pytest.mark.slow
def test_concurrent_claimers_never_share_a_run(store):
    ids = [store.create("sweep_member", {"i": i}, group_id="race").id for i in range(120)]
    start_at = time.time() + 3.0  # after every claimer has imported equiv
    procs = [worker("claimer", "cpu", str(start_at)) for _ in range(4)]
    claimed = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        claimed.append(json.loads(out))
    everything = [i for c in claimed for i in c]
    assert sorted(everything) == ids  # every run claimed exactly once
    assert len(set(everything)) == len(everything)
    assert sum(1 for c in claimed if c) >= 2, [len(c) for c in claimed]  # they really raced
    print(f"\nclaims per process: {[len(c) for c in claimed]}")


def test_concurrent_creates_with_one_idempotency_key(store):
    code = ("from equiv.runs import RunStore; import sys; "
            "print(RunStore().create('train', {}, idempotency_key='double-click').id)")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    ids = {int(p.communicate(timeout=120)[0]) for p in procs}
    assert len(ids) == 1 and len(store.list_runs()) == 1


# -- cancel a running worker -----------------------------------------------------------------

def test_cancel_stops_a_running_worker_cleanly(store, capsys):
    run = store.create("train", {"model": "nequip", "molecule": "ethanol"})
    proc = worker("cancellable", str(run.id))
    assert proc.stdout.readline().strip() == "running"
    wait_for(lambda: len(store.epochs(run.id)) >= 2, what="epochs")
    assert main(["runs", "cancel", str(run.id), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "requested" and out["run"]["cancel_requested"] is True
    out_text, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out_text.startswith("cancelled after")
    done = store.get(run.id)
    assert done.status == "cancelled" and done.checkpoint_path == f"/tmp/run-{run.id}-best.pt"


# -- the CLI ---------------------------------------------------------------------------------

RUN_KEYS = {"id", "kind", "status", "config", "dataset", "model", "molecule", "device", "group_id",
            "idempotency_key", "pid", "pid_start", "host", "created_at", "started_at", "finished_at",
            "heartbeat_at", "progress", "message", "test_metrics", "checkpoint_path", "error",
            "cancel_requested", "seconds"}


def test_cli_json_schemas(store, capsys):
    a = store.create("train", {"model": "nequip", "molecule": "ethanol"})
    store.mark_running(a.id)
    store.log_epoch(a.id, 1, seconds=2.0, lr=0.01, metrics={"val_force_mae_mev_per_a": 80.0})
    store.finish(a.id, test_metrics={"force_mae_mev_per_a": 20.3, "energy_mae_mev": 5.8})
    b = store.create("train", {"model": "mlp", "molecule": "aspirin"})

    assert main(["runs", "list", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [r["id"] for r in runs] == [b.id, a.id] and set(runs[0]) == RUN_KEYS
    assert main(["runs", "list", "--status", "finished", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)["runs"]] == [a.id]

    assert main(["runs", "show", str(a.id), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"run", "epochs"} and set(shown["run"]) == RUN_KEYS
    assert shown["run"]["test_metrics"]["force_mae_mev_per_a"] == 20.3
    epoch = shown["epochs"][0]
    assert set(epoch) == {"run_id", "epoch", "seconds", "lr", "extra", "logged_at", *EPOCH_METRICS}
    assert epoch["val_force_mae_mev_per_a"] == 80.0

    assert main(["runs", "cancel", str(b.id), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["action"] == "cancelled" and out["run"]["status"] == "cancelled"
    assert main(["runs", "cancel", str(a.id)]) == 0
    assert "already finished" in capsys.readouterr().out

    assert main(["runs", "show", "12345", "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == {"error": "no run 12345"}


def test_cli_text_output(store, capsys):
    assert main(["runs", "list"]) == 0
    assert "no runs" in capsys.readouterr().out
    run = store.create("train", {"model": "gvp", "molecule": "toluene"})
    store.mark_running(run.id)
    store.log_epoch(run.id, 1, seconds=1.0, metrics={"val_force_mae_mev_per_a": 33.3})
    store.fail(run.id, "loss became NaN at epoch 2")
    assert main(["runs", "list"]) == 0
    text = capsys.readouterr().out
    assert "gvp" in text and "failed" in text and "loss became NaN" in text
    assert main(["runs", "show", str(run.id)]) == 0
    text = capsys.readouterr().out
    assert "33.30" in text and "loss became NaN" in text


def test_cli_subcommand_help(capsys):
    for verb in ("list", "show", "cancel"):
        with pytest.raises(SystemExit) as exc:
            main(["runs", verb, "--help"])
        assert exc.value.code == 0 and "--json" in capsys.readouterr().out
    for verb in ("download", "generate", "list", "info"):
        with pytest.raises(SystemExit) as exc:
            main(["data", verb, "--help"])
        assert exc.value.code == 0 and "--json" in capsys.readouterr().out


def test_heartbeat_thread_sees_cancel_and_loss(store):
    from equiv.runs import Heartbeat

    run = store.mark_running(store.create("train", {}).id)
    with Heartbeat(store, run.id, every_s=0.02) as beat:
        beat.report(0.25, "epoch 3 of 12")
        wait_for(lambda: store.get(run.id).message == "epoch 3 of 12", what="a beat")
        assert not beat.cancel_requested.is_set()
        store.request_cancel(run.id)
        assert beat.cancel_requested.wait(10)
    other = store.mark_running(store.create("train", {}).id)
    with Heartbeat(store, other.id, every_s=0.02) as beat:
        store.fail(other.id, "reaped")
        assert beat.lost.wait(10)
