"""``equiv decompose A B``: the outer product a bᵀ split into its l = 0, 1, 2 parts."""

from __future__ import annotations

import argparse
import re

from equiv.cli.output import add_json_flag, print_json
from equiv.links import LinkError, Vector

_VECTOR = re.compile(r"^\s*[-+]?[\d.]")


def preprocess_argv(argv: list[str]) -> list[str]:
    """Let vectors start with a minus sign (``-1,0,2``) without argparse taking them for options."""
    vectors = [a for a in argv if _VECTOR.match(a) and "," in a]
    others = [a for a in argv if a not in vectors]
    return [*others, "--", *vectors] if vectors else argv


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decompose",
        help="split the outer product a bᵀ into trace (l=0), antisymmetric (l=1), symmetric traceless (l=2)",
        description=(
            "Outer product a bᵀ of two polar vectors and its irreducible parts: trace (a·b)/3·I (0e), "
            "antisymmetric (a bᵀ − b aᵀ)/2 (1e, the cross product), symmetric traceless "
            "(a bᵀ + b aᵀ)/2 − (a·b)/3·I (2e); each as a 3×3 matrix and as 2l+1 spherical components "
            "in e3nn's basis and normalisation."
        ),
    )
    p.add_argument("a", help="first vector, e.g. 1,2,3")
    p.add_argument("b", help="second vector, e.g. 4,5,6")
    add_json_flag(p)
    p.set_defaults(func=run)


def _vector(name: str, text: str) -> list[float]:
    try:
        return list(Vector(3).parse(text))  # the rule links and the irreps lab's boxes use
    except LinkError as exc:
        raise LinkError(f"{name} = {text[:60]!r}: give {exc}") from None


def run(args: argparse.Namespace) -> int:
    from equiv.o3 import decompose_outer_product  # torch: imported only when the command runs

    dec = decompose_outer_product(_vector("a", args.a), _vector("b", args.b))
    if args.json:
        print_json(dec.to_dict())
        return 0
    print(f"a = {dec.a.tolist()}   b = {dec.b.tolist()}")
    blocks = [("outer a bᵀ", None, dec.outer, None)] + [
        (f"{p.name} (l={p.irrep.l}, {p.irrep})", p.irrep, p.matrix, p.components) for p in dec.parts
    ]
    for title, _, M, comps in blocks:
        print(f"\n{title}")
        for row in M.tolist():
            print("  [" + " ".join(f"{v:10.5f}" for v in row) + " ]")  # fixed width: the columns line up
        if comps is not None:
            print("  components: [" + " ".join(f"{v:10.5f}" for v in comps.tolist()) + " ]")
    print(f"\nparts sum back to a bᵀ: max error {dec.reconstruction_error():.1e}")
    return 0
