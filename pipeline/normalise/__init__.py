"""Normalisation: extra fields for matching and features; the verbatim text never changes.

    >>> n = normalise("Koordinasinya gak jalan karna ego sektoral")
    >>> n.text_norm
    'koordinasinya tidak jalan karena ego sektoral'
    >>> n.stems
    'koordinasi tidak jalan karena ego sektoral'

Modules, one job each:

- ``clean``: remove PDF artefacts (page numbers, broken hyphens, markdown), with an offset map;
- ``tokens``: word tokens with offsets into the original text, their norm and stem;
- ``standard``: informal words and typos -> standard word (``lexicons/informal.tsv``, ``typos.tsv``);
- ``stemmer``: Sastrawi (imported only there) + ``lexicons/stem_exceptions.tsv``;
- ``lexicon_tables``: loads and validates the word tables, once per process.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.normalise.clean import clean_text
from pipeline.normalise.lexicon_tables import LexiconError, stopwords
from pipeline.normalise.standard import standard_form
from pipeline.normalise.stemmer import stem
from pipeline.normalise.tokens import Token, scan, tokenize

__all__ = [
    "LexiconError",
    "Normalised",
    "Token",
    "clean_text",
    "content_words",
    "normalise",
    "standard_form",
    "stem",
    "tokenize",
]


@dataclass(frozen=True, slots=True)
class Normalised:
    """What normalisation adds to a unit's text."""

    text_norm: str  # cleaned, lowercased, every word replaced by its norm; punctuation kept
    tokens: list[Token]  # offsets into the text passed to normalise()
    stems: str  # the tokens' stems, space-joined


def normalise(text: str) -> Normalised:
    """Clean, tokenise, map informal words and typos, and stem ``text``."""
    result = scan(text)
    return Normalised(
        text_norm(result.clean.text, result.replacements),
        result.tokens,
        " ".join([t.stem for t in result.tokens]),
    )


def text_norm(clean: str, replacements: list[tuple[int, int, str]]) -> str:
    """``clean`` lowercased, with each ``(start, end, norm)`` span replaced by its norm."""
    lower = clean.lower()
    if len(lower) != len(clean):  # rare letters whose lowercase is longer ("İ"): slice the original
        return "".join(_replace_spans(clean, replacements, lower_gaps=True))
    return "".join(_replace_spans(lower, replacements, lower_gaps=False))


def _replace_spans(text: str, replacements: list[tuple[int, int, str]], lower_gaps: bool) -> list[str]:
    """``text`` cut at the replacement spans, with each span's norm put in."""
    pieces: list[str] = []
    position = 0
    for start, end, norm in replacements:
        gap = text[position:start]
        pieces += (gap.lower() if lower_gaps else gap, norm)
        position = end
    tail = text[position:]
    pieces.append(tail.lower() if lower_gaps else tail)
    return pieces


def content_words(tokens: list[Token]) -> list[Token]:
    """``tokens`` without stop words; the words in ``lexicons/keep_words.txt`` always stay."""
    drop = stopwords()  # already excludes the keep words
    return [t for t in tokens if t.norm not in drop]
