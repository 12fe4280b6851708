"""Pseudonymisation: no real name or identifier survives in any output, offsets stay exact, pseudonyms are stable.

The end-to-end tests run ``wogcode run --pseudonymise`` once on the sample
corpus plus one planted interview full of contact details, then open every
file of the run folder (inside the xlsx and qdpx zips too, and the parquet
cells) and search it for every real name, initials and identifier.  The list
of names is written out here, from the corpus itself, not taken from the
pseudonym map the code under test produces.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import stat
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import pipeline.flows  # noqa: F401 - sets the quiet, offline Prefect defaults before prefect is imported
from pipeline.ingest.batch import units_from_text
from pipeline.privacy import (
    Person,
    Pseudonymiser,
    assign_pseudonyms,
    find_people,
    pseudonymise_corpus,
    pseudonymise_evidence_json,
    pseudonymiser_for,
    read_pseudonym_map,
    PseudonymMapError,
)

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"

PLANTED = """\
Kota: Kota Bengkulu
Informan: Ibu ZQ
Jabatan: Petugas Informasi
Instansi: DPMPTSP Kota Bengkulu
Tanggal: 2025-02-10
Kerangka: mpp_factors
Studi: WoG MPP Kota Bengkulu 2025

P: Kalau warga mau tanya, bisa hubungi siapa, Bu?
I: Bisa langsung WA saya di 0812-3456-7890, atau telepon kantor (0736) 21234. Email juga bisa, zq.layanan@dpmptsp-bengkulu.go.id.
P: Bagaimana dengan data pemohon yang bermasalah?
I: Kemarin ada warga, Bapak Joko Susilo, NIK-nya 1771012345678901 tidak terbaca di sistem Dukcapil. Saya sampaikan ke Pak Hendra dari Dukcapil, nomornya +62 813-9876-5432. Koordinasi dengan Dukcapil memang rutin lewat grup WA.
P: Terima kasih, Ibu ZQ.
I: Sama-sama, semoga koordinasi antar instansi di MPP makin baik.
"""

#: Every person of the sample corpus (its README: "named by initials only") and of the planted file.
INITIALS = ["AH", "AR", "DN", "DS", "FA", "GS", "HS", "LN", "MZ", "NK", "PA", "RH", "RS", "SW", "TR", "WL",
            "YF", "YT", "ZQ"]
FULL_NAMES = ["Joko", "Susilo", "Hendra"]
IDENTIFIERS = ["0812-3456-7890", "3456-7890", "(0736) 21234", "21234", "zq.layanan", "dpmptsp-bengkulu.go.id",
               "1771012345678901", "813-9876-5432", "9876-5432"]
#: What is not personal data and must survive: agencies, cities, a street named after a national hero.
KEPT = ["DPMPTSP", "Dukcapil", "Kota Bengkulu", "Kabupaten Sleman", "Kantor Imigrasi", "Jl. Jend. Ahmad Yani"]

LEAK = re.compile(
    r"(?<!\w)(?:" + "|".join(INITIALS + FULL_NAMES) + r")(?!\w)|" + "|".join(re.escape(i) for i in IDENTIFIERS)
)


# --------------------------------------------------------------------------- the pseudonymised run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "sample"
    shutil.copytree(SAMPLE, root)
    (root / "wawancara" / "bengkulu_dpmptsp_informasi.txt").write_text(PLANTED, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def prefect_results(tmp_path_factory):
    """Task results of these runs go to a temp folder, not the user's Prefect storage."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: str(tmp_path_factory.mktemp("prefect"))}):
        yield


@pytest.fixture(scope="module")
def run_dir(corpus: Path, prefect_results, tmp_path_factory) -> Path:
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("runs") / "pseudo"
    args = ["run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out), "--pseudonymise"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def plain_dir(corpus: Path, prefect_results, tmp_path_factory) -> Path:
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("runs") / "plain"
    assert main(["run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out)]) == 0
    return out


def readable_parts(path: Path) -> list[tuple[str, str]]:
    """(part, text) for everything a reader of ``path`` could see: zip members, parquet cells and metadata."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [(name, archive.read(name).decode("utf-8", "replace")) for name in archive.namelist()]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        cells = "\n".join("\t".join(map(str, row)) for row in frame.itertuples(index=False))
        return [("cells", cells), ("metadata", str(pq.read_metadata(path).metadata))]
    return [("text", path.read_text(encoding="utf-8"))]


def exported_files(run: Path) -> list[Path]:
    return sorted(p for p in run.iterdir() if p.is_file())


EXPORTS = ["README.md", "coded.xlsx", "documents.parquet", "evidence.csv", "evidence.parquet", "manifest.json",
           "project.qdpx", "report.html", "units.csv", "units.parquet"]


def test_the_run_exports_exactly_the_known_files(run_dir: Path) -> None:
    assert [p.name for p in exported_files(run_dir)] == EXPORTS  # a new export must join the leak test below


@pytest.mark.parametrize("name", [
    *EXPORTS,
])
def test_no_real_name_or_identifier_survives_in_any_export(run_dir: Path, name: str) -> None:
    leaks = [(part, match.group(0), text[max(0, match.start() - 30):match.end() + 10])
             for part, text in readable_parts(run_dir / name) for match in LEAK.finditer(text)]
    assert leaks == []


def test_the_plain_run_does_contain_them(plain_dir: Path) -> None:
    """The leak test can fail: without --pseudonymise the same corpus shows every planted name and number."""
    found = {m.group(0) for part, text in readable_parts(plain_dir / "units.csv") for m in LEAK.finditer(text)}
    assert {"ZQ", "Joko", "Hendra", "NK", "TR", "0812-3456-7890", "1771012345678901"} <= found


def test_agencies_cities_and_public_names_are_kept(run_dir: Path) -> None:
    text = (run_dir / "units.csv").read_text(encoding="utf-8")
    assert all(word in text for word in KEPT)


def test_identifiers_become_placeholders(run_dir: Path) -> None:
    documents = pd.read_parquet(run_dir / "documents.parquet")
    planted = documents.loc[documents["path"] == "wawancara/bengkulu_dpmptsp_informasi.txt", "text"].item()
    assert planted.count("[TELEPON]") == 3
    assert planted.count("[EMAIL]") == 1 and planted.count("[NIK]") == 1
    assert re.search(r"Orang-\d\d, NIK-nya \[NIK\]", planted)
    assert documents.loc[documents["path"].str.contains("informasi"), "informant"].item().startswith("Informan-")


def test_unit_offsets_slice_back_from_the_pseudonymised_documents(run_dir: Path) -> None:
    documents = pd.read_parquet(run_dir / "documents.parquet").set_index("doc_id")["text"]
    units = pd.read_parquet(run_dir / "units.parquet")
    assert len(units) > 900
    for row in units.itertuples():
        assert documents[row.doc_id][row.start:row.end] == row.text


def test_evidence_excerpts_slice_back(run_dir: Path) -> None:
    documents = pd.read_parquet(run_dir / "documents.parquet")
    text_of = dict(zip(documents["path"], documents["text"]))
    evidence = pd.read_parquet(run_dir / "evidence.parquet")
    excerpts = [e for cell in evidence["top_excerpts"] for e in json.loads(cell)]
    assert len(excerpts) > 100
    for excerpt in excerpts:
        assert text_of[excerpt["path"]][excerpt["start"]:excerpt["end"]] == excerpt["text"]


def test_evidence_term_offsets_point_at_the_same_words_as_without_pseudonyms(run_dir: Path, plain_dir: Path) -> None:
    def term_words(run: Path) -> dict[str, list[str]]:
        units = pd.read_parquet(run / "units.parquet")
        return {
            unit_id: [text[t["start"]:t["end"]] for t in json.loads(evidence).get("terms", [])]
            for unit_id, text, evidence in zip(units["unit_id"], units["text"], units["evidence"])
        }

    pseudo, plain = term_words(run_dir), term_words(plain_dir)
    assert sum(len(words) for words in pseudo.values()) > 100
    shifted = pd.read_parquet(run_dir / "units.parquet").pipe(
        lambda u: set(u.loc[u["start"] != pd.read_parquet(plain_dir / "units.parquet")["start"], "unit_id"]))
    assert len(shifted) > 50  # the comparison covers units that moved
    assert pseudo.keys() == plain.keys()
    for unit_id, words in plain.items():  # every term still points at its word; a placeholder may add one
        extra = Counter(pseudo[unit_id]) - Counter(words)
        assert Counter(words) <= Counter(pseudo[unit_id]) and set(extra) <= {"NIK", "TELEPON", "EMAIL"}


def test_qdpx_selections_slice_back_and_cases_are_pseudonyms(run_dir: Path) -> None:
    from pipeline.export.qdpx_import import read_qdpx

    units = pd.read_parquet(run_dir / "units.parquet").set_index("unit_id")
    documents, selections = read_qdpx(run_dir / "project.qdpx")
    assert len(selections) > 100
    assert set(selections["text"]) <= set(units["text"])
    cases = set(documents["case"]) | set(selections["case"])
    assert {c for c in cases if c} and all(re.fullmatch(r"Informan-\d\d(; Informan-\d\d)*", c) for c in cases if c)


def test_one_person_has_one_pseudonym_in_every_output(run_dir: Path) -> None:
    people = {p.name: p.pseudonym for p in read_pseudonym_map(run_dir / "private" / "pseudonyms.csv")}
    nk, tr = people["Ibu NK"], people["Bapak TR"]
    units = pd.read_parquet(run_dir / "units.parquet")
    fgd = units[units["path"] == "wawancara/malang_fgd_samsat_imigrasi.txt"]
    thesis = units[units["path"] == "skripsi/malang_bab4_hasil.txt"]
    assert {nk, tr} <= set(fgd["speaker"]) and {nk, tr} <= set(thesis["speaker"])  # interview and thesis quotes
    evidence = pd.read_parquet(run_dir / "evidence.parquet")
    assert {nk, tr} <= set(evidence.loc[evidence["level"] == "informant", "key"])
    sheets = "".join(text for part, text in readable_parts(run_dir / "coded.xlsx") if part.startswith("xl/"))
    assert nk in sheets and tr in sheets
    assert nk in (run_dir / "report.html").read_text(encoding="utf-8")


def test_the_map_is_private_and_never_an_output(run_dir: Path) -> None:
    private = run_dir / "private"
    people = read_pseudonym_map(private / "pseudonyms.csv")
    names = {p.name for p in people}
    assert {"Ibu ZQ", "Bapak Joko Susilo", "Bapak Hendra", "Ibu NK", "Bapak TR", "Sdr. RH"} <= names
    assert {p.kind for p in people if p.name in {"Bapak Joko Susilo", "Bapak Hendra"}} == {"person"}
    assert stat.S_IMODE((private / "pseudonyms.csv").stat().st_mode) == 0o600
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert "PRIVATE" in (private / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pseudonymised"] is True
    assert not [o for o in manifest["outputs"] if "pseudonym" in o or "private" in o]
    for path in exported_files(run_dir):
        assert all("pseudonyms.csv" not in text for _, text in readable_parts(path))


def test_a_rerun_reuses_the_map_and_gives_identical_outputs(run_dir: Path, corpus: Path, prefect_results,
                                                            tmp_path: Path) -> None:
    from pipeline.cli import main

    kept = tmp_path / "keys" / "map.csv"
    kept.parent.mkdir()
    shutil.copy(run_dir / "private" / "pseudonyms.csv", kept)
    out = tmp_path / "again"
    args = ["run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out),
            "--pseudonym-map", str(kept)]
    assert main(args) == 0
    assert not (out / "private").exists()  # the map stays where it was asked to be
    assert kept.read_bytes() == (run_dir / "private" / "pseudonyms.csv").read_bytes()
    for name in EXPORTS:
        if name != "manifest.json":
            assert (out / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_a_broken_map_is_refused_with_one_line(corpus: Path, tmp_path: Path, capsys) -> None:
    from pipeline.cli import main

    bad = tmp_path / "map.csv"
    bad.write_text("real,fake\nIbu NK,X\n", encoding="utf-8")
    args = ["run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(tmp_path / "o"),
            "--pseudonym-map", str(bad)]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert str(bad) in error and "not a pseudonym map" in error and "\n" not in error


# --------------------------------------------------------------------------- the functions


def corpus_of(*texts: tuple[str, str]):
    """(documents, units) of small texts given as (file name, text)."""
    documents, units = [], []
    for name, text in texts:
        doc, doc_units = units_from_text(text, name)
        documents.append(doc)
        units += doc_units
    return documents, units


INTERVIEW = (
    "Informan: Bu RS\nInstansi: DPMPTSP Kota Padang\n\n"
    "P: Bagaimana koordinasinya, Bu?\n"
    "I: Rapat rutin tiap bulan. Pak Bupati juga hadir. Bapak Ibu dari gerai lain ikut.\n"
    "P: Siapa yang mengatur?\n"
    "I: Bapak H. Ahmad Fauzi dari Dinas Kominfo, bisa dihubungi di ahmad.f@padang.go.id.\n"
)
THESIS = (
    "Hasil wawancara dengan Ibu RS selaku Kabid Pelayanan DPMPTSP Kota Padang adalah sebagai berikut:\n\n"
    "“Koordinasi kita rutin tiap bulan.” (Wawancara, 3 Maret 2025)\n\n"
    "Menurut Pak Ahmad Fauzi, RS Bhayangkara dan Ibu Kota provinsi belum terhubung.\n"
)


def test_honorific_variants_are_one_person_across_documents() -> None:
    documents, units = corpus_of(("wawancara/padang.txt", INTERVIEW), ("skripsi/padang.txt", THESIS))
    new_docs, _, people, _ = pseudonymise_corpus(documents, units)
    assert [(p.pseudonym, p.kind, p.name) for p in people] == [
        ("Informan-01", "informant", "Ibu RS"), ("Orang-01", "person", "Bapak Ahmad Fauzi")]
    thesis = new_docs[1].text
    assert thesis.startswith("Hasil wawancara dengan Informan-01 selaku Kabid Pelayanan DPMPTSP Kota Padang")
    assert "Menurut Orang-01, RS Bhayangkara dan Ibu Kota provinsi" in thesis  # RS alone is rumah sakit
    interview = new_docs[0].text
    assert "Informan: Informan-01" in interview and "Pak Bupati juga hadir. Bapak Ibu dari" in interview
    assert "Orang-01 dari Dinas Kominfo, bisa dihubungi di [EMAIL]." in interview


def test_units_keep_exact_offsets_and_fields_are_pseudonymised() -> None:
    documents, units = corpus_of(("wawancara/padang.txt", INTERVIEW), ("skripsi/padang.txt", THESIS))
    new_docs, new_units, _, _ = pseudonymise_corpus(documents, units)
    text_of = {d.doc_id: d.text for d in new_docs}
    assert len(new_units) == len(units)
    for old, new in zip(units, new_units):
        assert text_of[new.doc_id][new.start:new.end] == new.text
        assert new.unit_id == old.unit_id and new.kind == old.kind
        assert "RS" not in new.informant + new.speaker
    assert {u.informant for u in new_units if u.speaker_role == "informant"} == {"Informan-01"}
    assert any(u.text_clean != o.text_clean for u, o in zip(new_units, units))  # recomputed where text changed


def test_pseudonyms_follow_first_appearance_and_survive_a_grown_corpus() -> None:
    interview = "Informan: Ibu SW\nInstansi: DPMPTSP\n\nP: Halo?\nI: Ada arahan dari Pak TR.\n"
    one = corpus_of(("a.txt", interview))
    grown = corpus_of(("0_new.txt", "Informan: Bapak AA\nInstansi: BPN\n\nP: Halo?\nI: Saya kenal Ibu SW.\n"),
                      ("a.txt", interview))
    first = assign_pseudonyms(find_people(*one))
    assert [(p.pseudonym, p.name) for p in first] == [("Informan-01", "Ibu SW"), ("Orang-01", "Bapak TR")]
    assert assign_pseudonyms(find_people(*one)) == first  # deterministic
    again = assign_pseudonyms(find_people(*grown), previous=first)
    assert {(p.pseudonym, p.name) for p in again} == {
        ("Informan-01", "Ibu SW"), ("Orang-01", "Bapak TR"), ("Informan-02", "Bapak AA")}


def test_order_does_not_group_people_by_honorific() -> None:
    documents, units = corpus_of(("a.txt", "Informan: Ibu ZA; Bapak AB\n\nIbu ZA: Halo.\nBapak AB: Ya.\nP: Oke.\n"))
    people = assign_pseudonyms(find_people(documents, units))
    assert [p.name for p in people] == ["Ibu ZA", "Bapak AB"]  # alphabetical would put Bapak first


def test_identifiers() -> None:
    pseudo = Pseudonymiser(detect=True)
    cases = {
        "HP 0812-3456-7890.": "HP [TELEPON].",
        "hubungi +62 812 3456 7890 ya": "hubungi [TELEPON] ya",
        "WA 6281234567890": "WA [TELEPON]",
        "kantor (0751) 123456": "kantor [TELEPON]",
        "NIK 3273010101010001, KK 3273 0101 0101 0002": "NIK [NIK], KK [NIK]",
        "NIP 19800101 200501 1 001": "NIP [NIP]",
        "NPWP 12.345.678.9-012.345": "NPWP [NPWP]",
        "surel budi.s+mpp@kemenpan.go.id.": "surel [EMAIL].",
    }
    for text, expected in cases.items():
        assert pseudo(text) == expected
    kept = "jam 08.00 sampai 16.00, 1.362 pemohon tahun 2024, Nomor 27 Tahun 2023, 118 jenis layanan"
    assert pseudo(kept) == kept


def test_unknown_names_in_foreign_text_become_a_placeholder() -> None:
    people = [Person("Informan-01", "informant", "Ibu NK")]
    evidence = json.dumps({"neighbours": [{"text": "Menurut Ibu NK dan Pak Slamet, 0812-1111-2222.", "code": "k"}],
                           "terms": [{"term": "rapat", "start": 3, "end": 8}], "reason": "x"})
    scrubbed = json.loads(pseudonymise_evidence_json(evidence, pseudonymiser_for(people)))
    assert scrubbed["neighbours"][0]["text"] == "Menurut Informan-01 dan [NAMA], [TELEPON]."
    assert scrubbed["terms"] == [{"term": "rapat", "start": 3, "end": 8}]


def test_offsets_move_with_the_replacements() -> None:
    pseudo = Pseudonymiser({"Ibu NK": "Informan-01"}, detect=True)
    text = "Kata Ibu NK tadi, telepon 0812-3456-7890 saja. Selesai."
    new, move = pseudo.with_offsets(text)
    assert new == "Kata Informan-01 tadi, telepon [TELEPON] saja. Selesai."
    for word in ("Kata", "tadi", "saja", "Selesai."):
        start = text.index(word)
        a, b = move(start, start + len(word))
        assert new[a:b] == word
    a, b = move(text.index("NK"), text.index("NK") + 2)  # a span inside a name grows to the whole pseudonym
    assert new[a:b] == "Informan-01"


def test_names_are_whole_words_and_case_sensitive() -> None:
    pseudo = Pseudonymiser({"Budi": "X"})
    assert pseudo("Budi, Budiman, budi, Pak Budi.") == "X, Budiman, budi, Pak X."


def test_map_file_round_trip_and_refusals(tmp_path: Path) -> None:
    from pipeline.privacy import write_pseudonym_map

    people = [Person("Informan-01", "informant", "Ibu NK"), Person("Orang-01", "person", "Bapak A, B")]
    path = write_pseudonym_map(people, tmp_path / "private" / "pseudonyms.csv")
    assert read_pseudonym_map(path) == people
    assert list(csv.reader(path.open(encoding="utf-8")))[0] == ["pseudonym", "kind", "name"]
    assert read_pseudonym_map(tmp_path / "absent.csv") == []
    path.write_text("pseudonym,kind,name\nX,villain,Ibu NK\n", encoding="utf-8")
    with pytest.raises(PseudonymMapError, match=r"line 2: expected a kind"):
        read_pseudonym_map(path)


def test_a_map_among_the_exports_is_refused(corpus: Path, tmp_path: Path, capsys) -> None:
    from pipeline.cli import main

    out = tmp_path / "run"
    args = ["run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out),
            "--pseudonym-map", str(out / "pseudonyms.csv")]
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "must not sit among the run's exports" in error and error.count("\n") == 1


def test_every_text_field_of_a_unit_is_either_pseudonymised_or_known_to_hold_no_name() -> None:
    import dataclasses

    from pipeline.privacy import _UNIT_NAME_FIELDS
    from pipeline.schema import Unit

    no_names = {"doc_id", "unit_id", "text", "kind", "block_id", "speaker_role", "text_clean"}  # text: via offsets
    text_fields = {f.name for f in dataclasses.fields(Unit) if f.type == "str"}
    assert text_fields == set(_UNIT_NAME_FIELDS) | no_names  # a new field must be classified here
