"""Score a coder against gold records: per-code precision/recall/F1, macro-F1, kappa, alpha.

    >>> from pipeline.gold import read_gold
    >>> records = read_gold("../shared/gold/dev.jsonl")
    >>> result = evaluate(records, coder_factory("lexicon"))
    >>> result.overall.macro_f1

Records are grouped by ``framework``; each group is coded by the coder the
factory builds for that framework's codebook.  A *coder factory* is any
``Callable[[Codebook], Coder]``; :func:`coder_factory` makes one from a model
name (``lexicon``, ``default``) or a model folder.  A factory raises
:class:`ModelMismatch` for a codebook it cannot serve; that framework is then
skipped and reported, not failed.

Metrics, per framework and overall (overall labels are ``framework.code`` so
``perry6.koordinasi`` and ``tamtanus.koordinasi`` stay apart; ``uncoded`` is
one label):

- per code: precision, recall, F1, support (sklearn);
- macro-F1 over the labels present in gold or predictions (``uncoded``
  included whenever it occurs on either side);
- accuracy, Cohen's kappa, Krippendorff's alpha (nominal, gold and model as
  two coders), valence accuracy, and the confusion matrix.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, cohen_kappa_score, precision_recall_fscore_support

from pipeline.classify.base import Coder
from pipeline.codebook import Codebook, load_codebook
from pipeline.gold import GoldRecord
from pipeline.schema import UNCODED

CoderFactory = Callable[[Codebook], Coder]


class ModelMismatch(ValueError):
    """A model that cannot code with the requested codebook."""


# --------------------------------------------------------------------------- models


def coder_factory(model: str) -> CoderFactory:
    """A model as :mod:`pipeline.classify.registry` names it (``lexicon``, ``default``, a folder), as a factory.

    A model folder serves only the codebook it was trained for: asked for
    another codebook id, the factory raises :class:`ModelMismatch` (that
    framework is skipped); the same id with another hash is a real error.
    """
    from pipeline.classify.registry import BUILTIN, load_coder

    folder = Path(model)
    if model not in BUILTIN and not folder.is_dir():
        raise ValueError(f"{model}: not a model name ({', '.join(BUILTIN)}) nor a model folder")

    def factory(codebook: Codebook) -> Coder:
        if model not in BUILTIN:
            from pipeline.model_folder import read_manifest

            trained_for = read_manifest(folder)["codebook"].get("id")
            if trained_for != codebook.id:
                raise ModelMismatch(f"{folder}: the model codes '{trained_for}', not '{codebook.id}'")
        return load_coder(model, codebook.path or codebook.id)

    return factory


# --------------------------------------------------------------------------- metrics


def krippendorff_alpha_nominal(units: Sequence[Sequence[Hashable | None]]) -> float:
    """Krippendorff's alpha for nominal data: one row per unit, one value per coder (None = missing).

    ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c * n_k`` over the
    coincidence matrix ``o``; units with fewer than two values are not pairable.
    Returns NaN when there is no variation at all (only one category used).
    """
    coincidences: Counter[tuple[Hashable, Hashable]] = Counter()
    for unit in units:
        values = [value for value in unit if value is not None]
        m = len(values)
        if m < 2:
            continue
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i != j:
                    coincidences[(a, b)] += 1.0 / (m - 1)
    totals: Counter[Hashable] = Counter()
    for (a, _), count in coincidences.items():
        totals[a] += count
    n = sum(totals.values())
    disagreement = sum(count for (a, b), count in coincidences.items() if a != b)
    expected = n * n - sum(count * count for count in totals.values())  # sum over c != k of n_c * n_k
    if expected == 0:
        return math.nan
    return 1.0 - (n - 1) * disagreement / expected


@dataclass
class Scores:
    """Agreement between gold and predicted labels (and valences) for one set of records."""

    n: int
    accuracy: float
    macro_f1: float
    kappa: float
    alpha: float
    valence_accuracy: float
    labels: list[str]  # order of per_code and of the confusion matrix
    per_code: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]  # rows: gold, columns: predicted

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (NaN becomes null)."""
        return _nan_to_none(asdict(self))


def score(
    gold: Sequence[str], predicted: Sequence[str], gold_valence: Sequence[str], predicted_valence: Sequence[str]
) -> Scores:
    """All metrics for parallel lists of gold/predicted labels and valences."""
    if not (len(gold) == len(predicted) == len(gold_valence) == len(predicted_valence)) or not gold:
        raise ValueError("score: gold and predictions must be non-empty and of equal length")
    labels = sorted(set(gold) | set(predicted), key=lambda label: (label == UNCODED, label))
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    per_code = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    return Scores(
        n=len(gold),
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1.mean()),
        kappa=_kappa(gold, predicted),
        alpha=krippendorff_alpha_nominal(list(zip(gold, predicted))),
        valence_accuracy=float(accuracy_score(gold_valence, predicted_valence)),
        labels=labels,
        per_code=per_code,
        confusion=_confusion(gold, predicted, labels),
    )


def _confusion(gold: Sequence[str], predicted: Sequence[str], labels: list[str]) -> list[list[int]]:
    """Counts of (gold, predicted) pairs; rows and columns in ``labels`` order."""
    position = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted):
        matrix[position[g]][position[p]] += 1
    return matrix


def _kappa(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Cohen's kappa; NaN when chance agreement is total (one label on both sides)."""
    if len(set(gold) | set(predicted)) < 2:
        return math.nan
    return float(cohen_kappa_score(gold, predicted))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(item) for item in value]
    return value


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """Scores overall and per framework, with every record's prediction."""

    overall: Scores
    per_framework: dict[str, Scores]
    models: dict[str, str]  # framework -> model id
    predictions: list[dict[str, Any]]  # one per coded record, gold order
    skipped: dict[str, str] = field(default_factory=dict)  # framework -> why

    def to_dict(self) -> dict[str, Any]:
        """The JSON written by ``wogcode evaluate --json``."""
        data = self.overall.to_dict()
        data["per_framework"] = {name: scores.to_dict() for name, scores in self.per_framework.items()}
        data["models"] = self.models
        data["skipped"] = self.skipped
        data["predictions"] = self.predictions
        return data


def evaluate(records: Sequence[GoldRecord], factory: CoderFactory) -> Evaluation:
    """Code every record with the coder for its framework and score the result."""
    by_framework: dict[str, list[GoldRecord]] = defaultdict(list)
    for record in records:
        by_framework[record.framework].append(record)
    predicted: dict[str, dict[str, Any]] = {}
    per_framework: dict[str, Scores] = {}
    models: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for framework, group in by_framework.items():
        try:
            coder = factory(load_codebook(framework))
        except ModelMismatch as exc:
            skipped[framework] = str(exc)
            continue
        models[framework] = coder.model_id
        for record, prediction in zip(group, coder.explain([r.text for r in group])):
            predicted[record.id] = {
                "id": record.id, "framework": framework, "gold": record.label, "predicted": prediction.code,
                "score": round(float(prediction.score), 4), "gold_valence": record.valence,
                "predicted_valence": prediction.valence, "reason": prediction.reason,
            }
        per_framework[framework] = _score_rows([predicted[r.id] for r in group], qualify=False)
    rows = [predicted[r.id] for r in records if r.id in predicted]
    if not rows:
        raise ValueError("evaluate: the model could code none of the frameworks: " + "; ".join(skipped.values()))
    return Evaluation(_score_rows(rows, qualify=True), per_framework, models, rows, skipped)


def _score_rows(rows: list[dict[str, Any]], qualify: bool) -> Scores:
    """Scores of prediction rows; ``qualify`` prefixes codes with their framework."""

    def label(row: dict[str, Any], key: str) -> str:
        value = row[key]
        return f"{row['framework']}.{value}" if qualify and value != UNCODED else value

    return score(
        [label(row, "gold") for row in rows],
        [label(row, "predicted") for row in rows],
        [row["gold_valence"] for row in rows],
        [row["predicted_valence"] for row in rows],
    )
