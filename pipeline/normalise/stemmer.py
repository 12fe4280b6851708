"""Indonesian stemming: Sastrawi plus this project's exceptions.

The ONE place Sastrawi is imported.  The Sastrawi stemmer is built once per
process (on first use) and every word's stem is memoised.  Words Sastrawi
over-stems on MPP vocabulary (pemerintahan -> perintah, pendekatan -> dekat)
are fixed by ``lexicons/stem_exceptions.tsv``; see that file's header for how
rows apply.
"""

from __future__ import annotations

import functools
import re

from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

from pipeline.normalise.lexicon_tables import stem_exceptions
from pipeline.normalise.morphology import reduplication_base, strip_clitic

# What Sastrawi can take: plain ASCII words (it turns anything else into spaces).
_STEMMABLE = re.compile(r"[a-z]+(?:-[a-z]+)*")


@functools.cache
def _sastrawi():  # -> Sastrawi's CachedStemmer
    """The Sastrawi stemmer, created on first use."""
    return StemmerFactory().create_stemmer()


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The stem of one lowercase standard word (memoised).

    Exceptions first (the word, then the word minus a clitic), then the base
    of a full reduplication, then Sastrawi, whose stem may itself be remapped
    by the exceptions.  Words Sastrawi cannot take (digits, non-ASCII letters,
    apostrophes) are their own stem.
    """
    exceptions = stem_exceptions()
    if word in exceptions:
        return exceptions[word]
    base, clitic = strip_clitic(word)
    if clitic and base in exceptions:
        return exceptions[base]
    redup = reduplication_base(word)
    if redup is not None:
        return stem(redup)
    if not _STEMMABLE.fullmatch(word):
        return word
    result = _sastrawi().stem(word)
    if not result or " " in result:
        return word
    return exceptions.get(result, result)
