"""``equiv molecules``: the built-in molecule library."""

from __future__ import annotations

import argparse

from equiv.cli.output import add_json_flag, format_table, print_json
from equiv.molecules import LIBRARY, load_molecule


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("molecules", help="list the built-in molecule library", description=__doc__)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = []
    for key, entry in LIBRARY.items():
        mol = load_molecule(key)
        rows.append({"name": key, "title": entry.title, "formula": mol.formula, "n_atoms": mol.n_atoms,
                     "smiles": entry.smiles, "rmd17": entry.rmd17})
    if args.json:
        print_json({"molecules": rows})
    else:
        print(format_table([[r["name"], r["formula"], r["n_atoms"], r["rmd17"] or "-"] for r in rows],
                           ["name", "formula", "atoms", "rMD17"]))
    return 0
