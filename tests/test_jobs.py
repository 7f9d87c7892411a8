"""Background jobs with real processes, a real SQLite store and real xTB: the executor seam, the
launcher (queue order, one at a time, one launcher per device, jobs that die), data generation as
a job, the form's checks with their reasons, idempotent launches and sweeps."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from equiv.cli import main
from equiv.data import MDSettings, default_xtb_path
from equiv.errors import DataError, EquivError, RunError
from equiv.jobs.executor import Job, LocalExecutor, job_command, job_log_path, log_tail
from equiv.jobs.generate import active_generation, create_generate_run, execute_generate
from equiv.jobs.launcher import Launcher, ensure_launcher, launcher_pid, lock_path
from equiv.jobs.lifecycle import KINDS, running_job
from equiv.jobs.queues import max_running, set_max_running
from equiv.jobs.requests import check_request, data_status, launch_request, queue_generation, request_key
from equiv.jobs.sweep import parse_models, parse_sizes, plan_sweep, queue_sweep
from equiv.jobs.train import create_train_run
from equiv.runs import RunStore
from equiv.training import TrainConfig
from equiv.data.rmd17 import RMD17_FOLDER_ENV
from tests.conftest import REPO_ROOT, wait_for
from tests.jobs_tools import background_store, finished_run, tiny_request, tiny_xtb  # noqa: F401  (fixture)

WATER = MDSettings(frames=4, stride=2, equilibration_steps=4, seed=0)


def generate_run(store: RunStore, name: str, frames: int = 4):
    return create_generate_run("water", dataclasses.replace(WATER, frames=frames), store,
                               out=store.path.parent / f"{name}.npz")


# -- foreground runs and the executor seam ----------------------------------------------------------

def test_foreground_runs_are_created_running_so_no_launcher_claims_them():
    store = RunStore()
    config = TrainConfig(model="gvp", data="xtb:ethanol", n_train=5, epochs=1, device="cpu")
    run = create_train_run(config, store, owner_pid=os.getpid())
    assert run.status == "running" and run.pid == os.getpid() and run.started_at == run.heartbeat_at
    assert store.claim_next("cpu", max_running=5) is None  # a queue sees nothing to claim
    queued = create_train_run(config, store)
    assert queued.status == "queued" and store.claim_next("cpu", max_running=5).id == queued.id


def test_a_job_is_one_self_contained_command(background_store):
    store = background_store
    run = generate_run(store, "water")
    assert job_command(run.id, store.path) == [sys.executable, "-m", "equiv.jobs.worker", str(run.id), "--store",
                                               str(store.path)]
    job = LocalExecutor().submit(Job(run.id, store.path, job_log_path(store.path, run.id)))
    assert job.process.wait(timeout=120) == 0
    record = store.get(run.id)
    assert record.status == "finished" and record.pid == job.pid and record.result["n_frames"] == 4
    assert Path(record.config["out"]).is_file() and record.dataset["level_of_theory"] == "GFN2-xTB"
    assert log_tail(job_log_path(store.path, run.id)).endswith(f"run {run.id} finished")


class ExitingExecutor:
    """An executor whose jobs exit with status 3 before touching their run (a broken node, a job
    script that cannot start): another implementation of the same seam."""

    def __init__(self):
        self.submitted = []

    def submit(self, job: Job):
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log_path, "ab") as log:
            process = subprocess.Popen([sys.executable, "-c", "import sys; print('cannot start'); sys.exit(3)"],
                                       stdout=log, stderr=subprocess.STDOUT)
        self.submitted.append(job.run_id)
        from equiv.jobs.executor import LocalJob

        return LocalJob(job.run_id, process)


def test_the_launcher_fails_a_run_whose_job_ended_without_an_outcome():
    store = RunStore()
    run = generate_run(store, "water")
    executor = ExitingExecutor()
    launcher = Launcher("cpu", store, executor, idle_exit_s=0.5, poll_s=0.05)
    assert launcher.start_queued() == 1 and executor.submitted == [run.id]
    assert store.get(run.id).status == "running"  # claimed for the launcher
    launcher.jobs[run.id].process.wait(timeout=30)
    launcher.collect()
    record = store.get(run.id)
    assert record.status == "failed"
    assert record.error.startswith("the worker process (pid ") and "exited with status 3" in record.error
    assert record.error.endswith("its log ends: cannot start")
    assert launcher.run() == 0  # nothing left: it leaves after idling


# -- the launcher process ------------------------------------------------------------------------

@pytest.mark.slow
def test_launcher_runs_the_queue_in_order_one_at_a_time(background_store):
    store = background_store
    runs = [generate_run(store, f"water{i}") for i in range(3)]
    info = ensure_launcher("cpu", store)
    assert info.started and info.pid
    again = ensure_launcher("cpu", store)  # before or after it took its lock: the same launcher
    assert not again.started and again.pid == info.pid
    wait_for(lambda: all(store.get(r.id).status == "finished" for r in runs), timeout=120, what="three generations")
    records = [store.get(r.id) for r in runs]
    assert [r.started_at for r in records] == sorted(r.started_at for r in records)
    for before, after in zip(records, records[1:]):
        assert after.started_at >= before.finished_at  # one at a time on the cpu queue
    assert len({r.pid for r in records}) == 3 and info.pid not in {r.pid for r in records}
    log = (store.path.parent / "logs" / "launcher-cpu.log").read_text()
    assert log.count("serving the queue") == 1 and f"run {runs[2].id} (generate, water) started" in log
    wait_for(lambda: launcher_pid(store.path, "cpu") is None, timeout=30, what="the idle launcher to leave")


def test_a_second_launcher_for_a_device_leaves_at_once(background_store):
    store = background_store
    generate_run(store, "water", frames=200)  # keeps the first launcher busy for a while
    first = ensure_launcher("cpu", store)
    wait_for(lambda: launcher_pid(store.path, "cpu") == first.pid, timeout=30, what="the launcher's lock")
    second = subprocess.run([sys.executable, "-m", "equiv.jobs.launcher", "--device", "cpu", "--store",
                             str(store.path)], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert second.returncode == 0 and "another launcher serves this queue; leaving" in second.stdout
    assert launcher_pid(store.path, "cpu") == first.pid and lock_path(store.path, "cpu").read_text() == str(first.pid)


def test_a_launcher_that_let_its_lock_go_is_not_counted_as_starting(background_store):
    """A launcher leaving after its idle time lets the lock go before its process ends; a run queued
    then must get a new launcher, not be left to the one that is leaving (CI caught runs waiting
    for nobody)."""
    from equiv.jobs.launcher import _starting_launcher

    store = background_store
    first = ensure_launcher("cpu", store)
    wait_for(lambda: launcher_pid(store.path, "cpu") == first.pid, timeout=30, what="the launcher's lock")
    assert _starting_launcher(store.path, "cpu") is None  # it holds its lock: no longer starting
    wait_for(lambda: launcher_pid(store.path, "cpu") is None, timeout=30, what="the idle launcher to leave")
    run = generate_run(store, "water")
    second = ensure_launcher("cpu", store)  # however long the first one's process takes to end
    assert second.started and second.pid != first.pid
    wait_for(lambda: store.get(run.id).status == "finished", timeout=120, what="the generation")


def test_a_launcher_starting_while_its_lock_is_probed_waits_for_it(background_store):
    """Reading whether a launcher serves takes the lock for a moment; a launcher starting in that
    moment tries again instead of leaving its queue unserved."""
    from equiv.jobs.launcher import _try_lock

    store = background_store
    run = generate_run(store, "water")
    with _try_lock(lock_path(store.path, "cpu")) as fd:
        assert fd is not None
        info = ensure_launcher("cpu", store)
        time.sleep(1.0)  # a probe far slower than a real one, while the launcher's interpreter starts
    wait_for(lambda: launcher_pid(store.path, "cpu") == info.pid, timeout=30, what="the launcher to take its lock")
    wait_for(lambda: store.get(run.id).status == "finished", timeout=120, what="the generation")


def test_concurrency_is_per_device_and_configurable(background_store):
    store = background_store
    assert max_running("cpu", store.path) == 1
    set_max_running("cpu", 2, store.path)
    assert max_running("cpu", store.path) == 2 and max_running("cuda", store.path) == 1
    with pytest.raises(EquivError, match="from 1 to 16"):
        set_max_running("cpu", 0, store.path)
    runs = [generate_run(store, f"water{i}", frames=60) for i in range(2)]
    ensure_launcher("cpu", store)
    wait_for(lambda: all(store.get(r.id).status == "finished" for r in runs), timeout=120, what="two generations")
    a, b = (store.get(r.id) for r in runs)
    assert b.started_at < a.finished_at  # both ran at once


# -- data generation as a job ---------------------------------------------------------------------

def test_the_lifecycle_fails_on_one_line_and_a_cancel_keeps_the_partial_result():
    store = RunStore()
    runs = [store.create("md", {}) for _ in range(3)]
    with pytest.raises(ValueError), running_job(store, runs[0].id, ("md",), "MD"):
        raise ValueError("a message\non two lines")
    with running_job(store, runs[1].id, ("md",), "MD", heartbeat_every_s=0.01) as job:
        job.note({"checkpoint_path": "/tmp/best.pt"})
        store.request_cancel(runs[1].id)
        wait_for(job.stopping, what="the cancel at the next heartbeat")
        job.check()
        job.result = {"never": "recorded"}
    with pytest.raises(RunError, match="run 3 is a md run, not a training run"), \
            running_job(store, runs[2].id, ("train",), "a training run"):
        pass
    assert store.get(runs[0].id).error == "internal error: ValueError: a message on two lines"
    assert job.cancelled and store.get(runs[1].id).result == {"checkpoint_path": "/tmp/best.pt"}
    assert store.get(runs[1].id).status == "cancelled" and store.get(runs[2].id).status == "queued"
    for target in KINDS.values():  # every kind names a function the worker can import
        assert callable(getattr(importlib.import_module(target.partition(":")[0]), target.partition(":")[2]))


def test_generation_job_cancels_cleanly_and_writes_nothing():
    store = RunStore()
    run = generate_run(store, "water", frames=400)
    out = Path(run.config["out"])

    def cancel_soon(p):
        if p.frames_done == 2:
            store.request_cancel(run.id)

    with pytest.raises(DataError, match="generation cancelled .* nothing was written"):
        execute_generate(run.id, store, progress=cancel_soon, heartbeat_every_s=0.01)
    assert store.get(run.id).status == "cancelled" and not out.exists()
    assert active_generation(store, out) is None


def test_cli_generation_is_recorded_as_a_foreground_run(capsys):
    assert main(["data", "generate", "--molecule", "water", "--frames", "3", "--stride", "2", "--equilibration", "4",
                 "--no-progress"]) == 0
    run = RunStore().list_runs()[0]
    assert run.kind == "generate" and run.status == "finished" and run.pid == os.getpid()
    assert run.config["out"] == str(default_xtb_path("water").resolve())


# -- the form's checks ---------------------------------------------------------------------------

def test_checks_use_the_real_data_set_size_and_give_reasons(monkeypatch):
    monkeypatch.delenv(RMD17_FOLDER_ENV, raising=False)
    pool = tiny_xtb(frames=40)  # 30 for training + validation, 10 test
    ok = check_request(tiny_request(n_train=25, n_val=5))
    assert ok.ok and ok.config.n_train == 25 and ok.config.data == "xtb:ethanol" and ok.data.pool_size == pool == 30
    too_many = check_request(tiny_request(n_train=26, n_val=5)).problems
    assert too_many == ["generated ethanol MD (GFN2-xTB, 500 K) has 30 structures for training and validation; "
                        "26 + 5 were asked for: use at most 25 training structures with 5 for validation."]
    problems = check_request(tiny_request(n_train=0, epochs=0, seconds=0, lr=5.0, batch=3)).problems
    assert problems == ["The training-set size must be at least 1, not 0.",
                        "The learning rate must be a number above 0 and at most 1, not 5.0."]
    assert check_request(tiny_request(batch=20)).problems == [
        "The batch size (20) is larger than the training set (10 structures)."]
    rmd17 = check_request(tiny_request(data="rmd17")).problems
    assert len(rmd17) == 1 and "equiv data download rmd17" in rmd17[0] and RMD17_FOLDER_ENV in rmd17[0]
    assert "rMD17 has no water" in check_request(tiny_request(data="rmd17", molecule="water")).problems[0]
    missing = check_request(tiny_request(molecule="benzene")).problems
    assert len(missing) == 1 and missing[0].startswith("No generated data set for benzene yet")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="CUDA is present here")
def test_cuda_chosen_without_cuda_is_refused_with_the_reason():
    tiny_xtb(frames=40)
    problems = check_request(tiny_request(device="cuda")).problems
    assert problems == ["CUDA was chosen, but torch.cuda.is_available() is False here: this PyTorch build has no "
                        f"CUDA support (torch {__import__('torch').__version__}). Choose auto or cpu."]
    assert check_request(tiny_request(device="auto")).device_queue == "cpu"


def test_rmd17_with_a_local_copy_uses_its_sizes_and_an_absolute_folder():
    from tests.conftest import RMD17_SLICE

    check = check_request(tiny_request(data="rmd17", n_train=51, n_val=10, data_dir=str(RMD17_SLICE)))
    assert check.problems == ["rMD17 ethanol (PBE/def2-SVP, Christensen & von Lilienfeld 2020) has 60 structures "
                              "for training and validation; 51 + 10 were asked for: use at most 50 training "
                              "structures with 10 for validation."]
    ok = check_request(tiny_request(data="rmd17", molecule="aspirin", data_dir=str(RMD17_SLICE)))
    assert ok.ok and ok.config.data == "rmd17:aspirin" and ok.config.data_dir == str(RMD17_SLICE.resolve())


def test_one_form_submission_is_one_run_however_often_it_is_clicked():
    tiny_xtb(frames=40)
    store = RunStore()
    check = check_request(tiny_request())
    first = launch_request(check, "form-1", store, launch=False)
    clicks = [launch_request(check, "form-1", store, launch=False) for _ in range(3)]
    assert {r.id for r in clicks} == {first.id}
    other = launch_request(check, "form-2", store, launch=False)  # a new form: a new run
    changed = launch_request(check_request(tiny_request(seed=1)), "form-1", store, launch=False)
    assert len({first.id, other.id, changed.id}) == 3 and len(store.list_runs()) == 3
    assert request_key("form-1", check.config) == first.idempotency_key


def test_generation_is_queued_once_and_the_data_status_follows_it():
    store = RunStore()
    status = data_status("xtb", "water", store=store)
    assert not status.available and status.generating is None
    run = queue_generation("water", 10, "form-1", store, launch=False)
    assert queue_generation("water", 10, "form-2", store, launch=False).id == run.id  # already being made
    status = data_status("xtb", "water", store=store)
    assert status.generating.id == run.id and f"being generated (run {run.id}, queued)" in status.message
    execute_generate(run.id, store)
    status = data_status("xtb", "water", store=store)
    assert status.available and status.pool_size == 8 and status.test_size == 2


# -- sweeps --------------------------------------------------------------------------------------

def test_sweep_grid_order_idempotence_and_refusal():
    tiny_xtb(frames=40)
    store = RunStore()
    assert parse_sizes("100, 25,50;25") == [25, 50, 100] and parse_models("mlp,gvp,mlp") == ["mlp", "gvp"]
    for bad, message in (("25,x", "'x' is not one"), ("0", "at least 1"), ("", "at least one")):
        with pytest.raises(EquivError, match=message):
            parse_sizes(bad)
    with pytest.raises(EquivError, match="unknown model 'transformer'"):
        parse_models("mlp,transformer")
    plan = plan_sweep(["mlp", "nequip-l0"], [5, 10], 2, tiny_request())
    assert [(r["seed"], r["n_train"], r["model"]) for r in plan.requests] == [
        (0, 5, "mlp"), (0, 5, "nequip-l0"), (0, 10, "mlp"), (0, 10, "nequip-l0"),
        (1, 5, "mlp"), (1, 5, "nequip-l0"), (1, 10, "mlp"), (1, 10, "nequip-l0")]
    group, runs = queue_sweep(plan, store, group_id="sweep-test", launch=False)
    assert group == "sweep-test" and [r.id for r in runs] == sorted(r.id for r in runs)
    assert all(r.kind == "sweep_member" and r.group_id == group and r.status == "queued" for r in runs)
    assert runs[3].idempotency_key == "sweep-test/nequip-l0/n10/s0" and runs[3].config["labels"]["sweep"] == group
    again = queue_sweep(plan, store, group_id="sweep-test", launch=False)[1]
    assert [r.id for r in again] == [r.id for r in runs] and len(store.list_runs()) == 8
    too_big = plan_sweep(["mlp"], [10, 29], 1, tiny_request())
    with pytest.raises(EquivError, match="the sweep was not queued: .* 29 \\+ 5 were asked for"):
        queue_sweep(too_big, store, launch=False)
    assert len(store.list_runs()) == 8  # nothing of the refused sweep was queued


def test_a_sweep_beyond_the_quota_queues_nothing_and_a_requeue_needs_no_room(monkeypatch):
    from equiv.runs import QuotaError, run_owner

    tiny_xtb(frames=40)
    plan = plan_sweep(["mlp", "nequip-l0"], [5, 10], 1, tiny_request())  # 4 members
    monkeypatch.setenv("EQUIV_MAX_ACTIVE_RUNS_PER_SESSION", "3")
    store = RunStore()  # reads the quotas
    with run_owner("session-a"):
        with pytest.raises(QuotaError, match="this session already has 0 queued or running runs and 4 more would "
                                             "exceed the limit per session"):
            queue_sweep(plan, store, group_id="sweep-q", launch=False)
        assert store.list_runs() == []  # not half a sweep
        monkeypatch.setenv("EQUIV_MAX_ACTIVE_RUNS_PER_SESSION", "4")
        store = RunStore()
        runs = queue_sweep(plan, store, group_id="sweep-q", launch=False)[1]
        assert len(runs) == 4
        # the same sweep again (a double click, a resumed sweep) adds nothing, so needs no room
        assert [r.id for r in queue_sweep(plan, store, group_id="sweep-q", launch=False)[1]] == [r.id for r in runs]
    monkeypatch.setenv("EQUIV_MAX_ACTIVE_RUNS", "5")
    store = RunStore()
    with pytest.raises(QuotaError, match="the server already has 4 queued or running runs and 4 more would exceed"):
        queue_sweep(plan, store, group_id="sweep-other", launch=False)
    assert len(store.list_runs()) == 4


@pytest.mark.slow
def test_equiv_sweep_waits_and_reports_slopes(background_store, capsys):
    import json

    tiny_xtb(frames=60)
    argv = ["sweep", "--models", "mlp,nequip-l0", "--molecule", "ethanol", "--data", "xtb", "--n-train", "5,20",
            "--n-val", "5", "--steps", "6", "--layers", "1", "--channels", "4", "--device", "cpu", "--wait", "--json"]
    t0 = time.time()
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_runs"] == 4 and data["status_counts"]["finished"] == 4 and 0 < data["wall_seconds"] <= time.time() - t0 + 0.1
    assert [c["model"] for c in data["curves"]] == ["mlp", "nequip-l0"]
    assert data["budgets"] == ["6 steps"]  # every member: the same optimizer steps
    for curve in data["curves"]:
        assert [p["n_train"] for p in curve["points"]] == [5, 20]
        left_out = sum(p["left_out_of_fit"] for p in curve["points"])  # 6 steps: maybe still at zero forces
        assert isinstance(curve["slope"], float) if left_out == 0 else (left_out > 0)
        assert curve["slope_ci95"] is None  # one seed: no interval to report
        assert curve["converged"] is not None and 0 <= curve["converged"] <= 1
        assert 100 < curve["zero_force_mae_mev_per_a"] < 5000  # mean |F| of the xTB test set
    mlp, l0 = data["curves"]
    assert l0["reference_model"] == "nequip-l0" and l0["delta_slope_vs_l0"] is None
    if mlp["slope"] is not None and l0["slope"] is not None:
        assert mlp["delta_slope_vs_l0"] == pytest.approx(mlp["slope"] - l0["slope"])
    else:
        assert mlp["delta_slope_vs_l0"] is None
    for member in RunStore().list_runs(group_id=data["group_id"]):
        assert member.config["max_steps"] == 6 and member.config["lr_schedule"] == "cosine"
        assert member.test_metrics["steps"] == 6 and member.test_metrics["budget"] == "6 steps"
    assert main(["sweep", "--report", data["group_id"]]) == 0
    text = capsys.readouterr().out
    assert f"{data['group_id']}: 4 runs (4 finished)" in text and "slope: mean ± sd [95%] over seeds" in text
    assert "budget per run: 6 steps" in text
    assert "predicting zero forces on the xtb:ethanol test set: " in text
    assert main(["sweep", "--report", "no-such-group", "--json"]) == 2
    assert "no runs in the group" in json.loads(capsys.readouterr().out)["error"]
    assert main(["sweep", "--molecule", "ethanol", "--json"]) == 2
    assert "give --models, --n-train" in json.loads(capsys.readouterr().out)["error"]


def test_equiv_sweep_json_reports_slope_intervals_and_delta_vs_l0_per_seed(capsys):
    import json

    store = RunStore()
    for seed in range(3):
        for n in (25, 50, 100, 200):
            for model, slope in (("nequip-l0", -0.3 - 0.02 * seed), ("nequip-l1", -0.45 - 0.03 * seed)):
                finished_run(store, model, n, seed, force=400 * n ** slope, group="sweep-json", zero=900.0,
                             metrics={"converged": n != 200, "budget": "1000 steps"})
    assert main(["sweep", "--report", "sweep-json", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    l0, l1 = data["curves"]
    assert l0["slope"] == pytest.approx(-0.32) and l0["slope_ci95"][0] < -0.32 < l0["slope_ci95"][1]
    assert l1["delta_slope_vs_l0"] == pytest.approx(-0.16) and l1["delta_slope_ci95"][1] < 0  # steeper, and sure of it
    assert l1["converged"] == pytest.approx(0.75) and data["budgets"] == ["1000 steps"]
    assert "not converged" in data["warning"]
    for key in ("slope", "slope_ci95", "delta_slope_vs_l0", "delta_slope_ci95", "converged"):
        assert key in l0 and key in l1


def test_steps_request_trains_with_a_cosine_schedule_to_the_same_steps():
    tiny_xtb(frames=40)
    check = check_request(tiny_request(epochs=0, seconds=0, steps=50))
    assert check.ok and check.config.max_steps == 50 and check.config.lr_schedule == "cosine"
    assert check.config.validation_interval == 2 and check.config.budget_text() == "50 steps"
    from equiv.run_settings import SWEEP_DEFAULTS, config_values

    sweep = config_values(SWEEP_DEFAULTS)
    assert sweep["max_steps"] == 1000 and sweep["epochs"] is None and sweep["max_time_s"] is None
    assert sweep["lr_schedule"] == "cosine"


def test_launches_from_two_threads_at_once_are_two_runs_without_errors():
    tiny_xtb(frames=40)
    store = RunStore()
    check = check_request(tiny_request())
    barrier, results, errors = threading.Barrier(2), {}, []

    def launch(name):
        try:
            barrier.wait()
            results[name] = launch_request(check, name, store, launch=False)
        except Exception as exc:  # any database error fails the test
            errors.append(exc)

    threads = [threading.Thread(target=launch, args=(n,)) for n in ("session-a", "session-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({r.id for r in results.values()}) == 2
    assert [store.queue_position(r.id) for r in sorted(results.values(), key=lambda r: r.id)] == [0, 1]


# -- the lifecycle on a shared server -------------------------------------------------------------

def worker_command(mode: str, *args: str):
    """A LocalExecutor command that runs ``tests.run_store_worker MODE RUN_ID ARGS`` as the job."""
    return lambda job: [sys.executable, "-m", "tests.run_store_worker", mode, str(job.run_id), *args]


def lifecycle_store(monkeypatch, **limits) -> RunStore:
    for name, value in limits.items():
        monkeypatch.setenv(f"EQUIV_{name.upper()}", str(value))  # the workers read them too
    monkeypatch.chdir(REPO_ROOT)  # the test workers are ``python -m tests.run_store_worker``
    return RunStore()


def test_the_launcher_survives_a_failing_pass(monkeypatch, capsys):
    from tests.test_runs import hold_write_lock

    store = lifecycle_store(monkeypatch)
    quick = RunStore(busy_timeout_s=0.05)
    run = quick.create("train", {})
    launcher = Launcher("cpu", quick, LocalExecutor(command=worker_command("slowstart", "0")), idle_exit_s=1.0,
                        poll_s=0.05)
    holder = hold_write_lock(store.path, 0.6)  # the first passes find the store busy
    assert launcher.run() == 0
    holder.join()
    log = capsys.readouterr().out
    assert "a pass failed (1 in a row)" in log and "StoreBusy: the run store" in log and "Traceback" in log
    assert f"run {run.id} (train, ) started as pid" in log
    assert store.get(run.id).status == "finished"


def test_a_claimed_run_is_kept_alive_until_its_worker_takes_it(monkeypatch):
    store = lifecycle_store(monkeypatch, stale_after_s=1)
    run = store.create("train", {})
    launcher = Launcher("cpu", store, LocalExecutor(command=worker_command("slowstart", "2.5")), idle_exit_s=0.5,
                        poll_s=0.1)
    seen = []
    watcher = threading.Thread(target=lambda: (time.sleep(2.0), seen.append(store.get(run.id))))  # reaps first
    watcher.start()
    launcher.run()
    watcher.join()
    assert seen[0].status == "running" and seen[0].pid == os.getpid()  # claimed, not yet taken, not reaped
    assert store.get(run.id).status == "finished"


def test_cancel_escalates_from_the_flag_to_sigterm_to_sigkill(monkeypatch, capsys):
    store = lifecycle_store(monkeypatch, cancel_grace_s=0.3, kill_grace_s=0.6)
    set_max_running("cpu", 2, store.path)
    polite, stubborn = store.create("train", {"mode": "polite"}), store.create("train", {"mode": "stubborn"})
    modes = {polite.id: "polite", stubborn.id: "stubborn"}
    launcher = Launcher("cpu", store, LocalExecutor(command=lambda job: worker_command(modes[job.run_id])(job)),
                        idle_exit_s=0.5, poll_s=0.05)

    def cancel_when_running():
        wait_for(lambda: all(store.get(i).pid not in (None, os.getpid()) for i in modes), what="workers")
        for i in modes:
            store.request_cancel(i)

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    t0 = time.monotonic()
    launcher.run()
    canceller.join()
    assert time.monotonic() - t0 < 20
    log = capsys.readouterr().out
    assert f"run {polite.id}: its cancel was requested" in log and "SIGTERM" in log
    assert f"run {stubborn.id}: its worker ignored SIGTERM for 0.6 s: SIGKILL" in log
    assert store.get(polite.id).status == "cancelled" and store.get(polite.id).error == "cancelled"  # its own clean stop
    killed = store.get(stubborn.id)
    assert killed.status == "cancelled" and killed.error.startswith("cancelled; ")
    # Said by the launcher that collected its job, or by the reaper that found it dead first.
    assert "was killed by SIGKILL after the cancel request" in killed.error or "died" in killed.error


def test_a_hung_worker_is_failed_and_its_process_stopped(monkeypatch):
    store = lifecycle_store(monkeypatch, hang_after_s=0.5, cancel_grace_s=0.2, kill_grace_s=1)
    run = store.create("train", {})
    launcher = Launcher("cpu", store, LocalExecutor(command=worker_command("hang")), idle_exit_s=0.3, poll_s=0.05)
    launcher.run()  # leaves once its job's process has ended
    record = store.get(run.id)
    assert record.status == "failed" and record.error.startswith("the worker made no progress for")
    assert not launcher.jobs and not psutil.pid_exists(record.pid)


def test_workers_start_niced_with_an_address_space_limit(monkeypatch):
    from equiv.runs import load_limits

    store = lifecycle_store(monkeypatch, worker_nice=7, worker_address_space_mb=3000)
    limits = load_limits(store.path)
    executor = LocalExecutor(command=lambda job: [sys.executable, "-c", "import time; time.sleep(30)"])
    jobs = [executor.submit(Job(i, store.path, job_log_path(store.path, i), device=d)) for i, d in ((1, "cpu"), (2, "cuda"))]
    try:
        cpu, cuda = (psutil.Process(j.pid) for j in jobs)
        assert cpu.nice() == os.nice(0) + 7 == cuda.nice()
        assert cpu.rlimit(psutil.RLIMIT_AS)[0] == 3000 * 2**20 == limits.worker_address_space_mb * 2**20
        assert cuda.rlimit(psutil.RLIMIT_AS)[0] == psutil.RLIM_INFINITY  # CUDA maps far more than it uses
    finally:
        for j in jobs:
            j.signal(9)
            j.process.wait()


def test_listing_runs_starts_a_launcher_only_for_queued_work(background_store, capsys):
    from equiv.jobs.launcher import _starting_launcher

    store = background_store
    assert main(["runs", "list"]) == 0
    assert launcher_pid(store.path, "cpu") is None and "launcher" not in capsys.readouterr().err  # nothing queued
    run = generate_run(store, "water")
    assert main(["runs", "list", "--json"]) == 0
    assert "started a launcher for the cpu queue" in capsys.readouterr().err
    assert launcher_pid(store.path, "cpu") or _starting_launcher(store.path, "cpu")
    assert store.get(run.id).active  # the fixture stops the launcher and its job


def test_a_run_that_would_not_fit_is_refused_with_its_estimate(monkeypatch):
    from equiv.errors import TrainingError
    from equiv.training.memory import estimate_memory_mb

    monkeypatch.setenv("EQUIV_WORKER_MEMORY_MB", "2000")
    store = RunStore()
    small = TrainConfig(model="nequip-l1", data="xtb:ethanol", n_train=10, epochs=1, device="cpu")
    assert create_train_run(small, store).status == "queued"
    big = TrainConfig(model="nequip-paper", data="xtb:aspirin", n_train=100, epochs=1, device="cpu", batch_size=32,
                      eval_batch_size=200)
    with pytest.raises(TrainingError, match=f"about {estimate_memory_mb(big):,.0f} MiB .* more than the 2,000 MiB"):
        create_train_run(big, store)
    assert len(store.list_runs()) == 1
    assert create_train_run(big, store, owner_pid=os.getpid()).status == "running"  # the CLI's own process: no check


def test_a_failed_checkpoint_save_leaves_no_tmp_file(tmp_path):
    from equiv.models import build_model
    from equiv.models.checkpoint import load_checkpoint, save_checkpoint

    model = build_model("gvp", scalar_channels=4, vector_channels=2)
    path = save_checkpoint(model, tmp_path / "best.pt", {"epoch": 1})
    with pytest.raises(Exception):
        save_checkpoint(model, path, {"not data": lambda: 0})  # cannot be pickled: the save fails midway
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt"]
    assert load_checkpoint(path).metadata == {"epoch": 1}  # the previous checkpoint is intact


@pytest.mark.slow
def test_the_training_lab_says_when_a_quota_refuses_a_launch(monkeypatch):
    from tests.apptest_tools import open_page

    tiny_xtb(frames=40)
    monkeypatch.setenv("EQUIV_MAX_ACTIVE_RUNS", "1")
    store = RunStore()
    store.create("train", {"model": "gvp"}, owner_pid=os.getpid())  # someone's run fills the server
    at = open_page("app_pages/train.py", query={"n_train": "10", "n_val": "5", "epochs": "1"})
    at.button(key="tl_launch").click().run()
    assert not at.exception
    errors = [e.value.replace("\\", "") for e in at.error]  # shown through escape_markdown
    assert any("the server already has 1 queued or running runs, its limit (max_active_runs = 1)" in e
               for e in errors), errors
    assert len(store.list_runs()) == 1  # nothing was queued


@pytest.mark.slow
def test_pages_that_show_queued_work_start_no_launcher(background_store):
    """With work queued and no launcher, showing runs (the runs page, the training lab's live view)
    starts none (``equiv runs list``, a command, does: see above)."""
    from equiv.jobs.launcher import _starting_launcher
    from tests.apptest_tools import open_page

    store = background_store
    run = generate_run(store, "water")
    for page in ("app_pages/runs.py", "app_pages/train.py"):
        at = open_page(page, {"run": str(run.id)})
        assert not at.exception
        assert launcher_pid(store.path, "cpu") is None and _starting_launcher(store.path, "cpu") is None, page
    assert store.get(run.id).status == "queued"
    # The training lab says so, and starts one when asked.
    assert "Runs wait on the cpu queue, but no launcher serves it" in " ".join(w.value for w in at.warning)
    at.button(key="tl_start_cpu").click().run()
    assert launcher_pid(store.path, "cpu") or _starting_launcher(store.path, "cpu")
