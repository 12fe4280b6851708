"""The ``wogcode`` command line.

Each sub-command lives in its own module under ``pipeline/commands/`` and
exposes ``register(subparsers)``; the module sets ``func`` on its parser.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import pipeline
from pipeline import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    """Collect every command module into one parser."""
    parser = argparse.ArgumentParser(prog="wogcode", description=pipeline.__doc__)
    parser.add_argument("--version", action="version", version=f"wogcode {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"pipeline.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn expected errors into one-line messages."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"wogcode: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
