"""Train the small pretrained models the rotation lab loads (``assets/pretrained/``).

    .venv/bin/python scripts/train_pretrained.py                       # every library molecule, mlp, gvp, nequip
    .venv/bin/python scripts/train_pretrained.py --molecules ethanol --models nequip --max-time 30

For each molecule of the library (``equiv.molecules.LIBRARY``):

1. generate a small GFN2-xTB data set (Langevin MD at 500 K, 0.5 fs steps, every 10th step kept,
   after 1,000 equilibration steps; ``equiv.data.generate_xtb_dataset``), cached in the data home
   (``datasets/pretrained/``) so a rerun reuses it;
2. train a small MLP, GVP-GNN and NequIP on it with ``equiv.training`` (the same executor as
   ``equiv train``, so every run is in the run store), for a fixed time each;
3. write ``assets/pretrained/<molecule>_<model>.pt`` (the best EMA weights; metadata: data set,
   metrics, settings and this command) and the index ``assets/pretrained/index.json`` /
   ``index.md`` (test errors on the last quarter of the trajectory, sizes).

Times are budgets, so reruns give similar, not identical, weights. The whole set takes about
40 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from equiv.data import TEST_FRACTION, MDSettings, generate_xtb_dataset, write_dataset_npz
from equiv.models import load_checkpoint, save_checkpoint
from equiv.molecules import LIBRARY
from equiv.paths import REPO_ROOT, data_home
from equiv.runs import RunStore
from equiv.training import TrainConfig, create_train_run, execute_run

OUT_DIR = REPO_ROOT / "assets" / "pretrained"

#: Small configurations (checkpoints of tens of kB). The MLP trains with random-rotation
#: augmentation: the molecules tumble during the MD, so the test frames (the trajectory's last
#: quarter) come in orientations the training frames never had, and a plain MLP extrapolated to
#: force errors of 8 eV/Å on ethanol; with augmentation it stays below the zero-force baseline.
MODELS = {
    "mlp": ("mlp", {"hidden": [64, 64], "augment_rotations": True}),
    "gvp": ("gvp", {"n_layers": 2, "scalar_channels": 16, "vector_channels": 8}),
    "nequip": ("nequip", {"l_max": 2, "channels": 8, "n_layers": 2, "radial_hidden": [16]}),
}
#: Seconds of training per model.
DEFAULT_SECONDS = {"mlp": 45.0, "gvp": 60.0, "nequip": 60.0}


def dataset_path(molecule: str, settings: MDSettings) -> Path:
    return data_home() / "datasets" / "pretrained" / f"xtb_{molecule}_{settings.frames}f_seed{settings.seed}.npz"


def ensure_dataset(molecule: str, settings: MDSettings) -> Path:
    path = dataset_path(molecule, settings)
    if not path.is_file():
        t0 = time.perf_counter()
        ds = generate_xtb_dataset(molecule, settings=settings)
        write_dataset_npz(ds, path)
        print(f"  {molecule}: {ds.n_frames} GFN2-xTB frames in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)
    return path


def train_one(molecule: str, family: str, data: Path, args: argparse.Namespace, store: RunStore) -> dict:
    preset, options = MODELS[family]
    pool = args.frames - round(args.frames * TEST_FRACTION)  # the split's training pool
    out = OUT_DIR / f"{molecule}_{family}.pt"
    command = shlex.join(["python", "scripts/train_pretrained.py", "--molecules", molecule, "--models", family,
                          "--frames", str(args.frames), "--seed", str(args.seed)]
                         + (["--max-time", f"{args.max_time:g}"] if args.max_time else []))
    seconds = args.max_time or DEFAULT_SECONDS[family]
    config = TrainConfig(model=preset, model_options=options, data=f"file:{data}", n_train=pool - args.n_val,
                         n_val=args.n_val, max_time_s=seconds, plateau_patience=10, device="cpu", seed=args.seed,
                         checkpoint=str(out), labels={"command": command, "purpose": "rotation lab pretrained model"})
    run = create_train_run(config, store)
    result = execute_run(run.id, store)
    # Committed files carry no machine-specific paths.
    loaded = load_checkpoint(out)
    meta = loaded.metadata
    meta.pop("run_store", None)
    meta.pop("run_id", None)
    meta["config"] = {**meta["config"], "data": f"file:{data.name}", "checkpoint": f"assets/pretrained/{out.name}"}
    meta["dataset"] = {**meta["dataset"], "name": f"xtb:{molecule} ({data.name})"}
    meta["command"] = command
    save_checkpoint(loaded.model, out, meta)
    entry = {
        "file": out.name, "bytes": out.stat().st_size, "model": family, "preset": preset, "options": options,
        "n_parameters": result.n_parameters, "n_train": config.n_train, "n_val": config.n_val,
        "n_test": result.dataset["split"]["n_test"], "epochs": result.epochs, "seconds": round(result.train_seconds, 1),
        **{k: round(v, 2) for k, v in result.test.items()}, "level_of_theory": result.dataset["level_of_theory"],
        "command": command,
    }
    print(f"  {molecule:15s} {family:7s} test F MAE {result.test['force_mae_mev_per_a']:7.1f} meV/Å  "
          f"E MAE {result.test['energy_mae_mev']:7.1f} meV  {result.epochs:4d} epochs  {entry['bytes'] / 1024:5.0f} kB",
          flush=True)
    return entry


def write_index(index: dict) -> None:
    (OUT_DIR / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    families = list(MODELS)
    lines = ["| molecule | " + " | ".join(f"{f} F / E MAE" for f in families) + " |",
             "|---|" + "---|" * len(families)]
    for molecule in LIBRARY:
        if molecule not in index:
            continue
        cells = []
        for f in families:
            e = index[molecule].get(f)
            cells.append("–" if e is None else f"{e['force_mae_mev_per_a']:.0f} / {e['energy_mae_mev']:.0f}")
        lines.append(f"| {molecule} | " + " | ".join(cells) + " |")
    (OUT_DIR / "index.md").write_text(
        "Test force MAE (meV/Å) / energy MAE (meV) of the pretrained models on their own GFN2-xTB data "
        "(test = the last quarter of the trajectory). Made by `python scripts/train_pretrained.py`.\n\n"
        + "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", default="all", help="comma-separated library keys, or all (default)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated of {', '.join(MODELS)}")
    p.add_argument("--frames", type=int, default=400, help="GFN2-xTB frames per molecule (default 400)")
    p.add_argument("--n-val", type=int, default=50, help="validation structures (default 50)")
    p.add_argument("--seed", type=int, default=0, help="MD and training seed (default 0)")
    p.add_argument("--max-time", type=float, help="seconds per model (default: mlp 45, gvp 60, nequip 60)")
    args = p.parse_args(argv)
    molecules = list(LIBRARY) if args.molecules == "all" else [m.strip() for m in args.molecules.split(",")]
    families = [m.strip() for m in args.models.split(",")]
    for name, known, what in ((molecules, LIBRARY, "molecule"), (families, MODELS, "model")):
        bad = [x for x in name if x not in known]
        if bad:
            p.error(f"unknown {what} {bad[0]!r}; choose from {', '.join(known)}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    index_path = OUT_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    settings = MDSettings(frames=args.frames, seed=args.seed)
    store = RunStore()
    t0 = time.perf_counter()
    for molecule in molecules:
        data = ensure_dataset(molecule, settings)
        for family in families:
            index.setdefault(molecule, {})[family] = train_one(molecule, family, data, args, store)
            write_index(index)
    print(f"done in {time.perf_counter() - t0:.0f} s; index in {OUT_DIR / 'index.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
