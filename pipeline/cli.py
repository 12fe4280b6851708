"""The ``wogcode`` command line.

Each sub-command lives in its own module under ``pipeline/commands/`` and
exposes ``register(subparsers)``; the module sets ``func`` on its parser.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import pkgutil
import sys

import pipeline
from pipeline import __version__, commands
from pipeline.gc_tuning import collect_less


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
    collect_less()  # imports and runs make objects by the million (pipeline/gc_tuning.py)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError) as exc:
        print(f"wogcode: error: {exc}", file=sys.stderr)
        return 2


def entry() -> None:
    """The console script: :func:`main`, then a quick exit.

    Every output is written and closed when ``main`` returns.  Interpreter
    tear-down after a run (freeing its objects one by one, waiting on Prefect's
    helper threads) took ~1.7 s, so the exit handlers run (Prefect stops its
    temporary API server, logging flushes) and the process ends right away.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)


if __name__ == "__main__":  # `python -m pipeline.cli` exits normally (profilers and coverage write at exit)
    sys.exit(main())
