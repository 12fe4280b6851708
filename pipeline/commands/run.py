"""``wogcode run CORPUS --codebook ID --out DIR``: the main job, end to end."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` sub-command."""
    parser = sub.add_parser("run", help="ingest, code, aggregate and export a corpus (the main job)")
    parser.add_argument("corpus", type=Path, help="a folder of transcripts/theses (walked recursively)")
    parser.add_argument("--codebook", required=True, help="codebook id (perry6, tamtanus, sudrajat, mpp_factors) or file")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--model", default="default", help="'default' (shipped model), 'lexicon', or a model folder")
    parser.add_argument("--max-mb", type=float, default=100.0, help="skip files larger than this (MB)")
    parser.set_defaults(func=run)


def summary_lines(codings: pd.DataFrame, timings: dict[str, float]) -> list[str]:
    """Coded share per code and time per stage, for the terminal."""
    total = max(len(codings), 1)
    counts = codings["code"].value_counts()
    lines = [f"  {code:<28} {n:>6}  {n / total:6.1%}" for code, n in sorted(counts.items())]
    lines.append("time: " + ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in timings.items()))
    return lines


def run(args: argparse.Namespace) -> int:
    """Run the flow, then print what was read, how units were coded, and where the report is."""
    from pipeline.flows.run import run_flow

    result = run_flow(str(args.corpus), args.codebook, str(args.out), args.model, int(args.max_mb * 2**20))
    for line in result.report_lines:
        print(line)
    print(f"{len(result.documents)} document(s), {len(result.units)} unit(s), coded with {args.codebook}:")
    for line in summary_lines(result.codings, result.timings):
        print(line)
    print(f"report: {(result.out / 'report.html').resolve()}")
    return 0
