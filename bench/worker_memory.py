"""Peak memory of real training workers against :func:`equiv.training.memory.estimate_memory_mb`,
and the smallest address-space limit (RLIMIT_AS) a CPU worker lives with.

    nice -n 5 .venv/bin/python bench/worker_memory.py [--limits 1024,2048,4096]

Each configuration trains one epoch on a small generated GFN2-xTB data set in a fresh worker
process (``python -m equiv.jobs.worker``); peak resident memory is the child's ``ru_maxrss``,
peak address space the largest ``vms`` seen while polling every 20 ms. Uses a temporary
EQUIV_HOME.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import psutil


def measure(run_id: int, store_path: str, address_space_mb: int = 0) -> tuple[int, float, float, str]:
    """(exit status, peak RSS MiB, peak VMS MiB, last line of output) of one worker."""
    from equiv.jobs.executor import worker_limits

    cmd = [sys.executable, "-m", "equiv.jobs.worker", str(run_id), "--store", store_path]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=worker_limits(0, address_space_mb))
    peak_rss = peak_vms = 0
    p = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            info = p.memory_info()
            peak_rss, peak_vms = max(peak_rss, info.rss), max(peak_vms, info.vms)
        except psutil.Error:
            pass
        time.sleep(0.02)
    out = proc.stdout.read().decode(errors="replace").strip().splitlines()
    return proc.returncode, peak_rss / 2**20, peak_vms / 2**20, out[-1] if out else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limits", default="", help="address-space limits to try on the smallest run (MiB)")
    args = parser.parse_args()
    os.environ["EQUIV_HOME"] = tempfile.mkdtemp(prefix="equiv-memory-")
    os.environ["EQUIV_WORKER_MEMORY_MB"] = "0"  # measure every configuration, however large
    from equiv.data import default_xtb_path, generate_xtb_dataset, write_dataset_npz
    from equiv.runs import RunStore
    from equiv.jobs.train import create_train_run
    from equiv.training import TrainConfig
    from equiv.training.memory import estimate_memory_mb

    for molecule in ("ethanol", "aspirin"):
        ds = generate_xtb_dataset(molecule, frames=60, stride=2, equilibration_steps=20, seed=1)
        write_dataset_npz(ds, default_xtb_path(molecule))
    store = RunStore()
    configs = [
        ("nequip-l1", "ethanol", {"channels": 4, "n_layers": 1}, 5, 50),
        ("nequip", "ethanol", {}, 5, 50),
        ("nequip", "aspirin", {}, 5, 50),
        ("nequip", "aspirin", {}, 20, 50),
        ("nequip-paper", "aspirin", {}, 5, 50),
        ("gvp", "aspirin", {}, 5, 50),
        ("mlp", "aspirin", {}, 5, 50),
    ]
    print(f"load average {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores")
    print(f"{'model':14} {'molecule':9} {'batch':>5} {'eval':>5} {'peak RSS MiB':>12} {'peak VMS MiB':>12} {'estimate MiB':>12}")
    for model, molecule, options, batch, eval_batch in configs:
        config = TrainConfig(model=model, data=f"xtb:{molecule}", n_train=10, n_val=5, epochs=1, device="cpu",
                             batch_size=batch, eval_batch_size=eval_batch, model_options=options, threads=1)
        run = create_train_run(config, store)
        status, rss, vms, last = measure(run.id, str(store.path))
        print(f"{model:14} {molecule:9} {batch:5d} {eval_batch:5d} {rss:12.0f} {vms:12.0f} "
              f"{estimate_memory_mb(config):12.0f}  {'' if status == 0 else 'FAILED ' + last}", flush=True)
    for limit in [int(x) for x in args.limits.split(",") if x]:
        config = TrainConfig(model="nequip", data="xtb:aspirin", n_train=10, n_val=5, epochs=1, device="cpu",
                             threads=1)
        run = create_train_run(config, store)
        status, rss, vms, last = measure(run.id, str(store.path), address_space_mb=limit)
        print(f"RLIMIT_AS {limit} MiB (nequip, aspirin): exit {status}, peak RSS {rss:.0f} MiB, peak VMS {vms:.0f} MiB; "
              f"{last[-160:]}", flush=True)


if __name__ == "__main__":
    main()
