"""Word tokens with offsets into the text they came from, their standard form and stem.

Tokens are found in the *cleaned* text (PDF artefacts removed, see ``clean.py``)
and their offsets mapped back, so ``text[t.start:t.end] == t.surface`` always
holds for the text the caller passed in.  A word broken by PDF hyphenation
("pelaksa-\\nnaan") is one token whose surface is the verbatim slice and whose
norm is the rejoined word ("pelaksanaan"); a page number is no token at all.

What is a token: a word (letters/digits, inner apostrophes, hyphenated parts:
"instansi-instansi", "PermenPAN-RB", "Do'a"), a number with separators
("1.362", "2,5"), a URL, an e-mail address.  Punctuation is not a token.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from pipeline.normalise.clean import CleanText, clean_with_offsets
from pipeline.normalise.standard import standard_form
from pipeline.normalise.stemmer import stem


class Token(NamedTuple):
    """One word of a text: ``surface`` is ``text[start:end]`` verbatim.

    A named tuple, not a frozen dataclass: a text has dozens of tokens and a
    frozen dataclass took 2.5x as long to make (a tenth of lexicon coding).
    """

    start: int
    end: int
    surface: str
    norm: str  # lowercase standard word (informal words and typos mapped)
    stem: str  # stem of norm (Sastrawi + lexicons/stem_exceptions.tsv)


_ALNUM = r"[^\W_]"
_URL_CHAR = r"[^\s<>\"'`{}\[\]()|\\^]"
_URL = rf"""(?:https?://|www\.){_URL_CHAR}*[^\s<>"'`{{}}\[\]()|\\^.,;:!?]"""
_EMAIL = rf"(?<![\w.+-]){_ALNUM}[\w.+-]*+@{_ALNUM}[\w-]*(?:\.{_ALNUM}[\w-]*)+"
_NUMBER = r"[0-9]+(?:[.,][0-9]+)+"  # 1.362, 2,5
_WORD = rf"{_ALNUM}+(?:['’]{_ALNUM}+)*(?:[-\u2010\u2011]{_ALNUM}+(?:['’]{_ALNUM}+)*)*"
TOKEN_PATTERN = re.compile("|".join((_URL, _EMAIL, _NUMBER, _WORD)))
#: The same tokens in a text without "@", "http" or "www" (most talk), ~20% faster: no URL or e-mail can match
#: there, and trying the e-mail branch first reads every word twice.
PLAIN_TOKEN_PATTERN = re.compile("|".join((_NUMBER, _WORD)))
_NOT_A_WORD = frozenset("@/:.")


@functools.lru_cache(maxsize=200_000)
def analyse_word(word: str) -> tuple[str, str, bool]:
    """(norm, stem, changed) of one token as written (memoised per distinct spelling).

    ``changed`` says whether norm differs from the lowercased word.  URLs,
    e-mails and numbers with separators are only lowercased.
    """
    lower = word.lower()
    if not _NOT_A_WORD.isdisjoint(word):
        return lower, lower, False
    norm = standard_form(word.replace("\u2010", "-").replace("\u2011", "-").replace("’", "'"))
    return norm, stem(norm), norm != lower


@dataclass(frozen=True, slots=True)
class TokenScan:
    """The cleaned text, the tokens, and where normalisation changed a word.

    ``replacements`` lists ``(start, end, norm)`` spans in ``clean.text`` whose
    norm is not simply the lowercased word (informal words, typos, rejoined
    hyphens keep their own spelling here).
    """

    clean: CleanText
    tokens: list[Token]
    replacements: list[tuple[int, int, str]]


def _pattern_for(text: str) -> re.Pattern[str]:
    """:data:`PLAIN_TOKEN_PATTERN` when ``text`` can hold no URL or e-mail (both branches are case-sensitive)."""
    return TOKEN_PATTERN if "@" in text or "http" in text or "www" in text else PLAIN_TOKEN_PATTERN


#: Makes a :class:`Token` from a tuple without the named tuple's Python-level ``__new__`` (a text has dozens).
_make_token = functools.partial(tuple.__new__, Token)


def _found(text: str) -> tuple[CleanText, list[re.Match[str]], list[tuple[str, str, bool]]]:
    """The cleaned text, its token matches and their analyses."""
    cleaned = clean_with_offsets(text)
    matches = list(_pattern_for(cleaned.text).finditer(cleaned.text))
    return cleaned, matches, [analyse_word(m.group()) for m in matches]


def _tokens(text: str, cleaned: CleanText, matches: list[re.Match[str]],
            analyses: list[tuple[str, str, bool]]) -> list[Token]:
    """The matches in ``cleaned`` as tokens of ``text`` (offsets mapped back when cleaning edited it)."""
    if cleaned.clean_starts:  # something was edited: map offsets back
        spans = cleaned.original_spans([m.span() for m in matches])
        return list(map(_make_token, [(s, e, text[s:e], a[0], a[1]) for (s, e), a in zip(spans, analyses)]))
    return list(map(_make_token, [(m.start(), m.end(), m.group(), a[0], a[1]) for m, a in zip(matches, analyses)]))


def scan(text: str) -> TokenScan:
    """Clean ``text``, find its tokens, and map them back to ``text``."""
    cleaned, matches, analyses = _found(text)
    replacements = [(*m.span(), a[0]) for m, a in zip(matches, analyses) if a[2]]
    return TokenScan(cleaned, _tokens(text, cleaned, matches, analyses), replacements)


def tokenize(text: str) -> list[Token]:
    """The word tokens of ``text``, with offsets into ``text``."""
    return _tokens(text, *_found(text))
