"""The yardstick: equiv's NequIP trainer against the official nequip, side by side, same data, same
model shape, same time budget, on this machine.

    .venv/bin/python bench/vs_nequip.py [--max-time 900] [--molecules ethanol[,aspirin,azobenzene]] \\
        [--device cpu] [--threads N] [--seed 0] [--json] [--data-dir ../shared/data/rmd17] [--cache DIR]

Once, in a cache folder outside the repository (``--cache``, default ``~/.cache/equiv``), it makes a
virtual environment with the official ``nequip==0.19.1`` and ``torch==2.13.0`` (pip; the CPU wheel
here, the CUDA build on a GPU machine). Per molecule it draws one rMD17 split with equiv's own
splitter (split 01: 950 training and 50 validation structures from the train file, all 1,000 test
structures), writes those exact structures as extended XYZ (eV, Å) for nequip, and trains:

- equiv (``equiv.training.train``, the configuration of ``bench/nequip_15min.py``), then
- ``nequip-train`` with the same shape: l_max 2, 3 layers, 32 features, r_max 5 Å, 8 Bessel
  functions, polynomial cutoff p = 6, radial MLP 2 × 64, float32, batch 5, Adam (AMSGrad) lr 0.01,
  loss weights energy 1 / forces 1000 (per-atom energy), EMA 0.99, plateau schedule (patience 50,
  factor 0.8), validation every epoch, stopped by Lightning's ``max_time`` after ``--max-time`` s,

back to back, each then tested on the 1,000 test structures with its best (EMA) weights.

Throughput is counted the same way for both: training structures of optimizer steps per second of
the time those steps took (validation excluded). For nequip a small Lightning callback of this
script (``equiv_timing.py``, written next to the config) sums the time of its training batches.

Prints one table per molecule and, with ``--json``, per molecule: ``equiv_structures_per_s``,
``nequip_structures_per_s``, ``throughput_ratio``, ``equiv_force_mae_mev_per_a``,
``nequip_force_mae_mev_per_a``, ``force_mae_ratio`` (equiv / nequip: below 1 is better), the ms per
step of each, atoms, the load average and the machine.

The official nequip is not a dependency of equiv and is never imported here: it runs in its own
environment as a separate process. Run this on a quiet machine: both figures scale with the CPU time
they get.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NEQUIP_VERSION = "0.19.1"
TORCH_VERSION = "2.13.0"
BATCH = 5
#: The shared model shape and recipe (equiv's option names; nequip's are written in the config below).
EQUIV_MODEL = {"l_max": 2, "n_layers": 3, "channels": 32, "r_max": 5.0, "n_basis": 8, "cutoff_p": 6,
               "radial_hidden": [64, 64], "parity": True, "resnet": False}

TIMING_CALLBACK = '''"""Sums the wall time of nequip's training batches (written by equiv's bench/vs_nequip.py)."""
import json, time
import lightning


class TrainStepTimer(lightning.Callback):
    def __init__(self, out_file: str):
        self.out_file, self.seconds, self.batches, self._t = out_file, 0.0, 0, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._t = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if self._t is not None:
            self.seconds += time.perf_counter() - self._t
            self.batches += 1
            self._t = None

    def on_train_end(self, trainer, module):
        with open(self.out_file, "w") as f:
            json.dump({"train_batch_seconds": self.seconds, "batches": self.batches,
                       "epochs": trainer.current_epoch, "global_step": trainer.global_step}, f)
'''


@dataclass
class Side:
    """One trainer's outcome on one molecule."""

    structures_per_s: float
    ms_per_step: float
    force_mae_mev_per_a: float
    energy_mae_mev: float
    epochs: int
    steps: int
    wall_s: float


def nequip_env(cache: Path) -> Path:
    """The virtual environment with the official nequip (made once; pip output goes to its log)."""
    venv = cache / f"nequip-{NEQUIP_VERSION}"
    exe = venv / "bin" / "nequip-train"
    if exe.exists():
        return venv
    print(f"making {venv} (official nequip {NEQUIP_VERSION}, torch {TORCH_VERSION}; once, a minute or two)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    with open(cache / f"nequip-{NEQUIP_VERSION}-pip.log", "w") as log:
        subprocess.run([str(venv / "bin" / "pip"), "install", f"torch=={TORCH_VERSION}", f"nequip=={NEQUIP_VERSION}"],
                       check=True, stdout=log, stderr=subprocess.STDOUT)
    return venv


def export_split(molecule: str, data_dir: str, seed: int, folder: Path) -> tuple[dict[str, Path], list[str], int]:
    """Write equiv's split of rMD17 ``molecule`` as train/val/test extxyz; (paths, element symbols, atoms)."""
    from ase.data import chemical_symbols

    from equiv.data import load_splits, write_extxyz_dataset

    splits = load_splits(f"rmd17:{molecule}", 950, 50, seed=seed, data_dir=data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for part in ("train", "val", "test"):
        paths[part] = write_extxyz_dataset(getattr(splits, part), folder / f"{part}.extxyz")
    numbers = splits.train.numbers
    symbols = [chemical_symbols[z] for z in sorted(set(int(z) for z in numbers))]
    return paths, symbols, len(numbers)


def nequip_config(paths: dict[str, Path], symbols: list[str], max_time: float, seed: int, device: str,
                  run_dir: Path) -> str:
    """nequip 0.19's Hydra configuration for the shared recipe (YAML text)."""
    trainer_device = "gpu" if device == "cuda" else "cpu"
    hh, rest = divmod(int(round(max_time)), 3600)
    mm, ss = divmod(rest, 60)
    return f"""
run: [train, test]
seed: {seed}
cutoff_radius: 5.0
model_type_names: {json.dumps(symbols)}
chemical_symbols: ${{model_type_names}}

dataloader:
  _target_: torch.utils.data.DataLoader
  batch_size: {BATCH}

data:
  _target_: nequip.data.datamodule.ASEDataModule
  seed: {seed}
  train_file_path: {paths['train']}
  val_file_path: {paths['val']}
  test_file_path: {paths['test']}
  transforms:
    - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
      model_type_names: ${{model_type_names}}
      chemical_species_to_atom_type_map: ${{list_to_identity_dict:${{chemical_symbols}}}}
    - _target_: nequip.data.transforms.NeighborListTransform
      r_max: ${{cutoff_radius}}
  train_dataloader:
    _target_: torch.utils.data.DataLoader
    batch_size: {BATCH}
    shuffle: true
  val_dataloader: ${{dataloader}}
  test_dataloader: ${{dataloader}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}

trainer:
  _target_: lightning.Trainer
  accelerator: {trainer_device}
  devices: 1
  max_epochs: -1
  max_time: "00:{hh:02d}:{mm:02d}:{ss:02d}"
  check_val_every_n_epoch: 1
  log_every_n_steps: 50
  enable_progress_bar: false
  logger:
    _target_: lightning.pytorch.loggers.CSVLogger
    save_dir: {run_dir}
    name: csv
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      monitor: val0_epoch/weighted_sum
      dirpath: {run_dir}
      filename: best
      save_top_k: 1
    - _target_: equiv_timing.TrainStepTimer
      out_file: {run_dir / 'timing.json'}

training_module:
  _target_: nequip.train.EMALightningModule
  ema_decay: 0.99
  loss:
    _target_: nequip.train.EnergyForceLoss
    per_atom_energy: true
    coeffs:
      total_energy: 1.0
      forces: 1000.0
  val_metrics:
    _target_: nequip.train.EnergyForceMetrics
    coeffs:
      total_energy_mae: 1.0
      forces_mae: 1.0
  test_metrics: ${{training_module.val_metrics}}
  optimizer:
    _target_: torch.optim.Adam
    lr: 0.01
    amsgrad: true
  lr_scheduler:
    scheduler:
      _target_: torch.optim.lr_scheduler.ReduceLROnPlateau
      factor: 0.8
      patience: 50
    monitor: val0_epoch/weighted_sum
    interval: epoch
    frequency: 1
  model:
    _target_: nequip.model.NequIPGNNModel
    seed: {seed}
    model_dtype: float32
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    l_max: 2
    parity: true
    num_layers: 3
    num_features: 32
    num_bessels: 8
    polynomial_cutoff_p: 6
    radial_mlp_depth: 2
    radial_mlp_width: 64
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
"""


def run_nequip(venv: Path, paths: dict[str, Path], symbols: list[str], args: argparse.Namespace, run_dir: Path) -> Side:
    """Train and test with ``nequip-train`` in its own environment; read its CSV log and timing."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "equiv_timing.py").write_text(TIMING_CALLBACK)
    (run_dir / "config.yaml").write_text(nequip_config(paths, symbols, args.max_time, args.seed, args.device, run_dir))
    env = {**os.environ, "PYTHONPATH": str(run_dir), "HYDRA_FULL_ERROR": "1"}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    t0 = time.perf_counter()
    with open(run_dir / "nequip-train.log", "w") as log:
        done = subprocess.run([str(venv / "bin" / "nequip-train"), "-cp", str(run_dir), "-cn", "config",
                               f"hydra.run.dir={run_dir / 'hydra'}"], cwd=run_dir, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        tail = (run_dir / "nequip-train.log").read_text().splitlines()[-15:]
        raise SystemExit("nequip-train failed:\n" + "\n".join(tail))
    timing = json.loads((run_dir / "timing.json").read_text())
    test = _nequip_test_metrics(run_dir)
    steps = int(timing["batches"])
    seconds = float(timing["train_batch_seconds"])
    return Side(structures_per_s=steps * BATCH / seconds, ms_per_step=1000 * seconds / steps,
                force_mae_mev_per_a=1000 * test["forces_mae"], energy_mae_mev=1000 * test["total_energy_mae"],
                epochs=int(timing["epochs"]), steps=steps, wall_s=wall)


def _nequip_test_metrics(run_dir: Path) -> dict[str, float]:
    """The test row of Lightning's CSV log (nequip reports eV and eV/Å)."""
    import csv

    found: dict[str, float] = {}
    for path in sorted(run_dir.glob("csv/version_*/metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                for key, value in row.items():
                    if key.startswith("test0_epoch/") and value not in ("", None):
                        found[key.split("/", 1)[1]] = float(value)
    if "forces_mae" not in found or "total_energy_mae" not in found:
        raise SystemExit(f"no test metrics in {run_dir}/csv: {sorted(found)}")
    return found


def run_equiv(molecule: str, args: argparse.Namespace) -> Side:
    """Train and test with equiv's trainer (bench/nequip_15min.py's configuration)."""
    from equiv.training import TrainConfig, train

    config = TrainConfig(model="nequip", model_options=EQUIV_MODEL, data=f"rmd17:{molecule}", data_dir=args.data_dir,
                         n_train=950, n_val=50, n_test=None, max_time_s=args.max_time, batch_size=BATCH, lr=0.01,
                         energy_weight=1.0, force_weight=1000.0, ema_decay=0.99, lr_schedule="plateau",
                         dtype="float32", device=args.device, seed=args.seed, threads=args.threads)
    t0 = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - t0
    return Side(structures_per_s=result.structures_per_s, ms_per_step=1000 * BATCH / result.structures_per_s,
                force_mae_mev_per_a=result.test["force_mae_mev_per_a"], energy_mae_mev=result.test["energy_mae_mev"],
                epochs=result.epochs, steps=result.steps, wall_s=wall)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-time", type=float, default=900.0, help="training seconds per trainer (default 900)")
    p.add_argument("--molecules", default="ethanol", help="comma-separated rMD17 molecules (default ethanol)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, help="CPU threads for both (default: each trainer's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "rmd17"))
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "equiv"), help="where nequip's environment lives")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    venv = nequip_env(cache)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = []
    for molecule in [m.strip() for m in args.molecules.split(",") if m.strip()]:
        folder = cache / "vs_nequip" / f"{molecule}-{stamp}"
        paths, symbols, n_atoms = export_split(molecule, args.data_dir, args.seed, folder / "data")
        load0 = os.getloadavg()[0]
        print(f"{molecule} ({n_atoms} atoms): equiv, {args.max_time:g} s ...", flush=True)
        ours = run_equiv(molecule, args)
        print(f"{molecule}: official nequip {NEQUIP_VERSION}, {args.max_time:g} s ...", flush=True)
        theirs = run_nequip(venv, paths, symbols, args, folder / "nequip")
        results.append({
            "molecule": molecule, "atoms": n_atoms, "max_time_s": args.max_time, "device": args.device,
            "equiv_structures_per_s": round(ours.structures_per_s, 2),
            "nequip_structures_per_s": round(theirs.structures_per_s, 2),
            "throughput_ratio": round(ours.structures_per_s / theirs.structures_per_s, 3),
            "equiv_force_mae_mev_per_a": round(ours.force_mae_mev_per_a, 2),
            "nequip_force_mae_mev_per_a": round(theirs.force_mae_mev_per_a, 2),
            "force_mae_ratio": round(ours.force_mae_mev_per_a / theirs.force_mae_mev_per_a, 3),
            "equiv_energy_mae_mev": round(ours.energy_mae_mev, 2), "nequip_energy_mae_mev": round(theirs.energy_mae_mev, 2),
            "equiv": asdict(ours), "nequip": asdict(theirs),
            "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "run_folder": str(folder),
        })
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"\n{'molecule':<12} {'atoms':>5}  {'trainer':<8} {'str/s':>7} {'ms/step':>8} {'epochs':>6} "
          f"{'test F MAE meV/Å':>17} {'E MAE meV':>10}")
    for r in results:
        for name in ("equiv", "nequip"):
            s = r[name]
            print(f"{r['molecule']:<12} {r['atoms']:>5}  {name:<8} {s['structures_per_s']:7.1f} {s['ms_per_step']:8.1f} "
                  f"{s['epochs']:6d} {s['force_mae_mev_per_a']:17.2f} {s['energy_mae_mev']:10.2f}")
        print(f"{'':<12} {'':>5}  throughput ratio {r['throughput_ratio']:.2f}×, force MAE ratio "
              f"{r['force_mae_ratio']:.2f} (load {r['load_average'][0]} → {r['load_average'][1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
