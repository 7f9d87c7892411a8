"""``equiv playground "cross(a, b)"``: is a function of vectors invariant, equivariant, or neither?"""

from __future__ import annotations

import argparse

from equiv.cli.output import add_json_flag, format_table, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "playground",
        help="test a function of vectors a, b and positions r for invariance / equivariance",
        description=(
            "Apply random rotations, the inversion, a reflection and translations to a function of two polar "
            "vectors a, b and positions r, and say whether it is invariant, equivariant (with the output's "
            "irreps) or neither, with the measured errors. FUNCTION is a formula (a, b, r, numbers, + - * / @ **, "
            "indexing, dot, cross, outer, norm, sigmoid/σ, tanh, exp, relu, sum, mean, transpose, gram, trace) or "
            "the key of a built-in function (--list shows them)."
        ),
    )
    p.add_argument("function", nargs="?", help='e.g. "cross(a, b)" or a built-in key such as sigma_r')
    p.add_argument("--list", action="store_true", help="list the built-in functions and their verdicts")
    p.add_argument("--molecule", help="take r from a library molecule's positions (default: 5 random points)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs and transformations (default 0)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equiv.errors import EquivError
    from equiv.playground import BUILTINS, BUILTINS_BY_KEY, judge  # torch: imported only when the command runs

    if args.list:
        rows = [(f.key, f.label, f.expression, f.expected, f.irreps or "") for f in BUILTINS]
        if args.json:
            print_json({"functions": [dict(zip(("key", "label", "expression", "verdict", "irreps"), r)) for r in rows]})
        else:
            print(format_table(rows, ["key", "function", "formula", "verdict", "irreps"]))
        return 0
    if not args.function:
        raise EquivError("give a function, e.g. equiv playground \"cross(a, b)\" (or --list)")
    text = BUILTINS_BY_KEY[args.function].expression if args.function in BUILTINS_BY_KEY else args.function
    inputs = None
    if args.molecule:
        import torch

        from equiv.molecules import load_molecule
        from equiv.playground import default_inputs

        a, b, _ = default_inputs(args.seed)
        inputs = (a, b, torch.tensor(load_molecule(args.molecule).positions, dtype=torch.float64))
    verdict = judge(text, inputs, seed=args.seed)
    if args.json:
        print_json(verdict.to_dict())
        return 0
    irreps = f" ({verdict.irreps})" if verdict.irreps else ""
    print(f"f = {verdict.expression}   output shape {list(verdict.output_shape)}")
    print(f"verdict: {verdict.kind}{irreps}; translation: {verdict.translation}")
    print(verdict.reason)
    rows = [(e.trial, f"{e.invariant:.1e}", "" if e.equivariant is None else f"{e.equivariant:.1e}") for e in verdict.errors]
    print(format_table(rows, ["trial", "|f(gx) − f(x)|", "|f(gx) − D(g) f(x)|"]))
    print(f"translation error {verdict.translation_error:.1e}   (relative errors; tolerance 1e-9)")
    return 0
