"""Who said a quoted excerpt in a thesis: read the sentence that introduces it.

"Peneliti melakukan wawancara dengan Bapak FA selaku sekretaris (DPMPTSP) Kota
Bengkulu" -> speaker "Bapak FA", position "sekretaris", agency "DPMPTSP",
city "Kota Bengkulu".  Vocabulary lives in ``lexicons/attribution.yaml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.ingest.names import canonical_person
from pipeline.lexicon_files import load_yaml

_CITATION = re.compile(r"[”\"]\s*\(([^()]*?\b(?:19|20)\d{2}[a-z]?)\)\s*[.]?\s*$")
_CLAUSE_END = re.compile(r"[,;:()]|\s(?:dan|serta|yang|adalah|hasil|bahwa)\s")
TAIL_CHARS = 160


@dataclass(frozen=True)
class Attribution:
    """The speaker of a quote and what is known about them."""

    speaker: str
    role: str  # informant | cited
    position: str = ""
    agency: str = ""
    city: str = ""


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    data = load_yaml("attribution.yaml")
    honorifics = load_yaml("speaker_labels.yaml")["honorifics"]
    role_words = "|".join(map(re.escape, data["role_words"]))
    name_word = rf"(?!(?:{role_words})\b)[A-Z][\w'’-]*\.?"
    agencies = sorted(data["agencies"], key=len, reverse=True)
    return {
        "cue": re.compile(rf"\b(?:{'|'.join(map(re.escape, data['cues']))})\b", re.I),
        "person": re.compile(
            rf"(?<!\w)(?:{'|'.join(map(re.escape, sorted(honorifics, key=len, reverse=True)))})"
            rf"\s+{name_word}(?:\s+{name_word}){{0,2}}"
        ),
        "marker": re.compile(rf"^\s*,?\s*(?:{'|'.join(data['role_markers'])})\s+", re.I),
        "agency": re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, agencies))})(?!\w)"),
        "city": re.compile(
            rf"(?<!\w)(?:{'|'.join(map(re.escape, data['city_prefixes']))})\s+[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)?"
        ),
    }


def _one_line(text: str) -> str:
    """Collapse PDF line breaks and double spaces: 'Ibu\nSW' -> 'Ibu SW'."""
    return " ".join(text.split())


def _position(tail: str, stop: int) -> str:
    """The job title right after a name: up to the agency, the city, or the end of the clause."""
    pats = _patterns()
    text = pats["marker"].sub("", tail[:stop])
    clause = _CLAUSE_END.search(text)
    if clause:
        text = text[: clause.start()]
    return text.strip(" ,.-")


def attribute(paragraph: str) -> Attribution | None:
    """The informant a paragraph introduces, or None if it introduces nobody.

    The paragraph must speak of an interview (a cue word) or end with a colon.
    """
    pats = _patterns()
    if not (pats["cue"].search(paragraph) or paragraph.rstrip().endswith(":")):
        return None
    people = list(pats["person"].finditer(paragraph))
    if not people:
        return None
    person = people[-1]
    tail = paragraph[person.end(): person.end() + TAIL_CHARS]
    tail = tail[: m.start()] if (m := re.search(r"[.;]\s|,\s+(?:hasil|beberapa|dan)\b", tail)) else tail
    agency = pats["agency"].search(tail)
    city = pats["city"].search(tail)
    stops = [m.start() for m in (agency, city) if m] + [len(tail)]
    return Attribution(
        speaker=canonical_person(person.group(0)),
        role="informant",
        position=_one_line(_position(tail, min(stops))).strip("( "),
        agency=_one_line(agency.group(0)) if agency else "",
        city=_one_line(city.group(0)) if city else "",
    )


def citation_speaker(quote: str) -> Attribution | None:
    """A literature quote closed by '(Author Year)' is attributed to that citation."""
    match = _CITATION.search(quote.strip())
    if not match or _patterns()["cue"].search(match.group(1)):
        return None  # "(Wawancara, 4 Maret 2025)" dates an interview; it names no author
    return Attribution(speaker=_one_line(match.group(1)), role="cited")
