"""Atomic file writes (write to a temp file in the same folder, then rename), and checking a folder can be written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)


class OutputError(ValueError):
    """A run folder that cannot be written; the message is one line naming the folder."""


def check_output_folder(out: Path, what: str = "the run folder") -> None:
    """Create ``out`` if needed and prove a file can be written there, before any long work starts."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".wogcode-probe-") as probe:
            probe.write(b"probe")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise OutputError(f"{out}: cannot write {what} ({output_error_reason(exc)})") from None


def output_error_reason(exc: OSError) -> str:
    """'No space left on device: units.parquet', 'Read-only file system', ..."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    name = Path(exc.filename).name if exc.filename else ""
    if name.startswith(".") and name.endswith(".tmp"):  # an atomic write's temp file: name its target
        name = name[1:].rsplit(".", 2)[0]
    return f"{reason}: {name}" if name and "wogcode-probe" not in name else reason
