"""Benchmark the main job and print one table (a script, never a timed test).

    python benchmarks/run.py [--n 20] [--seed 7] [--models lexicon,default] [--codebook perry6] [--novel]

For each model it runs, in a fresh child process each time so numbers are
honest: cold start (process start to first unit coded), every stage on the
synthetic corpus (ingest, code, aggregate, export) with units/s, peak RSS,
then the same corpus again with warm caches; macro-F1 on the gold file; and
the whole ``wogcode run`` on the corpus (row "wogcode run": its end-to-end
time runs from process start to exit, with Prefect and every import in it),
the same command again on the unchanged corpus (row "again": up to date, so
nothing runs), and the first without worker processes (row "no workers",
``WOGCODE_WORKERS=0``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO.parent / "shared" / "gold" / "dev.jsonl"


def child_cold_start(model: str, codebook: str) -> dict[str, float]:
    """In a child: seconds from interpreter start to the first unit coded."""
    started = time.perf_counter()
    from pipeline.classify.base import code_units
    from pipeline.classify.registry import load_coder
    from pipeline.ingest.batch import units_from_text
    from pipeline.tables import units_frame

    _, units = units_from_text("P: Bagaimana?\nI: Koordinasi antar instansi sudah rutin.\n", "w.txt")
    code_units(load_coder(model, codebook), units_frame(units))
    return {"cold_start_s": time.perf_counter() - started}


def child_stages(corpus: Path, model: str, codebook: str, out: Path) -> dict[str, float]:
    """In a child: wall time of each stage of the main job (plain functions, as the flow calls them)."""
    from pipeline.aggregate import evidence_table
    from pipeline.classify.base import code_units
    from pipeline.classify.registry import load_coder
    from pipeline.codebook import load_codebook
    from pipeline.export.run_folder import write_run_folder
    from pipeline.ingest.batch import ingest
    from pipeline.ingest.corpus import plan_corpus
    from pipeline.tables import documents_frame, units_frame

    times: dict[str, float] = {}
    clock = time.perf_counter()
    result = ingest(plan_corpus(corpus))
    units = units_frame(result.units)
    times["ingest_s"] = time.perf_counter() - clock
    coder = load_coder(model, codebook)
    clock = time.perf_counter()
    codings = code_units(coder, units)
    times["code_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    book = load_codebook(codebook)
    evidence = evidence_table(units, codings, book)
    times["aggregate_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    info = {"corpus": str(corpus), "model": coder.model_id,
            "codebook": {"id": book.id, "version": book.version, "hash": book.content_hash}}
    write_run_folder(out, documents_frame(result.documents), units, codings, evidence, codebook, info)
    times["export_s"] = time.perf_counter() - clock
    times["units"] = float(len(units))
    return times


def child_quality(model: str) -> dict[str, float]:
    """In a child: macro-F1, kappa and valence accuracy on the gold file."""
    from pipeline.evaluate import coder_factory, evaluate
    from pipeline.gold import read_gold

    scores = evaluate(read_gold(GOLD), coder_factory(model)).overall
    return {"macro_f1": scores.macro_f1, "kappa": scores.kappa, "valence_accuracy": scores.valence_accuracy}


def run_child(args: list[str]) -> dict[str, float]:
    """Run this script as a child with ``--child ...``; returns its JSON plus its peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run([sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = max(peak_kb, before) / 1024
    return result


def wogcode_command() -> list[str]:
    """The ``wogcode`` console script beside this Python (it skips the interpreter's tear-down, as a researcher's
    ``wogcode run`` does; ``python -m pipeline.cli`` exits normally, ~0.5 s later), else ``python -m pipeline.cli``."""
    script = Path(sys.executable).with_name("wogcode")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]


def cli_run(model: str, codebook: str, corpus: Path, out: Path, cache: Path, workers: str = "") -> dict[str, float]:
    """The whole ``wogcode run`` as a researcher types it (cold caches): wall time from process start to exit.

    Run twice into the same ``out``, the second is up to date and prints no stage times.

    Includes what the stage rows leave out: imports, Prefect's API server and
    flow engine, the per-batch tasks and the run folder's bookkeeping.  Its
    peak RSS is not given: a child's is only known as the most of all children.
    ``workers``: ``WOGCODE_WORKERS`` for the run ("" leaves the choice to it; "0": no worker processes).
    """
    env = {**os.environ, "WOGCODE_EMBED_CACHE": str(cache), "WOGCODE_WORKERS": workers}
    started = time.perf_counter()
    done = subprocess.run([*wogcode_command(), "run", str(corpus), "--codebook", codebook,
                           "--model", model, "--no-resume-cache", "--out", str(out)],
                          check=True, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    printed = re.search(r"^time: (.*)$", done.stdout, re.MULTILINE)  # "time: ingest 2.5s, code 3.4s, ..."
    stages = re.findall(r"(\w+) ([\d.]+)s", printed.group(1) if printed else "")
    result = {f"{stage}_s": max(float(seconds), 0.01) for stage, seconds in stages}
    return result | {"units": manifest["counts"]["units"], "wall_s": wall}


def table(rows: list[dict[str, object]]) -> str:
    """A plain text table."""
    columns = list(rows[0])
    widths = [max(len(str(c)), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def benchmark(spec: str, codebook: str, corpus: Path, cache: Path) -> list[dict[str, object]]:
    """Rows for one model: cold start, first run per stage, warm second run, quality.

    ``spec`` is a model name, optionally with an encoder backend: ``default@onnx-int8``.
    """
    model, _, backend = spec.partition("@")
    os.environ["WOGCODE_EMBED_CACHE"] = str(cache)  # a cold embedding cache per model
    if backend:
        os.environ["WOGCODE_ENCODER_BACKEND"] = backend
    else:
        os.environ.pop("WOGCODE_ENCODER_BACKEND", None)
    cold = run_child(["cold", model, codebook])
    with tempfile.TemporaryDirectory() as out:
        first = run_child(["stages", model, codebook, str(corpus), str(Path(out) / "a")])
        second = run_child(["stages", model, codebook, str(corpus), str(Path(out) / "b")])
        quality = run_child(["quality", model]) if GOLD.is_file() else {}
        cli = cli_run(model, codebook, corpus, Path(out) / "cli", cache.with_name(cache.name + "-cli"))
        again = cli_run(model, codebook, corpus, Path(out) / "cli", cache.with_name(cache.name + "-cli"))
        alone = cli_run(model, codebook, corpus, Path(out) / "alone", cache.with_name(cache.name + "-alone"), "0")
    rows = []
    runs = (("first", first), ("warm", second), ("wogcode run", cli), ("  again", again), ("  no workers", alone))
    for label, run in runs:
        total = run.get("wall_s") or sum(run[k] for k in ("ingest_s", "code_s", "aggregate_s", "export_s"))
        staged = "ingest_s" in run  # an up-to-date run has no stages
        rows.append({
            "model": spec, "run": label, "units": int(run["units"]),
            "ingest u/s": f"{run['units'] / run['ingest_s']:.0f}" if staged else "",
            "code u/s": f"{run['units'] / run['code_s']:.0f}" if staged else "",
            "aggregate s": f"{run['aggregate_s']:.2f}" if staged else "",
            "export s": f"{run['export_s']:.2f}" if staged else "",
            "end-to-end s": f"{total:.1f}", "end-to-end u/s": f"{run['units'] / total:.0f}",
            "peak RSS MB": f"{run['peak_rss_mb']:.0f}" if "peak_rss_mb" in run else "",
            "cold start s": f"{cold['cold_start_s']:.1f}" if label == "first" else "",
            "macro-F1": f"{quality.get('macro_f1', float('nan')):.3f}" if label == "first" else "",
        })
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        if kind == "cold":
            result = child_cold_start(*rest)
        elif kind == "stages":
            model, codebook, corpus, out = rest
            result = child_stages(Path(corpus), model, codebook, Path(out))
        else:
            result = child_quality(*rest)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="synthetic transcripts (200 = tens of thousands of units)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--models", default="lexicon,default",
                        help="comma-separated; a model may name an encoder backend: default@onnx-int8")
    parser.add_argument("--codebook", default="perry6")
    parser.add_argument("--novel", action="store_true",
                        help="every answer sentence distinct, so the encoder cannot reuse vectors (make_corpus.py)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from make_corpus import make_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        make_corpus(args.n, args.seed, corpus, args.novel)
        rows = []
        for model in args.models.split(","):
            rows += benchmark(model, args.codebook, corpus, Path(tmp) / f"cache-{model.replace('@', '-')}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"corpus: {args.n} synthetic transcripts (seed {args.seed}{', novel' if args.novel else ''}), "
          f"codebook {args.codebook}")
    print(table(rows))


if __name__ == "__main__":
    main()
