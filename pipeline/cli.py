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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Collect the command modules into one parser: only ``command``'s when it names one.

    A command's module imports what its parser needs; leaving out the others'
    imports (pandas among them) lets ``wogcode run`` start Prefect's server
    ~0.4 s sooner.
    """
    parser = argparse.ArgumentParser(prog="wogcode", description=pipeline.__doc__)
    parser.add_argument("--version", action="version", version=f"wogcode {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__))
    for name in [command] if command in names else names:
        importlib.import_module(f"pipeline.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn expected errors into one-line messages."""
    collect_less()  # imports and runs make objects by the million (pipeline/gc_tuning.py)
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
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
