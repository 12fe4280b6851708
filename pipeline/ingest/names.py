"""One spelling per person and per agency, so evidence is not split between variants."""

from __future__ import annotations

import re

from pipeline.lexicon_files import load_yaml


def canonical_person(name: str) -> str:
    """'Pak  TR' -> 'Bapak TR', 'Bu NK' -> 'Ibu NK'; whitespace collapsed."""
    words = name.split()
    if words:
        words[0] = load_yaml("speaker_labels.yaml").get("canonical_honorifics", {}).get(words[0], words[0])
    return " ".join(words)


def canonical_agency(agency: str, city: str) -> str:
    """Drop the document's own city from an agency name: 'DPMPTSP Kota Padang' -> 'DPMPTSP'."""
    agency = " ".join(agency.split())
    if city and agency.lower().endswith(" " + city.lower()):
        agency = agency[: -len(city) - 1].rstrip(" ,-")
    return agency


def split_list(value: str) -> list[str]:
    """Metadata lists for group interviews: 'Ibu NK; Pak TR' -> ['Ibu NK', 'Pak TR']."""
    return [part.strip() for part in re.split(r"\s*;\s*", value) if part.strip()]


def per_speaker(metadata: dict[str, str], field: str) -> dict[str, str]:
    """Map each listed informant to the matching entry of another ';'-separated field."""
    people = [canonical_person(p) for p in split_list(metadata.get("informant", ""))]
    values = split_list(metadata.get(field, ""))
    return dict(zip(people, values)) if len(people) > 1 and len(values) == len(people) else {}
