"""``equiv data``: download rMD17, generate GFN2-xTB data, list and inspect data sets.

  equiv data download rmd17 [--data-dir DIR]
  equiv data generate --molecule ethanol --frames 2000 --temperature 500 --seed 0
  equiv data list
  equiv data info rmd17:ethanol --n-train 950 --n-val 50
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.cli.progress import ProgressBar, run_in_foreground
from equiv.data import (
    MDSettings,
    available_datasets,
    default_xtb_path,
    download_rmd17,
    load_dataset,
    load_splits,
    parse_spec,
    rmd17_data_dir,
)
from equiv.errors import DataError
from equiv.runs import RunStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="download rMD17, generate xTB data, list data sets", description=__doc__,
                       epilog="Every verb has --help and --json (one JSON object on stdout).",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    d = verbs.add_parser("download", help="download the official rMD17 release and write its split files",
                         description="Fetch rmd17.tar.bz2 (figshare article 12672038, about 1 GB), check its "
                                     "size, SHA-256 and MD5, and write rmd17_<molecule>_<train|test>_<NN>.npz.")
    d.add_argument("dataset", choices=["rmd17"], help="the data set to download")
    d.add_argument("--data-dir", help="where the split files go (default: $EQUIV_RMD17_DIR or the data home)")
    d.add_argument("--url", action="append", help="download from this URL instead (repeat for fallbacks)")
    d.add_argument("--archive", help="use an already downloaded rmd17.tar.bz2")
    d.add_argument("--sha256", help="expected SHA-256 when the archive is not the official one")
    d.add_argument("--keep-raw", action="store_true", help="keep the archive and the full npz files (about 2 GB)")
    d.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds (default 60)")
    add_json_flag(d)
    d.set_defaults(func=run_download)

    g = verbs.add_parser("generate", help="generate GFN2-xTB molecular-dynamics data",
                         description="Langevin MD (ASE) on the GFN2-xTB surface (tblite): equilibrate, then keep "
                                     "every STRIDE-th frame with its energy and forces. Same arguments, same file.")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--molecule", help="a library molecule (see `equiv molecules`)")
    which.add_argument("--smiles", help="a SMILES string (needs --out)")
    defaults = MDSettings()
    g.add_argument("--frames", type=int, default=defaults.frames, help=f"frames kept (default {defaults.frames})")
    g.add_argument("--temperature", type=float, default=defaults.temperature_K,
                   help=f"K (default {defaults.temperature_K:g})")
    g.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    g.add_argument("--stride", type=int, default=defaults.stride,
                   help=f"MD steps between kept frames (default {defaults.stride})")
    g.add_argument("--equilibration", type=int, default=defaults.equilibration_steps,
                   help=f"MD steps discarded first (default {defaults.equilibration_steps})")
    g.add_argument("--timestep", type=float, default=defaults.timestep_fs, help=f"fs (default {defaults.timestep_fs:g})")
    g.add_argument("--friction", type=float, default=defaults.friction_per_fs,
                   help=f"Langevin friction, 1/fs (default {defaults.friction_per_fs:g})")
    g.add_argument("--trajectories", type=int, default=defaults.trajectories,
                   help=f"independent trajectories, run in parallel processes; the frames are shared out "
                        f"(default {defaults.trajectories}; with 3 or more the split is by trajectory)")
    g.add_argument("--out", help="output file, .npz (default) or .extxyz (default: the data home, so that "
                                 "xtb:<molecule> finds it)")
    g.add_argument("--force", action="store_true", help="replace an existing file")
    g.add_argument("--if-missing", action="store_true", help="do nothing when the file already exists")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_flag(g)
    g.set_defaults(func=run_generate)

    ls = verbs.add_parser("list", help="data sets available on this machine")
    ls.add_argument("--data-dir", help="rMD17 folder (default: $EQUIV_RMD17_DIR or the data home)")
    add_json_flag(ls)
    ls.set_defaults(func=run_list)

    i = verbs.add_parser("info", help="metadata and sizes of a data set (and of a split)")
    i.add_argument("spec", help="rmd17:<molecule>, xtb:<molecule> or a file")
    i.add_argument("--data-dir", help="rMD17 folder")
    i.add_argument("--n-train", type=int, help="also check a split with this many training structures")
    i.add_argument("--n-val", type=int, default=50, help="validation structures for --n-train (default 50)")
    i.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    i.add_argument("--energy-key", help="energy key of an extended XYZ file")
    i.add_argument("--forces-key", help="forces key of an extended XYZ file")
    add_json_flag(i)
    i.set_defaults(func=run_info)


def run_download(args: argparse.Namespace) -> int:
    bar = None if args.json else ProgressBar("rMD17", unit="B", byte_units=True)
    files_bar = None

    def progress(p) -> None:
        nonlocal files_bar
        if args.json:
            return
        if p.stage == "download":
            bar.update(p.done, p.total)
        elif p.stage == "write":
            if files_bar is None:
                bar.close()
                files_bar = ProgressBar("split files", unit="files")
            files_bar.update(p.done, p.total)

    report = download_rmd17(args.data_dir, urls=args.url, archive=args.archive, sha256=args.sha256,
                            keep_raw=args.keep_raw, timeout_s=args.timeout, progress=progress)
    for b in (bar, files_bar):
        if b is not None:
            b.close()
    if args.json:
        print_json(report)
    else:
        print(f"verified against {report['verified_against']} (SHA-256 {report['sha256']})")
        print(f"wrote {len(report['files'])} split files for {len(report['molecules'])} molecules to "
              f"{report['data_dir']} in {report['seconds']} s")
        for s in report["skipped"]:
            print(f"skipped {s}")
    return 0


def _output_path(args: argparse.Namespace) -> tuple[Path, str | None]:
    if args.out:
        path = Path(args.out).expanduser()
        if path.suffix.lower() not in (".npz", ".extxyz", ".xyz"):
            raise DataError(f"--out {args.out}: write .npz (the native format) or .extxyz")
        return path, f"file:{path}"
    if args.smiles:
        raise DataError("give --out FILE for a data set generated from SMILES")
    key = parse_spec(f"xtb:{args.molecule}").molecule
    return default_xtb_path(key), f"xtb:{key}"


def run_generate(args: argparse.Namespace) -> int:
    settings = MDSettings(frames=args.frames, temperature_K=args.temperature, seed=args.seed, stride=args.stride,
                          equilibration_steps=args.equilibration, timestep_fs=args.timestep,
                          friction_per_fs=args.friction, trajectories=args.trajectories)
    path, spec = _output_path(args)
    outdated = _outdated(path) if path.exists() and path.suffix.lower() == ".npz" else None
    if outdated and args.if_missing:
        print(f"{path} is outdated ({outdated}); regenerating it", file=sys.stderr)
    if path.exists() and not args.force and not (outdated and args.if_missing):
        if args.if_missing:
            if args.json:
                print_json({"path": str(path), "spec": spec, "skipped": True})
            else:
                print(f"{path} exists; nothing to do")
            return 0
        raise DataError(f"{path} exists; use --force to replace it, or --out for another file")
    from equiv.jobs.generate import create_generate_run, execute_generate

    store = RunStore()
    # Created running for this process: a background launcher must not claim a foreground job.
    run = create_generate_run(args.molecule, settings, store, smiles=args.smiles, out=path, owner_pid=os.getpid())
    label = None if (args.json or args.no_progress) else f"xTB MD {run.config['molecule']}"
    t0 = time.perf_counter()
    ds = run_in_foreground(execute_generate, run.id, store, label, "frames", lambda p: (p.frames_done, p.frames_total))
    seconds = time.perf_counter() - t0
    g = ds.metadata.generation
    if args.json:
        print_json({"path": str(path), "spec": spec, "skipped": False, "run_id": run.id, "seconds": round(seconds, 2),
                    "n_frames": ds.n_frames, "n_atoms": ds.n_atoms,
                    **{k: g.get(k) for k in ("frame_spacing_fs", "n_trajectories", "force_autocorrelation_fs",
                                             "split_rule", "generator_version")},
                    "metadata": ds.metadata.to_dict()})
    else:
        tau = g.get("force_autocorrelation_fs")
        print(f"wrote {ds.n_frames:,} frames of {ds.formula} ({ds.metadata.level_of_theory}) to {path} in "
              f"{seconds:.1f} s; kept frames at {g['kept_frame_temperature_mean_K']:.0f} ± "
              f"{g['kept_frame_temperature_std_K']:.0f} K (target {settings.temperature_K:g} K); run {run.id}")
        print(f"{g['n_trajectories']} trajectories, frames {g['frame_spacing_fs']:g} fs apart; force autocorrelation "
              f"below 1/e after {'?' if tau is None else f'{tau:g}'} fs; split {g['split_rule']}")
        print(f"use it as --data {spec}", file=sys.stderr)
    return 0


def _outdated(path: Path) -> str | None:
    """Why an existing generated ``.npz`` must be regenerated (``None``: current or unreadable)."""
    import json
    import zipfile

    from equiv.data.generate import outdated_generation

    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("metadata.json")).get("metadata", {})
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return outdated_generation(meta.get("generation") or {})


def run_list(args: argparse.Namespace) -> int:
    entries = available_datasets(args.data_dir)
    if args.json:
        print_json({"rmd17_dir": str(rmd17_data_dir(args.data_dir)), "datasets": [e.to_dict() for e in entries]})
        return 0
    if not entries:
        print("no data sets yet: `equiv data generate --molecule ethanol` makes one in about a minute; "
              "`equiv data download rmd17` fetches rMD17")
        return 0
    print(format_table([[e.spec, e.molecule, e.level_of_theory, e.pool_size, e.test_size] for e in entries],
                       ["spec", "molecule", "level of theory", "train+val pool", "test"]))
    return 0


def run_info(args: argparse.Namespace) -> int:
    ds = load_dataset(args.spec, args.data_dir, energy_key=args.energy_key, forces_key=args.forces_key)
    out = ds.describe()
    if args.n_train is not None:
        splits = load_splits(args.spec, args.n_train, args.n_val, args.seed, args.data_dir,
                             energy_key=args.energy_key, forces_key=args.forces_key)
        out["split"] = {k: v for k, v in splits.info.items() if not k.endswith("_indices")}
    if args.json:
        print_json(out)
        return 0
    rows = [[k, v] for k, v in out.items() if not isinstance(v, dict)]
    print(format_table(rows, ["field", "value"]))
    for key in ("conversion", "generation", "split"):
        if out.get(key):
            print(f"\n{key}:")
            for k, v in out[key].items():
                print(f"  {k}: {v}")
    return 0
