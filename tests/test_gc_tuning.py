"""The garbage budget: cyclic garbage (a finished Prefect future holding its result) is freed on schedule."""

from __future__ import annotations

import gc
import weakref

from pipeline.gc_tuning import GarbageBudget


class _Result:
    """Stands for a finished future: it refers to itself, so only the cycle collector can free it."""

    def __init__(self) -> None:
        self.me = self
        self.rows = [{"unit_id": str(i)} for i in range(100)]


def test_a_garbage_budget_frees_reference_cycles_once_the_budget_is_spent():
    gc.collect()
    gc.disable()  # as in a run whose thresholds make full collections rare
    try:
        result = _Result()
        alive = weakref.ref(result)
        del result
        budget = GarbageBudget(1_000)
        budget.spend(600)
        assert alive() is not None, "collected before the budget was spent"
        budget.spend(400)
        assert alive() is None, "the cycle outlived the budget"
        result = _Result()
        alive = weakref.ref(result)
        del result
        budget.spend(999)
        assert alive() is not None, "the budget did not start over after a collection"
    finally:
        gc.enable()
