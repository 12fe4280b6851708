"""``wogcode train --codebook ID [--gold FILE ...] [--theses DIR ...] [--reviews CSV] [--cv study] --out DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    parser = sub.add_parser("train", help="train an embedding+lexicon model folder for a codebook")
    parser.add_argument("--codebook", required=True, help="codebook id or file (perry6, tamtanus, ...)")
    parser.add_argument("--gold", type=Path, action="append", default=[],
                        help="gold JSONL; records of this codebook are training data (repeatable)")
    parser.add_argument(
        "--theses", type=Path, action="append", default=[],
        help="folder of coded theses; units are labelled by their dimension headings (repeatable)",
    )
    parser.add_argument("--reviews", type=Path, help="reviewed corrections CSV: unit_id, code, valence, text")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="replace names and identifiers in the training texts the model folder keeps")
    parser.add_argument("--cv", choices=["study", "none"], default="study", help="leave-one-study-out CV (default)")
    parser.add_argument("--created", help="date written to the manifest (default: $SOURCE_DATE_EPOCH or today)")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write (e.g. models/perry6)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Assemble the data, cross-validate, train, save, and print what happened."""
    from pipeline.codebook import load_codebook
    from pipeline.persist import save_model
    from pipeline.train import assemble, pseudonymise_examples, train

    book = load_codebook(args.codebook)
    examples, lines = assemble(book, gold=args.gold, theses=args.theses, reviews=args.reviews)
    if args.pseudonymise:
        examples = pseudonymise_examples(examples)
        lines.append("training texts pseudonymised (names -> [NAMA], identifiers -> placeholders)")
    print("\n".join(lines))
    result = train(book, examples, cv=None if args.cv == "none" else args.cv)
    print("\n".join(result.report))
    info = result.training_info() | {"pseudonymised": bool(args.pseudonymise)}
    save_model(result.coder, args.out, info, created=args.created)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"model -> {args.out} ({size / 1024:.0f} KiB)")
    return 0
