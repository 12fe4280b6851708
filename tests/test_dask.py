"""The main job gives the same coded dataset on a local Dask cluster as on the default runner."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd

from pipeline.flows.run import run_flow, with_task_runner

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample" / "wawancara"


def test_dask_local_cluster_matches_the_default_runner(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("padang_dpmptsp_kabid.txt", "bengkulu_warga_pemohon.txt"):
        # a unique last line: the task cache is keyed by content, so Dask really runs the tasks
        text = (SAMPLE / name).read_text(encoding="utf-8") + f"\nP: Terima kasih ({uuid.uuid4().hex}).\n"
        (corpus / name).write_text(text, encoding="utf-8")
    dask = with_task_runner(run_flow, dask_local=1)(str(corpus), "perry6", str(tmp_path / "dask"), "lexicon")
    plain = run_flow(str(corpus), "perry6", str(tmp_path / "plain"), "lexicon")
    columns = ["unit_id", "start", "end", "text", "code", "valence", "score"]
    a = pd.read_parquet(tmp_path / "plain" / "units.parquet")[columns]
    b = pd.read_parquet(tmp_path / "dask" / "units.parquet")[columns]
    pd.testing.assert_frame_equal(a, b)
    assert len(plain.units) == len(dask.units) > 0
