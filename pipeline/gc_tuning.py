"""Garbage-collector settings for a run's processes: they make millions of small objects.

Python collects its youngest generation every 700 new container objects and,
now and then, walks every object alive, imported libraries included.  A run
imports pandas, pyarrow and Prefect (whose pydantic models make hundreds of
thousands of objects at import) and then makes tokens and rows by the
million, so the collector ran constantly over objects that never die.
"""

from __future__ import annotations

import gc

#: Thresholds for a run's processes (Python's default: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 20)


def collect_less() -> None:
    """Collect garbage less often (before the imports: Prefect's API server boots in ~2.8 s instead of ~3.3-4)."""
    gc.set_threshold(*GC_THRESHOLDS)


def tune_gc() -> None:
    """:func:`collect_less`, and never scan what is already alive (:func:`gc.freeze`): call once all is imported.

    Lexicon coding of 155k units took 6.5 s with Python's defaults, 5.6 s with both.
    """
    gc.freeze()
    collect_less()


class GarbageBudget:
    """A full collection once every ``budget`` units of work, so cyclic garbage cannot pile up between them.

    Each finished Prefect future sits in a reference cycle (future, state,
    result record) that holds its task's whole result, e.g. the codings of
    10,000 units.  Python frees such cycles only in a full collection, which
    it runs when a quarter more objects have outlived two collections; a
    stage that makes few lasting objects (the coding stage's Arrow
    bookkeeping) went ~40 jobs without one, and held every job's result
    (a 50 MB transcript: +540 -> +964 MB).
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.spent = 0

    def spend(self, units: int) -> None:
        """Count ``units`` of work; collect once they reach the budget."""
        self.spent += units
        if self.spent >= self.budget:
            gc.collect()
            self.spent = 0
