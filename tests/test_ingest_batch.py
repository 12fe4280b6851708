"""A batch goes on past bad files, reports each in one line, and writes its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.ingest.batch import ingest
from pipeline.ingest.corpus import plan_corpus

GOOD = "Kota: Kota Padang\nInforman: Ibu NK\n\nP: Bagaimana koordinasinya?\nI: Sudah rutin. Tapi data belum sinkron.\n"


@pytest.fixture()
def messy_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "korpus"
    (root / "sub").mkdir(parents=True)
    (root / "good.txt").write_text(GOOD, encoding="utf-8")
    (root / "sub" / "cp1252.txt").write_bytes("P: Apa kabar?\nI: “Baik”, café.\n".encode("cp1252"))
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)
    (root / "broken.docx").write_bytes(b"PK\x03\x04 truncated")
    (root / "scan.pdf").write_bytes(b"%PDF-1.4 not really")
    (root / "foto.jpg").write_bytes(b"\xff\xd8\xff")
    (root / "copy_of_good.txt").write_text(GOOD, encoding="utf-8")
    return root


def test_bad_files_are_reported_and_the_batch_goes_on(messy_corpus: Path) -> None:
    result = ingest(plan_corpus(messy_corpus))
    report = result.report
    assert report.read == ["copy_of_good.txt", "sub/cp1252.txt"]
    failed = dict(report.failed)
    assert set(failed) == {"empty.txt", "binary.txt", "broken.docx", "scan.pdf"}
    assert all("\n" not in reason for reason in failed.values())
    skipped = dict(report.skipped)
    assert "unsupported file type '.jpg'" in skipped["foto.jpg"]
    assert skipped["good.txt"] == "duplicate of copy_of_good.txt (same content)"
    cp1252 = next(d for d in result.documents if d.path == "sub/cp1252.txt")
    assert "“Baik”, café" in cp1252.text and "encoding guessed: cp1252" in cp1252.warnings
    summary = "\n".join(report.summary_lines())
    assert "empty.txt" in summary and "read 2 file(s)" in summary


def test_size_limit_skips_huge_files(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("P: a\nI: b\n" * 2000, encoding="utf-8")
    result = ingest(plan_corpus(tmp_path), max_bytes=1000)
    assert result.report.failed and "over" in result.report.failed[0][1]


def test_reruns_are_deterministic(messy_corpus: Path) -> None:
    first = ingest(plan_corpus(messy_corpus))
    second = ingest(plan_corpus(messy_corpus))
    assert [u.to_row() for u in first.units] == [u.to_row() for u in second.units]


def test_cli_ingest_writes_documents_units_and_report(messy_corpus: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["ingest", str(messy_corpus), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "failed  empty.txt: empty file" in printed
    units = pd.read_parquet(out / "units.parquet")
    docs = pd.read_parquet(out / "documents.parquet").set_index("doc_id")
    for row in units.itertuples():
        assert docs.loc[row.doc_id, "text"][row.start:row.end] == row.text
    assert len(pd.read_csv(out / "units.csv")) == len(units)
    report = json.loads((out / "ingest_report.json").read_text(encoding="utf-8"))
    assert report["n_units"] == len(units) and len(report["failed"]) == 4
    assert not list(out.glob(".*.tmp"))


def test_cli_ingest_can_pseudonymise_and_keeps_the_map_private(tmp_path):
    from pipeline.paths import REPO_ROOT

    out = tmp_path / "run"
    assert main(["ingest", str(REPO_ROOT / "corpora" / "sample"), "--out", str(out), "--pseudonymise"]) == 0
    private = out / "private" / "pseudonyms.csv"
    assert private.is_file() and "Ibu NK" in private.read_text(encoding="utf-8")
    units = pd.read_parquet(out / "units.parquet")
    written = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*")
                      if p.is_file() and "private" not in p.parts and p.suffix != ".parquet")
    for name in ("Ibu NK", "Bapak TR"):
        assert not units["text"].str.contains(name, regex=False).any() and name not in written
    assert units["speaker"].str.startswith("Informan-").any()
    documents = pd.read_parquet(out / "documents.parquet")
    by_id = dict(zip(documents["doc_id"], documents["text"]))
    assert all(by_id[d][s:e] == t for d, s, e, t in zip(units["doc_id"], units["start"], units["end"], units["text"]))
