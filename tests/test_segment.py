"""Sentence units: abbreviations, quotes, list markers, and the offset invariant for any text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.ingest.batch import units_from_text

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"


def sentences(text: str) -> list[str]:
    return [u.text for u in units_from_text(text, "s.txt")[1]]


def test_indonesian_abbreviations_do_not_end_sentences() -> None:
    text = ("MPP berlokasi di Jl. Basuki Rahmat No. 40 Kel. Sawah Lebar Kec. Ratu Agung Kab. Rejang. "
            "Bpk. Andi dan Sdr. Budi hadir tgl. 5 Mei di Jl. Jend. Sudirman Prov. Riau. Selesai.")
    assert sentences(text) == [
        "MPP berlokasi di Jl. Basuki Rahmat No. 40 Kel. Sawah Lebar Kec. Ratu Agung Kab. Rejang.",
        "Bpk. Andi dan Sdr. Budi hadir tgl. 5 Mei di Jl. Jend. Sudirman Prov. Riau.",
        "Selesai.",
    ]


def test_inline_quote_is_not_split() -> None:
    text = 'Petugas berkata, "Server mati. Datang besok saja." Warga pun pulang. Itu sering terjadi.'
    assert sentences(text) == [
        'Petugas berkata, "Server mati. Datang besok saja."',
        "Warga pun pulang.",
        "Itu sering terjadi.",
    ]


def test_list_marker_joins_its_sentence() -> None:
    got = sentences("1. Mal Pelayanan Publik merupakan inovasi. 2. Kendala masih ada.")
    assert got[0].startswith("1.") and "inovasi" in got[0]


def test_unit_ids_are_stable_and_unique() -> None:
    text = "P: Halo.\nI: Koordinasi sudah baik. Tapi data belum sinkron.\n"
    first = [u.unit_id for u in units_from_text(text, "w.txt")[1]]
    again = [u.unit_id for u in units_from_text(text, "w.txt")[1]]
    assert first == again and len(set(first)) == len(first)


def test_every_non_space_character_is_in_some_unit() -> None:
    text = "Kota: Padang\nInforman: Ibu NK\n\nP: Bagaimana?\nI: Baik. Sudah terpadu.\n\nCatatan akhir."
    doc, units = units_from_text(text, "w.txt")
    covered = set()
    for u in units:
        covered.update(range(u.start, u.end))
    labels = {i for i, ch in enumerate(doc.text) if ch in "PI:" and i not in covered}
    missing = [i for i, ch in enumerate(doc.text) if not ch.isspace() and i not in covered and i not in labels]
    assert missing == []


ALPHABET = st.characters(codec="utf-8", categories=("L", "N", "P", "Z", "S", "Cc", "Cf"))
LINES = st.lists(
    st.one_of(
        st.text(ALPHABET, max_size=60),
        st.sampled_from(["P: ", "I: ", "Ibu NK: ", "[00:01:02] T: ", "### **1. Koordinasi**", "a. Integrasi",
                         "“kutipan. dua”", "Kota: Padang", "---", "koordinasi 66", "", "\r\n", "upaya- upaya"]),
    ),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(LINES, st.sampled_from(["\n", "\r\n", "\r", "\n\n"]))
def test_offsets_always_slice_back_to_unit_text(lines: list[str], sep: str) -> None:
    doc, units = units_from_text(sep.join(lines), "fuzz.txt")
    previous_end = 0
    for u in units:
        assert doc.text[u.start:u.end] == u.text
        assert u.start >= previous_end and u.text.strip() == u.text and u.text
        previous_end = u.end


def test_the_splitter_is_rebuilt_when_its_vocabulary_grows_and_sentences_stay_the_same(monkeypatch):
    """spaCy remembers every distinct token; a long run rebuilds it rather than growing without end."""
    import pipeline.segment as segment_module

    text = "I: " + " ".join(f"Nomor antrean A{i} dilayani. Berkas B{i} lengkap." for i in range(300)) + "\n"
    expected = [(u.start, u.end) for u in units_from_text(text)[1]]
    before = segment_module.sentence_splitter()
    monkeypatch.setattr(segment_module, "MAX_VOCAB", len(before.vocab) - 1)  # already outgrown
    again = [(u.start, u.end) for u in units_from_text(text)[1]]
    assert segment_module.sentence_splitter() is not before
    assert again == expected and len(expected) == 600


def test_the_splitter_finds_the_same_sentences_without_the_exceptions_it_leaves_out() -> None:
    """Loading only the special cases that can move a boundary (~2 s saved per process) changes no sentence.

    Every exception left out appears after a full stop, capitalised, before a
    full stop, an exclamation mark, a closing bracket and another word, next to
    the exceptions that are kept ("i.", "Hal."), in a splitter with all of them.
    """
    from spacy.lang.id import Indonesian
    from spacy.symbols import ORTH

    from pipeline.lexicon_files import load_lines
    from pipeline.segment import _indonesian_splitter, sentence_splitter

    every = dict(Indonesian.Defaults.tokenizer_exceptions)
    every.update({abbreviation: [{ORTH: abbreviation}] for abbreviation in load_lines("abbreviations.txt")})
    loaded = sentence_splitter().Defaults.tokenizer_exceptions
    left_out = [text for text in every if text not in loaded]
    assert len(left_out) > 15_000 and "abu-abu" in left_out and "putra/i" in loaded and "a." in loaded
    contexts = "Selesai. {w}. {W}! ({w}.) {w}.{w}? ..{w} a.{w}. "
    text = "".join(contexts.format(w=word, W=word.capitalize()) for word in left_out)
    reference = _indonesian_splitter(every)
    chunks = [text[i:i + 100_000] for i in range(0, len(text), 100_000)]
    for chunk in chunks:
        expected = [(s.start_char, s.end_char) for s in reference(chunk).sents]
        assert [(s.start_char, s.end_char) for s in sentence_splitter()(chunk).sents] == expected


_PIECES = st.sampled_from(list("ab XY.!?…。\"'()-—,;:\n\u200b\U0001F600") + ["Jl.", "a.n.", "...", "Hal.", "putra/i"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_sentence_spans_from_token_arrays_equal_spacys_sentencizer(text: str) -> None:
    """The splitter applies the sentencizer's rule to token arrays; spaCy's own pipe gives the same sentences."""
    from pipeline.segment import sentence_splitter, sentencizer_spans

    assert sentencizer_spans(text) == [(s.start_char, s.end_char) for s in sentence_splitter()(text).sents]


def test_sentence_spans_equal_spacys_sentencizer_on_the_sample_corpus() -> None:
    from pipeline.segment import sentence_splitter, sentencizer_spans

    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLE.rglob("*.txt"))]
    assert len(texts) >= 8
    for text in texts:
        assert sentencizer_spans(text) == [(s.start_char, s.end_char) for s in sentence_splitter()(text).sents]
