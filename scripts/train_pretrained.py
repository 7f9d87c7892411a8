"""Train the small pretrained models the rotation lab loads (``assets/pretrained/``).

    .venv/bin/python scripts/train_pretrained.py                       # every library molecule, every model
    .venv/bin/python scripts/train_pretrained.py --molecules ethanol,aspirin --models nequip,gvp
    .venv/bin/python scripts/train_pretrained.py --molecules ethanol --models mlp --steps 20000 --lr 0.001

For each molecule of the library (``equiv.molecules.LIBRARY``):

1. generate a GFN2-xTB data set with the project's generator (``equiv.data.generate_xtb_dataset``:
   6 independent Langevin trajectories at 500 K, frames 20 fs apart, 1,200 frames in all), cached
   in the data home (``datasets/pretrained/``) so a rerun reuses it. On this 2-core machine,
   shared with other work: ethanol 49 s, uracil 6 min, paracetamol 14 min;
2. train the models on it with the job executor (``equiv.jobs.train``, as ``equiv train``: every
   run is in the run store), for a fixed number of optimizer steps each (batch 5, cosine schedule
   to zero, one thread), with the split training always uses (by trajectory: training on all but
   the last two, 800 frames; validation drawn from the fifth; test = the sixth, 200 frames):
   * ``mlp``: a coordinate MLP trained on frames **aligned** to the library geometry's orientation
     (Kabsch on the heavy atoms, forces turned with each frame; ``equiv.data.align``). In that frame
     it learns forces; turned, it fails, which is what the rotation lab shows;
   * ``mlp-aug``: the same MLP on the frames as they come, with random-rotation augmentation;
   * ``gvp``, ``nequip``: the equivariant models (the ``gvp`` preset; NequIP l_max 2, 3 layers,
     16 channels), on the frames as they come;
3. write ``assets/pretrained/<molecule>_<model>.pt`` (the best EMA weights, stored in float16 where
   that costs under 1% of the test force MAE, else float32; metadata: data set, metrics of the
   stored weights, settings and this command) and the index ``assets/pretrained/index.json`` /
   ``index.md`` (test errors on the test trajectory, aligned frames for ``mlp``; sizes; seconds).
   ``--keep-better`` keeps a shipped model the new one does not beat; ``--repack`` trains nothing
   and stores already shipped models that way.

Several runs of the script may train different molecules at once (one per core). A step budget
trains the same model on a busy machine, only slower; reruns give the same weights for the same
thread count. Check a shipped model with
``equiv evaluate --model pretrained:ethanol:nequip --data file:<data set>``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Iterator

import torch

from equiv.data import MDSettings, generate_xtb_dataset, read_dataset_npz, write_dataset_npz
from equiv.data.align import align_dataset
from equiv.data.splits import trajectory_blocks
from equiv.jobs.train import create_train_run, execute_run
from equiv.models import load_checkpoint, save_checkpoint
from equiv.molecules import LIBRARY, load_molecule
from equiv.paths import REPO_ROOT, data_home
from equiv.runs import RunStore
from equiv.training import TrainConfig
from equiv.training.evaluate import evaluate_model

OUT_DIR = REPO_ROOT / "assets" / "pretrained"

#: Small configurations (checkpoints of tens of kB): family → (preset, options, aligned data).
#: ``mlp`` trains on frames aligned to the library orientation (see the module docstring);
#: ``mlp-aug`` on the frames as they come (the molecules tumble during the MD) with random-rotation
#: augmentation: without either, a plain MLP extrapolated to force errors of 8 eV/Å on ethanol.
MODELS = {
    "mlp": ("mlp", {"hidden": [128, 128]}, True),
    "mlp-aug": ("mlp", {"hidden": [128, 128], "augment_rotations": True}, False),
    "gvp": ("gvp", {}, False),
    "nequip": ("nequip", {"channels": 16}, False),
}
#: Optimizer steps per model (batch 5, cosine schedule to zero over them). A step budget, not a time
#: budget: a busy machine takes longer but trains the same model.
DEFAULT_STEPS = {"mlp": 8000, "mlp-aug": 8000, "gvp": 4000, "nequip": 4000}
#: What the index says about each family's test errors.
TEST_FRAMES = {"mlp": "test trajectory aligned to the library orientation"}


def dataset_path(molecule: str, settings: MDSettings) -> Path:
    traj = "" if settings.trajectories == MDSettings().trajectories else f"_{settings.trajectories}traj"
    return data_home() / "datasets" / "pretrained" / f"xtb_{molecule}_{settings.frames}f{traj}_seed{settings.seed}.npz"


def ensure_dataset(molecule: str, settings: MDSettings) -> Path:
    path = dataset_path(molecule, settings)
    if not path.is_file():
        t0 = time.perf_counter()
        ds = generate_xtb_dataset(molecule, settings=settings)
        write_dataset_npz(ds, path)
        print(f"  {molecule}: {ds.n_frames} GFN2-xTB frames in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)
    return path


def aligned_dataset(molecule: str, data: Path) -> Path:
    """The data set ``data`` with every frame aligned to the library geometry (``equiv.data.align``)."""
    path = data.with_name(data.stem + "_aligned.npz")
    if not path.is_file():
        write_dataset_npz(align_dataset(read_dataset_npz(data), load_molecule(molecule)), path)
    return path


def train_one(molecule: str, family: str, data: Path, args: argparse.Namespace, store: RunStore) -> dict:
    preset, options, aligned = MODELS[family]
    if aligned:
        data = aligned_dataset(molecule, data)
    ds = read_dataset_npz(data)
    blocks = trajectory_blocks(ds.n_frames, ds.metadata.generation)
    if blocks is None:
        raise SystemExit(f"{data} is not a multi-trajectory data set of the current generator; delete it to regenerate")
    n_train, n_val = blocks[0], min(args.n_val, blocks[1])  # every training frame; validation from trajectory 3
    out = OUT_DIR / f"{molecule}_{family}.pt"
    trained = training_path(molecule, family)  # moved onto ``out`` by :func:`ship`
    command = shlex.join(["python", "scripts/train_pretrained.py", "--molecules", molecule, "--models", family,
                          "--frames", str(args.frames), "--seed", str(args.seed)]
                         + (["--trajectories", str(args.trajectories)] if args.trajectories != 6 else [])
                         + (["--steps", str(args.steps)] if args.steps else [])
                         + (["--lr", f"{args.lr:g}"] if args.lr else []))
    steps = args.steps or DEFAULT_STEPS[family]
    lr = {"lr": args.lr} if args.lr else {}
    config = TrainConfig(model=preset, model_options=options, data=f"file:{data}", n_train=n_train, **lr,
                         n_val=n_val, max_steps=steps, lr_schedule="cosine", threads=args.threads, device="cpu", seed=args.seed,
                         checkpoint=str(trained), labels={"command": command, "purpose": "rotation lab pretrained model"})
    run = create_train_run(config, store)
    result = execute_run(run.id, store)
    if result.cancelled or "force_mae_mev_per_a" not in result.test:
        record = store.get(run.id)
        raise SystemExit(f"{molecule} {family}: run {run.id} ended {record.status} without test errors"
                         + (f": {record.error}" if record.error else ""))
    # Committed files carry no machine-specific paths.
    loaded = load_checkpoint(trained)
    meta = loaded.metadata
    meta.pop("run_store", None)
    meta.pop("run_id", None)
    meta["config"] = {**meta["config"], "data": f"file:{data.name}", "checkpoint": f"assets/pretrained/{out.name}"}
    meta["dataset"] = {**meta["dataset"], "name": f"xtb:{molecule} ({data.name})"}
    meta["command"] = command
    test, weights = store_small(loaded.model, trained, meta, ds)
    entry = {
        "file": out.name, "bytes": trained.stat().st_size, "model": family, "preset": preset, "options": options,
        "n_parameters": result.n_parameters, "n_train": config.n_train, "n_val": config.n_val,
        "n_test": result.dataset["split"]["n_test"], "epochs": result.epochs, "seconds": round(result.train_seconds, 1),
        **test, "level_of_theory": result.dataset["level_of_theory"],
        "command": command, "test_frames": TEST_FRAMES.get(family, "test trajectory as generated"),
        "data": data.name, "weights": weights,
    }
    print(f"  {molecule:15s} {family:7s} test F MAE {test['force_mae_mev_per_a']:7.1f} meV/Å "
          f"(trained weights {result.test['force_mae_mev_per_a']:.1f}; zero forces {test['force_mae_zero_mev_per_a']:.0f})  "
          f"E MAE {test['energy_mae_mev']:7.1f} meV  {result.epochs:4d} epochs  {entry['bytes'] / 1024:5.0f} kB",
          flush=True)
    return entry


def last_trajectory(ds) -> object:
    """The test trajectory (the last one) of a multi-trajectory data set."""
    blocks = trajectory_blocks(ds.n_frames, ds.metadata.generation)
    return ds.subset(range(ds.n_frames - blocks[2], ds.n_frames), split="test")


#: Largest relative rise of the test force MAE that storing the weights in float16 may cost.
HALF_TOLERANCE = 0.01


def store_small(model, path: Path, meta: dict, ds) -> tuple[dict, str]:
    """Write ``model`` to ``path`` with float16 weights when that costs at most
    :data:`HALF_TOLERANCE` of the test force MAE (half the bytes: the shipped files must stay under
    10 MB in all), else float32. Returns the test errors of the file as stored (loaded in float32)
    on ``ds``'s test trajectory, rounded to 0.01, and the weights' dtype. (Precise models lose to
    the rounding: water's NequIP went from 4.2 to 5.8 meV/Å; GVP and the MLPs do not.)"""
    frames = last_trajectory(ds)
    results = {}
    for weights in (torch.float32, torch.float16):
        save_checkpoint(model, path, meta, weights=weights)
        metrics = evaluate_model(load_checkpoint(path, dtype=torch.float32).model, frames)
        results[weights] = {k: round(float(v), 2) for k, v in metrics.items() if k != "n_test"}
    full, half = results[torch.float32]["force_mae_mev_per_a"], results[torch.float16]["force_mae_mev_per_a"]
    weights = torch.float16 if half <= full * (1 + HALF_TOLERANCE) else torch.float32
    # The file's own record of its test errors: those of the stored weights.
    meta = {**meta, "test_metrics": {**meta.get("test_metrics", {}), **results[weights]}}
    save_checkpoint(model, path, meta, weights=weights)
    return results[weights], str(weights).removeprefix("torch.")


def repack(molecule: str, family: str) -> None:
    """Store a shipped model's weights in float16 where that costs under 1% of its test force MAE
    (:func:`store_small`) and measure the stored file again on its data set (in the data home); the
    index entry gets the new figures, size and weights' dtype."""
    index = json.loads((OUT_DIR / "index.json").read_text())
    entry = index[molecule][family]
    data = data_home() / "datasets" / "pretrained" / entry.get("data", "(not recorded)")
    if entry.get("weights") or not data.is_file():
        why = "already repacked" if entry.get("weights") else f"its data set {data.name} is not here"
        print(f"  {molecule} {family}: left as it is ({why})")
        return
    path = OUT_DIR / entry["file"]
    loaded = load_checkpoint(path)
    before = entry["force_mae_mev_per_a"]
    test, weights = store_small(loaded.model, path, loaded.metadata, read_dataset_npz(data))
    with locked_index() as index:
        index[molecule][family] = {**entry, **test, "bytes": path.stat().st_size, "weights": weights}
    print(f"  {molecule} {family}: {weights} weights, test F MAE {before:.1f} -> {test['force_mae_mev_per_a']:.1f} meV/Å, "
          f"{path.stat().st_size / 1024:.0f} kB")


def training_path(molecule: str, family: str) -> Path:
    """Where a model trains before :func:`ship` decides to ship it (hidden, ignored by git)."""
    return OUT_DIR / f".{molecule}_{family}.training.pt"


@contextlib.contextmanager
def locked_index() -> Iterator[dict]:
    """The index, read and written back (with index.md) under a lock: several runs of this script,
    one per core, may train different molecules at once."""
    with open(OUT_DIR / ".index.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = OUT_DIR / "index.json"
        index = json.loads(path.read_text()) if path.is_file() else {}
        yield index
        write_index(index)


def no_better(new: dict, old: dict) -> bool:
    """Whether the new model's test force MAE is no better than the shipped one's: compared as a
    fraction of each test set's zero-force error where both have it (an older model may have been
    measured on other frames of the molecule), else as it is."""
    zeros = new.get("force_mae_zero_mev_per_a"), old.get("force_mae_zero_mev_per_a")
    scale_new, scale_old = zeros if all(zeros) else (1.0, 1.0)
    return new["force_mae_mev_per_a"] / scale_new >= old["force_mae_mev_per_a"] / scale_old


def ship(molecule: str, family: str, entry: dict, keep_better: bool) -> None:
    """Move the freshly trained checkpoint onto the shipped file and record it in the index
    (:func:`locked_index`). With
    ``keep_better``, a shipped model the new one does not beat (:func:`no_better`) stays."""
    trained = training_path(molecule, family)
    with locked_index() as index:
        old = index.get(molecule, {}).get(family)
        if keep_better and old is not None and no_better(entry, old):
            trained.unlink()
            print(f"  {molecule} {family}: kept the shipped model (test force MAE {old['force_mae_mev_per_a']:.1f} "
                  f"meV/Å; the new one: {entry['force_mae_mev_per_a']:.1f})", flush=True)
            return
        trained.replace(OUT_DIR / entry["file"])
        index.setdefault(molecule, {})[family] = entry


def write_index(index: dict) -> None:
    (OUT_DIR / "index.json").write_text(json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    families = list(MODELS)
    lines = ["| molecule | " + " | ".join(f"{f} F / E MAE" for f in families) + " | zero-force F MAE |",
             "|---|" + "---|" * (len(families) + 1)]
    for molecule in LIBRARY:
        if molecule not in index:
            continue
        cells = []
        zero = None
        for f in families:
            e = index[molecule].get(f)
            cells.append("–" if e is None else f"{e['force_mae_mev_per_a']:.0f} / {e['energy_mae_mev']:.0f}"
                         + ("*" if e.get("legacy") else "†" if e.get("script_commit") else ""))
            if e is not None and e.get("force_mae_zero_mev_per_a") is not None:
                zero = e["force_mae_zero_mev_per_a"]
        lines.append(f"| {molecule} | " + " | ".join(cells) + f" | {'–' if zero is None else f'{zero:.0f}'} |")
    (OUT_DIR / "index.md").write_text(
        "Test force MAE (meV/Å) / energy MAE (meV) of the pretrained models on their own GFN2-xTB data. "
        "Made by `python scripts/train_pretrained.py`; check one with `equiv evaluate`.\n\n"
        "* `mlp`: a coordinate MLP trained on frames aligned to the library orientation (Kabsch, heavy atoms); "
        "its errors are on the aligned test trajectory. In that frame it fits forces; turned, it fails "
        "(the rotation lab shows it). `mlp-aug`: the same MLP with random-rotation augmentation.\n"
        "* Weights are stored in float16 where that costs under 1% of the test force MAE (`weights` in index.json: "
        "float16 or float32), to keep the files small; the figures are those of the stored files.\n"
        "* `*`: made by an early version of the script (one 400-frame trajectory, frames 5 fs apart, test = "
        "its last quarter; the `mlp-aug` files of these molecules were its `mlp`, trained with augmentation). "
        "`†`: made by the script at the commit in index.json `script_commit` (multi-trajectory data, a time "
        "budget and reduce-on-plateau; its `command` is in that version's syntax: `git show "
        "<commit>:scripts/train_pretrained.py`), kept because the current recipe did worse for that model. "
        "Unmarked figures are the current script's (1,200 frames in 6 trajectories, step budgets, cosine "
        "schedule): trained on all but the last two trajectories, test = the last. The zero-force column is "
        "for the newest data.\n\n"
        + "\n".join(lines) + "\n\n" + targets_text(index))


#: Force MAE targets of the equivariant models (meV/Å): NequIP on molecules up to 12 atoms, on the
#: larger ones (aspirin, paracetamol, azobenzene, salicylic acid, naphthalene, uracil); GVP within
#: twice NequIP's; the aligned MLP within half the zero-force error.
NEQUIP_TARGET = {"small": 30.0, "large": 50.0}
LARGE = ("aspirin", "paracetamol", "azobenzene", "salicylic_acid", "naphthalene", "uracil")


def targets_text(index: dict) -> str:
    """Which molecules' models meet the targets (:data:`NEQUIP_TARGET`, GVP ≤ 2 × NequIP, aligned
    MLP ≤ 0.5 × the zero-force error), for the figures of the current script only."""
    rows = []
    for molecule in LIBRARY:
        e = index.get(molecule, {})
        nequip, gvp, mlp = e.get("nequip"), e.get("gvp"), e.get("mlp")
        if nequip is None or nequip.get("legacy"):
            continue
        target = NEQUIP_TARGET["large" if molecule in LARGE else "small"]
        f = nequip["force_mae_mev_per_a"]
        cells = [f"{f:.0f} ≤ {target:.0f}: {'yes' if f <= target else 'no'}"]
        if gvp is not None and not gvp.get("legacy"):
            g = gvp["force_mae_mev_per_a"]
            cells.append(f"{g / f:.1f}×: {'yes' if g <= 2 * f else 'no'}")
        else:
            cells.append("–")
        if mlp is not None and mlp.get("force_mae_zero_mev_per_a"):
            r = mlp["force_mae_mev_per_a"] / mlp["force_mae_zero_mev_per_a"]
            cells.append(f"{r:.2f}×: {'yes' if r <= 0.5 else 'no'}")
        else:
            cells.append("–")
        rows.append(f"| {molecule} | " + " | ".join(cells) + " |")
    return ("Targets (NequIP force MAE ≤ 30 meV/Å up to 12 atoms, ≤ 50 for aspirin, paracetamol, azobenzene, "
            "salicylic acid, naphthalene and uracil; GVP ≤ 2 × NequIP; aligned MLP ≤ 0.5 × the zero-force error), "
            "for the molecules retrained with multi-trajectory data:\n\n"
            "| molecule | NequIP F MAE vs target | GVP / NequIP ≤ 2 | mlp / zero forces ≤ 0.5 |\n|---|---|---|---|\n"
            + "\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--molecules", default="all", help="comma-separated library keys, or all (default)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated of {', '.join(MODELS)}")
    p.add_argument("--frames", type=int, default=1200, help="GFN2-xTB frames per molecule (default 1200)")
    p.add_argument("--n-val", type=int, default=50, help="validation structures (default 50)")
    p.add_argument("--seed", type=int, default=0, help="MD and training seed (default 0)")
    p.add_argument("--trajectories", type=int, default=6,
                   help="independent MD trajectories (default 6; training uses all but the last two)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training (default 1)")
    p.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    p.add_argument("--steps", type=int, help="optimizer steps per model (default: "
                   + ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + ")")
    p.add_argument("--repack", action="store_true",
                   help="train nothing: store the shipped models' weights in float16 and measure them again")
    p.add_argument("--keep-better", action="store_true",
                   help="keep a shipped model whose test force MAE, relative to the zero-force error, is lower")
    args = p.parse_args(argv)
    molecules = list(LIBRARY) if args.molecules == "all" else [m.strip() for m in args.molecules.split(",")]
    families = [m.strip() for m in args.models.split(",")]
    for name, known, what in ((molecules, LIBRARY, "molecule"), (families, MODELS, "model")):
        bad = [x for x in name if x not in known]
        if bad:
            p.error(f"unknown {what} {bad[0]!r}; choose from {', '.join(known)}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    settings = MDSettings(frames=args.frames, seed=args.seed, trajectories=args.trajectories)
    if args.repack:
        for molecule in molecules:
            for family in families:
                if family in json.loads((OUT_DIR / "index.json").read_text()).get(molecule, {}):
                    repack(molecule, family)
        return 0
    store = RunStore()
    t0 = time.perf_counter()
    for molecule in molecules:
        data = ensure_dataset(molecule, settings)
        for family in families:
            ship(molecule, family, train_one(molecule, family, data, args, store), args.keep_better)
    print(f"done in {time.perf_counter() - t0:.0f} s; index in {OUT_DIR / 'index.md'}")
    return 0


if __name__ == "__main__":  # (the generator starts worker processes: keep the guard)
    sys.exit(main())
