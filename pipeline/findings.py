"""Which thesis sections hold findings: headings whose paragraphs are never coded.

Researchers code the findings of a thesis, not its abstract, introduction,
method or literature review: those paragraphs talk about coordination or
integration in general (or repeat the findings, in an abstract), and coding
them would count the same evidence twice or count theory as evidence.  The
headings are listed in ``lexicons/uncoded_examples.yaml``
(``non_findings_headings``); training turns the units under them into
``uncoded`` examples, and the coder leaves them uncoded with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd

from pipeline.codebook import heading_key
from pipeline.lexicon_files import load_yaml

#: Heading numbering: "4.2 ", "4.2. ", "1. ", "1) ", "3 ", "a. ", "IV. " (after markdown marks).
NUMBERING = re.compile(r"^[\s*#_]*(?:\d+(?:\.\d+)*[.)]?\s+|\d+(?:\.\d+)*[.)]|(?:[A-Za-z]|[IVXLivxl]+)[.)]\s*)?")
#: A chapter mark before a chapter's title: "BAB II ", "Bab 4. ", "BAB III: ".
CHAPTER = re.compile(r"^bab\s+(?:[ivxlc]+|\d+)\b[.:]?\s*", re.IGNORECASE)
HEADINGS_FILE = "uncoded_examples.yaml"
#: Unit kinds of a thesis's prose (see :data:`pipeline.schema.UNIT_KINDS`); transcripts' turns are "utterance".
THESIS_KINDS = ("narrative", "quote")


def heading_title(component: str) -> str:
    """A section-path component without its numbering, chapter mark and markdown.

    "4.2 Hasil" -> "Hasil"; "BAB II TINJAUAN PUSTAKA" -> "TINJAUAN PUSTAKA".
    """
    return CHAPTER.sub("", NUMBERING.sub("", component).strip(" *#_:")).strip(" *#_:")


@lru_cache(maxsize=1)
def non_findings_headings() -> tuple[str, ...]:
    """The heading keys of ``lexicons/uncoded_examples.yaml``'s ``non_findings_headings``."""
    headings = (load_yaml(HEADINGS_FILE) or {}).get("non_findings_headings") or []
    return tuple(heading_key(h) for h in headings if isinstance(h, str) and h.strip())


def non_findings_heading(section: str, headings: Sequence[str] | None = None) -> str | None:
    """The heading of ``section`` that marks its text as not findings, or None.

    Any heading of the path counts ("Pendahuluan > 1.1 Latar Belakang" and
    "Tinjauan Pustaka > Koordinasi" are both not findings).  A heading
    matches an entry of ``headings`` (heading keys; default: the lexicon's)
    when its title is that entry, or, for an entry ending in " ...", starts
    with the rest of it followed by a space.
    """
    if headings is None:  # the lexicon's list: every unit of a section asks the same question
        return _lexicon_heading(section)
    for component in (c for c in section.split(" > ") if c.strip()):
        title = heading_key(heading_title(component))
        if any(_heading_matches(title, entry) for entry in headings):
            return component.strip()
    return None


@lru_cache(maxsize=4096)
def _lexicon_heading(section: str) -> str | None:
    return non_findings_heading(section, non_findings_headings())


def _heading_matches(title: str, entry: str) -> bool:
    """Whether a heading title matches one entry of ``non_findings_headings``."""
    if entry.endswith(" ..."):
        stem = entry[: -len(" ...")]
        return title == stem or title.startswith(stem + " ")
    return title == entry


def excluding_heading(kind: str, section: object) -> str | None:
    """The heading that puts a unit outside its thesis's findings (never coded, never evidence), or None.

    Only thesis prose (``narrative``, ``quote``) is judged by its section.
    """
    if kind not in THESIS_KINDS or not isinstance(section, str) or not section:
        return None
    return non_findings_heading(section)


def outside_findings(units: pd.DataFrame) -> pd.Series:
    """Per unit of a units table: outside its thesis's findings (all False without a ``section`` column)."""
    if "section" not in units:
        return pd.Series(False, index=units.index)
    flags = [excluding_heading(kind, section) is not None for kind, section in zip(units["kind"], units["section"])]
    return pd.Series(flags, index=units.index, dtype=bool)
