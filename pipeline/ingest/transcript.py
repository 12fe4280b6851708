"""Interview transcripts: find speaker turns and who speaks in each.

Conventions recognised (labels live in ``lexicons/speaker_labels.yaml``):
``P:``/``I:``, ``Peneliti:``/``Narasumber:``, ``T:``/``J:``, names or initials
with an honorific (``Ibu NK:``, ``Pak TR:``), bare initials (``NK:``), each
optionally preceded by a timestamp (``[00:03:12]`` or ``00:03:12``).  A turn
runs until the next label, across lines and paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

from pipeline.ingest.blocks import Block, paragraph_spans, trim_span
from pipeline.ingest.names import canonical_person, per_speaker
from pipeline.lexicon_files import load_yaml

_TIMESTAMP = r"[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?[\])]?"


@dataclass(frozen=True)
class TurnLabel:
    """A speaker label found at the start of a line."""

    line_start: int
    content_start: int
    label: str
    role: str


@lru_cache(maxsize=1)
def _label_pattern() -> re.Pattern[str]:
    data = load_yaml("speaker_labels.yaml")
    generic = sorted(data["labels"], key=len, reverse=True)
    honorifics = sorted((re.escape(h) for h in data["honorifics"]), key=len, reverse=True)
    name = r"[A-Z][\w'’.-]*(?:[ \t]+[A-Z][\w'’.-]*){0,2}"
    label = (
        rf"(?P<generic>(?i:{'|'.join(map(re.escape, generic))}))"
        rf"|(?P<named>(?:{'|'.join(honorifics)})[ \t]+{name})"
        r"|(?P<initials>[A-Z]{2,4})"
    )
    return re.compile(
        rf"^[ \t]*(?:{_TIMESTAMP}[ \t]*)?(?:{label})[ \t]*(?:{_TIMESTAMP}[ \t]*)?:(?=\s|$)[ \t]*",
        re.M,
    )


def role_of(match: re.Match[str], interviewers: frozenset[str]) -> tuple[str, str]:
    """The (label, role) of a matched speaker label."""
    generic = match.group("generic")
    if generic:
        return generic, load_yaml("speaker_labels.yaml")["labels"][generic.lower()]
    label = match.group("named") or match.group("initials")
    role = "interviewer" if label.lower() in interviewers else "informant"
    return label, role


def find_turn_labels(text: str, start: int, interviewers: frozenset[str] = frozenset()) -> Iterator[TurnLabel]:
    """Every speaker label at a line start in text[start:], as they are found."""
    for match in _label_pattern().finditer(text, start):
        label, role = role_of(match, interviewers)
        yield TurnLabel(match.start(), match.end(), label, role)


def _speaker_name(turn: TurnLabel, metadata: dict[str, str]) -> str:
    """A generic informant label stands for the document's informant when metadata names one."""
    named = turn.label[:1].isupper() and len(turn.label) > 1 and turn.label.lower() not in load_yaml(
        "speaker_labels.yaml"
    )["labels"]
    if turn.role == "informant" and not named and metadata.get("informant"):
        return metadata["informant"]
    if turn.role == "interviewer" and not named and metadata.get("interviewer"):
        return metadata["interviewer"]
    return canonical_person(turn.label)


def parse_transcript(text: str, body_start: int, metadata: dict[str, str]) -> Iterator[Block] | None:
    """Turn blocks (plus ``header`` blocks for any preamble), or None if this is no dialogue.

    A dialogue has at least two turns by at least two distinct speaker labels.
    Only the labels up to the second speaker are read to decide; the blocks
    are then made as they are drawn, so a huge transcript is never held as
    blocks.
    """
    interviewers = frozenset(n.lower() for n in [metadata.get("interviewer", "")] if n)
    turns = find_turn_labels(text, body_start, interviewers)
    opening: list[TurnLabel] = []
    for turn in turns:
        opening.append(turn)
        if turn.label.lower() != opening[0].label.lower():
            return _turn_blocks(text, body_start, metadata, chain(opening, turns))
    return None


def _turn_blocks(text: str, body_start: int, metadata: dict[str, str], turns: Iterator[TurnLabel]) -> Iterator[Block]:
    """The preamble's header blocks, then one block per non-empty turn."""
    agencies, positions = per_speaker(metadata, "agency"), per_speaker(metadata, "role")
    turn = next(turns)
    for start, end in paragraph_spans(text, body_start, turn.line_start):
        yield Block(start, end, "header")
    while turn is not None:
        following = next(turns, None)
        start, end = trim_span(text, turn.content_start, following.line_start if following else len(text))
        if start != end:
            speaker = _speaker_name(turn, metadata)
            informant = speaker if turn.role == "informant" else metadata.get("informant", "")
            yield Block(start, end, "turn", speaker=speaker, role=turn.role, informant=informant,
                        agency=agencies.get(speaker, metadata.get("agency", "")), city=metadata.get("city", ""),
                        position=positions.get(speaker, ""))
        turn = following
