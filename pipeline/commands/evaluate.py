"""``wogcode evaluate GOLD.jsonl [--model default|lexicon|DIR] [--json OUT] [--errors]``: score a model on gold.

Without ``--model`` each record is coded by the shipped default model of its
framework (``models/<framework>/``), as ``wogcode run`` would code it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.classify.registry import BUILTIN

if TYPE_CHECKING:  # scikit-learn's metrics take 0.8 s to import: only `evaluate` itself pays for them
    from pipeline.evaluate import Evaluation, Scores


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = sub.add_parser("evaluate", help="score a model against a gold JSONL file")
    parser.add_argument("gold", type=Path, help="gold records, one JSON object per line")
    parser.add_argument(
        "--model", default="default",
        help=f"a model name ({', '.join(BUILTIN)}) or a model folder (default: the shipped model of each framework)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the scores as JSON")
    parser.add_argument("--errors", action="store_true", help="list every record the model got wrong")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Code the gold records, print the scores, optionally write them as JSON."""
    from pipeline.evaluate import coder_factory, evaluate
    from pipeline.gold import read_gold
    from pipeline.tables import write_json

    result = evaluate(read_gold(args.gold), coder_factory(args.model))
    print("\n".join(report_lines(result, show_errors=args.errors)))
    if args.json:
        write_json(result.to_dict(), args.json)
        print(f"scores -> {args.json}")
    return 0


def report_lines(result: Evaluation, show_errors: bool = False) -> list[str]:
    """The printed report: each framework, then the overall figures."""
    lines: list[str] = []
    for framework, scores in result.per_framework.items():
        lines += [f"== {framework}  ({result.models[framework]})", *score_lines(scores), ""]
        lines += confusion_lines(scores) + [""]
    for framework, reason in result.skipped.items():
        lines.append(f"== {framework}: skipped ({reason})")
    lines += ["== overall", *summary_lines(result.overall)]
    if show_errors:
        lines += ["", "== errors"] + error_lines(result)
    return lines


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def summary_lines(scores: Scores) -> list[str]:
    """n, accuracy, macro-F1, kappa, alpha, valence accuracy."""
    return [
        f"n={scores.n}  accuracy={_fmt(scores.accuracy)}  macro-F1={_fmt(scores.macro_f1)}  "
        f"kappa={_fmt(scores.kappa)}  alpha={_fmt(scores.alpha)}  valence accuracy={_fmt(scores.valence_accuracy)}"
    ]


def score_lines(scores: Scores) -> list[str]:
    """The summary, then one row per code."""
    width = max(len(label) for label in scores.labels) + 2
    lines = summary_lines(scores)
    lines.append(f"{'code':<{width}}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}")
    for label in scores.labels:
        row = scores.per_code[label]
        lines.append(
            f"{label:<{width}}{row['precision']:>10.3f}{row['recall']:>8.3f}{row['f1']:>8.3f}{row['support']:>9d}"
        )
    return lines


def confusion_lines(scores: Scores) -> list[str]:
    """The confusion matrix: rows gold, columns predicted (codes numbered to keep columns narrow)."""
    width = max(len(label) for label in scores.labels) + 6
    header = " " * width + "".join(f"{i:>5}" for i in range(len(scores.labels)))
    lines = ["confusion (rows: gold, columns: predicted)", header]
    for i, (label, row) in enumerate(zip(scores.labels, scores.confusion)):
        lines.append(f"{i:>3}  {label:<{width - 5}}" + "".join(f"{count:>5}" for count in row))
    return lines


def error_lines(result: Evaluation) -> list[str]:
    """One block per record whose code or valence is wrong."""
    lines = []
    for row in result.predictions:
        code_ok = row["gold"] == row["predicted"]
        valence_ok = row["gold_valence"] == row["predicted_valence"]
        if code_ok and valence_ok:
            continue
        lines.append(
            f"{row['id']} [{row['framework']}] code {row['gold']} -> {row['predicted']}"
            f"{'' if code_ok else ' (wrong)'}; valence {row['gold_valence']} -> {row['predicted_valence']}"
            f"{'' if valence_ok else ' (wrong)'}"
        )
        lines.append(f"    {row['reason']}")
    return lines or ["none"]
