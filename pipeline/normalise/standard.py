"""Map one word to its standard form: informal words and typos -> the standard word.

Uses ``lexicons/informal.tsv`` and ``lexicons/typos.tsv``.  A word with a
clitic is looked up without it and the clitic put back ("udahlah" ->
"sudahlah"); a hyphenated word not in the tables is mapped part by part
("factor-faktor" -> "faktor-faktor").  A word written in capitals is an
acronym ("TU" = Tata Usaha, "PD" = Perusahaan Daerah), so only typos apply
to it, never the informal table ("tu" -> "itu", "pd" -> "pada").
"""

from __future__ import annotations

import functools

from pipeline.normalise.lexicon_tables import informal_words, typo_words
from pipeline.normalise.morphology import strip_clitic


def _lookup(word: str, tables: tuple[dict[str, str], ...]) -> str | None:
    """The standard form of a lowercase word from ``tables``, or None."""
    base, clitic = strip_clitic(word)
    for table in tables:
        if word in table:
            return table[word]
        if clitic and base in table:
            return table[base] + clitic
    return None


@functools.lru_cache(maxsize=200_000)
def standard_form(word: str) -> str:
    """The lowercase standard form of ``word`` as written (memoised)."""
    lower = word.lower()
    tables = (typo_words(),) if word.isupper() and len(word) > 1 else (typo_words(), informal_words())
    found = _lookup(lower, tables)
    if found is not None:
        return found
    if "-" in lower:
        return "-".join(_lookup(part, tables) or part for part in lower.split("-"))
    return lower
