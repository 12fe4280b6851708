"""Is a run folder already the result of this exact run? Then ``wogcode run`` need not start at all.

The *run key* is a digest of everything that shapes the outputs: every
corpus file's bytes and sidecar row, the ingest and coding fingerprints (code,
language data), the model's identity (its folder's files and its encoder's,
see :func:`pipeline.classify.registry.model_identity`), the codebook's
content hash and the run options.  The manifest of a finished run records it
together with the sha256 of every output; a later run with the same key,
whose outputs are all present and unmodified, is up to date (like ``make``),
which turns a repeated run on an unchanged corpus into a second or two.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.classify.build_encoder import sha256_file as file_sha256
from pipeline.fingerprint import code_fingerprint, ingest_fingerprint
from pipeline.ingest.corpus import CorpusPlan
from pipeline.ingest.document import content_hash

MANIFEST = "manifest.json"


def run_key(plan: CorpusPlan, model_identity: str, codebook_hash: str, options: dict[str, Any]) -> str:
    """sha256 over what decides a run's outputs (see the module docstring)."""
    files = []
    for path in plan.files:
        row = sorted((plan.sidecar.get(path.resolve()) or {}).items())
        files.append([path.relative_to(plan.root).as_posix() if path.is_relative_to(plan.root) else path.name,
                      content_hash(path), row])
    material = {"files": files, "ingest": ingest_fingerprint(), "coding": code_fingerprint(),
                "model": model_identity, "codebook": codebook_hash, "options": options}
    text = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def output_checksums(paths: list[Path]) -> dict[str, str]:
    """Output file name -> sha256, for the manifest."""
    return {path.name: file_sha256(path) for path in sorted(paths, key=lambda p: p.name)}


def finished_run(out: Path, key: str) -> dict[str, Any] | None:
    """The manifest of ``out`` when it was written by a run with ``key`` and no output changed since; else None."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("run_key") != key:
        return None
    checksums = manifest.get("output_sha256")
    if not isinstance(checksums, dict) or not checksums:
        return None
    for name, expected in checksums.items():
        path = out / str(name)
        if Path(str(name)).name != name or not path.is_file() or file_sha256(path) != expected:
            return None
    return manifest
