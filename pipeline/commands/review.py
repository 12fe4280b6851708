"""``wogcode review``: review auto-coded units in a spreadsheet instead of a notebook.

    wogcode review export RUN --n 50 --out sample.csv    # units to check, least certain first
    (fill in new_code / new_valence in Excel or LibreOffice, save as CSV)
    wogcode review import RUN sample.csv --reviewer NAME # decisions -> RUN/reviews.csv
    wogcode review status RUN                            # agreement between machine and reviewers
    wogcode review training RUN --out corrections.csv    # what `wogcode train --reviews` reads
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``review`` sub-command and its actions."""
    from pipeline.review import ORDERS

    parser = sub.add_parser("review", help="export units for review, import the decisions, show agreement")
    actions = parser.add_subparsers(dest="action", required=True)

    export = actions.add_parser("export", help="write a sample of units to check as CSV (for Excel)")
    export.add_argument("run_dir", type=Path, help="a run folder written by `wogcode run`")
    export.add_argument("--n", type=int, default=50, help="units in the sample (default 50)")
    export.add_argument("--out", type=Path, required=True, help="CSV to write")
    export.add_argument("--order", choices=ORDERS, default="least_certain",
                        help="least_certain (default), most_certain, document, or random (unbiased agreement)")
    export.add_argument("--seed", type=int, default=0, help="seed of --order random")
    for name in ("code", "valence", "informant", "agency", "city"):
        export.add_argument(f"--{name}", action="append", help=f"only units with this {name} (repeatable)")
    export.add_argument("--min-score", type=float, default=0.0, help="only units scored at least this")
    export.add_argument("--max-score", type=float, default=1.0, help="only units scored at most this")
    export.add_argument("--include-reviewed", action="store_true", help="also units that already have a decision")
    export.set_defaults(func=run_export)

    imported = actions.add_parser("import", help="record the filled-in rows of an exported sample")
    imported.add_argument("run_dir", type=Path, help="the run folder the sample came from")
    imported.add_argument("sample", type=Path, help="the edited CSV (comma, semicolon or tab separated)")
    imported.add_argument("--reviewer", required=True, help="who made the decisions (saved with each one)")
    imported.set_defaults(func=run_import)

    status = actions.add_parser("status", help="decisions so far and agreement between machine and reviewers")
    status.add_argument("run_dir", type=Path, help="a run folder")
    status.set_defaults(func=run_status)

    training = actions.add_parser("training", help="write the decisions as `wogcode train --reviews` input")
    training.add_argument("run_dir", type=Path, help="a run folder with reviews.csv")
    training.add_argument("--out", type=Path, required=True, help="CSV to write (unit_id, code, valence, text)")
    training.set_defaults(func=run_training)


def run_export(args: argparse.Namespace) -> int:
    """Write the sample and say what to do with it."""
    from pipeline.review import ReviewStore, export_sample_csv, load_run, review_queue

    if args.n < 1:
        raise ValueError(f"--n must be at least 1, not {args.n}")
    run = load_run(args.run_dir)
    exclude = () if args.include_reviewed else ReviewStore(run.folder).reviewed_ids()
    queue = review_queue(
        run.units, code=args.code, valence=args.valence, informant=args.informant, agency=args.agency,
        city=args.city, score_band=(args.min_score, args.max_score), order=args.order, exclude=exclude,
        seed=args.seed,
    )
    export_sample_csv(queue.head(args.n), args.out, run.units)
    print(f"{min(args.n, len(queue))} of {len(queue)} unit(s) to review -> {args.out}")
    print("fill in new_code (a code, uncoded, accept or reject) and, if it changes, new_valence; then")
    print(f"  wogcode review import {args.run_dir} {args.out} --reviewer NAME")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Record the decisions and print the agreement so far."""
    from pipeline.review import ReviewStore, agreement, agreement_line, import_reviewed_csv, load_run

    store = ReviewStore(args.run_dir)
    recorded = import_reviewed_csv(args.sample, store, args.reviewer)
    print(f"{recorded} decision(s) recorded -> {store.path}")
    print(agreement_line(agreement(load_run(args.run_dir).units, store.decisions())))
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Counts per action, agreement, and the confusion table."""
    from pipeline.review import ReviewStore, agreement, agreement_line, load_run

    run = load_run(args.run_dir)
    decisions = ReviewStore(run.folder).decisions()
    counts = decisions["action"].value_counts()
    print(f"{len(decisions)} unit(s) reviewed: " + ", ".join(f"{a} {int(counts.get(a, 0))}" for a in
                                                             ("accept", "reject", "recode")))
    result = agreement(run.units, decisions)
    print(agreement_line(result))
    if result["n"]:
        print("rows: reviewer, columns: machine")
        print(result["confusion"].to_string())
    return 0


def run_training(args: argparse.Namespace) -> int:
    """Write the training CSV."""
    from pipeline.review import ReviewStore, load_run, write_training_csv

    run = load_run(args.run_dir)
    decisions = ReviewStore(run.folder).decisions()
    write_training_csv(run.units, decisions, args.out)
    print(f"{len(decisions)} reviewed unit(s) -> {args.out}")
    print(f"  wogcode train --codebook {run.codebook.id} --reviews {args.out} --out MODEL_DIR")
    return 0
