"""``equiv equivariance``: measure a model's equivariance errors on a molecule."""

from __future__ import annotations

import argparse

from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.molecules import LIBRARY, load_molecule

#: Model presets offered in --help (tests check this matches equiv.models.PRESETS; torch is
#: imported only when the command runs, so every `equiv` command starts fast).
MODEL_NAMES = ["mlp", "gvp", "nequip", "nequip-l0", "nequip-l1", "nequip-l2", "nequip-l3", "nequip-paper"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "equivariance",
        help="rotate, translate, permute (and reflect) a molecule and report each output's equivariance error",
        description=(
            "Runs the model on N random rotations, translations and atom permutations of the molecule "
            "(and improper rotations with --reflections) and reports, for energy, forces and "
            "atom_vectors, the maximum relative error ‖f(g·x) − D(g) f(x)‖ / ‖f(x)‖, plus the "
            "largest energy change in meV."
        ),
    )
    p.add_argument("--model", default="nequip", metavar="NAME",
                   help=f"model preset, untrained unless --checkpoint: {', '.join(MODEL_NAMES)} (default nequip)")
    p.add_argument("--checkpoint", help="a checkpoint file to test instead of an untrained preset")
    p.add_argument("--molecule", default="aspirin", choices=list(LIBRARY), help="library molecule")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--trials", type=int, default=5, help="random transformations of each kind")
    p.add_argument("--reflections", action="store_true", help="also test improper rotations")
    p.add_argument("--seed", type=int, default=0, help="seed of the random transformations and the untrained weights")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from equiv.models import build_model, load_checkpoint
    from equiv.models.equivariance import OUTPUTS, equivariance_report

    torch.backends.cuda.matmul.allow_tf32 = False
    molecule = load_molecule(args.molecule)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    if args.checkpoint:
        model = load_checkpoint(args.checkpoint, dtype=dtype).model
    else:
        model = build_model(args.model, dtype=dtype, seed=args.seed, numbers=molecule.numbers)
    report = equivariance_report(model, molecule, trials=max(1, args.trials), reflections=args.reflections, seed=args.seed)
    report["model"] = args.checkpoint or args.model
    if args.json:
        print_json(report)
        return 0
    kinds = list(report["energy"])
    rows = [[out, *(f"{report[out][k]:.2e}" for k in kinds)] for out in OUTPUTS]
    rows.append(["ΔE (meV)", *(f"{report['energy_change_mev'][k]:.2e}" for k in kinds)])
    print(f"{report['model']} on {molecule.name}, {report['dtype']}, {report['trials']} trials: max relative error")
    print(format_table(rows, ["output", *kinds]))
    return 0
