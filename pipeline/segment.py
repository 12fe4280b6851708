"""Split blocks into sentence-level units with exact offsets into the document text.

spaCy's blank Indonesian pipeline with its rule-based sentencizer is the base.
It would split after abbreviations it does not know (``Jl.``, ``Kab.``): those
come from ``lexicons/abbreviations.txt`` as tokenizer special cases.  Of spaCy's
own special cases only those that can move a sentence boundary are loaded
(:func:`boundary_exceptions`).  A short
inline quotation is never split, and a bare list marker ("1.") joins the
sentence it numbers.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import types
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from pipeline.ingest.blocks import Block, paragraph_spans, trim_span
from pipeline.ingest.names import canonical_agency
from pipeline.lexicon_files import load_lines
from pipeline.normalise.clean import clean_text
from pipeline.schema import Document, Unit

BLOCK_TO_UNIT_KIND = {
    "turn": "utterance",
    "paragraph": "narrative",
    "quote": "quote",
    "heading": "heading",
    "header": "header",
    "caption": "caption",
    "reference": "reference",
}
SPLIT_KINDS = frozenset({"turn", "paragraph", "quote"})
_LIST_MARKER = re.compile(r"^\(?[0-9a-zA-Z]{1,3}[.)]$")
MAX_QUOTE_MERGE = 6


def _import_spacy_without_torch() -> None:
    """Import spaCy without letting its thinc layer import torch (1.3 s and ~150 MB for nothing here).

    thinc imports torch, when installed, only to offer torch-backed models; the
    rule-based sentencizer uses none.  torch stays importable afterwards (the
    torch encoder backend and training import it themselves).  spaCy's
    ``__init__`` also imports its command line (``spacy.cli``: jinja2,
    typer, ~0.2 s) for one name, ``spacy.info``; that name is bound to a
    function that imports the real one when called.
    """
    if "torch" in sys.modules or "spacy" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    sys.modules["spacy.cli.info"] = _lazy_spacy_info()
    try:
        importlib.import_module("spacy")
    finally:
        del sys.modules["torch"]
        del sys.modules["spacy.cli.info"]  # `import spacy.cli` still works afterwards: it imports the real one


def _lazy_spacy_info() -> types.ModuleType:
    """A stand-in for ``spacy.cli.info`` while spaCy imports: its ``info`` imports the real one when called."""
    module = types.ModuleType("spacy.cli.info")

    def info(*args: Any, **kwargs: Any) -> Any:
        return importlib.import_module("spacy.cli.info").info(*args, **kwargs)

    module.info = info  # type: ignore[attr-defined]
    return module


_import_spacy_without_torch()

from spacy.attrs import IDX, IS_PUNCT, LENGTH  # noqa: E402
from spacy.lang.id import Indonesian  # noqa: E402
from spacy.language import Language  # noqa: E402
from spacy.pipeline.sentencizer import Sentencizer  # noqa: E402
from spacy.strings import get_string_id  # noqa: E402
from spacy.symbols import ORTH  # noqa: E402

_SPLITTER_LOCK = threading.Lock()
#: The sentencizer holds no model, so long blocks (a 50 MB one-line transcript) are fine.
MAX_BLOCK_CHARS = 200_000_000
#: spaCy keeps every distinct token it has seen (vocabulary, string store, tokenizer cache); past this many
#: the pipeline is rebuilt, so a long run's memory stays bounded.  Sentence boundaries do not depend on it.
MAX_VOCAB = 250_000
#: Characters after which the sentencizer may end a sentence (its default ``punct_chars``, which the splitter uses).
TERMINATORS = frozenset(Sentencizer.default_punct_chars)
_TERMINATOR_IDS = frozenset(get_string_id(ch) for ch in TERMINATORS)  # as the tokenizer's ORTH array holds them
_CLOSING = "".join(sorted(TERMINATORS)) + "\"”’)]"


def _terminated(text: str) -> bool:
    """True when ``text`` contains a character after which the sentencizer may end a sentence."""
    return any(ch in TERMINATORS for ch in text)


def boundary_exceptions(exceptions: dict[str, Any]) -> dict[str, Any]:
    """The tokenizer special cases that can move a sentence boundary; the splitter loads only these.

    spaCy's Indonesian exceptions are ~16,000 strings, 15,600 of them hyphenated
    words ("abu-abu") that only keep one word in one token, and loading them
    costs ~2 s per process.  The sentencizer ends a sentence after a token that
    is a terminator and starts the next at the first token that is not
    punctuation, so a case matters only when it holds a terminator ("a.",
    "Ki-Ka."), starts with a symbol ("-_-"), or ends in the stem of a case
    with a terminator: without "putra/i", "putra/i." splits into "putra", "/",
    "i." and the abbreviation "i." swallows the full stop.  Test: the same
    sentences with and without the dropped cases, on the corpora and on every
    dropped case in context.
    """
    stems = {text[:_first_terminator(text)] for text in exceptions if _terminated(text)}
    stems.discard("")

    def needed(text: str) -> bool:
        if not text[:1].isalnum() or _terminated(text):
            return True
        return text in stems or any(text[i + 1:] in stems for i, ch in enumerate(text) if not ch.isalnum())

    return {text: pieces for text, pieces in exceptions.items() if needed(text)}


def _first_terminator(text: str) -> int:
    """Index of the first sentence-terminator character in ``text``."""
    return next(i for i, ch in enumerate(text) if ch in TERMINATORS)


def _indonesian_splitter(exceptions: dict[str, Any]) -> Language:
    """Indonesian with exactly these tokenizer special cases, plus the sentencizer."""

    class Defaults(Indonesian.Defaults):
        tokenizer_exceptions = exceptions

    class Splitter(Indonesian):
        pass

    Splitter.Defaults = Defaults
    nlp = Splitter()
    nlp.max_length = MAX_BLOCK_CHARS
    nlp.add_pipe("sentencizer")
    return nlp


@lru_cache(maxsize=1)
def _splitter_exceptions() -> dict[str, Any]:
    """spaCy's Indonesian special cases plus ours, reduced by :func:`boundary_exceptions` (once per process)."""
    exceptions = dict(Indonesian.Defaults.tokenizer_exceptions)
    exceptions.update({abbreviation: [{ORTH: abbreviation}] for abbreviation in load_lines("abbreviations.txt")})
    return boundary_exceptions(exceptions)


@lru_cache(maxsize=1)
def _build_splitter() -> Language:
    return _indonesian_splitter(_splitter_exceptions())  # rebuilt when its vocabulary grows; the cases stay


def sentence_splitter() -> Language:
    """The process-wide spaCy pipeline: Indonesian + sentencizer + abbreviation special cases.

    Built once even when several threads ask at the same time; rebuilt when its
    vocabulary outgrows ``MAX_VOCAB``.
    """
    with _SPLITTER_LOCK:
        if len(_build_splitter().vocab) > MAX_VOCAB:
            _build_splitter.cache_clear()
        return _build_splitter()


def _left_open(text: str, inside_quote_block: bool) -> bool:
    """True when a span opens a parenthesis, or an inline quotation, that it does not close."""
    if text.count("(") > text.count(")"):
        return True
    return not inside_quote_block and (text.count("“") > text.count("”") or text.count('"') % 2 == 1)


def merge_spans(text: str, spans: list[tuple[int, int]], inside_quote_block: bool) -> list[tuple[int, int]]:
    """Rejoin sentence spans split inside parentheses, an inline quote, or after a bare list marker."""
    merged: list[tuple[int, int]] = []
    pending_quote = 0
    for start, end in spans:
        if merged and (pending_quote or _LIST_MARKER.match(text[merged[-1][0]:merged[-1][1]])):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
        last = text[merged[-1][0]:merged[-1][1]]
        still_open = _left_open(last, inside_quote_block)
        pending_quote = pending_quote + 1 if still_open and pending_quote < MAX_QUOTE_MERGE else 0
    return merged


def is_one_sentence(piece: str) -> bool:
    """True when no sentence terminator occurs before the final punctuation (no split possible)."""
    body = piece.rstrip().rstrip(_CLOSING)
    return not any(ch in TERMINATORS for ch in body)


def sentence_spans(text: str, start: int, end: int, inside_quote_block: bool = False) -> list[tuple[int, int]]:
    """Trimmed sentence spans (document offsets) covering every non-space character of text[start:end]."""
    if is_one_sentence(text[start:end]):  # fast path: most interview turns are one sentence
        span = trim_span(text, start, end)
        return [span] if span[0] < span[1] else []
    spans = []
    for sent_start, sent_end in sentencizer_spans(text[start:end]):
        span = trim_span(text, start + sent_start, start + sent_end)
        if span[0] < span[1]:
            spans.append(span)
    return merge_spans(text, spans, inside_quote_block)


def sentencizer_spans(text: str) -> list[tuple[int, int]]:
    """The (start_char, end_char) of each sentence spaCy's sentencizer finds in ``text``.

    Its rule, applied to the token arrays rather than to Token objects (which
    cost more than the tokenising): a sentence starts at the first token that
    is neither punctuation nor a terminator after a terminator token.  Test:
    the same spans as the spaCy pipeline on the corpora and on any text.
    """
    doc = sentence_splitter().make_doc(text)
    if not len(doc):
        return []
    starts_at, is_punct, orth, length = doc.to_array([IDX, IS_PUNCT, ORTH, LENGTH]).T.tolist()
    starts = [0]
    seen_terminator = False
    for i, token in enumerate(orth):
        is_terminator = token in _TERMINATOR_IDS
        if seen_terminator and not is_punct[i] and not is_terminator:
            starts.append(i)
            seen_terminator = False
        elif is_terminator:
            seen_terminator = True
    ends = starts[1:] + [len(orth)]
    return [(starts_at[first], starts_at[last - 1] + length[last - 1]) for first, last in zip(starts, ends)]


def block_spans(text: str, block: Block) -> Iterable[tuple[int, int]]:
    """Sentence spans of one block; a turn is first cut at its paragraph breaks."""
    if block.kind not in SPLIT_KINDS:
        yield block.start, block.end
        return
    pieces = paragraph_spans(text, block.start, block.end) if block.kind == "turn" else [(block.start, block.end)]
    for start, end in pieces:
        yield from sentence_spans(text, start, end, inside_quote_block=block.kind == "quote")


def segment(doc: Document, blocks: Iterable[Block]) -> list[Unit]:
    """Units of a document, in text order, one per sentence (or per structural line)."""
    return list(iter_units(doc, blocks))


def iter_units(doc: Document, blocks: Iterable[Block]) -> Iterator[Unit]:
    """The units of :func:`segment` one at a time (a huge document never holds them all)."""
    meta = doc.metadata
    index = 0
    for block_no, block in enumerate(blocks):
        for start, end in block_spans(doc.text, block):
            verbatim = doc.text[start:end]
            yield Unit(
                doc_id=doc.doc_id,
                unit_id=f"{doc.doc_id}-{index:05d}",
                index=index,
                start=start,
                end=end,
                text=verbatim,
                kind=BLOCK_TO_UNIT_KIND[block.kind],
                block_id=f"{doc.doc_id}-b{block_no:04d}",
                section=block.section,
                speaker=block.speaker,
                speaker_role=block.role,
                informant=block.informant or (meta.get("informant", "") if block.role != "researcher" else ""),
                position=block.position or (meta.get("role", "") if block.role == "informant" else ""),
                agency=canonical_agency(block.agency or meta.get("agency", ""), block.city or meta.get("city", "")),
                city=block.city or meta.get("city", ""),
                study=meta.get("study", ""),
                path=doc.path,
                text_clean=clean_text(verbatim),
            )
            index += 1
