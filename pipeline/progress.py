"""A progress bar per pipeline stage on the terminal (rich), silent when not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def stage_progress(stage: str, total: int) -> Iterator[Callable[..., None]]:
    """Yield ``advance(steps=1)``; draws ``stage [#####   ] 3/8 0:00:02`` while the stage runs."""
    if not sys.stderr.isatty():
        yield lambda steps=1: None
        return
    columns = (TextColumn(f"{stage:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task(stage, total=total)
        yield lambda steps=1: progress.advance(bar, steps)
