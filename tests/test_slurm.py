"""The cluster executor without a cluster: resuming training exactly, the run folder written by a
job that submitit runs (its local executor), the ingest of those files into the run store with
SLURM's states, the reaper's hook, settings and CLI flags. (tests/test_slurm_cluster.py runs the
same against a real one-node SLURM.)"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from equiv.jobs.cluster import (CLUSTER_QUEUE, cluster_job, cluster_settings, create_cluster_run, ingest,
                                record_submission)
from equiv.jobs.cluster_files import RunFolderStore
from equiv.jobs.slurm import ClusterRunJob, SlurmExecutor, SlurmJobInfo, SlurmOptions, parse_extra
from equiv.errors import EquivError
from equiv.runs import RunStore
from equiv.training import TrainConfig, TrainHooks
from equiv.training.trainer import Trainer
from tests.conftest import REPO_ROOT

SLICE = REPO_ROOT / "tests" / "data" / "rmd17"
TINY = {"channels": 4, "n_layers": 1, "l_max": 1, "radial_hidden": [8]}


def tiny(**changes) -> TrainConfig:
    base = dict(model="nequip", model_options=TINY, data="rmd17:ethanol", data_dir=str(SLICE), n_train=10, n_val=5,
                n_test=10, epochs=4, batch_size=5, device="cpu", threads=1, dtype="float64", seed=3)
    return TrainConfig(**{**base, **changes})


def test_resume_after_a_stop_gives_the_same_weights_as_one_run(tmp_path):
    """Stopped in epoch 3 (as by a SIGTERM), resumed from the state saved after epoch 2: the
    errors of every later epoch and the test equal those of an uninterrupted run, to the last bit."""
    config = tiny()
    whole = Trainer(config).run()
    stop_after = {"epoch": 0}
    hooks = TrainHooks(on_epoch=lambda r: stop_after.update(epoch=r.epoch), should_stop=lambda: stop_after["epoch"] >= 2)
    resume = tmp_path / "resume.pt"
    stopped = Trainer(config, hooks, resume_path=resume).run()
    assert stopped.cancelled and resume.exists() and stopped.epochs == 3  # stopped inside epoch 3
    resumed = Trainer(config, resume_path=resume).run()
    assert [r.epoch for r in resumed.history] == [1, 2, 3, 4] and resumed.steps == whole.steps
    for a, b in zip(whole.history, resumed.history):
        assert a.val == b.val and a.train == b.train and a.lr == b.lr
    assert resumed.test == whole.test and resumed.best_epoch == whole.best_epoch
    # a resumed run does not start from scratch: without the state file the weights differ after a stop
    assert Trainer(config.replace(epochs=2)).run().history[-1].val == whole.history[1].val


def _queued_cluster_run(store: RunStore, tmp_path: Path, **changes):
    run = create_cluster_run(tiny(**changes), store)
    folder = SlurmExecutor(SlurmOptions(), tmp_path / "runs").prepare(run)
    return run, folder


@pytest.mark.parametrize("state, status, words", [
    ("FAILED", "failed", "SLURM job 77 ended FAILED"),
    ("OUT_OF_MEMORY", "failed", "ended OUT_OF_MEMORY"),
    ("NODE_FAIL", "failed", "ended NODE_FAIL"),
    ("TIMEOUT", "failed", "ended TIMEOUT"),
    ("CANCELLED", "cancelled", "cancelled"),
    ("PENDING", "queued", None),
    ("RUNNING", "running", None),
])
def test_slurm_states_map_onto_run_states(tmp_path, state, status, words):
    store = RunStore(tmp_path / "runs.sqlite")
    run, folder = _queued_cluster_run(store, tmp_path)
    record_submission(store, run.id, "slurm", "77", folder, SlurmOptions())
    ingest(store, cluster_job(store, run.id), SlurmJobInfo("77", state, "None", "node1"))
    after = store.get(run.id)
    assert after.status == status
    if words:
        assert words in after.error


def test_a_requeued_job_goes_back_to_queued_and_counts_its_resumes(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    run, folder = _queued_cluster_run(store, tmp_path)
    record_submission(store, run.id, "slurm", "78", folder, SlurmOptions())
    files = RunFolderStore(folder)
    files.mark_running(run.id)
    ingest(store, cluster_job(store, run.id), SlurmJobInfo("78", "RUNNING", "None", "node1"))
    assert store.get(run.id).status == "running" and store.get(run.id).host == "node1"
    files.mark_cancelled(run.id)  # SIGTERM from `scontrol requeue`
    ingest(store, cluster_job(store, run.id), SlurmJobInfo("78", "PENDING", "BeginTime", ""))
    assert store.get(run.id).status == "queued" and "requeued" in store.get(run.id).message
    files.mark_running(run.id)  # the second start on a node
    ingest(store, cluster_job(store, run.id), SlurmJobInfo("78", "RUNNING", "None", "node2"))
    again = store.get(run.id)
    assert again.status == "running" and "resumed 1×" in again.message
    assert cluster_job(store, run.id).resumes == 1


def test_the_reaper_leaves_cluster_runs_to_the_watcher(tmp_path):
    """A cluster run has no local process and no heartbeat of one: the local reaper must not fail
    it; a local run in the same state is failed."""
    store = RunStore(tmp_path / "runs.sqlite")
    cluster_run, folder = _queued_cluster_run(store, tmp_path)
    record_submission(store, cluster_run.id, "slurm", "79", folder, SlurmOptions())
    ingest(store, cluster_job(store, cluster_run.id), SlurmJobInfo("79", "RUNNING", "None", "node1"))
    local = store.create("train", {"model": "gvp"}, device="cpu")
    store.claim_next("cpu", pid=os.getpid())
    reaped = store.reap(stale_after_s=-1.0)  # every heartbeat is "stale"
    assert [r.id for r in reaped] == [local.id]
    assert store.get(cluster_run.id).status == "running"


def test_settings_from_environment_and_file(tmp_path):
    assert cluster_settings({}, tmp_path / "none.json") is None
    s = cluster_settings({"EQUIV_SLURM_PARTITION": "gpu", "EQUIV_SLURM_GPUS": "1", "EQUIV_SLURM_EXTRA": "qos=high",
                          "EQUIV_CLUSTER_DIR": str(tmp_path)}, tmp_path / "none.json")
    assert (s.options.partition, s.options.gpus, s.options.extra, s.run_root) == ("gpu", 1, {"qos": "high"}, tmp_path)
    (tmp_path / "cluster.json").write_text('{"partition": "a100", "time_min": 30, "run_root": "/shared/runs"}')
    s = cluster_settings({}, tmp_path / "cluster.json")
    assert (s.options.partition, s.options.time_min, str(s.run_root)) == ("a100", 30, "/shared/runs")
    params = SlurmOptions(partition="gpu", time_min=60, gpus=1, account="chem", extra=parse_extra(["qos=high"]))
    assert params.submitit_parameters().items() >= {"slurm_partition": "gpu", "timeout_min": 60, "gpus_per_node": 1,
                                                    "slurm_account": "chem", "slurm_qos": "high"}.items()
    with pytest.raises(EquivError, match="KEY=VALUE"):
        parse_extra(["qos"])
    (tmp_path / "typo.json").write_text('{"partiton": "a100"}')
    with pytest.raises(EquivError, match="unknown SLURM setting 'partiton'"):
        cluster_settings({}, tmp_path / "typo.json")
    with pytest.raises(EquivError, match="EQUIV_SLURM_GPUS='two': expected a whole number"):
        cluster_settings({"EQUIV_SLURM_GPUS": "two"}, tmp_path / "none.json")


@pytest.mark.parametrize("args, message", [
    (["sweep", "--models", "mlp", "--molecule", "ethanol", "--n-train", "5", "--epochs", "1",
      "--slurm-partition", "gpu"], "--slurm-partition needs --executor slurm"),
    (["train", "--model", "mlp", "--data", "rmd17:ethanol", "--n-train", "5", "--executor", "slurm",
      "--slurm-extra", "qos"], "--slurm-extra 'qos': write KEY=VALUE"),
])
def test_cli_flags_refuse_bad_input_in_one_line(tmp_path, monkeypatch, capsys, args, message):
    from equiv.cli import main

    monkeypatch.setenv("EQUIV_HOME", str(tmp_path))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_training_lab_shows_which_executor_runs_go_to(tmp_path, monkeypatch):
    """Without settings: this machine; with EQUIV_SLURM_* the SLURM cluster, and a cluster run
    shows its SLURM job, state and node."""
    from equiv.jobs.cluster import watcher_pid
    from tests.apptest_tools import open_page

    monkeypatch.setenv("EQUIV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EQUIV_CLUSTER_WATCH_IDLE_S", "1")
    monkeypatch.delenv("EQUIV_CLUSTER_DIR", raising=False)
    at = open_page("app_pages/train.py")
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert "Executor: this machine (a background launcher per device queue)." in captions

    store = RunStore()
    run, folder = _queued_cluster_run(store, tmp_path)
    record_submission(store, run.id, "slurm", "77", folder, SlurmOptions())
    ingest(store, cluster_job(store, run.id), SlurmJobInfo("77", "RUNNING", "None", "node1"))
    monkeypatch.setenv("EQUIV_SLURM_PARTITION", "gpu")
    monkeypatch.setenv("EQUIV_SLURM_GPUS", "1")
    try:
        at = open_page("app_pages/train.py", {"run": str(run.id)})
        assert not at.exception, at.exception
        captions = [c.value.replace("\\", "") for c in at.caption]  # the page escapes markdown
        assert any(c.startswith("Executor: SLURM cluster (partition gpu, 60 min, 1 GPU(s) per run") for c in captions)
        assert "Executor: SLURM job 77 (RUNNING) on node1." in captions
    finally:  # the page started a cluster watcher for the active cluster run; SLURM never answers it here
        pid = watcher_pid(store)
        if pid:
            os.kill(pid, signal.SIGTERM)


@pytest.mark.slow
def test_a_job_run_by_submitit_survives_its_time_limit_signal_and_is_ingested(tmp_path):
    """submitit's local executor runs ClusterRunJob (a real child process, submitit's pickling,
    signal handling and requeue, as on SLURM). The job writes state, epoch and outcome files and
    never the store. USR2 (what SLURM sends before the time limit, or on preemption) makes
    ClusterRunJob.checkpoint() return a DelayedSubmission; the job starts again and carries on from
    its last epoch to the end, every epoch once. Ingest with SLURM's COMPLETED then moves the
    record to finished with every epoch and one resume."""
    import submitit

    store = RunStore(tmp_path / "runs.sqlite")
    run, folder = _queued_cluster_run(store, tmp_path, epochs=20, dtype="float32")
    assert run.device == CLUSTER_QUEUE and run.status == "queued"
    executor = submitit.LocalExecutor(folder=folder.slurm_folder)
    executor.update_parameters(timeout_min=10)
    job = executor.submit(ClusterRunJob(str(folder.path), run.id))
    record_submission(store, run.id, "slurm", str(job.job_id), folder, SlurmOptions())
    deadline = time.monotonic() + 90
    while len(folder.epochs_after(0)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not job.done() and len(folder.epochs_after(0)) >= 2
    os.kill(folder.read_json("state.json")["pid"], signal.SIGUSR2)
    assert job.result() == "finished"
    assert "requeued to resume from its last epoch" in job.stdout()
    assert folder.read_json("state.json")["starts"] == 2 and folder.resume_path.exists()
    assert folder.read_json("outcome.json")["status"] == "finished"
    assert [e["epoch"] for e in folder.epochs_after(0)] == list(range(1, 21))
    assert store.get(run.id).status == "queued"  # the job never opened the store

    ingest(store, cluster_job(store, run.id), SlurmJobInfo(str(job.job_id), "COMPLETED", "None", "node1"))
    done = store.get(run.id)
    assert done.status == "finished", done.error
    assert done.test_metrics["force_mae_mev_per_a"] > 0 and done.checkpoint_path == str(folder.checkpoint_path)
    assert [e.epoch for e in store.epochs(run.id)] == list(range(1, 21))
    assert done.dataset["name"] and done.pid is None and cluster_job(store, run.id).resumes == 1
