"""Block: a structural piece of a document (turn, paragraph, quote, heading) before sentence splitting."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")


@dataclass
class Block:
    """A span of Document.text with the structure it belongs to.

    ``kind``: turn | paragraph | quote | heading | header | caption | reference.
    """

    start: int
    end: int
    kind: str
    section: str = ""
    speaker: str = ""
    role: str = ""  # speaker role: interviewer | informant | researcher | cited
    informant: str = ""
    position: str = ""
    agency: str = ""
    city: str = ""


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def paragraph_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """Trimmed spans of the paragraphs (separated by blank lines) in text[start:end]."""
    end = len(text) if end is None else end
    cursor = start
    for match in _BLANK_LINE.finditer(text, start, end):
        span = trim_span(text, cursor, match.start())
        if span[0] < span[1]:
            yield span
        cursor = match.end()
    span = trim_span(text, cursor, end)
    if span[0] < span[1]:
        yield span
