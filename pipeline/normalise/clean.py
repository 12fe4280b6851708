"""Remove PDF-conversion artefacts from text, keeping a map back to the original.

What goes (for reading and matching; the verbatim text itself never changes):

- page numbers left inside sentences: "koordinasi 66\\n\\nmengenai" -> "koordinasi mengenai"
  (real numbers stay: "Nomor 27 Tahun 2023", "118 jenis layanan"; the words
  that mark a real number are in ``lexicons/number_cues.yaml``);
- broken hyphenation: "pelaksa-\\nnaan" and "pelaksa- naan" -> "pelaksanaan",
  "upaya- upaya" and "Undang - Undang" -> "upaya-upaya", "Undang-Undang";
- a clitic split off its word: "kurang nya" -> "kurangnya";
- markdown emphasis and heading marks (``*...*``, ``**...**``, ``###``), inline
  HTML tags (``<i>``, ``<sup>1</sup>``), zero-width characters, soft hyphens;
- hard-wrapped lines, blank lines and whitespace runs -> one space; stripped.

Every removal is an :class:`Edit` on the original string; :func:`clean_with_offsets`
applies them and returns a :class:`CleanText` that maps each cleaned position
back to the original, so tokens found in the cleaned text keep offsets into
the text the caller passed in.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from pipeline.normalise.lexicon_tables import number_cues


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace ``original[start:end]`` by ``replacement``."""

    start: int
    end: int
    replacement: str


@dataclass(frozen=True, slots=True)
class CleanText:
    """A cleaned string and the map from its positions back to the original.

    The map is a list of segments; segment ``k`` starts at ``clean_starts[k]``
    in the cleaned text and comes from ``orig_starts[k]`` in the original,
    either copied char by char (``copied[k]``) or inserted by an edit.
    """

    text: str
    clean_starts: tuple[int, ...] = ()
    orig_starts: tuple[int, ...] = ()
    copied: tuple[bool, ...] = ()

    def to_original(self, index: int) -> int:
        """The original position of the cleaned character at ``index``."""
        if not self.clean_starts:  # nothing was edited: identity
            return index
        k = bisect.bisect_right(self.clean_starts, index) - 1
        if self.copied[k]:
            return self.orig_starts[k] + index - self.clean_starts[k]
        return self.orig_starts[k]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering cleaned ``[start, end)`` (``end > start``)."""
        return self.to_original(start), self.to_original(end - 1) + 1

    def original_spans(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """:meth:`original_span` for many spans at once."""
        to_original = self.to_original
        return [(to_original(start), to_original(end - 1) + 1) for start, end in spans]


# --- patterns -----------------------------------------------------------------

LETTER = r"[^\W\d_]"
HYPHENS = "-\u2010\u2011"  # hyphen-minus, hyphen, non-breaking hyphen
DASHES = HYPHENS + "\u2013\u2014"  # + en dash, em dash

# Characters that can start an artefact; text without them (and without the
# spacing checked in needs_cleaning) is returned as is: the fast path.
_SPECIAL_CHARS = re.compile(r"[^\S ]|[*#<\u00ad\u200b-\u200d\u2060\ufeff\x00-\x08\x0e-\x1b\x7f]")
_DASH_THEN_SPACE = tuple(dash + " " for dash in DASHES)
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]+")  # soft hyphen, zero-width
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]+")
_INVISIBLE_OR_CONTROL = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff\x00-\x08\x0e-\x1b\x7f]")
_EMPHASIS = re.compile(r"\*+")
_HEADING_MARK = re.compile(r"^[ \t]*(#{1,6})(?=[ \t]|$)", re.MULTILINE)
_FOOTNOTE_MARK = re.compile(r"<sup>[^<>\n]{0,20}</sup>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)(?:[ \t][^<>\n]{0,200}?)?/?>")
_BLOCK_TAGS = frozenset({"br", "p", "div", "li", "tr", "td", "th", "ul", "ol", "table"})
# "pelaksa-\nnaan", "peristiwa-\n\nperistiwa": hyphen at a line end, a word on the next line.
_HYPHEN_AT_LINE_END = re.compile(rf"[{HYPHENS}](?<={LETTER}.)[ \t]*\n\s*(?={LETTER})")
# "pelaksa- naan", "masing- masing": hyphen then spaces inside a line.
_HYPHEN_SPACE = re.compile(rf"[{HYPHENS}](?<={LETTER}.)[ \t]+(?={LETTER})")
# "Undang - Undang", "kendala – kendala": a spaced dash between two words.
_SPACED_DASH = re.compile(rf"[ \t](?<={LETTER}.)[ \t]*[{DASHES}][ \t]+(?={LETTER})")
_SPLIT_CLITIC = re.compile(rf"[ \t](?<={LETTER}.)[ \t]*(?=nya\b)")
# A 1-3 digit number closing a line (or the text): candidate page number.
_LINE_END_NUMBER = re.compile(r"[ \t](?<=\S.)[ \t]*([0-9]{1,3})(?=[ \t]*(?:\n|$))")
# A line that is only a 1-3 digit number: a page number on its own line.
_NUMBER_LINE = re.compile(r"^[ \t]*([0-9]{1,3})[ \t]*$", re.MULTILINE)
# Whitespace runs other than a single space ("\n\n", "  ", "\t"); a space before
# a line break stays and the break is dropped when the spaces are collapsed.
_WHITESPACE_RUN = re.compile(r"[^\S ]\s*| {2,}\s*")
_WORD_BEFORE = re.compile(rf"{LETTER}+$")
_NON_WORD = re.compile(r"\W+")
_DIGIT = re.compile(r"[0-9]")
_WORD_AT = re.compile(rf"{LETTER}+")
# After a line-end number: the line break(s), markup, then the next word.
_AFTER_NUMBER = re.compile(r"[ \t]*(\n\s*)?[*#>_\"'“‘(\[\-•·\s]*(\w+)?")
_SENTENCE_END = tuple(".!?\"”’)")  # a line ending in one of these closed a sentence


# --- the individual artefact finders --------------------------------------------


def _simple_edits(text: str) -> Iterator[Edit]:
    """Invisible characters, control characters, markdown and HTML markup."""
    if _INVISIBLE_OR_CONTROL.search(text):
        for m in _INVISIBLE.finditer(text):
            yield Edit(m.start(), m.end(), "")
        for m in _CONTROL.finditer(text):
            yield Edit(m.start(), m.end(), " ")
    if "*" in text:
        for m in _EMPHASIS.finditer(text):
            yield Edit(m.start(), m.end(), "")
    if "#" in text:
        for m in _HEADING_MARK.finditer(text):
            yield Edit(m.start(1), m.end(1), "")
    if "<" in text:
        for m in _FOOTNOTE_MARK.finditer(text):
            yield Edit(m.start(), m.end(), "")
        for m in _HTML_TAG.finditer(text):
            yield Edit(m.start(), m.end(), " " if m.group(1).lower() in _BLOCK_TAGS else "")


def is_reduplication(left: str, right: str) -> bool:
    """Whether ``left-right`` is a reduplicated word (upaya-upaya, berbelit-belit, terus-menerus)."""
    a, b = left.lower(), right.lower()
    if a == b:
        return True
    if min(len(a), len(b)) >= 3 and (a.endswith(b) or b.endswith(a)):
        return True
    return min(len(a), len(b)) >= 4 and abs(len(a) - len(b)) <= 2 and a[-3:] == b[-3:]


def _neighbours(text: str, start: int, end: int) -> tuple[str, str]:
    """The word ending right before ``start`` and the word starting at ``end``."""
    left = _WORD_BEFORE.search(text, max(0, start - 40), start)
    right = _WORD_AT.match(text, end)
    return (left.group() if left else ""), (right.group() if right else "")


def _hyphen_edits(text: str) -> Iterator[Edit]:
    """Rejoin words broken by hyphenation; keep the hyphen of reduplications."""
    if "nya" not in text and not any(dash in text for dash in DASHES):
        return
    patterns = (_HYPHEN_AT_LINE_END, _HYPHEN_SPACE) if "\n" in text else (_HYPHEN_SPACE,)
    for pattern in patterns:
        for m in pattern.finditer(text):
            left, right = _neighbours(text, m.start(), m.end())
            keep_hyphen = (
                is_reduplication(left, right)
                or not right[:1].islower()  # "PAN-\nRB", "Jawa- Bali"
                or len(left) <= 3  # "non- perizinan", "e- government"
                or left.isupper()
            )
            yield Edit(m.start(), m.end(), "-" if keep_hyphen else "")
    for m in _SPACED_DASH.finditer(text):
        left, right = _neighbours(text, m.start(), m.end())
        if is_reduplication(left, right):
            yield Edit(m.start(), m.end(), "-")
    if "nya" in text:
        for m in _SPLIT_CLITIC.finditer(text):
            yield Edit(m.start(), m.end(), "")


def _is_page_number(text: str, number: re.Match[str]) -> bool:
    """Whether a 1-3 digit number closing a line is a page number left by PDF conversion."""
    before, after = number_cues()
    line_start = text.rfind("\n", 0, number.start()) + 1
    line = text[line_start : number.start()].rstrip()
    previous_word = _NON_WORD.sub("", line.rsplit(None, 1)[-1]).lower() if line else ""
    following = _AFTER_NUMBER.match(text, number.end())
    line_break, next_word = following.group(1), following.group(2)
    if previous_word in before or (next_word or "").lower() in after:
        return False
    if line.endswith(_SENTENCE_END):
        return True  # "... tujuan. 67\n\nIndikator", "(Andrian 2016). 3"
    if not next_word or not line_break:
        return False
    if next_word[0].islower():
        return True  # "masih kurangnya koordinasi 66\n\nmengenai ..."
    # "... mewujudkan Undang- Undang 4\n\nNomor 25": a long prose line runs on
    # past a blank line; short lines ("Tabel 2", "BAB 4") are captions/headings.
    blank_line = line_break.count("\n") >= 2
    return blank_line and next_word[0].isupper() and len(line.split()) >= 6 and line[-1].isalpha()


def _page_number_edits(text: str) -> Iterator[Edit]:
    """Page numbers closing a line, and lines holding only a page number."""
    if not _DIGIT.search(text) or ("\n" not in text and not text[-1:].isdigit()):
        return
    for m in _LINE_END_NUMBER.finditer(text):
        if _is_page_number(text, m):
            yield Edit(m.start(), m.end(), "")
    stripped = text.strip()
    for m in _NUMBER_LINE.finditer(text):
        if stripped != m.group(1):  # a text that is just "22" keeps it
            yield Edit(m.start(1), m.end(1), "")


def _whitespace_edits(text: str) -> Iterator[Edit]:
    """Every whitespace run other than a single space becomes one space."""
    for m in _WHITESPACE_RUN.finditer(text):
        yield Edit(m.start(), m.end(), " ")


# --- applying the edits ---------------------------------------------------------

# Earlier finders win when two edits start at the same place and are as long.
_FINDERS = (_page_number_edits, _hyphen_edits, _simple_edits, _whitespace_edits)


def find_edits(text: str) -> list[Edit]:
    """All artefact edits for ``text``, sorted and without overlaps."""
    candidates = []
    for priority, finder in enumerate(_FINDERS):
        candidates += [(e.start, -e.end, priority, e) for e in finder(text)]
    candidates.sort(key=lambda c: c[:3])
    edits: list[Edit] = []
    covered = 0
    for _, _, _, edit in candidates:
        if edit.start >= covered:
            edits.append(edit)
            covered = edit.end
    return edits


def apply_edits(text: str, edits: list[Edit]) -> CleanText:
    """Apply sorted, non-overlapping edits; collapse the spaces they leave; strip."""
    pieces: list[str] = []
    clean_starts: list[int] = []
    orig_starts: list[int] = []
    copied: list[bool] = []
    length = 0
    after_space = True  # at the start, a space would be leading: drop it

    def emit(piece: str, orig_start: int, is_copy: bool) -> None:
        nonlocal length, after_space
        if piece[:1] == " " and after_space:
            piece = piece[1:]
            orig_start += 1 if is_copy else 0
        if not piece:
            return
        clean_starts.append(length)
        orig_starts.append(orig_start)
        copied.append(is_copy)
        pieces.append(piece)
        length += len(piece)
        after_space = piece.endswith(" ")

    position = 0
    for edit in edits:
        emit(text[position : edit.start], position, True)
        emit(edit.replacement, edit.start, False)
        position = edit.end
    emit(text[position:], position, True)
    cleaned = "".join(pieces)
    if cleaned.endswith(" "):
        cleaned = cleaned[:-1]
    return CleanText(cleaned, tuple(clean_starts), tuple(orig_starts), tuple(copied))


def needs_cleaning(text: str) -> bool:
    """Whether ``text`` may hold an artefact or spacing to collapse (cheap checks only)."""
    return bool(
        _SPECIAL_CHARS.search(text)
        or "  " in text
        or text[:1] == " "
        or text[-1:] in (" ", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
        or " nya" in text
        or any(dash in text for dash in _DASH_THEN_SPACE)
    )


def clean_with_offsets(text: str) -> CleanText:
    """``text`` without PDF artefacts, with the map back to ``text``."""
    if not needs_cleaning(text):
        return CleanText(text)
    return apply_edits(text, find_edits(text))


def clean_text(text: str) -> str:
    """``text`` without PDF artefacts, whitespace collapsed to single spaces, stripped."""
    return clean_with_offsets(text).text
