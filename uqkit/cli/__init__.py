"""The ``uqkit`` command: ``uqkit demo``, ``uqkit report``, ``uqkit search``.

Each subcommand is one module of this folder with ``register(subparsers)``; the heavy imports
happen only when the subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that add a subcommand; each defines ``register(subparsers)``.
_COMMAND_MODULES = ("uqkit.cli._demo", "uqkit.cli._report", "uqkit.cli._search")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="uqkit",
        description="Uncertainty quantification on PyTorch: train, search and report.",
    )
    parser.add_argument("--version", action="version", version=_version())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def _version() -> str:
    from uqkit import __version__

    return f"uqkit {__version__}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``uqkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    from uqkit.exceptions import UQKitError

    try:
        return int(args.run(args) or 0)
    except UQKitError as err:
        # a problem with what the user passed: one line that names it and the fix, no traceback
        message = str(err).replace("resume=True", "resume=True (--resume)")
        print(f"uqkit {args.command}: error: {message}", file=sys.stderr)
        return 2
