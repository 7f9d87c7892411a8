"""``equiv md``: molecular dynamics with a model, and whether it holds.

  equiv md --model pretrained:ethanol:nequip --molecule ethanol --ensemble nve --temperature 300 \\
      --timestep 0.5 --steps 2000 --json
  equiv md --run 12 --molecule ethanol --ensemble langevin
  equiv md --checkpoint model.pt --smiles "CCO"

Writes an extended XYZ trajectory (``--out``, default ``<data home>/md/run-<id>.extxyz``) and
prints steps, steps per second, the NVE energy drift (meV/atom/ps), the mean temperature, the
stability verdict (``stable``, ``unstable_at_fs``: see the rule in ``equiv.md.stability``) and,
when a GFN2-xTB reference MD is available (``--reference auto``: computed when short, cached in
the data home), ``hr_error``: ∫|h(r) − h_xTB(r)| dr of the interatomic distance distributions.
"""

from __future__ import annotations

import argparse
import os
import sys

from equiv.cli.output import add_json_flag, print_json
from equiv.cli.progress import run_in_foreground
from equiv.errors import EquivError
from equiv.md.settings import ENSEMBLES, MAX_STEPS, REFERENCE_MODES, MDConfig
from equiv.runs import RunStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("md", help="molecular dynamics with a model: stability, drift, h(r)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="pretrained:MOLECULE:MODEL (default pretrained:<molecule>:nequip), "
                                       "run:ID, checkpoint:FILE or untrained:PRESET")
    which.add_argument("--run", type=int, help="a finished training run of the run store")
    which.add_argument("--checkpoint", help="a checkpoint file (.pt)")
    mol = p.add_mutually_exclusive_group()
    mol.add_argument("--molecule", help="a library molecule (default ethanol)")
    mol.add_argument("--smiles", help="a SMILES string (RDKit embedding; no model was trained on it)")
    d = MDConfig()
    p.add_argument("--ensemble", choices=ENSEMBLES, default=d.ensemble, help=f"default {d.ensemble}")
    p.add_argument("--temperature", type=float, default=d.temperature_K, help=f"K (default {d.temperature_K:g})")
    p.add_argument("--timestep", type=float, default=d.timestep_fs, help=f"fs (default {d.timestep_fs:g})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"MD steps (default {d.steps}, at most {MAX_STEPS:,})")
    p.add_argument("--friction", type=float, default=d.friction_per_fs, help="Langevin friction, 1/fs (default 0.01)")
    p.add_argument("--seed", type=int, default=d.seed, help="velocities and thermostat noise (default 0)")
    p.add_argument("--stride", type=int, default=0, help="steps between kept frames (default: about 200 frames)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=d.dtype, help=f"model dtype (default {d.dtype})")
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads (default 1)")
    p.add_argument("--reference", choices=REFERENCE_MODES, default="auto",
                   help="xTB reference MD for h(r): auto (when short, or cached), always, cache, none")
    p.add_argument("--out", help="trajectory file (.extxyz)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_flag(p)
    p.set_defaults(func=run_md_command)


def _model_spec(args: argparse.Namespace, molecule: str | None) -> str:
    if args.run is not None:
        return f"run:{args.run}"
    if args.checkpoint:
        return f"checkpoint:{args.checkpoint}"
    if args.model:
        return args.model
    if molecule is None:
        raise EquivError("with --smiles give a model (--model, --run or --checkpoint)")
    return f"pretrained:{molecule}:nequip"


def run_md_command(args: argparse.Namespace) -> int:
    from equiv.jobs.md import create_md_run, execute_md

    molecule = None if args.smiles else (args.molecule or "ethanol")
    if args.out and not args.out.lower().endswith((".extxyz", ".xyz")):
        raise EquivError(f"--out {args.out}: the trajectory is written as extended XYZ (.extxyz)")
    config = MDConfig(model=_model_spec(args, molecule), molecule=molecule, smiles=args.smiles,
                      ensemble=args.ensemble, temperature_K=args.temperature, timestep_fs=args.timestep,
                      steps=args.steps, friction_per_fs=args.friction, seed=args.seed, stride=args.stride,
                      dtype=args.dtype, threads=args.threads)
    from equiv.md.simulate import prepare_md

    # Check the model and molecule before a run record exists: bad input leaves no failed run behind.
    loaded = prepare_md(config)
    if not loaded.spec.trained or args.smiles:
        print(f"equiv md: warning: {'an untrained model' if not loaded.spec.trained else 'a SMILES molecule'}: "
              "the forces are not trained for this molecule; expect the MD to fail", file=sys.stderr)
    store = RunStore()
    run = create_md_run(config, store, reference=args.reference, out=args.out, owner_pid=os.getpid())
    label = None if (args.json or args.no_progress) else f"MD {config.molecule or config.smiles}"
    outcome = run_in_foreground(execute_md, run.id, store, label, "steps", lambda p: (p.steps_done, p.steps_total))
    summary = {**outcome.summary, "run_id": run.id}
    if args.json:
        print_json(summary)
        return 0
    verdict = "stable" if summary["stable"] else f"UNSTABLE at {summary['unstable_at_fs']:g} fs ({summary['unstable_reason']})"
    print(f"{summary['steps']:,} steps of {summary['ensemble']} MD ({summary['simulated_fs'] / 1000:.2f} ps) in "
          f"{summary['seconds']:.1f} s ({summary['steps_per_s']:.0f} steps/s): {verdict}")
    print(f"mean temperature {summary['temperature_mean_k']:.0f} K (target {config.temperature_K:g} K)")
    if summary["energy_drift_mev_per_atom_per_ps"] is not None:
        print(f"energy drift {summary['energy_drift_mev_per_atom_per_ps']:+.3f} meV/atom/ps")
    if summary["hr_error"] is not None:
        print(f"h(r) error against GFN2-xTB MD: {summary['hr_error']:.4f}")
    else:
        print("h(r) error: no xTB reference (use --reference always to compute one)")
    for w in summary["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"trajectory {summary['trajectory']} (run {run.id})")
    return 0
