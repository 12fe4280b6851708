"""Shared test fixtures: where the seed texts and the sample corpus live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
SAMPLE = REPO / "corpora" / "sample"


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds is not present")
    return SEEDS


@pytest.fixture(scope="session")
def seed_result(seeds_dir):
    """The seed texts ingested once for the whole session."""
    from pipeline.ingest.batch import ingest
    from pipeline.ingest.corpus import plan_corpus

    return ingest(plan_corpus(seeds_dir))
