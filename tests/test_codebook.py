"""Codebooks as data: the shipped codebooks, validation messages, hashing, crosswalk, REFI-QDA export."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import jsonschema
import pytest
import xmlschema
import yaml

from pipeline.codebook import (
    RESERVED_IDS,
    CodebookError,
    codebook_schema,
    list_codebooks,
    load_codebook,
    load_crosswalk,
    map_code,
)
from pipeline.commands import codebook as codebook_command
from pipeline.export.qdc import codebook_to_qdc, code_guid, read_qdc, write_qdc

CODEBOOK_XSD = Path("/work/shared/refi-qda/Codebook.xsd")

#: The contract in design/codebooks.md: every stage, gold file and model uses these ids.
CONTRACT_IDS = {
    "perry6": ["koordinasi", "integrasi", "kedekatan_pelibatan"],
    "tamtanus": ["koordinasi", "integrasi", "sinkronisasi", "simplifikasi"],
    "sudrajat": [
        "penguatan_koordinasi",
        "lembaga_koordinasi_khusus",
        "gugus_tugas",
        "koalisi_sosial",
        "kapasitas_sdm_institusi",
        "nilai_budaya_organisasi",
        "kepemimpinan",
    ],
    "mpp_factors": [
        "teknologi_infrastruktur",
        "inovasi",
        "fasilitas",
        "cakupan_layanan",
        "kerjasama",
        "sdm_petugas",
        "regulasi",
        "sosialisasi_informasi",
        "monitoring_evaluasi",
    ],
}

SHIPPED = [load_codebook(codebook_id) for codebook_id in sorted(CONTRACT_IDS)]
ALL_CODES = [(cb, code) for cb in SHIPPED for code in cb.codes]


def minimal_codebook(**overrides) -> dict:
    """A small valid codebook as plain data; tests break one thing at a time."""
    data = {
        "id": "mybook",
        "name": "My book",
        "version": "0.1",
        "source": {"author": "Me", "reference": "My thesis (2025)"},
        "language": "id",
        "description": "A test codebook.",
        "codes": [
            {
                "id": "koordinasi",
                "name": "Koordinasi",
                "definition": "Instansi saling berkomunikasi dan rapat bersama.",
                "keywords": [{"term": "rapat", "weight": 0.8, "kind": "stem"}],
                "synonyms": ["Koordinasi"],
            },
            {
                "id": "integrasi",
                "name": "Integrasi",
                "definition": "Layanan disatukan dalam satu gedung.",
                "examples": ["Semua layanan sudah di satu gedung."],
            },
        ],
    }
    data.update(overrides)
    return data


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: dict, name: str = "mybook.yaml") -> str:
    """Load a broken codebook and return the error message."""
    path = write_yaml(tmp_path / name, data)
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ")
    return message


# --------------------------------------------------------------------------- shipped codebooks


def test_shipped_codebooks_have_exactly_the_contract_ids():
    assert {cb.id: cb.code_ids for cb in list_codebooks()} == CONTRACT_IDS


def test_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(codebook_schema())


@pytest.mark.parametrize("cb,code", ALL_CODES, ids=lambda x: getattr(x, "id", None))
def test_shipped_code_is_complete(cb, code):
    assert code.name and code.name_en and code.indicators and code.include and code.exclude
    sentences = re.split(r"\.\s+(?=[A-Z])", code.definition)
    assert 2 <= len(sentences) <= 4, "definition should be 2-4 sentences"
    assert 10 <= len(code.keywords) <= 30
    assert len(code.examples) >= 6
    assert {e.register for e in code.examples} == {"interview", "thesis"}
    assert {"positive", "negative"} <= {e.valence for e in code.examples}
    neighbours = [f"`{other}`" for other in cb.code_ids if other != code.id]
    assert any(n in code.exclude for n in neighbours), "exclude note should name a confusable neighbour code"
    assert code.synonyms and code.id not in RESERVED_IDS


def test_shipped_synonyms_cover_headings_seen_in_theses():
    by_heading = {
        (cb.id, s.casefold()): code.id for cb in SHIPPED for code in cb.codes for s in code.synonyms
    }
    assert by_heading[("perry6", "kedekatan & pelibatan")] == "kedekatan_pelibatan"
    assert by_heading[("perry6", "kedekatan dan keterlibatan")] == "kedekatan_pelibatan"
    assert by_heading[("perry6", "integrase")] == "integrasi"
    assert by_heading[("tamtanus", "simpifikasi")] == "simplifikasi"
    assert by_heading[("mpp_factors", "lebih banyak tenant")] == "cakupan_layanan"
    assert by_heading[("mpp_factors", "server pribadi")] == "teknologi_infrastruktur"


def test_stem_keywords_are_stable_under_the_project_stemmer():
    """A stem keyword is matched by its stem; stemming that stem again must not move it elsewhere."""
    from pipeline.normalise import stem

    wrong = [
        (cb.id, code.id, k.term, stem(k.term))
        for cb, code in ALL_CODES
        for k in code.keywords
        if k.kind == "stem" and stem(stem(k.term)) != stem(k.term)
    ]
    assert wrong == []


def test_get_and_contains():
    cb = load_codebook("tamtanus")
    assert cb.get("sinkronisasi").name == "Sinkronisasi"
    assert "simplifikasi" in cb and "kedekatan_pelibatan" not in cb
    with pytest.raises(KeyError, match="no code 'merger'"):
        cb.get("merger")


# --------------------------------------------------------------------------- malformed codebooks


def test_duplicate_code_id(tmp_path):
    data = minimal_codebook()
    data["codes"][1]["id"] = "koordinasi"
    assert "code 'koordinasi' is defined twice" in load_error(tmp_path, data)


def test_missing_definition(tmp_path):
    data = minimal_codebook()
    del data["codes"][1]["definition"]
    assert load_error(tmp_path, data).endswith("codes[1] (integrasi): missing required field 'definition'")


def test_unknown_field_is_named_with_a_suggestion(tmp_path):
    data = minimal_codebook()
    data["codes"][0]["defintion"] = "typo"
    message = load_error(tmp_path, data)
    assert "codes[0] (koordinasi): unknown field 'defintion'" in message
    assert "did you mean 'definition'" in message


@pytest.mark.parametrize("reserved", sorted(RESERVED_IDS))
def test_reserved_id(tmp_path, reserved):
    data = minimal_codebook()
    data["codes"][1]["id"] = reserved
    assert f"id '{reserved}' is reserved" in load_error(tmp_path, data)


def test_bad_yaml_syntax(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: mybook\ncodes:\n  - id: koordinasi\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CodebookError) as info:
        load_codebook(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid YAML at line ") and "\n" not in message


def test_id_not_snake_case(tmp_path):
    data = minimal_codebook()
    data["codes"][0]["id"] = "Koordinasi-Antar"
    assert "id 'Koordinasi-Antar' must be lower_snake_case" in load_error(tmp_path, data)


def test_unquoted_version_number_is_explained(tmp_path):
    message = load_error(tmp_path, minimal_codebook(version=1.0))
    assert "version must be text, not a number 1.0" in message


def test_duplicate_keyword_term(tmp_path):
    data = minimal_codebook()
    data["codes"][0]["keywords"].append({"term": "rapat", "weight": 0.5, "kind": "stem"})
    assert "codes[0] (koordinasi): keyword 'rapat' is listed twice" in load_error(tmp_path, data)


def test_keyword_weight_out_of_range(tmp_path):
    data = minimal_codebook()
    data["codes"][0]["keywords"][0]["weight"] = 1.5
    assert "codes[0] (koordinasi): keywords[0]: weight must be in (0, 1], not 1.5" in load_error(tmp_path, data)


def test_multiword_stem_is_refused(tmp_path):
    data = minimal_codebook()
    data["codes"][0]["keywords"].append({"term": "rapat koordinasi", "weight": 1.0, "kind": "stem"})
    assert "use kind: phrase" in load_error(tmp_path, data)


def test_synonym_shared_by_two_codes(tmp_path):
    data = minimal_codebook()
    data["codes"][1]["synonyms"] = ["KOORDINASI"]
    assert "synonym 'KOORDINASI' is also a synonym of 'koordinasi'" in load_error(tmp_path, data)


def test_first_problem_in_file_order_is_reported(tmp_path):
    data = minimal_codebook()
    del data["codes"][1]["definition"]
    data["codes"][0]["defintion"] = "typo"
    assert "codes[0] (koordinasi): unknown field" in load_error(tmp_path, data)


def test_empty_file_and_unknown_id(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(CodebookError, match="empty.yaml: a codebook must be a mapping"):
        load_codebook(empty)
    with pytest.raises(CodebookError, match="no such codebook .*perry6"):
        load_codebook("perry7")


# --------------------------------------------------------------------------- user files and hashing


def test_user_codebook_loads_by_path_yaml_and_json(tmp_path):
    data = minimal_codebook()
    from_yaml = load_codebook(write_yaml(tmp_path / "mybook.yaml", data))
    json_path = tmp_path / "mybook.json"
    json_path.write_text(json.dumps(data), encoding="utf-8")
    from_json = load_codebook(str(json_path))
    assert from_yaml.code_ids == ["koordinasi", "integrasi"]
    assert from_yaml.get("integrasi").examples[0].text == "Semua layanan sudah di satu gedung."
    assert from_yaml.content_hash == from_json.content_hash
    assert len(from_yaml.content_hash) == 16


def test_hash_ignores_formatting_and_key_order(tmp_path):
    shipped = load_codebook("perry6")
    raw = yaml.safe_load(Path(shipped.path).read_text(encoding="utf-8"))
    reordered = {key: raw[key] for key in reversed(list(raw))}
    reordered["codes"] = [{k: code[k] for k in sorted(code)} for code in raw["codes"]]
    reordered["codes"][0]["definition"] = reordered["codes"][0]["definition"].replace(". ", ".\n   ")
    path = tmp_path / "perry6.yaml"
    path.write_text(yaml.safe_dump(reordered, allow_unicode=True, default_flow_style=True, width=40), encoding="utf-8")
    assert load_codebook(path).content_hash == shipped.content_hash


def test_hash_changes_when_a_definition_changes(tmp_path):
    data = minimal_codebook()
    before = load_codebook(write_yaml(tmp_path / "a.yaml", data)).content_hash
    data["codes"][0]["definition"] += " Termasuk rapat daring."
    after = load_codebook(write_yaml(tmp_path / "b.yaml", data)).content_hash
    assert before != after


# --------------------------------------------------------------------------- crosswalk


def test_crosswalk_references_exist_and_relations_are_known():
    links = load_crosswalk()
    assert links
    books = {cb.id: cb for cb in SHIPPED}
    for link in links:
        assert link.from_code in books[link.from_codebook]
        assert link.to_code in books[link.to_codebook]
        assert link.relation in {"exact", "broader", "narrower", "related"}


def test_map_code_both_ways():
    assert map_code("tamtanus", "koordinasi", "perry6") == ["koordinasi"]
    assert "koordinasi" in map_code("perry6", "koordinasi", "tamtanus")
    assert map_code("tamtanus", "sinkronisasi", "perry6") == ["integrasi"]
    assert "sinkronisasi" in map_code("perry6", "integrasi", "tamtanus")
    assert map_code("mpp_factors", "kerjasama", "sudrajat") == ["koalisi_sosial"]
    assert "kerjasama" in map_code("sudrajat", "koalisi_sosial", "mpp_factors")
    assert map_code("perry6", "integrasi", "tamtanus", relations=["exact"]) == ["integrasi"]
    assert map_code("perry6", "koordinasi", "perry6") == ["koordinasi"]


def test_every_crosswalk_link_maps_back():
    for link in load_crosswalk():
        assert link.to_code in map_code(link.from_codebook, link.from_code, link.to_codebook)
        assert link.from_code in map_code(link.to_codebook, link.to_code, link.from_codebook)


def test_crosswalk_with_unknown_code_is_refused(tmp_path):
    path = tmp_path / "crosswalk.yaml"
    path.write_text(
        "links:\n  - {from: tamtanus.koordinasi, relation: exact, to: perry6.koordinasii}\n", encoding="utf-8"
    )
    with pytest.raises(CodebookError, match=r"crosswalk.yaml: links\[0\]: unknown code 'perry6.koordinasii'"):
        load_crosswalk(path)


def test_map_code_unknown_code():
    with pytest.raises(CodebookError, match="no code 'merger'"):
        map_code("perry6", "merger", "tamtanus")


# --------------------------------------------------------------------------- REFI-QDA codebook


@pytest.fixture(scope="module")
def codebook_xsd() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(CODEBOOK_XSD))


@pytest.mark.parametrize("cb", SHIPPED, ids=lambda cb: cb.id)
def test_qdc_validates_against_the_refi_qda_xsd(cb, codebook_xsd, tmp_path):
    path = tmp_path / f"{cb.id}.qdc"
    write_qdc(cb, path)
    codebook_xsd.validate(str(path))
    assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<CodeBook xmlns=')


def test_qdc_round_trip_and_deterministic_guids(tmp_path):
    cb = load_codebook("sudrajat")
    path = tmp_path / "sudrajat.qdc"
    write_qdc(cb, path)
    codes = read_qdc(path)
    folder, codable = codes[0], [c for c in codes if c["is_codable"]]
    assert not folder["is_codable"] and folder["name"] == cb.name
    assert [c["name"] for c in codable] == [code.name for code in cb.codes]
    assert [c["description"] for c in codable] == [code.definition for code in cb.codes]
    assert [c["guid"] for c in codable] == [code_guid("sudrajat", code.id) for code in cb.codes]
    assert all(c["parent"] == folder["guid"] for c in codable)
    assert codebook_to_qdc(load_codebook("sudrajat")) == path.read_text(encoding="utf-8")
    assert code_guid("perry6", "koordinasi") != code_guid("tamtanus", "koordinasi")


def test_read_qdc_refuses_entities_and_garbage(tmp_path):
    bomb = tmp_path / "bomb.qdc"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
        '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>',
        encoding="utf-8",
    )
    with pytest.raises(CodebookError, match="bomb.qdc: refused unsafe XML"):
        read_qdc(bomb)
    garbage = tmp_path / "garbage.qdc"
    garbage.write_text("<CodeBook><Codes>", encoding="utf-8")
    with pytest.raises(CodebookError, match="garbage.qdc: not well-formed XML"):
        read_qdc(garbage)


# --------------------------------------------------------------------------- command line


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="wogcode")
    codebook_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_list_and_show(capsys):
    assert run_cli("codebook", "list") == 0
    listing = capsys.readouterr().out
    for cb in SHIPPED:
        assert cb.id in listing and cb.content_hash in listing
    assert run_cli("codebook", "show", "perry6") == 0
    shown = capsys.readouterr().out
    assert "[kedekatan_pelibatan] Kedekatan dan pelibatan" in shown and "Indicators:" in shown


def test_cli_validate(tmp_path, capsys):
    good = write_yaml(tmp_path / "good.yaml", minimal_codebook())
    assert run_cli("codebook", "validate", str(good)) == 0
    assert capsys.readouterr().out.startswith("OK mybook 0.1: 2 codes, hash ")
    data = minimal_codebook()
    del data["codes"][0]["definition"]
    bad = write_yaml(tmp_path / "bad.yaml", data)
    assert run_cli("codebook", "validate", str(bad)) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("bad.yaml: codes[0] (koordinasi): missing required field 'definition'")


def test_cli_export(tmp_path, codebook_xsd, capsys):
    out = tmp_path / "out" / "tamtanus.qdc"
    assert run_cli("codebook", "export", "tamtanus", "--qdc", str(out)) == 0
    codebook_xsd.validate(str(out))
    assert [c["name"] for c in read_qdc(out)][1:] == ["Koordinasi", "Integrasi", "Sinkronisasi", "Simplifikasi"]
