"""``wogcode code RUN_DIR --codebook ID [--model lexicon|default|DIR] [--out DIR]``: code a run's units.

Reads ``RUN_DIR/units.parquet`` (written by ``wogcode ingest``), writes
``codings.parquet`` (one row per unit, ``uncoded`` included) and
``coded_units.csv`` (each unit with its coding) to ``--out`` (default:
RUN_DIR), each file atomically, and prints how many units got each code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from pipeline.atomic import write_with
from pipeline.classify.base import code_units
from pipeline.classify.registry import BUILTIN, load_coder
from pipeline.schema import UNCODED, VALENCES
from pipeline.tables import write_table


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``code`` sub-command."""
    parser = sub.add_parser("code", help="code the units of an ingest run against a codebook")
    parser.add_argument("run_dir", type=Path, help="an ingest run folder (with units.parquet)")
    parser.add_argument("--codebook", required=True, help="a codebook id (perry6, tamtanus, ...) or a codebook file")
    parser.add_argument(
        "--model", default="lexicon", help=f"a model name ({', '.join(BUILTIN)}) or a model folder (default: lexicon)"
    )
    parser.add_argument("--out", type=Path, help="folder to write to (default: RUN_DIR)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Code every unit, write the tables, print the counts per code."""
    units = read_units(args.run_dir)
    coder = load_coder(args.model, args.codebook)
    codings = code_units(coder, units)
    out = args.out or args.run_dir
    write_coding_tables(units, codings, out)
    print(f"{len(units)} unit(s) coded with {coder.model_id} -> {out}")
    print("\n".join(count_lines(codings, coder.codebook.code_ids)))
    return 0


def read_units(run_dir: Path) -> pd.DataFrame:
    """``units.parquet`` of a run folder; a clear error when it is missing or lacks columns."""
    path = run_dir / "units.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (run `wogcode ingest CORPUS --out {run_dir}` first)")
    units = pd.read_parquet(path)
    missing = [column for column in ("unit_id", "text", "kind") if column not in units.columns]
    if missing:
        raise ValueError(f"{path}: column '{missing[0]}' is missing; is this an ingest run folder?")
    return units


def write_coding_tables(units: pd.DataFrame, codings: pd.DataFrame, out: Path) -> list[Path]:
    """``codings.parquet`` and ``coded_units.csv`` (units left-joined with their coding)."""
    out.mkdir(parents=True, exist_ok=True)
    written = write_table(codings, out, "codings", csv=False)
    coded = units.merge(codings, on="unit_id", how="left", validate="one_to_one")
    target = out / "coded_units.csv"
    write_with(target, lambda tmp: coded.to_csv(tmp, index=False, encoding="utf-8"))
    return [*written, target]


def count_lines(codings: pd.DataFrame, code_ids: list[str]) -> list[str]:
    """A table: units per code (codebook order, ``uncoded`` last) and their valences."""
    width = max(len(code) for code in [*code_ids, UNCODED, "code"]) + 2
    lines = [f"{'code':<{width}}{'units':>7}" + "".join(f"{v:>10}" for v in VALENCES)]
    for code in [*code_ids, UNCODED]:
        rows = codings[codings["code"] == code]
        valences = rows["valence"].value_counts()
        lines.append(
            f"{code:<{width}}{len(rows):>7}" + "".join(f"{int(valences.get(v, 0)):>10}" for v in VALENCES)
        )
    return lines
