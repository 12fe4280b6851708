"""On-disk cache of sentence embeddings, keyed by (encoder key, sha256 of the text).

Vectors live in one SQLite file, ``embeddings.sqlite3`` under
``$WOGCODE_EMBED_CACHE`` or ``<cache>/embeddings``, as raw little-endian
float32 blobs: no pickle anywhere. Each row also stores a
sha256 over its own key and vector bytes, so a damaged or swapped entry is
detected on read, dropped, and reported as a miss (the caller re-encodes it);
it is never trusted. Writes happen in one transaction per batch, so a crash
leaves either the whole batch or none of it. A cache file that SQLite cannot
read at all is moved aside and a fresh one is started.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from pipeline import paths

T = TypeVar("T")
DB_NAME = "embeddings.sqlite3"
SQL_PARAMS_PER_QUERY = 500  # well under SQLite's bound-parameter limit

SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    encoder_key TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    entry_sha256 TEXT NOT NULL,
    PRIMARY KEY (encoder_key, text_sha256)
) WITHOUT ROWID
"""


def default_cache_dir() -> Path:
    """``$WOGCODE_EMBED_CACHE`` or ``<wogcode cache>/embeddings`` (see :func:`pipeline.paths.embeddings_dir`)."""
    return paths.embeddings_dir()


def text_sha256(text: str) -> str:
    """The cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def entry_checksum(encoder_key: str, text_hash: str, blob: bytes) -> str:
    """Integrity checksum of one entry: binds the vector bytes to their keys."""
    digest = hashlib.sha256()
    for part in (encoder_key.encode(), b"\0", text_hash.encode(), b"\0", blob):
        digest.update(part)
    return digest.hexdigest()


class EmbedCache:
    """A process-safe-enough SQLite store of float32 vectors; see the module docstring."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_cache_dir()
        self.path = self.folder / DB_NAME
        self.dropped = 0  # corrupted entries detected and removed since creation
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    # -------------------------------------------------------- connection

    def _connect(self) -> sqlite3.Connection:
        """Open (creating if needed) the database."""
        if self._db is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(SCHEMA)
                db.commit()
            except sqlite3.DatabaseError:
                db.close()
                raise
            self._db = db
        return self._db

    def _move_aside(self, exc: sqlite3.DatabaseError) -> None:
        """Set an unreadable database file (and its WAL files) aside so a fresh one can start."""
        if self._db is not None:
            self._db.close()
            self._db = None
        aside = self.path.with_name(f"{DB_NAME}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        warnings.warn(f"{self.path}: unreadable embedding cache ({exc}); moved to {aside.name}", stacklevel=4)
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(Path(f"{aside}{suffix}"))

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(db)`` under the lock; a corrupted file is moved aside and the work retried once."""
        with self._lock:
            try:
                return work(self._connect())
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):  # locked, I/O, ...: not corruption
                    raise
                self._move_aside(exc)
                return work(self._connect())

    def close(self) -> None:
        """Close the database connection (reopened on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> EmbedCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ access

    def get_many(self, encoder_key: str, text_hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """Return the intact cached vectors among ``text_hashes`` (missing or damaged ones are absent)."""
        wanted = list(dict.fromkeys(text_hashes))

        def work(db: sqlite3.Connection) -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            bad: list[str] = []
            for start in range(0, len(wanted), SQL_PARAMS_PER_QUERY):
                part = wanted[start : start + SQL_PARAMS_PER_QUERY]
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    "SELECT text_sha256, dim, vector, entry_sha256 FROM vectors "
                    f"WHERE encoder_key = ? AND text_sha256 IN ({marks})",
                    [encoder_key, *part],
                ).fetchall()
                for text_hash, row_dim, blob, checksum in rows:
                    vector = decode_entry(encoder_key, text_hash, row_dim, blob, checksum, dim)
                    if vector is None:
                        bad.append(text_hash)
                    else:
                        found[text_hash] = vector
            if bad:
                with db:
                    db.executemany(
                        "DELETE FROM vectors WHERE encoder_key = ? AND text_sha256 = ?",
                        [(encoder_key, text_hash) for text_hash in bad],
                    )
                self.dropped += len(bad)
            return found

        return self._run(work) if wanted else {}

    def put_many(self, encoder_key: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store ``(text_sha256, vector)`` pairs in one transaction (replacing existing entries)."""
        rows = []
        for text_hash, vector in items:
            blob = np.ascontiguousarray(vector, dtype="<f4").tobytes()
            rows.append((encoder_key, text_hash, len(blob) // 4, blob, entry_checksum(encoder_key, text_hash, blob)))

        def work(db: sqlite3.Connection) -> None:
            with db:  # one transaction: all rows or none
                db.executemany(
                    "INSERT OR REPLACE INTO vectors (encoder_key, text_sha256, dim, vector, entry_sha256) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )

        if rows:
            self._run(work)

    def count(self, encoder_key: str | None = None) -> int:
        """Number of stored entries (for one encoder key, or all)."""

        def work(db: sqlite3.Connection) -> int:
            if encoder_key is None:
                return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
            return db.execute("SELECT COUNT(*) FROM vectors WHERE encoder_key = ?", (encoder_key,)).fetchone()[0]

        return self._run(work)

    def clear(self, encoder_key: str | None = None) -> None:
        """Delete every entry (of one encoder key, or all)."""

        def work(db: sqlite3.Connection) -> None:
            with db:
                if encoder_key is None:
                    db.execute("DELETE FROM vectors")
                else:
                    db.execute("DELETE FROM vectors WHERE encoder_key = ?", (encoder_key,))

        self._run(work)


def decode_entry(
    encoder_key: str, text_hash: str, row_dim: int, blob: bytes, checksum: str, dim: int
) -> np.ndarray | None:
    """The stored vector if the entry is intact and of the expected size and finite, else None."""
    if not isinstance(blob, bytes) or row_dim != dim or len(blob) != 4 * dim:
        return None
    if entry_checksum(encoder_key, text_hash, blob) != checksum:
        return None
    vector = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(vector)):
        return None
    return vector
