"""Load the normalisation word tables from ``lexicons/`` (read once per process).

Files (all UTF-8, ``#`` starts a comment line, blank lines are ignored):

- ``informal.tsv``, ``typos.tsv``: ``word<TAB>standard word``
- ``stem_exceptions.tsv``: ``word<TAB>stem``
- ``stopwords.txt``, ``keep_words.txt``: one word per line
- ``number_cues.yaml``: ``before:`` and ``after:`` word lists

A malformed file raises :class:`LexiconError` with one line naming the file,
the line number and the reason.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from pipeline import paths

# One lowercase word: letters/digits, inner hyphens or apostrophes allowed, no spaces.
_WORD = re.compile(r"[^\W_A-Z]+(?:[-'][^\W_A-Z]+)*")


class LexiconError(ValueError):
    """A lexicon file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: Path, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.reason = reason
        self.line = line


def _content_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank, non-comment lines of ``path``."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LexiconError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise LexiconError(path, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    lines = []
    for number, line in enumerate(raw.splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            lines.append((number, text))
    return lines


def _check_word(path: Path, number: int, word: str, what: str) -> None:
    """Raise if ``word`` is not one lowercase word."""
    if not _WORD.fullmatch(word):
        raise LexiconError(path, f"{what} {word!r} is not one lowercase word", number)


def load_mapping(path: Path, allow_identity: bool = False) -> dict[str, str]:
    """Read a two-column TSV (``word<TAB>replacement``) into a dict.

    ``allow_identity`` permits rows mapping a word to itself (stem exceptions
    use them to protect a word); elsewhere such a row is a mistake.
    """
    table: dict[str, str] = {}
    for number, text in _content_lines(path):
        columns = [c.strip() for c in text.split("\t")]
        if len(columns) != 2 or not all(columns):
            raise LexiconError(path, f"expected 2 TAB-separated columns, got {text!r}", number)
        word, replacement = columns
        _check_word(path, number, word, "word")
        _check_word(path, number, replacement, "replacement")
        if word == replacement and not allow_identity:
            raise LexiconError(path, f"{word!r} is mapped to itself", number)
        if word in table:
            raise LexiconError(path, f"{word!r} is listed twice", number)
        table[word] = replacement
    return table


def load_word_list(path: Path) -> frozenset[str]:
    """Read a one-word-per-line list."""
    words: set[str] = set()
    for number, word in _content_lines(path):
        _check_word(path, number, word, "entry")
        if word in words:
            raise LexiconError(path, f"{word!r} is listed twice", number)
        words.add(word)
    return frozenset(words)


def load_number_cues(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """Read ``number_cues.yaml``: the (before, after) word sets."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LexiconError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise LexiconError(path, f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise LexiconError(path, f"invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise LexiconError(path, "expected a mapping with 'before' and 'after' lists")
    sets = []
    for key in ("before", "after"):
        words = data.get(key)
        if not isinstance(words, list):
            raise LexiconError(path, f"'{key}' must be a list of words")
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise LexiconError(path, f"'{key}' entry {word!r} is not a word (quote no/yes/on/off)")
        sets.append(frozenset(w.strip().lower() for w in words))
    return sets[0], sets[1]


@functools.cache
def typo_words() -> dict[str, str]:
    """typos.tsv: misspelling -> standard word."""
    return load_mapping(paths.LEXICONS / "typos.tsv")


@functools.cache
def informal_words() -> dict[str, str]:
    """informal.tsv: informal word -> standard word (checked not to repeat a typos.tsv word)."""
    informal_path = paths.LEXICONS / "informal.tsv"
    informal = load_mapping(informal_path)
    clashes = sorted(informal.keys() & typo_words().keys())
    if clashes:
        raise LexiconError(informal_path, f"{clashes[0]!r} is also listed in typos.tsv")
    return informal


@functools.cache
def stem_exceptions() -> dict[str, str]:
    """stem_exceptions.tsv: word (or Sastrawi stem) -> stem to use."""
    return load_mapping(paths.LEXICONS / "stem_exceptions.tsv", allow_identity=True)


@functools.cache
def keep_words() -> frozenset[str]:
    """keep_words.txt: words content_words() never drops."""
    return load_word_list(paths.LEXICONS / "keep_words.txt")


@functools.cache
def stopwords() -> frozenset[str]:
    """stopwords.txt minus keep_words.txt: the words content_words() drops."""
    return load_word_list(paths.LEXICONS / "stopwords.txt") - keep_words()


@functools.cache
def number_cues() -> tuple[frozenset[str], frozenset[str]]:
    """number_cues.yaml: words before / after a line-end number that make it a real number."""
    return load_number_cues(paths.LEXICONS / "number_cues.yaml")
