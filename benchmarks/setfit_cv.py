"""Does SetFit-style contrastive fine-tuning of the encoder beat the frozen encoder?  Leave-one-study-out.

For each study of the training data the default models are built from
(``scripts/train_default_models.sh``'s sources), two embedding coders are
trained on all other studies and code the held-out study's texts:

* ``frozen``: the shipped set-up (the default e5-small encoder, unchanged);
* ``setfit``: the same encoder after fine-tuning its top ``--layers``
  transformer layers with SetFit's loss (cosine similarity of a text pair
  regressed to 1 for the same code, 0 for different codes, ``uncoded`` being a
  class) on ``--pairs`` sampled pairs, under torch.

Both go through the same heads, abstention mode, ensemble weight and
threshold (those in ``models/<codebook>/manifest.json``).  The script prints
the pooled model-alone and as-a-run macro-F1 of each, plus the best
(weight, threshold) of each, which is optimistic for both alike.  Slow: one
fine-tuning per study (about 80 s for 2 layers and 1,000 pairs on 2 cores).

    .venv/bin/python benchmarks/setfit_cv.py tamtanus [--layers 4] [--pairs 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.metrics import f1_score  # noqa: E402

from pipeline.classify.build_encoder import default_encoder_dir  # noqa: E402
from pipeline.classify.embedding import default_encoder  # noqa: E402
from pipeline.classify.lexicon import LexiconCoder  # noqa: E402
from pipeline.codebook import load_codebook  # noqa: E402
from pipeline.schema import UNCODED  # noqa: E402
from pipeline.train import (  # noqa: E402
    TrainingExample, assemble, average, cv_studies, decide_rows, fit_embedding, own_examples,
    pseudonymise_examples, with_pipeline_rules,
)

WEIGHTS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
THRESHOLDS = (0.0, 0.2, 0.3, 0.35, 0.4, 0.5)


class TunedEncoder:
    """A fine-tuned sentence-transformers model behind the encoder interface the coders use."""

    backend, dim = "torch", 384

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors (the model's default ``passage: `` prompt applies)."""
        import torch

        self.model.eval()
        with torch.no_grad():
            return self.model.encode(list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True)


def sample_pairs(examples: list[TrainingExample], n: int, rng: random.Random) -> list[tuple[str, str, float]]:
    """``n`` pairs, alternately of one code (label 1) and of two codes (label 0)."""
    by_code: dict[str, list[str]] = {}
    for example in examples:
        by_code.setdefault(example.code, []).append(example.text)
    codes = [code for code, texts in by_code.items() if len(texts) >= 2]
    pairs = []
    for i in range(n):
        code = rng.choice(codes)
        if i % 2 == 0:
            first, second = rng.sample(by_code[code], 2)
            pairs.append((first, second, 1.0))
        else:
            other = rng.choice([c for c in by_code if c != code])
            pairs.append((rng.choice(by_code[code]), rng.choice(by_code[other]), 0.0))
    return pairs


def fine_tune(base: Any, examples: list[TrainingExample], layers: int, n_pairs: int, seed: int) -> Any:
    """A copy of ``base`` with its top ``layers`` layers tuned for one epoch on sampled pairs (batch 16)."""
    import torch

    model = copy.deepcopy(base)
    bert = model[0].auto_model
    for parameter in bert.parameters():
        parameter.requires_grad_(False)
    for layer in bert.encoder.layer[len(bert.encoder.layer) - layers:]:
        for parameter in layer.parameters():
            parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=8e-5)
    rng = random.Random(seed)
    pairs = sample_pairs(examples, n_pairs, rng)
    model.train()
    for start in range(0, len(pairs), 16):
        batch = pairs[start:start + 16]
        first = model(model.tokenize([f"passage: {a}" for a, _, _ in batch]))["sentence_embedding"]
        second = model(model.tokenize([f"passage: {b}" for _, b, _ in batch]))["sentence_embedding"]
        cosine = torch.nn.functional.cosine_similarity(first, second)
        loss = torch.nn.functional.mse_loss(cosine, torch.tensor([label for _, _, label in batch]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


def training_examples(codebook: str, shared: Path) -> list[TrainingExample]:
    """The default models' training data for ``codebook`` (pseudonymised, as the shipped models)."""
    gold = [REPO / "corpora/training/spoken_excerpts.jsonl", shared / "gold/dev.jsonl"]
    theses = [REPO / "corpora/sample", shared / "seeds"]
    examples, _ = assemble(load_codebook(codebook), gold=[p for p in gold if p.exists()],
                           theses=[p for p in theses if p.exists()])
    return pseudonymise_examples(examples)


def report(name: str, book: Any, held: list[TrainingExample], proba: np.ndarray, lexicon: np.ndarray,
           settings: dict[str, Any]) -> str:
    """One line: macro-F1 at the shipped settings (model alone, as a run) and at the best settings."""
    classes, gold = [*book.code_ids, UNCODED], [e.code for e in held]
    f1 = lambda predicted: f1_score(gold, predicted, average="macro", zero_division=0)  # noqa: E731
    predicted = decide_rows(average(proba, lexicon, settings["ensemble_weight"]), classes,
                            settings["ensemble_threshold"])
    best = max((f1(decide_rows(average(proba, lexicon, w), classes, t)), w, t) for w in WEIGHTS for t in THRESHOLDS)
    return (f"{name:7} model-alone macro-F1 {f1(predicted):.3f}, as a run {f1(with_pipeline_rules(held, predicted)):.3f}; "
            f"best settings {best[0]:.3f} (weight {best[1]}, threshold {best[2]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("codebook")
    parser.add_argument("--layers", type=int, default=2, help="top transformer layers to tune (default 2)")
    parser.add_argument("--pairs", type=int, default=1000, help="text pairs per fine-tuning (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    base = SentenceTransformer(str(default_encoder_dir()), device="cpu")
    base.max_seq_length = 128
    book = load_codebook(args.codebook)
    settings = json.loads((REPO / "models" / args.codebook / "manifest.json").read_text())["training"]["cv"]
    examples = training_examples(args.codebook, args.shared)
    held: list[TrainingExample] = []
    frozen, tuned = [], []
    for study in cv_studies(examples):
        train = [e for e in examples if e.study != study]
        test = [e for e in own_examples(examples) if e.study == study]
        clock = time.perf_counter()
        for encoder, found in ((default_encoder(), frozen),
                               (TunedEncoder(fine_tune(base, own_examples(train), args.layers, args.pairs, args.seed)),
                                tuned)):
            coder = fit_embedding(book, train, encoder, settings["abstention"])
            found.append(coder.proba_from_embeddings(coder.embed([e.text for e in test])))
        held += test
        print(f"  {study[:40]:40} {len(test):4d} texts  {time.perf_counter() - clock:5.0f} s", flush=True)
    lexicon = LexiconCoder(book).predict_proba([e.text for e in held])
    for name, proba in (("frozen", frozen), ("setfit", tuned)):
        print(report(name, book, held, np.vstack(proba), lexicon, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
