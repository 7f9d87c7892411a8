"""The ``equiv`` command line (also ``python -m equiv``).

Each subcommand lives in its own module with ``register(subparsers)``; add a module to
``COMMAND_MODULES`` to add a command. Every subcommand has ``--help`` and ``--json`` (one JSON object
on stdout). Errors a person can act on (:class:`equiv.errors.EquivError`) print one line and exit 2;
with ``--json`` they print ``{"error": "..."}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Sequence

from equiv import __version__
from equiv.errors import EquivError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Modules under ``equiv.cli`` that each add one subcommand.
COMMAND_MODULES: list[str] = [
    "decompose",
    "molecules",
    "equivariance",
    "data",
    "runs",
    "train",
    "sweep",
    "md",
    "evaluate",
    "playground",
]


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="equiv",
        description="Explore E(3)-equivariant neural networks on molecules.",
    )
    parser.add_argument("--version", action="version", version=f"equiv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = {}
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"equiv.cli.{name}")
        module.register(sub)
        modules[name] = module
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser, modules = build_parser()
    if args_list and args_list[0] in modules and hasattr(modules[args_list[0]], "preprocess_argv"):
        args_list = [args_list[0], *modules[args_list[0]].preprocess_argv(args_list[1:])]
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EquivError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"error": str(exc)}))
        else:
            print(f"equiv {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0
