"""Encoding speed and agreement of the default encoder's backends, against torch.

Times, on ~500 unique Indonesian sentences/paragraphs of varied length from
the seed texts, each setting through :class:`pipeline.classify.encoder.Encoder`
(no embedding cache, so every text is encoded):

* ``torch``: the built float32 encoder under sentence-transformers (the reference);
* ``onnx``: the exported fused graph under ONNX Runtime (float32);
* ``openvino bf16`` / ``openvino f32``: the same graph under OpenVINO (the default
  backend; bf16 only where the CPU has native bfloat16);

and with ``--variants`` also ONNX batch sizes, ONNX Runtime graph optimisation
levels, and int8 dynamic quantisation variants of the graph.

Agreement with torch is reported as min / mean cosine and, with the shipped
models in ``models/``: macro-F1 on the gold dev file, the share of gold
predictions identical to torch's ("gold same"), and the share of identical
predictions of every shipped model on the timed texts ("texts same").

    .venv/bin/python benchmarks/encode_speed.py [--variants] [--seeds DIR] [--gold FILE] [-n 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.classify import build_encoder  # noqa: E402
from pipeline.classify.embed_cache import EmbedCache  # noqa: E402
from pipeline.classify.encoder import (  # noqa: E402
    BATCH_SIZES, Encoder, backend_variant, cpu_count, default_backend, load_sentence_transformer)
from pipeline.classify.onnx_backend import ONNX_FILE, OnnxSentenceEncoder, quantise_int8  # noqa: E402
from pipeline.classify.openvino_backend import load_openvino, native_precision, openvino_installed  # noqa: E402

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
REFERENCE = "torch"
FLOAT32 = "onnx"


@dataclass
class Setting:
    """One way to run the encoder: a loaded model and its batch size."""

    model: Any
    batch_size: int
    backend: str


# ------------------------------------------------------------------ data


def load_texts(seeds: Path, n: int) -> list[str]:
    """Unique sentences and paragraphs from the seed texts, spread evenly over their lengths."""
    candidates: set[str] = set()
    for path in sorted(seeds.glob("*.txt")):
        for paragraph in path.read_text(encoding="utf-8").split("\n"):
            paragraph = " ".join(paragraph.split())
            if len(paragraph.split()) >= 4:
                candidates.add(paragraph)
                candidates.update(s for s in SENTENCE_END.split(paragraph) if len(s.split()) >= 4)
    ordered = sorted(candidates, key=lambda t: (len(t), t))
    if len(ordered) <= n:
        return ordered
    picks = np.linspace(0, len(ordered) - 1, n).round().astype(int)
    return [ordered[i] for i in sorted(set(picks))]


# --------------------------------------------------------------- settings


def graph_folder(folder: Path, graph: Path, tmp: Path, name: str) -> Path:
    """A folder like the encoder's (files symlinked) whose ``model.onnx`` is ``graph``."""
    variant = tmp / name
    variant.mkdir()
    for path in folder.iterdir():
        if path.name != ONNX_FILE and not path.name.startswith("."):
            (variant / path.name).symlink_to(path)
    (variant / ONNX_FILE).symlink_to(graph)
    return variant


def onnx_with_level(folder: Path, level: str) -> OnnxSentenceEncoder:
    """The ONNX encoder with another ONNX Runtime graph optimisation level."""
    import onnxruntime as ort

    from pipeline.classify.onnx_backend import session_options

    model = OnnxSentenceEncoder(folder, cpu_count())
    options = session_options(cpu_count())
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    model.session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
    return model


def build_settings(folder: Path, variants: bool, tmp: Path) -> dict[str, Setting]:
    """The reference, the adopted backend and (``variants``) the other ONNX options, by name."""
    onnx = OnnxSentenceEncoder(folder, cpu_count())
    settings = {
        REFERENCE: Setting(load_sentence_transformer(str(folder)), BATCH_SIZES["torch"], "torch"),
        FLOAT32: Setting(onnx, BATCH_SIZES["onnx"], "onnx"),
    }
    if openvino_installed():
        for precision in ("bf16", "f32") if native_precision() == "bf16" else ("f32",):
            model = load_openvino(folder, cpu_count(), precision)
            settings[f"openvino {precision}"] = Setting(model, BATCH_SIZES[f"openvino-{precision}"],
                                                        f"openvino-{precision}")
    if not variants:
        return settings
    for batch_size in (4, 16, 32):
        settings[f"onnx batch={batch_size}"] = Setting(onnx, batch_size, "onnx")
    for level in ("ORT_DISABLE_ALL", "ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED"):
        settings[f"onnx {level}"] = Setting(onnx_with_level(folder, level), BATCH_SIZES["onnx"], "onnx")
    int8_variants = {
        "int8 dense MatMuls per-channel": {"ffn_only": False},
        "int8 feed-forward MatMuls per-channel": {"ffn_only": True},
    }
    for label, options in int8_variants.items():
        graph = quantise_int8(folder / ONNX_FILE, tmp / f"{len(settings)}.onnx", **options)
        print(f"{label}: {graph.stat().st_size / 1e6:.0f} MB (fp32 {(folder / ONNX_FILE).stat().st_size / 1e6:.0f} MB)")
        variant = graph_folder(folder, graph, tmp, f"v{len(settings)}")
        settings[f"onnx {label}"] = Setting(OnnxSentenceEncoder(variant, cpu_count()), BATCH_SIZES["onnx"], "onnx")
    return settings


def encoder_for(setting: Setting, checksum: str, cache: Path | None) -> Encoder:
    """An :class:`Encoder` around the setting's model (cache in ``cache``, or none)."""
    return Encoder(setting.model, build_encoder.ENCODER_NAME, checksum, EmbedCache(cache) if cache else None,
                   setting.backend)


# ---------------------------------------------------------------- metrics


def time_round_robin(encoders: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str],
                     rounds: int) -> dict[str, tuple[float, float, np.ndarray]]:
    """Best-of-``rounds`` sentences/s (wall clock and per CPU-second) of every setting, and its vectors.

    Settings are timed in turn, round after round, so that load from other
    processes on a shared machine spreads evenly over them.
    """
    for encode in encoders.values():
        encode(texts[:8])  # warm-up
    results: dict[str, tuple[float, float, np.ndarray]] = {}
    for round_number in range(rounds):
        for name, encode in encoders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = encode(texts)
            speed, cpu_speed = len(texts) / (time.perf_counter() - wall), len(texts) / (time.process_time() - cpu)
            best_wall, best_cpu, _ = results.get(name, (0.0, 0.0, vectors))
            results[name] = (max(best_wall, speed), max(best_cpu, cpu_speed), vectors)
            print(f"  round {round_number + 1} {name}: {speed:.1f} sentences/s, {cpu_speed:.1f} per CPU-s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return results


def shipped_predictions(encoder: Encoder, gold: Path, texts: list[str]) -> tuple[float, list[str], list[str]]:
    """Macro-F1 and predictions of the shipped models on the gold file, and their predictions on ``texts``."""
    from pipeline.evaluate import evaluate
    from pipeline.gold import read_gold
    from pipeline.persist import load_model
    from pipeline.paths import MODELS

    def coder(framework: str) -> Any:
        loaded = load_model(MODELS / framework)
        loaded.embedding.encoder = encoder
        return loaded

    frameworks = sorted(p.name for p in MODELS.iterdir() if (p / "manifest.json").is_file())
    on_texts = [code for framework in frameworks for code in coder(framework).predict(texts)]
    if not gold.is_file():
        return float("nan"), [], on_texts
    result = evaluate(read_gold(gold), lambda book: coder(book.id))
    return result.overall.macro_f1, [row["predicted"] for row in result.predictions], on_texts


def same(a: list[str], b: list[str]) -> float:
    """Share of positions where two prediction lists agree."""
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)])) if a else float("nan")


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "seeds")
    parser.add_argument("--gold", type=Path, default=REPO.parent / "shared" / "gold" / "dev.jsonl")
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over all settings; the best counts")
    parser.add_argument("--variants", action="store_true", help="also batch sizes, graph levels and int8 graphs")
    args = parser.parse_args(argv)

    texts = load_texts(args.seeds, args.n)
    if not texts:
        print(f"{args.seeds}: no .txt files with sentences", file=sys.stderr)
        return 2
    folder = build_encoder.build_default_encoder()
    checksum = build_encoder.read_manifest(folder)["weights_sha256"]
    with tempfile.TemporaryDirectory(prefix="wogcode-encode-speed-") as tmp:
        settings = build_settings(folder, args.variants, Path(tmp))
        lengths = np.array([len(ids) for ids in settings[FLOAT32].model.token_ids(["passage: " + t for t in texts])])
        print(f"{len(texts)} unique texts; tokens p50={np.median(lengths):.0f} p90={np.percentile(lengths, 90):.0f} "
              f"max={lengths.max()} (cap {build_encoder.MAX_SEQ_LENGTH}); cores={cpu_count()}")
        timed = {name: encoder_for(s, checksum, None) for name, s in settings.items()}
        timings = time_round_robin(
            {name: (lambda t, e=e, b=settings[name].batch_size: e.encode(t, batch_size=b)) for name, e in timed.items()},
            texts, args.rounds)
        predictions = {
            name: shipped_predictions(encoder_for(setting, checksum, Path(tmp) / f"cache-{i}"), args.gold, texts)
            for i, (name, setting) in enumerate(settings.items())}

    reference_vectors = timings[REFERENCE][2]
    reference_f1, reference_gold, reference_texts = predictions[REFERENCE]
    header = (f"{'setting':44s} {'batch':>5s} {'sent/s':>7s} {'/CPU-s':>7s} {'vs torch':>8s} {'min cos':>8s} "
              f"{'mean cos':>9s} {'gold F1':>8s} {'gold same':>9s} {'texts same':>10s}")
    print(f"\nreference: {REFERENCE}; the default: {backend_variant(default_backend())}\n{header}\n{'-' * len(header)}")
    for name, (speed, cpu_speed, vectors) in timings.items():
        cosines = np.sum(vectors * reference_vectors, axis=1)
        f1, gold_predicted, text_predicted = predictions[name]
        print(f"{name:44s} {settings[name].batch_size:5d} {speed:7.1f} {cpu_speed:7.1f} "
              f"{speed / timings[REFERENCE][0]:7.2f}x {cosines.min():8.5f} {cosines.mean():9.6f} {f1:8.4f} "
              f"{same(gold_predicted, reference_gold):9.3f} {same(text_predicted, reference_texts):10.4f}")
    print(f"(gold F1 of torch {reference_f1:.4f}; 'texts same' over {len(reference_texts)} predictions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
