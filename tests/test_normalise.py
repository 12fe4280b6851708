"""Normalisation: informal words, typos, stems, PDF artefacts, stop words, and token offsets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.normalise import (
    LexiconError,
    clean_text,
    content_words,
    normalise,
    standard_form,
    stem,
    tokenize,
)
from pipeline.normalise.lexicon_tables import keep_words, load_mapping, load_word_list, stopwords
from pipeline.normalise.tokens import PLAIN_TOKEN_PATTERN, TOKEN_PATTERN, _pattern_for


def norms(text: str) -> list[str]:
    return [t.norm for t in tokenize(text)]


def stems(text: str) -> list[str]:
    return [t.stem for t in tokenize(text)]


# --- informal words and typos ------------------------------------------------------


@pytest.mark.parametrize(
    ("informal", "standard"),
    [
        ("gak", "tidak"),
        ("nggak", "tidak"),
        ("ga", "tidak"),
        ("enggak", "tidak"),
        ("udah", "sudah"),
        ("belom", "belum"),
        ("kalo", "kalau"),
        ("karna", "karena"),
        ("pake", "pakai"),
        ("aja", "saja"),
        ("gimana", "bagaimana"),
        ("yg", "yang"),
        ("tdk", "tidak"),
    ],
)
def test_informal_words_map_to_the_standard_word(informal: str, standard: str) -> None:
    assert norms(informal) == [standard]


def test_informal_words_in_an_interview_sentence() -> None:
    n = normalise("Udah gitu kalo ngurus KTP masih harus ke kantor induk, karna gak nyambung datanya")
    assert n.text_norm == (
        "sudah begitu kalau mengurus ktp masih harus ke kantor induk, "
        "karena tidak menyambung datanya"
    )


def test_jakarta_verbs_stem_to_the_standard_root() -> None:
    assert stems("ngurus ngurusin nanyain") == ["urus", "urus", "tanya"]


def test_capitalised_informal_word_and_clitic_are_mapped() -> None:
    assert norms("Gak udahlah") == ["tidak", "sudahlah"]


@pytest.mark.parametrize(
    ("typo", "standard"),
    [
        ("integrase", "integrasi"),
        ("pelaynan", "pelayanan"),
        ("Simpifikasi", "simplifikasi"),
        ("perlibatan", "pelibatan"),
        ("berdasarakan", "berdasarkan"),
        ("public", "publik"),
        ("vertical", "vertikal"),
        ("antrian", "antrean"),
    ],
)
def test_typos_from_the_theses_are_corrected(typo: str, standard: str) -> None:
    assert norms(typo) == [standard]


def test_typo_inside_a_reduplication_is_corrected_part_by_part() -> None:
    [token] = tokenize("factor-faktor")
    assert (token.norm, token.stem) == ("faktor-faktor", "faktor")


def test_acronyms_in_capitals_are_not_read_as_informal_words() -> None:
    # TU = Tata Usaha, PD = Perusahaan Daerah; lowercase "tu", "pd" are chat shorthand.
    assert norms("bagian TU dan PD Pasar, tu pd") == ["bagian", "tu", "dan", "pd", "pasar", "itu", "pada"]
    assert norms("DPMPPTSP") == ["dpmptsp"]  # a typo in capitals is still corrected


def test_ambiguous_words_are_left_alone() -> None:
    # "kaya" (rich), "capai" (reach) and "kasih" look informal but are standard words.
    assert norms("kaya capai kasih") == ["kaya", "capai", "kasih"]


# --- stems -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variants", "shared"),
    [
        ("koordinasi berkoordinasi dikoordinasikan koordinasinya mengoordinasikan", "koordinasi"),
        ("sinkron menyinkronkan sinkronisasi tersinkronisasi", "sinkron"),
        ("integrasi terintegrasi mengintegrasikan integrase", "integrasi"),
        ("layanan pelayanan melayani dilayani", "layan"),
        ("pelibatan dilibatkan keterlibatan perlibatan", "libat"),
        ("anggaran penganggaran dianggarkan", "anggaran"),
        ("antrean antrian mengantri ngantri", "antre"),
        ("kerjasama bekerjasama berkerjasama", "kerjasama"),
        ("pemangkasan memangkas dipangkas", "pangkas"),
    ],
)
def test_morphological_variants_share_one_stem(variants: str, shared: str) -> None:
    assert set(stems(variants)) == {shared}


@pytest.mark.parametrize(
    ("word", "protected"),
    [
        ("pemerintahan", "pemerintah"),
        ("pemerintah", "pemerintah"),
        ("kebijakan", "kebijakan"),
        ("kebijakannya", "kebijakan"),
        ("penganggaran", "anggaran"),
    ],
)
def test_over_stemmed_words_are_protected(word: str, protected: str) -> None:
    assert stem(word) == protected


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("pendekatan", "kedekatan"),  # approach vs closeness (a Perry 6 dimension)
        ("petugas", "tugas"),  # counter staff vs task
        ("pertemuan", "temuan"),  # meeting vs research finding
        ("kesepahaman", "pemahaman"),  # MoU vs understanding
        ("sebelumnya", "belum"),  # "previously" must not look like the negation cue
        ("setelah", "telah"),
        ("pemerintah", "memerintahkan"),  # government vs to command
    ],
)
def test_unrelated_words_do_not_collide(one: str, other: str) -> None:
    assert stem(one) != stem(other)


def test_full_reduplication_is_one_token_stemmed_as_its_base() -> None:
    tokens = tokenize("instansi-instansi masing-masing kebijakan-kebijakan")
    assert [t.surface for t in tokens] == ["instansi-instansi", "masing-masing", "kebijakan-kebijakan"]
    assert [t.norm for t in tokens] == ["instansi-instansi", "masing-masing", "kebijakan-kebijakan"]
    assert [t.stem for t in tokens] == ["instansi", "masing", "kebijakan"]


def test_clitics_are_left_to_the_stemmer() -> None:
    [token] = tokenize("koordinasinya")
    assert (token.norm, token.stem) == ("koordinasinya", "koordinasi")


# --- tokens ------------------------------------------------------------------------


def test_acronyms_keep_their_case_in_surface_only() -> None:
    tokens = tokenize("DPMPTSP, BPJS dan OPD")
    assert [t.surface for t in tokens] == ["DPMPTSP", "BPJS", "dan", "OPD"]
    assert [t.norm for t in tokens] == ["dpmptsp", "bpjs", "dan", "opd"]


def test_urls_emails_and_numbers_are_single_tokens() -> None:
    text = "Lihat <https://mpp.bengkulukota.go.id/antrean>, tulis ke ririn.a@gmail.com: 1.362 laporan."
    assert [t.surface for t in tokenize(text)] == [
        "Lihat",
        "https://mpp.bengkulukota.go.id/antrean",
        "tulis",
        "ke",
        "ririn.a@gmail.com",
        "1.362",
        "laporan",
    ]


def test_punctuation_is_not_a_token() -> None:
    assert [t.surface for t in tokenize("“Kami —, (sudah)!?”")] == ["Kami", "sudah"]


def test_offsets_point_into_the_original_text_across_artefacts() -> None:
    text = "pelaksa-\nnaan koordinasi 66\n\nantar instansi"
    tokens = tokenize(text)
    assert [t.norm for t in tokens] == ["pelaksanaan", "koordinasi", "antar", "instansi"]
    assert tokens[0].surface == "pelaksa-\nnaan"
    for t in tokens:
        assert text[t.start : t.end] == t.surface


# --- clean_text on real fragments from the seed texts --------------------------------


@pytest.mark.parametrize(
    ("fragment", "cleaned"),
    [
        (
            "masing-masing. masih kurangnya koordinasi 66\n\nmengenai Kerjasama antara berbagai pihak",
            "masing-masing. masih kurangnya koordinasi mengenai Kerjasama antara berbagai pihak",
        ),
        (
            "serta tantangan 30\n\nyang dihadapi oleh berbagai pihak",
            "serta tantangan yang dihadapi oleh berbagai pihak",
        ),
        (
            "demi mencapai suatu tujuan. 67\n\nIndikator Perencanaan bersama",
            "demi mencapai suatu tujuan. Indikator Perencanaan bersama",
        ),
        (
            "Keseriusan Pemerintah Indonesia dalam mewujudkan Undang- Undang 4\n\nNomor 25 Tahun 2009",
            "Keseriusan Pemerintah Indonesia dalam mewujudkan Undang-Undang Nomor 25 Tahun 2009",
        ),
    ],
)
def test_page_numbers_inside_sentences_are_dropped(fragment: str, cleaned: str) -> None:
    assert clean_text(fragment) == cleaned


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        (
            "Peraturan Wali Kota Bengkulu Nomor 27 Tahun 2023 tentang Penyelenggaraan",
            "Peraturan Wali Kota Bengkulu Nomor 27 Tahun 2023 tentang Penyelenggaraan",
        ),
        (
            "MPP Kota Bengkulu menyediakan 118 jenis layanan dari 22 instansi.",
            "MPP Kota Bengkulu menyediakan 118 jenis layanan dari 22 instansi.",
        ),
        # Hard-wrapped right after a real number: the cue words keep it.
        ("Wali Kota Nomor 27\ntentang Penyelenggaraan", "Wali Kota Nomor 27 tentang Penyelenggaraan"),
        ("menyediakan 118\njenis layanan", "menyediakan 118 jenis layanan"),
        ("rapat umum setiap 3\nbulan sekali", "rapat umum setiap 3 bulan sekali"),
        ("Hal ini terlihat pada Tabel 2\n\nberikut", "Hal ini terlihat pada Tabel 2 berikut"),
        ("MPP Kota Bengkulu menyediakan 22", "MPP Kota Bengkulu menyediakan 22"),
    ],
)
def test_real_numbers_are_kept(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned


@pytest.mark.parametrize(
    ("fragment", "cleaned"),
    [
        ("upaya- upaya", "upaya-upaya"),
        ("kepala instansi mereka masing- masing karena", "kepala instansi mereka masing-masing karena"),
        ("dengan peristiwa-\n\nperistiwa penting", "dengan peristiwa-peristiwa penting"),
        ("pelaksa- naan", "pelaksanaan"),
        ("pelaksa-\nnaan", "pelaksanaan"),
        ("adanya kendala – kendala yang terjadi", "adanya kendala-kendala yang terjadi"),
        ("mengacu pada Undang - Undang Nomor 25", "mengacu pada Undang-Undang Nomor 25"),
        ("perizinan maupun non- perizinan", "perizinan maupun non-perizinan"),
        ("belum terealisasi nya kelompok kerja", "belum terealisasinya kelompok kerja"),
    ],
)
def test_broken_hyphenation_is_rejoined(fragment: str, cleaned: str) -> None:
    assert clean_text(fragment) == cleaned


def test_markdown_emphasis_and_headings_are_removed() -> None:
    text = "### **1. Koordinasi**\n\nPendekatan *Whole of Government* ini"
    assert clean_text(text) == "1. Koordinasi Pendekatan Whole of Government ini"


def test_hard_wraps_and_blank_line_per_line_output_become_single_spaces() -> None:
    text = "  Koordinasi yang dilakukan pun\n\nmasih terbatas pada tahap\r\npembentukan \t MPP  \n"
    assert clean_text(text) == "Koordinasi yang dilakukan pun masih terbatas pada tahap pembentukan MPP"


def test_footnote_marks_and_inline_tags_are_removed_but_urls_stay() -> None:
    text = "Khairani Ritonga<sup>1</sup>, <i>Whole of Government</i> <https://ojs.unigal.ac.id/modrat>"
    assert clean_text(text) == "Khairani Ritonga, Whole of Government <https://ojs.unigal.ac.id/modrat>"


# The page numbers PDF conversion left inside the seed texts (checked by hand).
SEED_PAGE_NUMBERS = {
    "002_bc8d7b693de50f5b.txt": ["3", "4", "5", "30", "48", "66", "67", "68", "69"],
    "003_3c9a3ffc07627e25.txt": ["1", "2", "3"],  # affiliation marks: Ritonga<sup>1</sup>
}


def test_seed_texts_lose_exactly_their_page_numbers(seeds_dir: Path) -> None:
    from collections import Counter

    from pipeline.normalise.tokens import TOKEN_PATTERN

    for path in sorted(seeds_dir.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        cleaned = clean_text(text)
        assert "\n" not in cleaned and "  " not in cleaned
        numbers_before = Counter(m.group() for m in TOKEN_PATTERN.finditer(text) if m.group().isdigit())
        numbers_after = Counter(m.group() for m in TOKEN_PATTERN.finditer(cleaned) if m.group().isdigit())
        dropped = sorted((numbers_before - numbers_after).elements(), key=int)
        assert dropped == SEED_PAGE_NUMBERS.get(path.name, []), path.name
        for t in tokenize(text):
            assert text[t.start : t.end] == t.surface


# --- normalise() and content words ---------------------------------------------------


def test_normalise_builds_text_norm_and_stems_from_the_tokens() -> None:
    text = "Koordinasinya   gak jalan, karna *ego sektoral* 12\n\nmasing-masing"
    n = normalise(text)
    assert n.text_norm == "koordinasinya tidak jalan, karena ego sektoral masing-masing"
    assert n.stems == "koordinasi tidak jalan karena ego sektoral masing"
    assert n.stems.split() == [t.stem for t in n.tokens]
    assert text == "Koordinasinya   gak jalan, karna *ego sektoral* 12\n\nmasing-masing"  # untouched


def test_content_words_drop_stop_words_but_never_keep_words() -> None:
    n = normalise("Dan ini sih koordinasi antar instansi yang belum terpadu, tidak bersama, kurang")
    kept = [t.norm for t in content_words(n.tokens)]
    assert kept == ["koordinasi", "antar", "instansi", "belum", "terpadu", "tidak", "bersama", "kurang"]


def test_every_keep_word_survives_content_words() -> None:
    words = sorted(keep_words())
    assert [standard_form(w) for w in words] == words  # listed as the norm they are compared with
    tokens = tokenize(" ".join(words))
    assert sorted(t.norm for t in content_words(tokens)) == words
    assert not keep_words() & stopwords()


def test_normalise_empty_and_blank_text() -> None:
    for text in ("", "   \n\n ", "66"):
        n = normalise(text)
        assert n.text_norm == text.strip() and n.stems == text.strip()


# --- lexicon files ---------------------------------------------------------------------


def test_lexicons_are_big_enough_and_valid() -> None:
    from pipeline import paths

    assert len(load_mapping(paths.LEXICONS / "informal.tsv")) >= 120
    assert len(load_mapping(paths.LEXICONS / "typos.tsv")) >= 40
    assert standard_form("Karna") == "karena"


def test_bad_lexicon_file_gives_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "informal.tsv"
    bad.write_text("# comment\ngak\ttidak\nudah sudah\n", encoding="utf-8")
    with pytest.raises(LexiconError) as info:
        load_mapping(bad)
    message = str(info.value)
    assert "\n" not in message and "informal.tsv:3" in message and "2 TAB-separated columns" in message

    dup = tmp_path / "keep.txt"
    dup.write_text("tidak\nbelum\ntidak\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"keep\.txt:3: 'tidak' is listed twice"):
        load_word_list(dup)

    with pytest.raises(LexiconError, match="file not found"):
        load_word_list(tmp_path / "missing.txt")


# --- property: tokenize never crashes, and every token slices back ---------------------

ANY_TEXT = st.text(
    st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Z", "Cc", "Cf")),
    max_size=200,
)
MIXED_TEXT = st.lists(
    st.one_of(
        ANY_TEXT,
        st.sampled_from(
            [
                "\r\n", "\n\n", "\u200b", "\u00ad", "\ufeff", "😀", "👩‍💻",
                "-\n", "- ", " – ", " 66\n\n",
                "**", "### ", "<sup>1</sup>", "<i>", " nya", "instansi-instansi", "udah", "Gak",
                "https://x.id/a-b", "a@b.co", "1.362", "pelaksa-", "naan", "\t", "  ",
            ]
        ),
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(MIXED_TEXT)
def test_tokens_always_slice_back_to_their_surface(text: str) -> None:
    tokens = tokenize(text)
    previous_end = 0
    for t in tokens:
        assert text[t.start : t.end] == t.surface
        assert previous_end <= t.start < t.end <= len(text)
        assert t.norm and t.stem and " " not in t.stem
        previous_end = t.end


@settings(max_examples=300, deadline=None)
@given(MIXED_TEXT)
def test_the_plain_token_pattern_finds_what_the_full_one_finds_where_it_is_used(text: str) -> None:
    """The fast pattern (no URL or e-mail branch) is used only where those branches cannot match."""
    for variant in (text, text.replace("@", " "), text.replace("http", "htp").replace("www", "ww")):
        full = [m.span() for m in TOKEN_PATTERN.finditer(variant)]
        assert [m.span() for m in _pattern_for(variant).finditer(variant)] == full


def test_urls_and_emails_use_the_full_token_pattern() -> None:
    assert _pattern_for("lihat https://x.id") is TOKEN_PATTERN
    assert _pattern_for("www.mpp.go.id") is TOKEN_PATTERN
    assert _pattern_for("tulis ke a@b.co") is TOKEN_PATTERN
    assert _pattern_for("Kami sudah koordinasi.") is PLAIN_TOKEN_PATTERN


@settings(max_examples=200, deadline=None)
@given(MIXED_TEXT)
def test_clean_text_is_collapsed_stripped_and_idempotent_on_spacing(text: str) -> None:
    cleaned = clean_text(text)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned and "\n" not in cleaned and "\r" not in cleaned
    n = normalise(text)
    assert len(n.stems.split()) == len(n.tokens)
