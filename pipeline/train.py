"""Training data for a codebook, the ensemble trained on it, and leave-one-study-out cross-validation.

    >>> data = assemble(book, gold=Path("../shared/gold/dev.jsonl"), theses=[Path("corpora/sample")])
    >>> result = train(book, data, cv="study")
    >>> save_model(result.coder, Path("models/perry6"), result.training_info())

Where labelled texts come from (each becomes a :class:`TrainingExample`):

- the codebook's own examples (study ``codebook``);
- gold JSONL records of this codebook (:mod:`pipeline.gold`);
- corpus folders (``theses``), read with the ingester:

  - coded theses: every narrative/quote unit under a dimension heading
    ("4.2 Hasil Penelitian > 1. Koordinasi") gets the code whose name or
    synonym the heading is (:func:`heading_code`).  A document whose metadata
    names another framework, or whose headings name only other frameworks'
    dimensions, gives no coded units (a Tamtanus thesis's "Koordinasi" is not
    Perry 6's);
  - ``uncoded`` from theses of any framework: units under a heading that is
    not findings (abstract, introduction, method, literature, general
    description; the list ``non_findings_headings`` in
    ``lexicons/uncoded_examples.yaml``, see :func:`non_findings_heading`);
  - ``uncoded`` from transcripts: every interviewer turn (the codebook
    contract: interviewer questions are uncoded);

- ``lexicons/uncoded_examples.yaml``: short greetings, small talk,
  procedural talk, thanks and questions, all ``uncoded`` and ``neutral``;
- reviewed corrections: a CSV with ``unit_id, code, valence, text``;
- the coded texts of every *other* shipped codebook (its examples, gold
  records and heading-mapped thesis units), labelled :data:`OTHER_CODEBOOK`:
  not a code of this codebook, but evidence of what is *not* uncoded talk
  (the ``gate`` abstention of :class:`EmbeddingCoder` learns from them),
  and their valences train the valence head like this codebook's own.

Texts seen twice keep the most trusted label: review > gold > thesis
(headings, sections, interviewer turns) > codebook and the uncoded list.
The *study* of an example (its document's ``study`` metadata, else its file
name; the reviews file; the codebook; the uncoded list) is the group left
out in cross-validation, so a study is never scored by a model that saw it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sklearn.metrics import f1_score

from pipeline.classify.embedding import ABSTENTIONS, EmbeddingCoder, with_vote
from pipeline.classify.ensemble import DEFAULT_THRESHOLD, DEFAULT_WEIGHT, EnsembleCoder, average, decide_rows
from pipeline.codebook import Codebook, heading_key, list_codebooks
from pipeline.findings import THESIS_KINDS, heading_title, non_findings_heading
from pipeline.paths import LEXICONS
from pipeline.schema import UNCODED, VALENCES

#: Where a training example comes from, and how much its label is trusted (higher wins on duplicates).
SOURCE_PRIORITY = {
    "review": 3, "gold": 2, "thesis": 1, "section": 1, "interviewer": 1, "codebook": 0, "uncoded_list": 0,
    "other_codebook": -1,
}
#: The label of a text coded in another codebook (see the module docstring).
OTHER_CODEBOOK = "coded_in_other_codebook"
#: What the sources of ``uncoded`` examples are called in reports.
UNCODED_SOURCES = {
    "interviewer": "interviewer turns of transcripts",
    "section": "thesis sections that are not findings",
    "uncoded_list": "lexicons/uncoded_examples.yaml",
}
#: Sources of ``uncoded`` examples that a run never sends to a coder (see :func:`with_pipeline_rules`).
RULED_SOURCES = ("interviewer", "section")
CODEBOOK_STUDY = "codebook"
UNCODED_LIST = LEXICONS / "uncoded_examples.yaml"
WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 11))
THRESHOLDS = tuple(round(t, 2) for t in np.linspace(0.0, 0.9, 19))  # ensemble abstention thresholds tried in CV
ABSTENTION_MODES = ABSTENTIONS  # how the embedding head learns uncoded (``train(cv=None, abstention=...)``)
#: The abstention mode of training, with or without cross-validation, when there are ``uncoded`` examples ("class"
#: without them; :func:`default_abstention`).
#: Comparing all three per training set only added noise: "gate" won on each shipped codebook, and choosing among
#: the three per study lowered mpp_factors' nested macro-F1 (0.536 -> 0.514; the other codebooks unchanged).
CV_ABSTENTION = "gate"
NEIGHBOUR_VOTES = (0.0, 0.5)  # weights of the nearest training texts' vote compared in cross-validation (0 first)


class TrainingDataError(ValueError):
    """Training input that cannot be used; one line naming the file and the reason."""


@dataclass(frozen=True)
class TrainingExample:
    """One labelled text."""

    text: str
    code: str  # code id, UNCODED, or OTHER_CODEBOOK
    valence: str  # one of VALENCES, or "" when unknown (thesis units)
    study: str  # the cross-validation group
    source: str  # a key of SOURCE_PRIORITY


@dataclass
class ThesisMapping:
    """What reading a corpus folder gave, for the researcher to check."""

    mapped: Counter = field(default_factory=Counter)  # (document, heading, code) -> units
    unmapped: Counter = field(default_factory=Counter)  # (document, section) -> units
    skipped_documents: dict[str, str] = field(default_factory=dict)  # document -> why it gave no coded units
    uncoded_sections: Counter = field(default_factory=Counter)  # (document, heading) -> units made uncoded
    interviewer_turns: Counter = field(default_factory=Counter)  # transcript -> interviewer units made uncoded

    def lines(self) -> list[str]:
        """The mapping as printable lines."""
        out = [f"mapped {sum(self.mapped.values())} unit(s) under {len(self.mapped)} heading(s):"]
        out += [f"  {doc}: '{heading}' -> {code} ({n})" for (doc, heading, code), n in sorted(self.mapped.items())]
        out.append(f"uncoded (not findings): {sum(self.uncoded_sections.values())} unit(s) under "
                   f"{len(self.uncoded_sections)} heading(s):")
        out += [f"  {doc}: '{heading}' ({n})" for (doc, heading), n in sorted(self.uncoded_sections.items())]
        out.append(f"uncoded (interviewer turns): {sum(self.interviewer_turns.values())} unit(s) in "
                   f"{len(self.interviewer_turns)} transcript(s):")
        out += [f"  {doc} ({n})" for doc, n in sorted(self.interviewer_turns.items())]
        out.append(f"not mapped: {sum(self.unmapped.values())} unit(s) in {len(self.unmapped)} section(s)")
        out += [f"  {doc}: '{section or '(no heading)'}' ({n})" for (doc, section), n in sorted(self.unmapped.items())]
        out += [f"no coded units from {doc}: {why}" for doc, why in sorted(self.skipped_documents.items())]
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


def read_uncoded_list(path: Path = UNCODED_LIST) -> dict[str, Any]:
    """``utterances`` (group -> texts) and ``non_findings_headings`` of an uncoded-examples file, checked."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingDataError(f"{path}: file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TrainingDataError(f"{path}: not valid UTF-8 YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise TrainingDataError(f"{path}: expected a mapping with 'utterances' and 'non_findings_headings'")
    utterances, headings = data.get("utterances"), data.get("non_findings_headings")
    if not isinstance(utterances, dict) or not utterances:
        raise TrainingDataError(f"{path}: 'utterances' must map group names to lists of texts")
    for group, texts in utterances.items():
        if not isinstance(texts, list) or not all(isinstance(x, str) and x.strip() for x in texts):
            raise TrainingDataError(f"{path}: utterances '{group}' must be a list of non-empty texts")
    if not isinstance(headings, list) or not all(isinstance(h, str) and h.strip() for h in headings):
        raise TrainingDataError(f"{path}: 'non_findings_headings' must be a list of non-empty headings")
    return {"utterances": utterances, "non_findings_headings": [heading_key(h) for h in headings]}


def uncoded_list_examples(path: Path = UNCODED_LIST) -> list[TrainingExample]:
    """Every utterance of the uncoded-examples file as an ``uncoded``, ``neutral`` example (its own study).

    Greetings, small talk and procedural talk report no success or barrier,
    so they also teach the valence head what neutral talk is.
    """
    groups = read_uncoded_list(path)["utterances"]
    study = f"uncoded list:{path.name}"
    return [TrainingExample(text.strip(), UNCODED, "neutral", study, "uncoded_list")
            for texts in groups.values() for text in texts]


def interviewer_examples(units: Sequence[Any], study: str) -> list[TrainingExample]:
    """Every interviewer utterance of a transcript as an ``uncoded`` example."""
    return [
        TrainingExample(u.text_clean or u.text, UNCODED, "", study, "interviewer")
        for u in units
        if u.kind == "utterance" and u.speaker_role == "interviewer"
    ]


def read_corpus(folder: Path) -> Any:
    """The ingested corpus in ``folder`` (an :class:`~pipeline.ingest.batch.IngestResult`)."""
    from pipeline.ingest.batch import ingest
    from pipeline.ingest.corpus import plan_corpus

    return ingest(plan_corpus(folder))


def thesis_examples(
    folder: Path, book: Codebook, uncoded_list: Path | None = UNCODED_LIST
) -> tuple[list[TrainingExample], ThesisMapping]:
    """Labelled units of the corpus in ``folder`` (theses and transcripts), and the mapping report.

    Theses: units under a dimension heading get its code; units under a
    non-findings heading (from ``uncoded_list``; none when it is None) are
    ``uncoded``.  Transcripts: interviewer turns are ``uncoded``; informant
    turns carry no label and are left out.
    """
    headings = read_uncoded_list(uncoded_list)["non_findings_headings"] if uncoded_list is not None else None
    return corpus_examples(read_corpus(folder), book, headings)


def corpus_examples(
    result: Any, book: Codebook, headings: Sequence[str] | None
) -> tuple[list[TrainingExample], ThesisMapping]:
    """:func:`thesis_examples` on an ingested corpus; ``headings`` None: no ``uncoded`` examples at all."""
    tables = {other.id: heading_table(other) for other in list_codebooks()}
    tables[book.id] = heading_table(book)
    mapping = ThesisMapping()
    for path, reason in result.report.failed:
        mapping.skipped_documents[path] = f"could not be read: {reason}"
    examples: list[TrainingExample] = []
    for doc in result.documents:
        study = doc.metadata.get("study") or Path(doc.path).name
        doc_units = [u for u in result.units if u.doc_id == doc.doc_id]
        if doc.kind == "transcript":
            found = interviewer_examples(doc_units, study) if headings is not None else []
            mapping.interviewer_turns[doc.path] += len(found)
            examples += found
            continue
        units = [u for u in doc_units if u.kind in THESIS_KINDS]
        framework = doc.metadata.get("framework", "")
        other = framework if framework and framework != book.id else _other_framework(units, tables, book.id)
        if other:
            mapping.skipped_documents[doc.path] = f"its headings/metadata are framework '{other}'"
        for unit in units:
            text = unit.text_clean or unit.text
            if not any(char.isalpha() for char in text):  # a stray page number or table cell: nothing to code
                continue
            not_findings = non_findings_heading(unit.section, headings or ())
            if not_findings is not None:
                mapping.uncoded_sections[(doc.path, not_findings)] += 1
                examples.append(TrainingExample(text, UNCODED, "", study, "section"))
                continue
            found = None if other else heading_code(unit.section, tables, book.id)
            if found is None:
                if not other:
                    mapping.unmapped[(doc.path, unit.section)] += 1
                continue
            heading, code = found
            mapping.mapped[(doc.path, heading, code)] += 1
            examples.append(TrainingExample(text, code, "", study, "thesis"))
    return examples, mapping


def other_codebook_examples(book: Codebook, gold: Sequence[Path], corpora: Sequence[Any]) -> list[TrainingExample]:
    """The coded texts of every other shipped codebook, labelled :data:`OTHER_CODEBOOK` (studies kept)."""
    found: list[TrainingExample] = []
    for other in list_codebooks():
        if other.id == book.id:
            continue
        coded = [TrainingExample(e.text, e.code, e.valence, f"{CODEBOOK_STUDY}:{other.id}", e.source)
                 for e in codebook_examples(other)]
        coded += [e for path in gold for e in gold_examples(path, other)]
        for result in corpora:
            coded += [e for e in corpus_examples(result, other, None)[0] if e.code != UNCODED]
        found += [TrainingExample(e.text, OTHER_CODEBOOK, e.valence, e.study, "other_codebook") for e in coded]
    return found


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
    gold: Path | Sequence[Path] = (),
    theses: Sequence[Path] = (),
    reviews: Path | None = None,
    uncoded_list: Path | None = UNCODED_LIST,
    other_codebooks: bool = True,
) -> tuple[list[TrainingExample], list[str]]:
    """All training examples for ``book`` (deduplicated, sorted) and report lines about them.

    ``gold`` is one gold JSONL file or several; ``theses`` are corpus folders
    (theses and transcripts).  ``uncoded_list``
    is the uncoded-examples file: its utterances are examples, its headings
    mark non-findings sections; None leaves out every ``uncoded`` source.
    ``other_codebooks`` adds the other shipped codebooks' coded texts
    (:func:`other_codebook_examples`).
    """
    examples = codebook_examples(book)
    lines = [f"codebook examples: {len(examples)}"]
    gold = [gold] if isinstance(gold, (str, Path)) else list(gold)
    for path in gold:
        found = gold_examples(Path(path), book)
        lines.append(f"gold {path}: {len(found)} record(s) of {book.id}")
        examples += found
    headings = read_uncoded_list(uncoded_list)["non_findings_headings"] if uncoded_list is not None else None
    corpora = [read_corpus(folder) for folder in theses]
    for folder, result in zip(theses, corpora):
        found, mapping = corpus_examples(result, book, headings)
        lines += [f"corpus {folder}:", *("  " + line for line in mapping.lines())]
        examples += found
    if uncoded_list is not None:
        found = uncoded_list_examples(uncoded_list)
        lines.append(f"uncoded list {uncoded_list}: {len(found)} utterance(s)")
        examples += found
    if reviews is not None:
        found = review_examples(reviews, book)
        lines.append(f"reviews {reviews}: {len(found)} correction(s)")
        examples += found
    if other_codebooks:
        found = other_codebook_examples(book, gold, corpora)
        lines.append(f"coded texts of other codebooks: {len(found)}")
        examples += found
    unique = deduplicate(examples)
    lines.append(f"{len(unique)} distinct text(s) after removing {len(examples) - len(unique)} duplicate(s)")
    lines += source_lines(unique)
    return unique, lines


def source_lines(examples: Sequence[TrainingExample]) -> list[str]:
    """How many examples each source gave, and where the ``uncoded`` ones come from."""
    per_source = Counter(e.source for e in examples)
    uncoded = Counter(e.source for e in examples if e.code == UNCODED)
    lines = ["examples per source: " + ", ".join(f"{s} {n}" for s, n in sorted(per_source.items()))]
    lines.append(f"uncoded examples: {sum(uncoded.values())}" + "".join(
        f"; {UNCODED_SOURCES.get(s, s)} {n}" for s, n in sorted(uncoded.items())))
    return lines


def pseudonymise_examples(examples: Sequence[TrainingExample]) -> list[TrainingExample]:
    """The examples with people (honorific + name) and identifiers replaced, for a model that is shared.

    A model folder keeps its training texts (they are the nearest-example
    evidence), so a model trained on transcripts would carry informants'
    names to every team that loads it.  Names become ``[NAMA]``, phone
    numbers, e-mails, NIK/NIP/NPWP their placeholders (:mod:`pipeline.privacy`).
    """
    from pipeline.privacy import Pseudonymiser

    pseudo = Pseudonymiser(detect=True)
    return deduplicate([TrainingExample(pseudo(e.text), e.code, e.valence, e.study, e.source) for e in examples])


def data_hash(examples: Sequence[TrainingExample]) -> str:
    """sha256 over the examples (text, code, valence, study), order-independent."""
    rows = sorted(json.dumps([e.text, e.code, e.valence, e.study], ensure_ascii=False) for e in examples)
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- training


def own_examples(examples: Sequence[TrainingExample]) -> list[TrainingExample]:
    """The examples labelled with a code of this codebook or ``uncoded`` (not :data:`OTHER_CODEBOOK`)."""
    return [e for e in examples if e.code != OTHER_CODEBOOK]


def fit_embedding(
    book: Codebook, examples: Sequence[TrainingExample], encoder: Any = None, abstention: str = "class",
    neighbour_vote: float = 0.0,
) -> EmbeddingCoder:
    """An :class:`EmbeddingCoder` fitted on ``examples`` (those of other codebooks feed the gate and valence head)."""
    own = own_examples(examples)
    elsewhere = [e for e in examples if e.code == OTHER_CODEBOOK]
    coder = EmbeddingCoder(book, encoder=encoder, abstention=abstention, neighbour_vote=neighbour_vote)
    return coder.fit(
        [e.text for e in own], [e.code for e in own], [e.valence or None for e in own],
        [e.text for e in elsewhere], [e.valence or None for e in elsewhere],
    )


@dataclass
class CrossValidation:
    """Leave-one-study-out results: the chosen settings and the held-out scores."""

    weight: float
    valence_source: str
    metrics: dict[str, Any]  # macro_f1, kappa, accuracy, valence_accuracy, n, per_weight, ...
    threshold: float = DEFAULT_THRESHOLD  # the ensemble's abstention threshold
    abstention: str = "class"  # one of ABSTENTION_MODES
    neighbour_vote: float = 0.0  # one of NEIGHBOUR_VOTES


@dataclass
class HeldOut:
    """Out-of-fold predictions of one abstention mode: each study coded by a model that never saw it."""

    examples: list[TrainingExample]  # in the order of the rows below
    embedding_proba: np.ndarray  # columns: codes, then uncoded
    embedding_valence: list[str]  # "" where the model has no valence head
    vote_proba: np.ndarray  # the nearest training texts' vote, columns as embedding_proba

    def voting(self, weight: float) -> HeldOut:
        """These predictions with the neighbours' vote at ``weight`` (see :class:`EmbeddingCoder`)."""
        return replace(self, embedding_proba=with_vote(self.embedding_proba, self.vote_proba, weight))


@dataclass
class EnsembleTuning:
    """The ensemble weight and threshold that maximise macro-F1 on held-out predictions."""

    weight: float
    threshold: float
    macro_f1: float
    table: dict[tuple[float, float], float]  # (weight, threshold) -> macro-F1


def cv_studies(examples: Sequence[TrainingExample]) -> list[str]:
    """The studies left out in turn.

    Codebook examples always stay in training, unless fewer than two
    studies have *coded* examples: then they are one more fold (so the codes
    are scored on two studies at least; studies with only ``uncoded``
    examples do not count).
    """
    examples = own_examples(examples)
    studies = sorted({e.study for e in examples} - {CODEBOOK_STUDY})
    coded = {e.study for e in examples if e.code != UNCODED} - {CODEBOOK_STUDY}
    if len(coded) < 2 and any(e.study == CODEBOOK_STUDY for e in examples):
        studies.append(CODEBOOK_STUDY)
    if len(studies) < 2:
        raise TrainingDataError(f"cross-validation by study needs at least two studies, got {studies or 'none'}")
    return studies


def default_abstention(examples: Sequence[TrainingExample]) -> str:
    """:data:`CV_ABSTENTION` when there are ``uncoded`` examples and at least two codes besides, else ``class``."""
    codes = {e.code for e in own_examples(examples)}
    return CV_ABSTENTION if UNCODED in codes and len(codes - {UNCODED}) >= 2 else "class"


def held_out_predictions(
    book: Codebook, examples: Sequence[TrainingExample], studies: Sequence[str], encoder: Any, abstention: str
) -> HeldOut:
    """Code each study in ``studies`` with an embedding coder trained on all other studies' examples.

    Texts of the held-out study are out of training entirely, also as
    :data:`OTHER_CODEBOOK` texts; only this codebook's labels are scored.
    """
    held: list[TrainingExample] = []
    proba, votes, valence = [], [], []
    for study in studies:
        train_part = [e for e in examples if e.study != study]
        test_part = [e for e in own_examples(examples) if e.study == study]
        coder = fit_embedding(book, train_part, encoder, abstention)
        vectors = coder.embed([e.text for e in test_part])
        proba.append(coder.proba_from_embeddings(vectors))
        votes.append(coder.vote_proba(vectors))
        rows = coder.valence_proba(vectors)
        valence += list(coder.valence_classes_[rows.argmax(axis=1)]) if rows is not None else [""] * len(test_part)
        held += test_part
    return HeldOut(held, np.vstack(proba), valence, np.vstack(votes))


def tune_ensemble(
    classes: Sequence[str], gold: Sequence[str], embedding_proba: np.ndarray, lexicon_proba: np.ndarray,
    thresholds: Sequence[float],
) -> EnsembleTuning:
    """Macro-F1 of every (weight, threshold) on the pooled held-out rows; the best wins (ties: higher values)."""
    table = {}
    for weight in WEIGHTS:
        combined = average(embedding_proba, lexicon_proba, weight)
        for threshold in thresholds:
            decided = decide_rows(combined, classes, threshold)
            table[(weight, threshold)] = _macro_f1(gold, decided)
    best = max(table, key=lambda key: (round(table[key], 9), key))
    return EnsembleTuning(best[0], best[1], table[best], table)


def cross_validate(book: Codebook, examples: Sequence[TrainingExample], encoder: Any = None) -> CrossValidation:
    """Leave one study out: pick neighbour vote, ensemble weight and threshold, and valence source.

    Each study (see :func:`cv_studies`) is coded by a model trained on every
    other study; the pooled out-of-fold predictions are scored with
    :func:`pipeline.evaluate.score`.  The models abstain by
    :func:`default_abstention`; with ``uncoded`` examples the ensemble
    threshold is tuned, without them it stays at 0.3.  Every weight of
    :data:`NEIGHBOUR_VOTES` is tried (see :func:`choose_variant` for which
    wins).

    The settings are chosen on the same pooled predictions, so ``macro_f1``
    is optimistic about them (never about the texts; by 0.05-0.13 on the
    shipped codebooks); ``macro_f1_tuning_held_out`` (also as a run, under
    ``with_pipeline_rules``) chooses them without the study being scored:
    the number to expect on a new study.
    """
    from pipeline.classify.lexicon import LexiconCoder

    examples = list(examples)
    studies = cv_studies(examples)
    has_uncoded = any(e.code == UNCODED for e in examples)
    mode = default_abstention(examples)
    thresholds = THRESHOLDS if has_uncoded else (DEFAULT_THRESHOLD,)
    classes = [*book.code_ids, UNCODED]
    fitted = held_out_predictions(book, examples, studies, encoder, mode)
    runs = {(mode, vote): fitted.voting(vote) for vote in NEIGHBOUR_VOTES}
    held = fitted.examples
    gold = [e.code for e in held]
    lexicon = LexiconCoder(book)
    lex = lexicon.predict_proba([e.text for e in held])
    tunings = {key: tune_ensemble(classes, gold, run.embedding_proba, lex, thresholds) for key, run in runs.items()}
    proba = {key: run.embedding_proba for key, run in runs.items()}
    (mode, vote), by_vote = choose_variant(classes, gold, tunings, proba, lex, [mode])
    tuning, run = tunings[(mode, vote)], runs[(mode, vote)]
    predicted = decide_rows(average(run.embedding_proba, lex, tuning.weight), classes, tuning.threshold)
    valence_source, valence_scores, labelled = choose_valence_source(held, predicted, run.embedding_valence)
    nested = tuning_held_out_predictions(classes, held, gold, runs, lex, thresholds)
    metrics = {
        **score_metrics(gold, predicted),
        "scheme": "leave-one-study-out",
        "studies": {s: sum(e.study == s for e in held) for s in studies},
        "abstention": mode,
        "neighbour_vote": vote,
        "ensemble_weight": tuning.weight,
        "ensemble_threshold": tuning.threshold,
        "by_neighbour_vote": by_vote,
        "macro_f1_tuning_held_out": _macro_f1(gold, nested),
        "macro_f1_by_weight": {str(w): round(tuning.table[(w, tuning.threshold)], 4) for w in WEIGHTS},
        "embedding_only_macro_f1": max(tuning.table[(1.0, t)] for t in thresholds),
        "lexicon_only_macro_f1": _macro_f1(gold, lexicon.predict([e.text for e in held])),
        "coded_texts": coded_text_metrics(gold, predicted),
        "with_pipeline_rules": {**score_metrics(gold, with_pipeline_rules(held, predicted)),
                                "macro_f1_tuning_held_out": _macro_f1(gold, with_pipeline_rules(held, nested))},
        "uncoded_recall_by_source": uncoded_recall(held, predicted, key=lambda e: e.source),
        "uncoded_recall_by_study": uncoded_recall(held, predicted, key=lambda e: e.study),
        "valence_n": len(labelled),
        "valence_accuracy": valence_scores[valence_source],
        "valence_accuracy_by_source": valence_scores,
    }
    return CrossValidation(tuning.weight, valence_source, _rounded(metrics), tuning.threshold, mode, vote)


def choose_variant(
    classes: Sequence[str], gold: Sequence[str], tunings: dict[tuple[str, float], EnsembleTuning],
    proba: dict[tuple[str, float], np.ndarray], lex: np.ndarray, modes: Sequence[str],
) -> tuple[tuple[str, float], dict[str, dict[str, float]]]:
    """The (abstention mode, neighbour vote) to keep, from tuned held-out predictions, and for each vote its
    best macro-F1 and share of coded texts left ``uncoded``.

    Without a vote, the mode with the best macro-F1 (``uncoded`` included)
    wins, ties going to the simpler one (``class``, then ``threshold``, then
    ``gate``).  A vote replaces it only if it scores higher *and* leaves no
    larger share of the coded texts ``uncoded``: the vote of nearby
    interviewer turns and non-findings texts can raise macro-F1 by coding
    less, and texts left uncoded are the ones a researcher never sees.
    """
    def best(vote: float) -> tuple[str, float]:
        keys = [key for key in tunings if key[1] == vote]
        return max(keys, key=lambda k: (round(tunings[k].macro_f1, 9), -modes.index(k[0])))

    def abstained(key: tuple[str, float]) -> float:
        decided = decide_rows(average(proba[key], lex, tunings[key].weight), classes, tunings[key].threshold)
        coded = [code for code, truth in zip(decided, gold) if truth != UNCODED]
        return float(np.mean([code == UNCODED for code in coded])) if coded else 0.0

    bests = {vote: best(vote) for vote in NEIGHBOUR_VOTES}
    summary = {str(vote): {"macro_f1": tunings[key].macro_f1, "coded_left_uncoded": abstained(key)}
               for vote, key in bests.items()}
    chosen = bests[NEIGHBOUR_VOTES[0]]
    for vote in NEIGHBOUR_VOTES[1:]:
        row, now = summary[str(vote)], summary[str(chosen[1])]
        if round(row["macro_f1"], 9) > round(now["macro_f1"], 9) and row["coded_left_uncoded"] <= now["coded_left_uncoded"]:
            chosen = bests[vote]
    return chosen, summary


def score_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """n, accuracy, macro-F1, kappa and per-code scores of code decisions."""
    from pipeline.evaluate import score

    scores = score(gold, predicted, gold, predicted)
    return {
        "n": scores.n,
        "accuracy": scores.accuracy,
        "macro_f1": scores.macro_f1,
        "kappa": None if np.isnan(scores.kappa) else scores.kappa,
        "per_code": scores.per_code,
    }


def with_pipeline_rules(held: Sequence[TrainingExample], predicted: Sequence[str]) -> list[str]:
    """The predictions as a run outputs them: the texts a run never sends to a coder are ``uncoded``.

    Interviewer turns and units under non-findings headings are uncoded by rule
    (:func:`pipeline.classify.base.why_not_coded`), and those are exactly the
    ``interviewer`` and ``section`` examples.
    """
    return [UNCODED if e.source in RULED_SOURCES else code for e, code in zip(held, predicted)]


def coded_text_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any] | None:
    """Scores on the texts whose label is a code (comparable with models trained without ``uncoded``)."""
    rows = [i for i, g in enumerate(gold) if g != UNCODED]
    if not rows:
        return None
    metrics = score_metrics([gold[i] for i in rows], [predicted[i] for i in rows])
    del metrics["per_code"]
    metrics["abstained"] = float(np.mean([predicted[i] == UNCODED for i in rows]))
    return metrics


def uncoded_recall(held: Sequence[TrainingExample], predicted: Sequence[str], key: Any) -> dict[str, dict[str, Any]]:
    """Per group of held-out ``uncoded`` examples: how many, and the share predicted ``uncoded``."""
    groups: dict[str, list[bool]] = {}
    for example, code in zip(held, predicted):
        if example.code == UNCODED:
            groups.setdefault(key(example), []).append(code == UNCODED)
    return {group: {"n": len(hits), "uncoded": float(np.mean(hits))} for group, hits in sorted(groups.items())}


def tuning_held_out_predictions(
    classes: Sequence[str],
    held: Sequence[TrainingExample],
    gold: Sequence[str],
    runs: dict[tuple[str, float], HeldOut],
    lex: np.ndarray,
    thresholds: Sequence[float],
) -> list[str]:
    """The held-out decisions when each study's settings (vote, weight, threshold) are chosen on the other
    studies' rows only: the honest predictions for the choice of settings itself."""
    predicted: list[str] = [""] * len(held)
    modes = [mode for mode in ABSTENTION_MODES if any(key[0] == mode for key in runs)]
    for study in sorted({e.study for e in held}):
        rows = np.array([e.study == study for e in held])
        others = [g for g, r in zip(gold, rows) if not r]
        proba = {key: run.embedding_proba[~rows] for key, run in runs.items()}
        tunings = {key: tune_ensemble(classes, others, proba[key], lex[~rows], thresholds) for key in runs}
        key = choose_variant(classes, others, tunings, proba, lex[~rows], modes)[0]
        tuning = tunings[key]
        decided = decide_rows(average(runs[key].embedding_proba[rows], lex[rows], tuning.weight), classes, tuning.threshold)
        for i, code in zip(np.flatnonzero(rows), decided):
            predicted[i] = code
    return predicted


def _macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return float(f1_score(gold, predicted, average="macro", zero_division=0))


def choose_valence_source(
    held: Sequence[TrainingExample], predicted: Sequence[str], embedding_valence: Sequence[str]
) -> tuple[str, dict[str, float | None], list[int]]:
    """Which valence source (lexicon rules or the embedding head) scores better on coded texts with a valence label.

    Each text gets the valence a run would give it, also when its code was
    left ``uncoded`` (see :mod:`pipeline.classify.ensemble`).
    """
    from pipeline.classify.valence import valence_of

    labelled = [i for i, e in enumerate(held) if e.valence and e.code != UNCODED]
    lexicon_valence = [valence_of(held[i].text, names_practice=predicted[i] != UNCODED)[0] for i in labelled]
    embed_valence = [embedding_valence[i] or "neutral" for i in labelled]
    true_valence = [held[i].valence for i in labelled]
    scores = {"lexicon": _share_equal(true_valence, lexicon_valence), "embedding": _share_equal(true_valence, embed_valence)}
    source = "embedding" if (scores["embedding"] or 0) > (scores["lexicon"] or 0) else "lexicon"
    return source, scores, labelled


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
        """The training section of the manifest (counts are of this codebook's examples)."""
        own = own_examples(self.examples)
        return {
            "data_sha256": data_hash(self.examples),
            "n_examples": len(own),
            "n_coded_in_other_codebooks": len(self.examples) - len(own),
            "counts_per_code": dict(sorted(Counter(e.code for e in own).items())),
            "counts_per_source": dict(sorted(Counter(e.source for e in own).items())),
            "uncoded_per_source": dict(sorted(Counter(e.source for e in own if e.code == UNCODED).items())),
            "abstention": self.coder.embedding.abstention,
            "studies": sorted({e.study for e in own}),
            "cv": self.cv.metrics if self.cv else None,
        }


def train(
    book: Codebook,
    examples: Sequence[TrainingExample],
    cv: str | None = "study",
    encoder: Any = None,
    weight: float = DEFAULT_WEIGHT,
    threshold: float = DEFAULT_THRESHOLD,
    abstention: str | None = None,
    neighbour_vote: float = 0.0,
) -> TrainResult:
    """Train the ensemble on ``examples``.

    With ``cv="study"`` the weight, threshold, abstention mode, neighbour vote
    and valence source come from cross-validation; with ``cv=None`` the given
    ones are used (``abstention`` None: :func:`default_abstention`).
    """
    from pipeline.classify.lexicon import LexiconCoder

    abstention = abstention or default_abstention(examples)
    if abstention not in ABSTENTION_MODES:
        raise TrainingDataError(f"unknown abstention '{abstention}' (use one of {', '.join(ABSTENTION_MODES)})")
    examples = list(examples)
    report: list[str] = []
    result_cv = None
    valence_source = "lexicon"
    if cv == "study":
        result_cv = cross_validate(book, examples, encoder)
        weight, threshold, abstention = result_cv.weight, result_cv.threshold, result_cv.abstention
        neighbour_vote = result_cv.neighbour_vote
        valence_source = result_cv.valence_source
        report += cv_report(result_cv)
    elif cv is not None:
        raise TrainingDataError(f"unknown --cv '{cv}' (use 'study')")
    embedding = fit_embedding(book, examples, encoder, abstention, neighbour_vote)
    if valence_source == "embedding" and not hasattr(embedding, "valence_coef_"):
        valence_source = "lexicon"
    coder = EnsembleCoder(embedding, LexiconCoder(book), weight=weight, threshold=threshold, valence_source=valence_source)
    return TrainResult(coder, examples, result_cv, report)


def cv_report(result: CrossValidation) -> list[str]:
    """The cross-validation results as printable lines."""
    m = result.metrics

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"leave-one-study-out CV ({m['n']} texts, {len(m['studies'])} studies): macro-F1 {fmt(m['macro_f1'])}, "
        f"kappa {fmt(m['kappa'])}, valence accuracy {fmt(m['valence_accuracy'])} (n={m['valence_n']}); "
        f"weight {result.weight:.1f}, threshold {result.threshold:.2f}, uncoded by {result.abstention}, "
        f"neighbour vote {result.neighbour_vote:.1f}, valence from {result.valence_source}",
        "  macro-F1 by neighbour vote: "
        + ", ".join(f"{k} {v['macro_f1']:.3f} ({v['coded_left_uncoded']:.0%} of coded texts uncoded)"
                    for k, v in m["by_neighbour_vote"].items())
        + f"; with the settings chosen without the scored study: {m['macro_f1_tuning_held_out']:.3f}",
    ]
    ruled = m.get("with_pipeline_rules")
    if ruled:
        nested = ruled.get("macro_f1_tuning_held_out")
        lines.append(f"  as a run outputs them (interviewer turns and non-findings sections uncoded by rule): "
                     f"macro-F1 {fmt(ruled['macro_f1'])}, kappa {fmt(ruled['kappa'])}"
                     + ("" if nested is None else f"; with the settings chosen without the scored study: {fmt(nested)}"))
    coded = m.get("coded_texts")
    if coded:
        lines.append(
            f"  coded texts only ({coded['n']}): macro-F1 {fmt(coded['macro_f1'])}, kappa {fmt(coded['kappa'])}, "
            f"{coded['abstained']:.1%} wrongly uncoded"
        )
    for source, row in m["uncoded_recall_by_source"].items():
        lines.append(f"  held-out uncoded from {UNCODED_SOURCES.get(source, source)}: {row['uncoded']:.1%} of {row['n']} uncoded")
    return lines
