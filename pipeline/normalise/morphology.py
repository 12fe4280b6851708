"""Indonesian word-shape helpers shared by the word tables and the stemmer."""

from __future__ import annotations

# Clitics that attach to the end of a word ("kebijakannya", "udahlah", "apakah", "adapun").
CLITICS: tuple[str, ...] = ("nya", "lah", "kah", "pun")


def strip_clitic(word: str) -> tuple[str, str]:
    """Split a trailing clitic off ``word``: "kebijakannya" -> ("kebijakan", "nya").

    Only splits when at least three letters remain; returns (word, "") otherwise.
    """
    for clitic in CLITICS:
        if word.endswith(clitic) and len(word) - len(clitic) >= 3:
            return word[: -len(clitic)], clitic
    return word, ""


def reduplication_base(word: str) -> str | None:
    """The base of a full reduplication ("instansi-instansi" -> "instansi"), else None.

    A clitic on the second half is allowed ("anak-anaknya" -> "anak").
    """
    left, hyphen, right = word.partition("-")
    if not hyphen or not left or "-" in right:
        return None
    if right == left:
        return left
    base, clitic = strip_clitic(right)
    return left if clitic and base == left else None
