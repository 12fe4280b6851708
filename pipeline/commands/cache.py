"""``wogcode cache [--clear PART]``: where wogcode keeps data between runs, how big it is, and removing it.

    wogcode cache                  what is cached where (the resume cache holds corpus text)
    wogcode cache --clear resume   forget finished batches of every corpus (the next run starts over)
    wogcode cache --clear all      the resume cache and the embeddings
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from pipeline.paths import cache_root, embeddings_dir, resume_cache_path

#: What each part holds, as the listing says it.
PARTS: dict[str, str] = {
    "resume": "finished ingest and coding batches of past runs: CORPUS TEXT (owner-only)",
    "embeddings": "sentence embeddings keyed by a hash of the text",
    "encoders": "the default encoder built at set-up and OpenVINO's compiled copy (not cleared here; "
                "./scripts/setup.sh rebuilds them)",
}
#: Parts ``--clear`` removes; ``all`` is both.
CLEARABLE = ("resume", "embeddings")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``cache`` sub-command."""
    parser = sub.add_parser("cache", help="show or clear what wogcode keeps between runs")
    parser.add_argument("--clear", choices=[*CLEARABLE, "all"], default=None,
                        help="remove the resume cache (copies of corpus text), the embeddings, or both")
    parser.set_defaults(func=run)


def part_path(part: str) -> Path:
    """The folder of one part of the cache."""
    if part == "resume":
        return resume_cache_path()
    if part == "embeddings":
        return embeddings_dir()
    return cache_root() / part


def folder_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under ``path`` (0, 0 when it does not exist)."""
    files = size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            files += 1
            size += (Path(folder) / name).stat().st_size
    return files, size


def clear(part: str) -> list[Path]:
    """Remove one clearable part (or ``all`` of them) of the cache; returns the folders removed."""
    removed = []
    for name in CLEARABLE if part == "all" else [part]:
        path = part_path(name)
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    return removed


def run(args: argparse.Namespace) -> int:
    """List the cache, or clear a part of it."""
    if args.clear:
        removed = clear(args.clear)
        print("\n".join(f"removed {path}" for path in removed) or "nothing to remove")
        return 0
    for name, what in PARTS.items():
        files, size = folder_size(part_path(name))
        print(f"{name:<11} {size / 2**20:9.1f} MB {files:7d} files  {part_path(name)}\n            {what}")
    return 0
