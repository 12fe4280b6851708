"""Ingest a corpus: read every file, segment it, and report what was read, skipped and why."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.corpus import CorpusPlan
from pipeline.ingest.document import ParsedDocument, parse_document, structure_text
from pipeline.ingest.readers import DEFAULT_MAX_BYTES
from pipeline.schema import Document, IngestError, IngestReport, Unit


@dataclass
class IngestResult:
    """Documents and units of a corpus, plus the report."""

    documents: list[Document] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    report: IngestReport = field(default_factory=IngestReport)


def ingest_file(path: Path, plan: CorpusPlan, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Document, list[Unit]]:
    """Read and segment one file of a plan; raises IngestError when it cannot be read."""
    doc, units = open_file(path, plan, max_bytes)
    return doc, list(units)


def open_file(path: Path, plan: CorpusPlan, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Document, Iterator[Unit]]:
    """Read one file of a plan now (IngestError when it cannot be read) and segment it as the units are drawn."""
    from pipeline.segment import iter_units  # spaCy: only processes that segment import it

    parsed: ParsedDocument = parse_document(path, plan.root, plan.sidecar.get(path.resolve()), max_bytes)
    return parsed.doc, iter_units(parsed.doc, parsed.blocks)


def units_from_text(text: str, name: str = "snippet.txt",
                    metadata: dict[str, str] | None = None) -> tuple[Document, list[Unit]]:
    """Structure and segment a string as if it were a file called ``name`` (notebooks, tests, gold)."""
    from pipeline.ingest.readers import normalise_text
    from pipeline.segment import segment

    text = normalise_text(text)
    found = structure_text(text, Path(name), metadata)
    doc_id = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    doc = Document(doc_id, name, found.kind, Path(name).suffix.lstrip(".") or "txt", "utf-8", text,
                   found.metadata, found.warnings)
    return doc, segment(doc, found.blocks)


class Collector:
    """Per-file outcomes (in plan order) into the report, one at a time; duplicates are skipped."""

    def __init__(self, plan: CorpusPlan) -> None:
        self.plan = plan
        self.report = IngestReport(skipped=list(plan.skipped), warnings=list(plan.warnings))
        self._seen: dict[str, str] = {}

    def add(self, path: Path, outcome: Document | IngestError) -> bool:
        """Record one file's outcome (its document, or why not); True when the document is kept."""
        rel = path.relative_to(self.plan.root).as_posix()
        if isinstance(outcome, IngestError):
            self.report.failed.append((rel, outcome.reason))
            return False
        doc = outcome
        if doc.doc_id in self._seen:
            self.report.skipped.append((rel, f"duplicate of {self._seen[doc.doc_id]} (same content)"))
            return False
        self._seen[doc.doc_id] = rel
        self.report.read.append(rel)
        self.report.warnings += [(rel, w) for w in doc.warnings]
        return True


def collect(plan: CorpusPlan, outcomes: list[tuple[Path, tuple[Document, list[Unit]] | IngestError]]) -> IngestResult:
    """Assemble per-file outcomes (in plan order) into one result; duplicates are skipped."""
    collector = Collector(plan)
    result = IngestResult(report=collector.report)
    for path, outcome in outcomes:
        if collector.add(path, outcome if isinstance(outcome, IngestError) else outcome[0]):
            doc, units = outcome
            result.documents.append(doc)
            result.units += units
    return result


def ingest(plan: CorpusPlan, max_bytes: int = DEFAULT_MAX_BYTES) -> IngestResult:
    """Ingest every file of a plan sequentially (the Prefect flow maps the same steps)."""
    outcomes: list[tuple[Path, tuple[Document, list[Unit]] | IngestError]] = []
    for path in plan.files:
        try:
            outcomes.append((path, ingest_file(path, plan, max_bytes)))
        except IngestError as exc:
            outcomes.append((path, exc))
    return collect(plan, outcomes)
