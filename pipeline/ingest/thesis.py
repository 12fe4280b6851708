"""Thesis and article texts: paragraphs, headings with their section path, quoted excerpts.

PDF conversion leaves paragraphs broken by page breaks ("... koordinasi 66" +
blank line + "antar instansi ..."), blank-line-per-line output and hard wraps.
Paragraph fragments are rejoined here (the verbatim span then covers the
artefact; ``normalise.clean_text`` removes it from the readable text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.ingest.attribution import Attribution, attribute, citation_speaker
from pipeline.ingest.blocks import Block, paragraph_spans, trim_span
from pipeline.lexicon_files import load_yaml

_TERMINAL = ".!?:;”\"'’)]"
_PAGE_NUMBER_TAIL = re.compile(r"\s\d{1,3}$")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_EMPHASIS = re.compile(r"\*{1,3}|_{2,3}")
_BAB = re.compile(r"^BAB\s+([IVXLC]+|\d+)\b", re.I)
_DECIMAL = re.compile(r"^(\d+(?:\.\d+)+)\.?\s+\S")
_NUMBERED = re.compile(r"^(\d+)(?:[.)]\s+\S|\s+[A-Z])")
_LETTERED = re.compile(r"^([a-z])[.)]\s+\S")
_ROMAN = re.compile(r"^([IVX]+)[.)]\s+\S")
_CAPTION = re.compile(r"^(Gambar|Tabel|Grafik|Bagan|Diagram|Sumber|Foto)\b", re.I)
_QUOTE_OPEN = "“\"«„"
MAX_HEADING_WORDS = 14
MIN_WRAPPED_LINES = 3  # a chunk of this many lines or more is treated as hard-wrapped
SHORT_LINE = 0.75  # a line shorter than this share of the chunk's widest line can end a paragraph


@dataclass
class Heading:
    """A heading with its numbering style, used to keep the section path."""

    style: str
    title: str


def heading_title(line: str) -> str:
    """A heading line without markdown marks and trailing colons: '### **1. Koordinasi**' -> '1. Koordinasi'."""
    title = _EMPHASIS.sub("", _MD_HEADING.sub("", line)).strip()
    return title.rstrip(":").strip()


def heading_style(line: str) -> str | None:
    """The numbering style of a heading line, or None if the line is not a heading."""
    if "\n" in line.strip():
        return None
    is_markdown = bool(_MD_HEADING.match(line))
    title = heading_title(line)
    words = title.split()
    if not words or len(words) > MAX_HEADING_WORDS * (2 if is_markdown else 1):
        return None
    if _BAB.match(title):
        return "bab"
    if _CAPTION.match(title):
        return None
    short_label = len(words) <= 2 and line.rstrip().endswith(":") and ":" not in line.rstrip()[:-1]
    if title[-1] in ".,;" or (not is_markdown and ":" in line and not short_label):
        return None
    for style, pattern in (("decimal", _DECIMAL), ("numbered", _NUMBERED),
                           ("lettered", _LETTERED), ("roman", _ROMAN)):
        match = pattern.match(title)
        if match:
            depth = match.group(1).count(".") if style == "decimal" else 0
            return f"{style}{depth or ''}" if len(words) <= 10 or is_markdown else None
    if is_markdown:
        return "plain"
    if title.isupper() and len(words) <= 8 or (len(words) <= 5 and title[0].isupper()):
        return "plain"
    return None


def push_heading(stack: list[Heading], heading: Heading, ranks: dict[str, int]) -> None:
    """Place a heading in the section stack.

    A numbering style's level is the order in which the document first uses it
    (theses mix markdown levels and numbering freely; first use is what holds).
    A heading closes every open heading of its own or a deeper level.
    ``BAB`` always opens a new chapter.
    """
    if heading.style == "bab":
        stack.clear()
    rank = ranks.setdefault(heading.style, len(ranks))
    while stack and ranks[stack[-1].style] >= rank:
        stack.pop()
    stack.append(heading)


def should_join(prev: str, nxt: str) -> bool:
    """True when a blank line between two fragments is a PDF page/line break inside a paragraph."""
    if not prev or not nxt or heading_style(prev) or heading_style(nxt) or nxt[0] in _QUOTE_OPEN:
        return False
    continues = nxt[0].islower()
    return continues and (prev[-1] not in _TERMINAL or bool(_PAGE_NUMBER_TAIL.search(prev)))


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the lines of text[start:end] (without their newline)."""
    spans, cursor = [], start
    for line in text[start:end].split("\n"):
        spans.append((cursor, cursor + len(line)))
        cursor += len(line) + 1
    return spans


def wrapped_paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split a hard-wrapped chunk (PDF text: one visual line per line, no blank lines) into paragraphs.

    A paragraph ends after a short line that ends a sentence; headings and
    opening quotes start their own paragraph.  An unnumbered heading is only
    believed after a line that ends a sentence ("Maret 2025)" is no heading).
    """
    lines = _line_spans(text, start, end)
    if len(lines) < MIN_WRAPPED_LINES:
        return [(start, end)]
    width = max(e - s for s, e in lines)
    texts = [text[s:e].strip() for s, e in lines]
    headings = [
        bool(style := heading_style(line)) and (style != "plain" or i == 0 or texts[i - 1][-1:] in _TERMINAL)
        for i, line in enumerate(texts)
    ]
    paragraphs: list[tuple[int, int]] = []
    open_start = lines[0][0]
    for i, (s, e) in enumerate(lines):
        last = i + 1 == len(lines)
        ends_paragraph = texts[i][-1:] in _TERMINAL and (e - s) < SHORT_LINE * width
        breaks_before_next = not last and (texts[i + 1][:1] in tuple(_QUOTE_OPEN) or headings[i + 1])
        if last or ends_paragraph or breaks_before_next or headings[i]:
            paragraphs.append(trim_span(text, open_start, e))
            open_start = e if last else lines[i + 1][0]
    return [p for p in paragraphs if p[0] < p[1]]


def merged_paragraphs(text: str, start: int) -> list[tuple[int, int]]:
    """Paragraph spans from ``start``: wrapped chunks split, page-break fragments rejoined."""
    spans: list[tuple[int, int]] = []
    for chunk in paragraph_spans(text, start):
        for span in wrapped_paragraphs(text, *chunk):
            if spans and should_join(text[spans[-1][0]:spans[-1][1]], text[span[0]:span[1]]):
                spans[-1] = (spans[-1][0], span[1])
            else:
                spans.append(span)
    return spans


def is_quote(paragraph: str) -> bool:
    """A paragraph that opens with a quotation mark and closes one (a cited excerpt)."""
    body = paragraph.strip()
    return len(body) > 1 and body[0] in _QUOTE_OPEN and any(q in body[1:] for q in "”\"»")


def is_reference_section(stack: list[Heading]) -> bool:
    """True inside a bibliography ('5 Daftar Pustaka', 'REFERENCES'), at any depth."""
    names = load_yaml("sections.yaml")["reference_headings"]
    titles = (re.sub(r"^[\dIVXivx.\s]+|^[a-z][.)]\s*", "", h.title).strip().lower() for h in stack)
    return any(title in names for title in titles)


def parse_thesis(text: str, body_start: int, metadata: dict[str, str]) -> list[Block]:
    """Blocks of a thesis text: headings, captions, paragraphs and attributed quotes."""
    blocks: list[Block] = []
    stack: list[Heading] = []
    ranks: dict[str, int] = {"bab": 0}
    previous_attribution: Attribution | None = None
    previous_paragraph = ""
    for start, end in merged_paragraphs(text, body_start):
        chunk = text[start:end]
        section = " > ".join(h.title for h in stack)
        style = heading_style(chunk)
        if style:
            push_heading(stack, Heading(style, heading_title(chunk)), ranks)
            blocks.append(Block(start, end, "heading", section=" > ".join(h.title for h in stack)))
            previous_attribution = None
            continue
        if _CAPTION.match(chunk):
            blocks.append(Block(start, end, "caption", section=section))
            continue
        block = Block(start, end, "reference" if is_reference_section(stack) else "paragraph",
                      section=section, role="researcher", city=metadata.get("city", ""))
        if block.kind == "paragraph" and is_quote(chunk):
            found = attribute(previous_paragraph) or previous_attribution or citation_speaker(chunk)
            block.kind = "quote"
            if found:
                block.speaker, block.role = found.speaker, found.role
                block.agency, block.city = found.agency, found.city or block.city
                block.position = found.position
                block.informant = found.speaker if found.role != "cited" else ""
                previous_attribution = found if found.role != "cited" else None
            else:
                block.role = "informant"
        else:
            previous_attribution = None
            previous_paragraph = chunk
        blocks.append(block)
    return blocks
