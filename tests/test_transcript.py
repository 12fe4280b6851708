"""Interview transcripts in the conventions researchers type: turns, speakers, roles."""

from __future__ import annotations

import pytest

from pipeline.ingest.batch import units_from_text


def turns(text: str, **meta: str) -> list[tuple[str, str, str]]:
    """(speaker, role, first words) per utterance block."""
    _, units = units_from_text(text, "wawancara.txt", meta or None)
    seen, out = set(), []
    for u in units:
        if u.kind == "utterance" and u.block_id not in seen:
            seen.add(u.block_id)
            out.append((u.speaker, u.speaker_role, u.text.split()[0]))
    return out


@pytest.mark.parametrize(
    ("q", "a"),
    [("P", "I"), ("Peneliti", "Narasumber"), ("Pewawancara", "Informan"), ("T", "J"), ("Penanya", "Responden")],
)
def test_generic_labels_give_interviewer_and_informant(q: str, a: str) -> None:
    text = f"{q}: Bagaimana koordinasi di MPP?\n{a}: Sudah rutin, Pak.\n{q}: Ada kendala?\n{a}: Jaringan sering gangguan.\n"
    assert [(r, w) for _, r, w in turns(text)] == [
        ("interviewer", "Bagaimana"), ("informant", "Sudah"), ("interviewer", "Ada"), ("informant", "Jaringan")
    ]


def test_named_labels_are_separate_informants() -> None:
    text = (
        "P: Ibu dan Bapak dari instansi mana?\n"
        "Ibu NK: Saya dari DUKCAPIL.\n"
        "Pak TR: Saya dari Samsat.\n"
        "P: Terima kasih.\n"
    )
    result = turns(text)
    assert result[1][:2] == ("Ibu NK", "informant")
    assert result[2][:2] == ("Bapak TR", "informant")  # one spelling per person
    _, units = units_from_text(text, "fgd.txt")
    assert {u.informant for u in units if u.speaker_role == "informant"} == {"Ibu NK", "Bapak TR"}


@pytest.mark.parametrize("stamp", ["[00:03:12] ", "00:03:12 ", "(00:03) "])
def test_timestamps_before_labels_are_not_text(stamp: str) -> None:
    text = f"{stamp}P: Mulai ya, Bu.\n{stamp}I: Iya silakan.\n"
    doc, units = units_from_text(text, "w.txt")
    assert [u.text for u in units] == ["Mulai ya, Bu.", "Iya silakan."]
    assert doc.kind == "transcript"


def test_turn_spans_lines_and_paragraphs() -> None:
    text = (
        "P: Bagaimana dengan data?\n"
        "I: Datanya belum sinkron dengan DUKCAPIL.\n"
        "Jadi warga harus ke kantor induk dulu.\n\n"
        "Terus balik lagi ke sini.\n"
        "P: Baik.\n"
    )
    _, units = units_from_text(text, "w.txt")
    informant = [u for u in units if u.speaker_role == "informant"]
    assert len({u.block_id for u in informant}) == 1
    assert [u.text for u in informant] == [
        "Datanya belum sinkron dengan DUKCAPIL.",
        "Jadi warga harus ke kantor induk dulu.",
        "Terus balik lagi ke sini.",
    ]


def test_generic_informant_label_takes_the_metadata_name() -> None:
    text = "Informan: Ibu RS\nKota: Kota Malang\nInstansi: DPMPTSP\n\nP: Halo.\nI: Halo juga.\n"
    doc, units = units_from_text(text, "w.txt")
    assert doc.metadata["informant"] == "Ibu RS"
    answer = [u for u in units if u.speaker_role == "informant"][0]
    assert (answer.speaker, answer.agency, answer.city) == ("Ibu RS", "DPMPTSP", "Kota Malang")
    assert [u.kind for u in units[:3]] == ["header", "header", "header"]


def test_no_turns_falls_back_to_paragraphs_with_a_warning() -> None:
    doc, units = units_from_text("Ini catatan lapangan tanpa label.\n\nParagraf kedua.", "wawancara_01.txt")
    assert doc.kind == "thesis"
    assert any("no recognisable speaker turns" in w for w in doc.warnings)
    assert [u.text for u in units] == ["Ini catatan lapangan tanpa label.", "Paragraf kedua."]


def test_identifiers_like_issn_are_not_speakers() -> None:
    doc, _ = units_from_text("ISSN: 2442-3777 (cetak)\n\nISSN: 2622-691X (online)\n", "jurnal.txt")
    assert doc.kind == "thesis"


def test_group_interview_maps_each_speaker_to_their_agency() -> None:
    text = ("---\ninformant: Ibu NK; Pak TR\nagency: Samsat; Kantor Imigrasi\ncity: Kota Malang\n---\n"
            "Peneliti: Dari mana?\nIbu NK: Samsat.\nPak TR: Imigrasi.\n")
    _, units = units_from_text(text, "fgd.md")
    spoken = {u.speaker: u.agency for u in units if u.speaker_role == "informant"}
    assert spoken == {"Ibu NK": "Samsat", "Bapak TR": "Kantor Imigrasi"}


def test_agency_drops_the_city_it_is_in() -> None:
    text = "Kota: Kota Padang\nInstansi: DPMPTSP Kota Padang\n\nP: Halo.\nI: Halo.\n"
    _, units = units_from_text(text, "w.txt")
    assert {u.agency for u in units if u.kind == "utterance"} == {"DPMPTSP"}
