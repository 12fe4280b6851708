"""Compare the default encoder's backends on distinct seed sentences (a script, never a timed test).

    python benchmarks/encoder_backends.py [--n 400]

Prints sentences/s (wall and per CPU second) for torch and ONNX Runtime at
several batch sizes, and the lowest cosine between the two backends' vectors.
The embedding cache is off, so every sentence is really encoded.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.classify.encoder import BACKEND_ENV, Encoder
from pipeline.ingest.batch import ingest
from pipeline.ingest.corpus import plan_corpus
from pipeline.paths import REPO_ROOT
from pipeline.schema import CODABLE_KINDS

SEEDS = REPO_ROOT.parent / "shared" / "seeds"


def sentences(n: int) -> list[str]:
    """Up to ``n`` distinct codable units of the seed studies (or the sample corpus without them)."""
    folder = SEEDS if SEEDS.is_dir() else REPO_ROOT / "corpora" / "sample"
    units = ingest(plan_corpus(Path(folder))).units
    return sorted({u.text for u in units if u.kind in CODABLE_KINDS})[:n]


def timed(run: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """(result, wall seconds, CPU seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    args = parser.parse_args()
    texts = sentences(args.n)
    print(f"{len(texts)} distinct sentences, mean {np.mean([len(t) for t in texts]):.0f} characters, "
          f"{os.cpu_count()} cores")
    vectors = {}
    for backend in ("torch", "onnx"):
        os.environ[BACKEND_ENV] = backend
        encoder = Encoder.load(None, use_cache=False)
        encoder.encode(texts[:8])  # warm-up
        for batch_size in (8, 16, 32):
            result, wall, cpu = timed(lambda: encoder.encode(texts, batch_size=batch_size))
            vectors[backend] = result
            print(f"{backend:5s} batch {batch_size:2d}: {len(texts) / wall:6.1f} sentences/s, "
                  f"{len(texts) / cpu:6.1f} per CPU second")
        encoder = None  # frees this model before the next one loads
    print(f"lowest cosine torch vs onnx: {float(np.sum(vectors['torch'] * vectors['onnx'], axis=1).min()):.6f}")


if __name__ == "__main__":
    main()
