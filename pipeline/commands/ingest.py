"""``wogcode ingest CORPUS --out DIR``: read a corpus into documents + units."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` sub-command."""
    parser = sub.add_parser("ingest", help="read a folder of transcripts/theses into documents + units")
    parser.add_argument("corpus", type=Path, help="a folder (walked recursively) or a single file")
    parser.add_argument("--out", type=Path, required=True, help="run folder to write")
    parser.add_argument("--max-mb", type=float, default=100.0, help="skip files larger than this (MB)")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="replace names and identifiers before writing (map: OUT/private/pseudonyms.csv)")
    parser.add_argument("--pseudonym-map", type=Path, help="the pseudonym map to reuse and update (implies --pseudonymise)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the ingest flow and print the batch summary."""
    from pipeline.flows.ingest import ingest_flow
    from pipeline.privacy import default_map_path

    map_path = args.pseudonym_map or (default_map_path(args.out) if args.pseudonymise else None)
    result = ingest_flow(str(args.corpus), str(args.out), int(args.max_mb * 2**20),
                         str(map_path) if map_path else None)
    for line in result.report.summary_lines():
        print(line)
    print(f"{len(result.documents)} document(s), {len(result.units)} unit(s) -> {args.out}")
    return 0
