"""The run store on a real SQLite file with real processes: concurrent writers and claimers, dead
and reused process ids, stale heartbeats, cancellation, and the ``equiv runs`` CLI."""

from __future__ import annotations

import json
import os
import contextlib
import dataclasses
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from equiv.cli import main
from equiv.errors import RunError
from equiv.runs import EPOCH_METRICS, RunStore, StoreUnavailable, default_store_path
from tests.conftest import REPO_ROOT, wait_for


def worker(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.run_store_worker", *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture
def store() -> RunStore:
    return RunStore()


@pytest.fixture
def launchers_held(store):
    """Hold the launcher locks of both device queues, as a live launcher would: the CLI then
    starts none for the runs these tests queue (and nothing claims them)."""
    from equiv.jobs.launcher import _try_lock, lock_path

    with contextlib.ExitStack() as stack:
        for device in ("cpu", "cuda"):
            fd = stack.enter_context(_try_lock(lock_path(store.path, device)))
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        yield


# -- the API, in one process -----------------------------------------------------------------

def test_store_lives_in_the_data_home_in_wal_mode(store):
    assert store.path == default_store_path() and store.path.name == "runs.sqlite"
    assert str(store.path).startswith(os.environ["EQUIV_HOME"])
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3


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
    store.update_result(run.id, {"checkpoint_path": "/tmp/best.pt"})
    done = store.finish(run.id, {"test_metrics": {"force_mae_mev_per_a": 40.0, "energy_mae_mev": 5.0}})
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
    with pytest.raises(RunError, match="a run kind is a short lower-case name"):
        store.create("Eval; DROP", {})


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
    wait_for(lambda: [r.id for r in store.reap()] == [run_id], what="the reaper")
    run = store.get(run_id)
    assert run.error == f"worker process {proc.pid} died (killed or out of memory)"
    assert run.finished_at is not None
    proc.wait()


def test_a_reused_process_id_is_not_mistaken_for_the_worker(store):
    run = store.create("train", {})
    store.mark_running(run.id)  # this (live) process, with its real start time
    assert store.reap() == [] and store.get(run.id).status == "running"
    with sqlite3.connect(store.path) as conn:  # as if the worker had started at another time
        conn.execute("UPDATE runs SET pid_start = pid_start - 10 WHERE id = ?", (run.id,))
    reaped = store.reap()
    assert [r.id for r in reaped] == [run.id]
    assert "its process id now belongs to another process" in store.get(run.id).error


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
            "heartbeat_at", "progress", "message", "result", "test_metrics", "checkpoint_path", "error",
            "cancel_requested", "owner", "seconds"}


def test_cli_json_schemas(store, capsys, launchers_held):
    a = store.create("train", {"model": "nequip", "molecule": "ethanol"})
    store.mark_running(a.id)
    store.log_epoch(a.id, 1, seconds=2.0, lr=0.01, metrics={"val_force_mae_mev_per_a": 80.0})
    store.finish(a.id, {"test_metrics": {"force_mae_mev_per_a": 20.3, "energy_mae_mev": 5.8}})
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


def test_cli_text_output(store, capsys, launchers_held):
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


# -- a damaged, deleted or busy store ---------------------------------------------------------

def test_a_damaged_store_is_one_clear_error_in_the_api_and_the_cli(capsys):
    from equiv.runs import StoreUnavailable

    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an SQLite database, it is a note someone saved over it\n" * 100)
    with pytest.raises(StoreUnavailable, match="is damaged or unreadable .*move it away"):
        RunStore()
    assert main(["runs", "list"]) == 2
    out, err = capsys.readouterr()
    lines = (out + err).strip().splitlines()
    assert len(lines) == 1 and "is damaged or unreadable" in lines[0] and "Traceback" not in out + err
    assert main(["runs", "show", "1", "--json"]) == 2
    assert "is damaged or unreadable" in json.loads(capsys.readouterr().out)["error"]


def test_a_store_damaged_inside_is_an_error_not_a_database_exception(store):
    for i in range(12):
        store.create("train", {"padding": "x" * 8000, "i": i})
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(store.path.read_bytes())
    data[4096:4096 * 6] = b"\xff" * (4096 * 5)  # overwrite table pages; the header stays valid
    store.path.write_bytes(bytes(data))
    with pytest.raises(RunError) as caught:
        RunStore().list_runs()
    assert not isinstance(caught.value, sqlite3.Error) and "damaged or unreadable" in str(caught.value)


def test_a_store_deleted_while_in_use(store):
    from equiv.runs import Heartbeat, StoreUnavailable

    run = store.mark_running(store.create("train", {}).id)
    for suffix in ("", "-wal", "-shm"):
        store.path.with_name(store.path.name + suffix).unlink(missing_ok=True)
    with pytest.raises(StoreUnavailable, match="deleted or replaced while in use"):
        store.list_runs()
    with Heartbeat(store, run.id, every_s=0.02) as beat:  # the worker learns its run is gone
        assert beat.lost.wait(10)
    assert RunStore().list_runs() == []  # the next page load starts a new, empty store


def hold_write_lock(path, seconds: float) -> threading.Thread:
    """Hold the store's write lock from another connection for ``seconds`` (a long writer)."""
    ready = threading.Event()

    def hold():
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        ready.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    ready.wait(10)
    return thread


def test_busy_is_told_apart_from_gone_and_final_writes_retry(store):
    from equiv.runs import Heartbeat, RunGone, StoreBusy, load_limits

    quick = RunStore(busy_timeout_s=0.05, limits=dataclasses.replace(load_limits(), store_retry_s=10))
    run = quick.mark_running(quick.create("train", {}).id)
    holder = hold_write_lock(store.path, 1.0)
    with pytest.raises(StoreBusy, match="busy or cannot be written now"):
        quick.heartbeat(run.id)
    with Heartbeat(quick, run.id, every_s=0.05) as beat:
        wait_for(lambda: beat.busy_beats >= 2, what="busy beats")
        assert not beat.lost.is_set()  # busy is not gone: the worker goes on
        done = quick.finish(run.id, {"test_metrics": {"force_mae_mev_per_a": 9.0}})  # waits out the lock
    holder.join()
    assert done.status == "finished"  # (a beat right after the finish may find the run ended: lost, rightly)
    with pytest.raises(RunGone, match="cannot update run .* it is finished"):
        quick.heartbeat(run.id)
    # A store that stays busy past store_retry_s: the write says so and the run is untouched.
    impatient = RunStore(busy_timeout_s=0.05, limits=dataclasses.replace(load_limits(), store_retry_s=0.3))
    other = impatient.mark_running(impatient.create("train", {}).id)
    holder = hold_write_lock(store.path, 1.5)
    with pytest.raises(StoreBusy, match="could not finish run .* for 0.3 s"):
        impatient.finish(other.id)
    holder.join()
    assert store.get(other.id).status == "running"


def test_a_full_disk_counts_as_busy_not_as_damage(store):
    from equiv.runs.store import StoreBusy, _store_error

    conn = sqlite3.connect(store.path)
    conn.execute("PRAGMA max_page_count = 20")  # what SQLite reports when the disk is full
    with pytest.raises(sqlite3.OperationalError) as caught:
        conn.execute("INSERT INTO runs (kind, created_at, config) VALUES ('train', 0, ?)", ("x" * 200_000,))
    conn.close()
    assert isinstance(_store_error(store.path, caught.value), StoreBusy)


def test_a_hung_worker_is_failed_with_a_reason(store):
    from equiv.runs import Heartbeat

    hung = store.mark_running(store.create("train", {}).id)
    busy = store.mark_running(store.create("train", {}).id)
    with Heartbeat(store, hung.id, every_s=0.05, hang_after_s=0.4) as stuck, \
            Heartbeat(store, busy.id, every_s=0.05, hang_after_s=0.4) as moving:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            moving.report(0.5, "step")  # this loop makes progress; the other one never reports
            time.sleep(0.05)
        assert stuck.hung.is_set() and stuck.lost.is_set() and not moving.lost.is_set()
    record = store.get(hung.id)
    assert record.status == "failed" and record.error.startswith("the worker made no progress for")
    assert "hang_after_s = 0.4 s" in record.error and store.get(busy.id).status == "running"


def test_a_worker_that_computes_without_reporting_is_not_hung(store):
    from equiv.runs import Heartbeat

    run = store.mark_running(store.create("train", {}).id)
    with Heartbeat(store, run.id, every_s=0.2, hang_after_s=1.0, busy_cpu_min_s=0.05) as beat:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5:  # a long evaluation pass: CPU busy, no report
            sum(i * i for i in range(10_000))
        assert not beat.lost.is_set()
    with Heartbeat(store, run.id, every_s=0.2, hang_after_s=1.0, busy_cpu_min_s=0.05) as beat:
        assert beat.hung.wait(10)  # the same run, now waiting on nothing: hung


def test_a_cancelled_run_whose_worker_died_ends_cancelled(store):
    proc = worker("running")
    run_id = int(proc.stdout.readline())
    store.request_cancel(run_id)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [r.id for r in store.reap()] == [run_id]
    run = store.get(run_id)
    assert run.status == "cancelled" and run.error == f"cancelled; worker process {proc.pid} died (killed or out of memory)"


def test_signals_go_only_to_the_process_that_started_at_that_time():
    from equiv.runs import pid_alive, process_start_time, signal_process

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = process_start_time(proc.pid)
    assert abs(start - time.time()) < 30
    assert not signal_process(proc.pid, start - 100, signal.SIGKILL)  # "another process" with this pid
    assert pid_alive(proc.pid)
    assert signal_process(proc.pid, start, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL and not pid_alive(proc.pid)


# -- quotas -----------------------------------------------------------------------------------

def test_quotas_per_server_and_per_session(monkeypatch):
    from equiv.runs import QuotaError, run_owner
    from equiv.runs.limits import limits_path

    limits_path().parent.mkdir(parents=True, exist_ok=True)
    limits_path().write_text(json.dumps({"max_active_runs": 4, "max_active_runs_per_session": 1}))
    monkeypatch.setenv("EQUIV_MAX_ACTIVE_RUNS_PER_SESSION", "2")  # the environment wins over the file
    store = RunStore()
    assert (store.limits.max_active_runs, store.limits.max_active_runs_per_session) == (4, 2)
    with run_owner("session-a"):
        first = store.create("train", {}, idempotency_key="a1")
        store.create("train", {})
        with pytest.raises(QuotaError, match="this session already has 2 queued or running runs.*"
                                             "max_active_runs_per_session = 2"):
            store.create("train", {})
        assert store.create("train", {}, idempotency_key="a1").id == first.id  # a repeated click is no new run
    with run_owner("session-b"):
        store.create("train", {})
    store.create("train", {})  # no owner: only the server's quota counts
    with pytest.raises(QuotaError, match="the server already has 4 queued or running runs.*max_active_runs = 4"):
        store.create("train", {})
    foreground = store.create("train", {}, owner_pid=os.getpid())  # not queued: not refused (but counted)
    assert foreground.status == "running" and store.active_counts() == (5, 0)
    store.finish(foreground.id)
    store.request_cancel(first.id)
    with run_owner("session-a"):
        assert store.create("train", {}).owner == "session-a"  # a slot came free
    assert store.active_counts("session-a") == (4, 2)


# -- the pages with a damaged store -------------------------------------------------------------

@pytest.mark.slow
def test_pages_say_the_store_is_damaged_and_show_no_traceback():
    from tests.apptest_tools import open_page

    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a database\n" * 500)
    for page in ("app_pages/runs.py", "app_pages/train.py"):
        at = open_page(page)
        assert not at.exception, (page, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        assert any("is damaged or unreadable" in e and "rotation lab still works" in e for e in errors), (page, errors)
    at = open_page("app_pages/rotate.py", {"molecule": "water"})  # as the message promises
    assert not at.exception, [e.value for e in at.exception]
    assert not [e.value for e in at.error], [e.value for e in at.error]


def test_every_limit_is_documented_with_its_default():
    from equiv.runs import SETTINGS

    readme = (REPO_ROOT / "README.md").read_text()
    for s in SETTINGS:
        default = int(s.default) if float(s.default).is_integer() else s.default
        assert f"| `{s.name}` | `EQUIV_{s.name.upper()}` | {default} | {s.meaning} |" in readme, s.name


#: The run store as schema 2 wrote it (copied from equiv/runs/store.py before the generic result;
#: schema 1 is the same without ``owner``), to check the migration on a real old file.
SCHEMA_2 = f"""
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('train', 'sweep_member', 'generate', 'md')),
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'finished', 'failed', 'cancelled')),
    config TEXT NOT NULL DEFAULT '{{}}', dataset TEXT, model TEXT, molecule TEXT, device TEXT NOT NULL DEFAULT 'cpu',
    group_id TEXT, idempotency_key TEXT UNIQUE, pid INTEGER, pid_start INTEGER, host TEXT, created_at REAL NOT NULL,
    started_at REAL, finished_at REAL, heartbeat_at REAL, progress REAL, message TEXT, test_metrics TEXT,
    checkpoint_path TEXT, error TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0, owner TEXT
);
CREATE INDEX runs_by_status ON runs (status, device, id);
CREATE INDEX runs_by_group ON runs (group_id);
CREATE INDEX runs_by_owner ON runs (owner, status);
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE, epoch INTEGER NOT NULL, seconds REAL NOT NULL,
    lr REAL, {", ".join(f"{m} REAL" for m in EPOCH_METRICS)}, extra TEXT, logged_at REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_store_is_migrated_and_its_runs_read_back(version, capsys):
    from equiv.views.learning_curves import learning_curves
    from equiv.views.run_tables import runs_frame

    ddl = SCHEMA_2 if version == 2 else SCHEMA_2.replace(", owner TEXT", "").replace(
        "CREATE INDEX runs_by_owner ON runs (owner, status);", "")
    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {"force_mae_mev_per_a": 40.0, "energy_mae_mev": 5.0, "n_test": 10, "converged": True}
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(ddl)
        conn.execute("INSERT INTO runs (kind, status, config, dataset, model, molecule, group_id, created_at, "
                     "started_at, finished_at, test_metrics, checkpoint_path) VALUES ('sweep_member', 'finished', ?, ?, "
                     "'gvp', 'ethanol', 'sweep-1', 1, 2, 12, ?, '/ckpt/run-1.pt')",
                     (json.dumps({"model": "gvp", "data": "xtb:ethanol", "n_train": 50, "seed": 0}),
                      json.dumps({"name": "xtb:ethanol", "level_of_theory": "GFN2-xTB"}), json.dumps(metrics)))
        conn.execute("INSERT INTO epochs (run_id, epoch, seconds, val_force_mae_mev_per_a, logged_at) "
                     "VALUES (1, 1, 1.0, 80.0, 3.0)")
        conn.execute("INSERT INTO runs (kind, status, config, molecule, created_at, started_at, finished_at, "
                     "test_metrics) VALUES ('generate', 'finished', '{\"frames\": 4}', 'water', 4, 5, 9, ?)",
                     (json.dumps({"seconds": 4.0, "path": "/data/xtb_water.npz", "n_frames": 4}),))
        conn.execute(f"PRAGMA user_version = {version}")
    store = RunStore()
    train, generate = store.get(1), store.get(2)
    assert train.result == {"test_metrics": metrics, "checkpoint_path": "/ckpt/run-1.pt"} and train.owner is None
    assert train.test_metrics == metrics and train.checkpoint_path == "/ckpt/run-1.pt"
    assert generate.result == {"seconds": 4.0, "path": "/data/xtb_water.npz", "n_frames": 4}
    assert generate.test_metrics is None and generate.checkpoint_path is None
    assert [(e.epoch, e.val_force_mae_mev_per_a) for e in store.epochs(1)] == [(1, 80.0)]  # not dropped with the table
    # what users see: equiv runs list/show, the runs page's table, a sweep's learning curve
    assert main(["runs", "show", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run"]["test_metrics"] == metrics and shown["run"]["checkpoint_path"] == "/ckpt/run-1.pt"
    assert main(["runs", "list"]) == 0
    assert "F 40.0 meV/Å, E 5.0 meV" in capsys.readouterr().out
    assert list(runs_frame([generate])["note"]) == ["4 frames → /data/xtb_water.npz"]
    (curve,) = learning_curves(store.list_runs(group_id="sweep-1"))
    assert curve.points[0].n_train == 50 and curve.points[0].values == (40.0,) and curve.converged == 1.0
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert {r[1] for r in conn.execute("PRAGMA table_info(runs)")} >= {"result", "owner"}
        assert not {r[1] for r in conn.execute("PRAGMA table_info(runs)")} & {"test_metrics", "checkpoint_path"}
    assert store.create("evaluate", {}).id == 3  # any kind of job now; ids go on


def test_a_store_is_not_migrated_under_workers_of_the_previous_version():
    """Workers of the previous equiv still beating would fail at their next write to a migrated
    store: it is left alone, with a message that says why, until their runs end."""
    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(SCHEMA_2)
        conn.execute("INSERT INTO runs (kind, status, config, created_at, started_at, heartbeat_at, pid) "
                     "VALUES ('train', 'running', '{}', 1, 2, ?, 4242)", (time.time(),))
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(StoreUnavailable, match=r"schema 2 run store with runs still running under the previous "
                                               r"equiv \(runs 1\).*let them end"):
        RunStore()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # untouched
        conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - 3600")  # the worker died an hour ago
        conn.commit()
    assert RunStore().get(1).status == "running"  # migrated now; the next reap fails it


def test_reads_never_write_and_reap_fails_a_stale_run(store):
    run = store.mark_running(store.create("train", {"model": "gvp"}).id)
    with contextlib.closing(sqlite3.connect(store.path)) as conn, conn:  # its worker went silent an hour ago
        conn.execute("UPDATE runs SET heartbeat_at = heartbeat_at - 3600 WHERE id = ?", (run.id,))
    files = [store.path, store.path.with_name(store.path.name + "-wal")]

    def snapshot():
        return [(p.read_bytes(), p.stat().st_mtime_ns) if p.exists() else None for p in files]

    before = snapshot()
    time.sleep(0.05)
    assert store.get(run.id).status == "running" and RunStore().get(run.id).status == "running"
    assert [r.status for r in store.list_runs()] == ["running"] and store.list_runs(status="failed") == []
    assert store.reap(stale_after_s=7200) == []  # a reap that finds nothing dead writes nothing either
    assert list(store.dead_workers()) == [run.id] and "no heartbeat" in store.dead_workers()[run.id]  # said, not done
    assert snapshot() == before  # not a byte, not a timestamp
    assert [r.id for r in store.reap()] == [run.id]  # an hour > stale_after_s (60 s)
    assert store.get(run.id).status == "failed" and "no heartbeat from worker process" in store.get(run.id).error
    assert snapshot() != before  # the same check sees a write


@pytest.mark.slow
def test_the_runs_page_reads_a_checkpoint_only_when_it_is_downloaded(store, launchers_held, monkeypatch):
    from pathlib import Path

    from tests.apptest_tools import open_page

    checkpoint = store.path.parent / "checkpoints" / "run-1.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"weights" * 1000)
    run = store.mark_running(store.create("train", {"model": "gvp", "data": "xtb:ethanol", "n_train": 10}).id)
    store.finish(run.id, {"test_metrics": {"force_mae_mev_per_a": 50.0, "energy_mae_mev": 5.0},
                          "checkpoint_path": str(checkpoint)})
    reads = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (reads.append(self), read_bytes(self))[1])
    at = open_page("app_pages/runs.py", query={"run": str(run.id)})
    assert not at.exception
    assert any(b.label == "Checkpoint (.pt)" for b in at.get("download_button"))
    assert checkpoint not in reads  # rendering the button did not read the file
