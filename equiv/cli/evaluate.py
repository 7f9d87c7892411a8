"""``equiv evaluate``: a model's test errors on a data set's test split.

  equiv evaluate --model pretrained:ethanol:nequip --data xtb:ethanol --json
  equiv evaluate --run 12 --data rmd17:ethanol --data-dir ../shared/data/rmd17
  equiv evaluate --checkpoint model.pt --data frames.extxyz
  equiv evaluate --model pretrained:ethanol:mlp --data xtb:ethanol --align            # in the MLP's frame
  equiv evaluate --model pretrained:ethanol:mlp --data xtb:ethanol --align --rotate 90 --axis z

The model is named as for ``equiv md`` (``pretrained:MOLECULE:MODEL``, ``run:ID``,
``checkpoint:FILE``; ``equiv.md.load_md_model``); the test split is the one training uses
(``equiv.data.load_splits``: the rMD17 test file, the last trajectory of generated data, the last
quarter of any other file) and the errors are training's (``equiv.training.evaluate_model``).

``--align`` turns every test frame onto the library geometry of the data set's molecule (Kabsch on
the heavy atoms, forces turned with it: ``equiv.data.align``), the orientation the pretrained MLP
was trained in; ``--rotate DEG`` then turns every frame (and its forces) by DEG degrees about
``--axis``. Equivariant models score the same either way; the MLP does not.

Output (``--json``: exactly these keys): ``model`` (what was evaluated), ``data`` (the data set and
its test split), ``frames`` (as stored, aligned, turned), ``energy_mae_mev`` (per molecule, meV),
``force_mae_mev_per_a`` (per Cartesian component, meV/Å), ``force_mae_zero_mev_per_a`` (what
predicting zero forces scores on the same frames) and ``n_test``.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.errors import EquivError

#: The keys of ``equiv evaluate --json``, in order.
EVALUATE_KEYS: tuple[str, ...] = ("model", "data", "frames", "energy_mae_mev", "force_mae_mev_per_a",
                                  "force_mae_zero_mev_per_a", "n_test")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="a model's test errors (meV, meV/Å) on a data set's test split",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="pretrained:MOLECULE:MODEL, run:ID or checkpoint:FILE")
    which.add_argument("--run", help="a finished training run of the run store (its id)")
    which.add_argument("--checkpoint", help="a checkpoint file (.pt)")
    p.add_argument("--data", required=True, help="rmd17:MOLECULE[:NN], xtb:MOLECULE or a file (see equiv data)")
    p.add_argument("--data-dir", help="rMD17 folder (default: $EQUIV_RMD17_DIR or the data home)")
    p.add_argument("--n-test", type=int, help="a seeded subset of the test split (default: all of it)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --n-test subset (default 0)")
    p.add_argument("--align", action="store_true",
                   help="align the test frames to the library orientation (Kabsch, heavy atoms), as the MLP was trained")
    p.add_argument("--rotate", type=float, default=0.0, help="then turn every frame by this many degrees (default 0)")
    p.add_argument("--axis", default="z", help="axis of --rotate: x, y, z, xyz or three numbers 1,0,0 (default z)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="model dtype (default float64)")
    p.add_argument("--batch-size", type=int, default=50, help="structures per evaluation batch (default 50)")
    add_json_flag(p)
    p.set_defaults(func=run_evaluate)


def _spec(args: argparse.Namespace) -> str:
    if args.run is not None:
        text = str(args.run).strip()
        if not text.isdigit():
            raise EquivError(f"--run takes a run number, not {text[:40]!r}")
        return f"run:{text}"
    if args.checkpoint:
        return f"checkpoint:{args.checkpoint}"
    return args.model


def _axis(text: str) -> np.ndarray:
    from equiv.views.rotation_settings import AXIS_PRESETS  # the rotation lab's named axes (imports torch: late)

    key = text.strip().lower()
    if key in AXIS_PRESETS:
        return np.array(AXIS_PRESETS[key])
    try:
        values = np.array([float(v) for v in key.split(",")])
    except ValueError:
        values = np.zeros(0)
    if values.shape != (3,) or not np.isfinite(values).all() or np.linalg.norm(values) < 1e-9:
        raise EquivError(f"--axis {text[:40]!r}: use x, y, z, xyz or three numbers like 1,0,0 (not all zero)")
    return values


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from equiv.data import DataSet, load_test_split
    from equiv.data.align import align_dataset
    from equiv.md.calculator import load_md_model
    from equiv.molecules import LIBRARY, load_molecule
    from equiv.o3 import axis_angle_to_matrix
    from equiv.training import evaluate_model
    from equiv.views.rotation_settings import AXIS_PRESETS

    spec = _spec(args)
    if args.batch_size < 1:
        raise EquivError(f"--batch-size must be at least 1, not {args.batch_size}")
    if not math.isfinite(args.rotate) or abs(args.rotate) > 360:
        raise EquivError(f"--rotate {args.rotate:g}: give an angle in degrees from -360 to 360")
    axis = _axis(args.axis)
    test = load_test_split(args.data, args.data_dir, n_test=args.n_test, seed=args.seed)
    if spec.startswith("untrained:"):
        raise EquivError("an untrained model has no test error worth reporting; give a trained model")
    loaded = load_md_model(spec, dtype=args.dtype, numbers=test.numbers)
    data_molecule = LIBRARY[test.metadata.molecule].rmd17 if test.metadata.molecule in LIBRARY else test.metadata.molecule
    if loaded.molecule and loaded.molecule not in (test.metadata.molecule, data_molecule):
        print(f"equiv evaluate: warning: the model was trained on {loaded.molecule}, the data are "
              f"{test.metadata.molecule}", file=sys.stderr)
    frames = "as stored"
    if args.align:
        key = test.metadata.molecule
        if key not in LIBRARY:
            raise EquivError(f"--align needs a library molecule's data; {test.name} is {key[:60]!r}")
        test = align_dataset(test, load_molecule(key))
        frames = f"aligned to the library orientation of {key} (Kabsch, heavy atoms)"
    if args.rotate:
        R = axis_angle_to_matrix(torch.tensor(axis), math.radians(args.rotate)).numpy()  # [3, 3]
        test = DataSet(test.numbers, test.positions @ R.T, test.energies, test.forces @ R.T, test.metadata)
        label = next((k for k, v in AXIS_PRESETS.items() if np.allclose(axis / np.linalg.norm(axis), np.array(v) / np.linalg.norm(v))),
                     ",".join(f"{v:g}" for v in axis))
        frames = ("aligned, then" if args.align else "as stored, then") + f" turned {args.rotate:g}° about {label}"
    metrics = evaluate_model(loaded.model, test, batch_size=args.batch_size)
    split = dict(test.metadata.split)
    out = {
        "model": loaded.label,
        "data": f"{test.name} ({test.metadata.level_of_theory}), test split: {split.get('protocol', 'test')}",
        "frames": frames,
        **{k: metrics[k] for k in EVALUATE_KEYS[3:]},
    }
    assert tuple(out) == EVALUATE_KEYS
    if args.json:
        print_json(out)
        return 0
    print(f"{out['model']} on {out['data']}; frames {frames}")
    print(format_table([[f"{out['energy_mae_mev']:.2f}", f"{out['force_mae_mev_per_a']:.1f}",
                         f"{out['force_mae_zero_mev_per_a']:.1f}", out["n_test"]]],
                       ["energy MAE (meV)", "force MAE (meV/Å)", "zero-force MAE (meV/Å)", "test frames"]))
    return 0
