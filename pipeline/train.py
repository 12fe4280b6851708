"""Training data for a codebook, the ensemble trained on it, and leave-one-study-out cross-validation.

    >>> data = assemble(book, gold=Path("../shared/gold/dev.jsonl"), theses=[Path("../shared/seeds")])
    >>> result = train(book, data, cv="study")
    >>> save_model(result.coder, Path("models/perry6"), result.manifest_extra())

Where labelled texts come from (each becomes a :class:`TrainingExample`):

- the codebook's own examples (study ``codebook``; never held out in CV);
- gold JSONL records of this codebook (:mod:`pipeline.gold`);
- coded theses: every narrative/quote unit under a dimension heading
  ("4.2 Hasil Penelitian > 1. Koordinasi") gets the code whose name or
  synonym the heading is (:func:`heading_code`).  A document whose metadata
  names another framework, or whose headings name only other frameworks'
  dimensions, is skipped (a Tamtanus thesis's "Koordinasi" is not Perry 6's);
- reviewed corrections: a CSV with ``unit_id, code, valence, text``.

Texts seen twice keep the most trusted label: review > gold > thesis > codebook.
The *study* of an example (its source document, or the reviews file) is
the group left out in cross-validation, so a study is never scored by a
model that saw it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from pipeline.classify.embedding import EmbeddingCoder
from pipeline.classify.ensemble import EnsembleCoder
from pipeline.codebook import Codebook, heading_key, list_codebooks
from pipeline.schema import UNCODED, VALENCES

SOURCE_PRIORITY = {"review": 3, "gold": 2, "thesis": 1, "codebook": 0}
CODEBOOK_STUDY = "codebook"
WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))
THESIS_KINDS = ("narrative", "quote")
NUMBERING = re.compile(r"^[\s*#_]*(?:(?:\d+(?:\.\d+)*|[A-Za-z]|[IVXLivxl]+)[.)]\s*)?")


class TrainingDataError(ValueError):
    """Training input that cannot be used; one line naming the file and the reason."""


@dataclass(frozen=True)
class TrainingExample:
    """One labelled text."""

    text: str
    code: str  # code id or UNCODED
    valence: str  # one of VALENCES, or "" when unknown (thesis units)
    study: str  # the cross-validation group
    source: str  # codebook | gold | thesis | review


@dataclass
class ThesisMapping:
    """What mapping thesis headings to codes did, for the researcher to check."""

    mapped: Counter = field(default_factory=Counter)  # (document, heading, code) -> units
    unmapped: Counter = field(default_factory=Counter)  # (document, section) -> units
    skipped_documents: dict[str, str] = field(default_factory=dict)  # document -> why

    def lines(self) -> list[str]:
        """The mapping as printable lines."""
        out = [f"mapped {sum(self.mapped.values())} unit(s) under {len(self.mapped)} heading(s):"]
        out += [f"  {doc}: '{heading}' -> {code} ({n})" for (doc, heading, code), n in sorted(self.mapped.items())]
        out.append(f"not mapped: {sum(self.unmapped.values())} unit(s) in {len(self.unmapped)} section(s)")
        out += [f"  {doc}: '{section or '(no heading)'}' ({n})" for (doc, section), n in sorted(self.unmapped.items())]
        out += [f"skipped {doc}: {why}" for doc, why in sorted(self.skipped_documents.items())]
        return out


# --------------------------------------------------------------------------- sources


def codebook_examples(book: Codebook) -> list[TrainingExample]:
    """The codebook's own examples as training data."""
    return [
        TrainingExample(example.text, code.id, example.valence or "", CODEBOOK_STUDY, "codebook")
        for code in book.codes
        for example in code.examples
    ]


def gold_examples(path: Path, book: Codebook) -> list[TrainingExample]:
    """Gold records of ``book``'s framework; the study is the record's source document."""
    from pipeline.gold import read_gold

    return [
        TrainingExample(r.text, r.label, r.valence, r.source or r.study or path.name, "gold")
        for r in read_gold(path)
        if r.framework == book.id
    ]


def heading_title(component: str) -> str:
    """A section-path component without its numbering and markdown ("4.2 Hasil" -> "Hasil")."""
    return NUMBERING.sub("", component).strip(" *#_:")


def heading_table(book: Codebook) -> dict[str, str]:
    """heading key -> code id, from each code's id, name and synonyms."""
    table: dict[str, str] = {}
    for code in book.codes:
        for name in (code.id.replace("_", " "), code.name, code.name_en, *code.synonyms):
            if name:
                table.setdefault(heading_key(name), code.id)
    return table


def heading_code(section: str, tables: dict[str, dict[str, str]], codebook_id: str) -> tuple[str, str] | None:
    """(heading, code) of the nearest heading in ``section`` that names a dimension of ``codebook_id``.

    Walks the path from the deepest heading up; the first heading that names
    a dimension of *any* codebook decides (None when it is another codebook's).
    """
    for component in reversed([c for c in section.split(" > ") if c.strip()]):
        key = heading_key(heading_title(component))
        if key in tables[codebook_id]:
            return component.strip(), tables[codebook_id][key]
        if any(key in table for table in tables.values()):
            return None
    return None


def _other_framework(units: Sequence[Any], tables: dict[str, dict[str, str]], codebook_id: str) -> str:
    """The codebook a document's headings point to instead of ``codebook_id`` ('' when none)."""
    exclusive: Counter = Counter()
    for unit in units:
        for component in unit.section.split(" > "):
            key = heading_key(heading_title(component))
            owners = [cb for cb, table in tables.items() if key in table]
            if len(owners) == 1:
                exclusive[owners[0]] += 1
    if not exclusive or exclusive[codebook_id]:
        return ""
    return exclusive.most_common(1)[0][0]


def thesis_examples(folder: Path, book: Codebook) -> tuple[list[TrainingExample], ThesisMapping]:
    """Units of the theses in ``folder`` labelled by their dimension headings, and the mapping report."""
    from pipeline.ingest.batch import ingest
    from pipeline.ingest.corpus import plan_corpus

    result = ingest(plan_corpus(folder))
    tables = {other.id: heading_table(other) for other in list_codebooks()}
    tables[book.id] = heading_table(book)
    mapping = ThesisMapping()
    for path, reason in result.report.failed:
        mapping.skipped_documents[path] = f"could not be read: {reason}"
    examples: list[TrainingExample] = []
    for doc in result.documents:
        units = [u for u in result.units if u.doc_id == doc.doc_id and u.kind in THESIS_KINDS]
        framework = doc.metadata.get("framework", "")
        other = framework if framework and framework != book.id else _other_framework(units, tables, book.id)
        if other:
            mapping.skipped_documents[doc.path] = f"its headings/metadata are framework '{other}'"
            continue
        study = Path(doc.path).name
        for unit in units:
            found = heading_code(unit.section, tables, book.id)
            if found is None:
                mapping.unmapped[(doc.path, unit.section)] += 1
                continue
            heading, code = found
            mapping.mapped[(doc.path, heading, code)] += 1
            examples.append(TrainingExample(unit.text_clean or unit.text, code, "", study, "thesis"))
    return examples, mapping


def review_examples(path: Path, book: Codebook) -> list[TrainingExample]:
    """Reviewed corrections: a CSV with columns ``unit_id, code, valence, text``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise TrainingDataError(f"{path}: file not found") from None
    needed = {"unit_id", "code", "valence", "text"}
    if rows and not needed <= set(rows[0]):
        raise TrainingDataError(f"{path}: missing column(s) {', '.join(sorted(needed - set(rows[0])))}")
    examples = []
    for line, row in enumerate(rows, start=2):
        code, valence, text = row["code"].strip(), row["valence"].strip(), row["text"].strip()
        if code != UNCODED and code not in book:
            raise TrainingDataError(f"{path}:{line}: code '{code}' is not a code of {book.id}")
        if valence and valence not in VALENCES:
            raise TrainingDataError(f"{path}:{line}: valence must be one of {', '.join(VALENCES)}, not '{valence}'")
        if not text:
            raise TrainingDataError(f"{path}:{line}: empty text for unit '{row['unit_id']}'")
        examples.append(TrainingExample(text, code, valence, f"reviews:{path.name}", "review"))
    return examples


def deduplicate(examples: Sequence[TrainingExample]) -> list[TrainingExample]:
    """One example per text (whitespace and case ignored), the most trusted source winning; stable order."""
    best: dict[str, TrainingExample] = {}
    for example in examples:
        key = " ".join(example.text.split()).casefold()
        if key and (key not in best or SOURCE_PRIORITY[example.source] > SOURCE_PRIORITY[best[key].source]):
            best[key] = example
    return sorted(best.values(), key=lambda e: (e.study, e.source, e.code, e.text))


def assemble(
    book: Codebook,
    gold: Path | None = None,
    theses: Sequence[Path] = (),
    reviews: Path | None = None,
) -> tuple[list[TrainingExample], list[str]]:
    """All training examples for ``book`` (deduplicated, sorted) and report lines about them."""
    examples = codebook_examples(book)
    lines = [f"codebook examples: {len(examples)}"]
    if gold is not None:
        found = gold_examples(gold, book)
        lines.append(f"gold {gold}: {len(found)} record(s) of {book.id}")
        examples += found
    for folder in theses:
        found, mapping = thesis_examples(folder, book)
        lines += [f"theses {folder}:", *("  " + line for line in mapping.lines())]
        examples += found
    if reviews is not None:
        found = review_examples(reviews, book)
        lines.append(f"reviews {reviews}: {len(found)} correction(s)")
        examples += found
    unique = deduplicate(examples)
    lines.append(f"{len(unique)} distinct text(s) after removing {len(examples) - len(unique)} duplicate(s)")
    return unique, lines


def data_hash(examples: Sequence[TrainingExample]) -> str:
    """sha256 over the examples (text, code, valence, study), order-independent."""
    rows = sorted(json.dumps([e.text, e.code, e.valence, e.study], ensure_ascii=False) for e in examples)
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- training


def fit_embedding(book: Codebook, examples: Sequence[TrainingExample], encoder: Any = None) -> EmbeddingCoder:
    """An :class:`EmbeddingCoder` fitted on ``examples``."""
    coder = EmbeddingCoder(book, encoder=encoder)
    return coder.fit([e.text for e in examples], [e.code for e in examples], [e.valence or None for e in examples])


@dataclass
class CrossValidation:
    """Leave-one-study-out results: the chosen settings and the held-out scores."""

    weight: float
    valence_source: str
    metrics: dict[str, Any]  # macro_f1, kappa, accuracy, valence_accuracy, n, per_weight, ...


def cross_validate(book: Codebook, examples: Sequence[TrainingExample], encoder: Any = None) -> CrossValidation:
    """Leave one study out: pick the ensemble weight and valence source on held-out predictions.

    Codebook examples are always in training, unless there is only one
    real study: then they are the second fold.  Each other study is coded by a
    model trained on every other study; the pooled out-of-fold predictions are
    scored with :func:`pipeline.evaluate.score`.  The weight is chosen on the
    same pooled predictions, so the reported figure is slightly optimistic
    about the weight (one parameter), never about the texts.
    """
    from pipeline.classify.lexicon import LexiconCoder
    from pipeline.classify.valence import valence_of
    from pipeline.evaluate import score

    studies = sorted({e.study for e in examples} - {CODEBOOK_STUDY})
    if len(studies) < 2 and any(e.study == CODEBOOK_STUDY for e in examples):
        studies.append(CODEBOOK_STUDY)  # one real study: the codebook examples are the other fold
    if len(studies) < 2:
        raise TrainingDataError(f"cross-validation by study needs at least two studies, got {studies or 'none'}")
    held: list[TrainingExample] = []
    embedding_proba, embedding_valence = [], []
    for study in studies:
        train_part = [e for e in examples if e.study != study]
        test_part = [e for e in examples if e.study == study]
        coder = fit_embedding(book, train_part, encoder)
        vectors = coder.embed([e.text for e in test_part])
        embedding_proba.append(coder.proba_from_embeddings(vectors))
        valence_rows = coder.valence_proba(vectors)
        embedding_valence += (
            list(coder.valence_classes_[valence_rows.argmax(axis=1)]) if valence_rows is not None else [""] * len(test_part)
        )
        held += test_part
    gold = [e.code for e in held]
    emb = np.vstack(embedding_proba)
    lexicon = LexiconCoder(book)
    lex = lexicon.predict_proba([e.text for e in held])
    per_weight = {}
    for weight in WEIGHTS:
        ensemble = EnsembleCoder(coder, lexicon, weight=weight)
        per_weight[weight] = float(f1_score(gold, ensemble.decide(ensemble.combine(emb, lex)), average="macro", zero_division=0))
    weight = max(WEIGHTS, key=lambda w: (round(per_weight[w], 9), w))
    ensemble = EnsembleCoder(coder, lexicon, weight=weight)
    predicted = ensemble.decide(ensemble.combine(emb, lex))
    labelled = [i for i, e in enumerate(held) if e.valence]
    lexicon_valence = [valence_of(held[i].text)[0] if predicted[i] != UNCODED else "neutral" for i in labelled]
    embed_valence = [embedding_valence[i] or "neutral" if predicted[i] != UNCODED else "neutral" for i in labelled]
    true_valence = [held[i].valence for i in labelled]
    valence_scores = {
        "lexicon": _share_equal(true_valence, lexicon_valence),
        "embedding": _share_equal(true_valence, embed_valence),
    }
    valence_source = "embedding" if valence_scores["embedding"] > valence_scores["lexicon"] else "lexicon"
    scores = score(gold, predicted, gold, predicted)
    metrics = {
        "scheme": "leave-one-study-out",
        "studies": {s: sum(e.study == s for e in held) for s in studies},
        "n": scores.n,
        "accuracy": scores.accuracy,
        "macro_f1": scores.macro_f1,
        "kappa": None if np.isnan(scores.kappa) else scores.kappa,
        "macro_f1_by_weight": {str(w): round(f, 4) for w, f in per_weight.items()},
        "embedding_only_macro_f1": per_weight[1.0],
        "lexicon_only_macro_f1": per_weight[0.0],
        "valence_n": len(labelled),
        "valence_accuracy": valence_scores[valence_source],
        "valence_accuracy_by_source": valence_scores,
        "per_code": scores.per_code,
    }
    return CrossValidation(weight, valence_source, _rounded(metrics))


def _share_equal(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Share of equal pairs (None for no pairs)."""
    return float(np.mean([x == y for x, y in zip(a, b)])) if a else None


def _rounded(value: Any) -> Any:
    """Floats rounded to 4 places, recursively (stable manifests)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


@dataclass
class TrainResult:
    """A trained ensemble and what the manifest records about its training."""

    coder: EnsembleCoder
    examples: list[TrainingExample]
    cv: CrossValidation | None
    report: list[str]

    def training_info(self) -> dict[str, Any]:
        """The training section of the manifest."""
        return {
            "data_sha256": data_hash(self.examples),
            "n_examples": len(self.examples),
            "counts_per_code": dict(sorted(Counter(e.code for e in self.examples).items())),
            "counts_per_source": dict(sorted(Counter(e.source for e in self.examples).items())),
            "studies": sorted({e.study for e in self.examples}),
            "cv": self.cv.metrics if self.cv else None,
        }


def train(
    book: Codebook,
    examples: Sequence[TrainingExample],
    cv: str | None = "study",
    encoder: Any = None,
    weight: float = 0.7,
) -> TrainResult:
    """Train the ensemble on ``examples``; with ``cv="study"`` its weight and valence source come from CV."""
    from pipeline.classify.lexicon import LexiconCoder

    examples = list(examples)
    report: list[str] = []
    result_cv = None
    valence_source = "lexicon"
    if cv == "study":
        result_cv = cross_validate(book, examples, encoder)
        weight, valence_source = result_cv.weight, result_cv.valence_source
        m = result_cv.metrics
        report.append(
            f"leave-one-study-out CV ({m['n']} texts, {len(m['studies'])} studies): macro-F1 {m['macro_f1']:.3f}, "
            f"kappa {m['kappa'] if m['kappa'] is not None else float('nan'):.3f}, "
            f"valence accuracy {m['valence_accuracy'] or float('nan'):.3f} (n={m['valence_n']}); "
            f"chosen weight {weight:.1f}, valence from {valence_source}"
        )
    elif cv is not None:
        raise TrainingDataError(f"unknown --cv '{cv}' (use 'study')")
    embedding = fit_embedding(book, examples, encoder)
    if valence_source == "embedding" and not hasattr(embedding, "valence_coef_"):
        valence_source = "lexicon"
    coder = EnsembleCoder(embedding, LexiconCoder(book), weight=weight, valence_source=valence_source)
    return TrainResult(coder, examples, result_cv, report)
