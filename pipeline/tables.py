"""Records <-> DataFrames, and atomic table writes (parquet, CSV, JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.atomic import write_text, write_with
from pipeline.schema import Document, Unit


def units_frame(units: Iterable[Unit]) -> pd.DataFrame:
    """One row per unit, columns in schema order."""
    rows = [u.to_row() for u in units]
    columns = list(Unit.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def documents_frame(documents: Iterable[Document]) -> pd.DataFrame:
    """One row per document, metadata fields as columns."""
    rows = [d.to_row() for d in documents]
    return pd.DataFrame(rows)


def write_table(frame: pd.DataFrame, out_dir: Path, name: str, csv: bool = True) -> list[Path]:
    """Write ``name.parquet`` (and ``name.csv``) atomically; returns the paths written."""
    parquet = out_dir / f"{name}.parquet"
    write_with(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
    written = [parquet]
    if csv:
        target = out_dir / f"{name}.csv"
        write_with(target, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8"))
        written.append(target)
    return written


def write_json(obj: Any, target: Path) -> Path:
    """Write pretty, key-sorted UTF-8 JSON atomically (deterministic across runs)."""
    write_text(target, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return target
