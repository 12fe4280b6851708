"""A folder (or file list) -> the files to read, their sidecar metadata, and what is skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.metadata import SIDECAR_NAME, collect_sidecars
from pipeline.ingest.readers import SUPPORTED_SUFFIXES

IGNORED_NAMES = frozenset({SIDECAR_NAME})


@dataclass
class CorpusPlan:
    """What an ingest run will read."""

    root: Path
    files: list[Path] = field(default_factory=list)
    sidecar: dict[Path, dict[str, str]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def total_bytes(self) -> int:
        """The bytes of every file to read."""
        return sum(file_bytes(path) for path in self.files)


def file_bytes(path: Path) -> int:
    """A file's size, 0 when it cannot be read (the reader will say why)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _skip_reason(path: Path) -> str | None:
    """Why a file in a corpus folder is not read, or None if it is."""
    if path.name.startswith(".") or path.name.startswith("~$"):
        return "hidden or temporary file"
    if path.stem.upper() == "README":
        return "documentation file (README), not corpus text"
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"unsupported file type '{path.suffix or '(none)'}' (read: {', '.join(sorted(SUPPORTED_SUFFIXES))})"
    return None


def plan_corpus(source: Path) -> CorpusPlan:
    """Walk ``source`` (a folder, recursively, or one file) in a stable order."""
    source = source.resolve()
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or folder")
    if source.is_file():
        plan = CorpusPlan(root=source.parent)
        candidates = [source]
    else:
        plan = CorpusPlan(root=source)
        candidates = sorted(p for p in source.rglob("*") if p.is_file() and p.name not in IGNORED_NAMES)
        plan.sidecar, problems = collect_sidecars(source)
        plan.warnings += [(SIDECAR_NAME, p) for p in problems]
    for path in candidates:
        reason = _skip_reason(path)
        rel = path.relative_to(plan.root).as_posix()
        if reason:
            plan.skipped.append((rel, reason))
        else:
            plan.files.append(path)
    return plan
