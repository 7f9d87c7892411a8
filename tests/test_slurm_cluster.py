"""The SLURM executor against a real SLURM: a one-node cluster on this machine
(scripts/slurm_local.sh: munged, slurmctld and slurmd as root, Debian's packages), jobs submitted
with sbatch through submitit, their files ingested by the cluster watcher.

One test, to keep the time down (each job imports torch; all seven run at once): a sweep of 4 tiny
runs lands finished in the run store; of 3 longer runs one is requeued (`scontrol requeue`) and
resumes at its last epoch, one is cancelled (`equiv runs cancel` → scancel)
and one killed (`scancel --signal=KILL --batch`) and failed with the reason. Skipped with the reason where SLURM cannot be started
here (not root, packages missing); in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from equiv.cli import main
from equiv.jobs.cluster import cluster_job, watcher_pid
from equiv.runs import RunStore
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

SCRIPT = REPO_ROOT / "scripts" / "slurm_local.sh"
SLICE = REPO_ROOT / "tests" / "data" / "rmd17"
LONG_EPOCHS = 400
TINY = ["--model", "nequip-l0", "--data", "rmd17:ethanol", "--data-dir", str(SLICE), "--n-train", "10", "--n-val",
        "5", "--n-test", "10", "--layers", "1", "--channels", "4", "--device", "cpu", "--threads", "1"]


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"SLURM is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A one-node cluster in a temporary folder (own munge key and socket, own ports); yields its
    SLURM_CONF; stopped afterwards."""
    missing = [exe for exe in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
               if shutil.which(exe) is None]
    if missing:
        _unavailable(f"SLURM is not installed here ({', '.join(missing)} missing; apt-get install slurmctld slurmd "
                     "slurm-client munge)")
    sudo: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None or subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode:
            _unavailable("starting a local SLURM needs root (slurmd runs jobs as their owner), or sudo without a password")
        sudo = ["sudo", "-n", "--preserve-env=SLURM_LOCAL_CPUS,SLURM_LOCAL_CTLD_PORT,SLURM_LOCAL_D_PORT"]
    folder = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURM_LOCAL_CPUS": "7", "SLURM_LOCAL_CTLD_PORT": "6837", "SLURM_LOCAL_D_PORT": "6838"}
    done = subprocess.run([*sudo, "bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, env=env,
                          timeout=120)
    if done.returncode != 0:
        subprocess.run([*sudo, "bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)
        _unavailable(f"could not start a local SLURM: {(done.stderr or done.stdout).strip()[-400:]}")
    yield str(folder / "slurm.conf")
    subprocess.run([*sudo, "bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)


def _wait(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


def _scontrol(*args: str) -> None:
    subprocess.run(["scontrol", *args], check=True, capture_output=True, timeout=30)


def test_sweep_cancel_kill_and_requeue_on_a_real_slurm(slurm, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLURM_CONF", slurm)
    monkeypatch.setenv("EQUIV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EQUIV_CLUSTER_WATCH_IDLE_S", "15")
    monkeypatch.chdir(tmp_path)
    store = RunStore()
    t0 = time.monotonic()
    slurm_flags = ["--executor", "slurm", "--slurm-time", "5", "--slurm-extra", "export=ALL", "--slurm-extra",
                   "comment=equiv-test", "--cluster-dir", str(tmp_path / "cluster-runs")]

    # three long runs (400 epochs of a tiny model) to cancel, to kill and to requeue while they run (a
    # sweep member of 40 epochs can end between two passes of the watcher, before it could be requeued)
    long_ids = []
    for _ in range(3):
        assert main(["train", *TINY, "--epochs", str(LONG_EPOCHS), *slurm_flags, "--json"]) == 0
        long_ids.append(store.list_runs(limit=1)[0].id)
    to_cancel, to_kill, to_requeue = long_ids
    # the sweep: 4 runs of 40 epochs, landing finished
    assert main(["sweep", "--models", "nequip-l0", "--molecule", "ethanol", "--data", "rmd17", "--data-dir", str(SLICE),
                 "--n-train", "5,10", "--seeds", "2", "--n-val", "5", "--epochs", "40", "--layers", "1",
                 "--channels", "4", "--device", "cpu", *slurm_flags, "--json"]) == 0
    capsys.readouterr()
    sweep = sorted(r.id for r in store.list_runs() if r.kind == "sweep_member")
    assert len(sweep) == 4 and all(store.get(i).device == "slurm" for i in sweep)
    jobs = {rid: cluster_job(store, rid).job_id for rid in [*long_ids, *sweep]}
    assert all(j.isdigit() for j in jobs.values())
    script = (Path(cluster_job(store, to_cancel).folder) / "slurm" / f"{jobs[to_cancel]}_submission.sh").read_text()
    assert "#SBATCH --export=ALL" in script and "#SBATCH --comment=equiv-test" in script
    t_submitted = time.monotonic()

    def epochs_in(run_id: int) -> int:
        return len(store.epochs(run_id))

    def requeue(run_id: int) -> None:
        _scontrol("requeue", jobs[run_id])
        _wait(lambda: store.get(run_id).status == "queued", 30, "the requeued run back in the queue")
        _scontrol("update", f"JobId={jobs[run_id]}", "StartTime=now")  # SLURM holds requeued jobs ~2 min

    # each is acted on as soon as the watcher has ingested its first epochs
    actions = {to_requeue: requeue,
               to_cancel: lambda run_id: main(["runs", "cancel", str(run_id)]),  # scancel
               # SLURM 22.05 makes a plain `scancel --signal=KILL JOB` a cancel (SIGTERM, KillWait, SIGKILL; the
               # worker stops cleanly and the run is cancelled); --batch SIGKILLs the job's shell: a FAILED job
               to_kill: lambda run_id: subprocess.run(["scancel", "--signal=KILL", "--batch", jobs[run_id]], check=True,
                                                      timeout=30)}
    deadline = time.monotonic() + 90
    while actions and time.monotonic() < deadline:
        for run_id in [i for i in actions if epochs_in(i) >= 1]:
            assert store.get(run_id).status == "running" and store.get(run_id).host
            actions.pop(run_id)(run_id)
        time.sleep(0.3)
    assert not actions, f"runs {sorted(actions)} never reported an epoch"
    t_acted = time.monotonic()
    _wait(lambda: not any(r.active for r in store.list_runs()), 120, "every run to end")
    for run_id, epochs in [(i, 40) for i in sweep] + [(to_requeue, LONG_EPOCHS)]:
        r = store.get(run_id)
        assert r.status == "finished", r.error
        assert r.test_metrics["force_mae_mev_per_a"] > 0
        assert [e.epoch for e in store.epochs(run_id)] == list(range(1, epochs + 1))  # no epoch lost or repeated
    cancelled = store.get(to_cancel)
    assert cancelled.status == "cancelled"
    killed = store.get(to_kill)
    assert killed.status == "failed" and f"SLURM job {jobs[to_kill]} ended FAILED" in killed.error, killed.error
    assert "exit code 0:9" in killed.error, killed.error  # SIGKILL
    assert cluster_job(store, to_requeue).resumes == 1 and "resumed 1×" in (store.get(to_requeue).message or "")
    assert all(cluster_job(store, i).resumes == 0 for i in sweep)
    assert Path(store.get(to_requeue).checkpoint_path).is_file()
    capsys.readouterr()
    assert main(["runs", "show", str(to_requeue)]) == 0  # the record shows its job and how often it resumed
    shown = capsys.readouterr().out
    assert f"SLURM job {jobs[to_requeue]} (" in shown and "resumed 1×" in shown, shown
    watcher = watcher_pid(store)
    if watcher:  # it would leave by itself after 15 idle seconds
        os.kill(watcher, signal.SIGTERM)
    print(f"submitted in {t_submitted - t0:.1f} s, acted after {t_acted - t0:.1f} s, all ended after "
          f"{time.monotonic() - t0:.1f} s")
