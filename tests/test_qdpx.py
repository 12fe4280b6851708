"""REFI-QDA project export and import: schema validity, references, code-point offsets, round trip, safety."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
import xmlschema
from defusedxml import ElementTree as SafeET

from pipeline.codebook import load_codebook
from pipeline.export.qdpx import QdpxError, write_qdpx
from pipeline.export.qdpx_import import qdpx_to_gold, read_qdpx

XSD = Path("/work/shared/refi-qda/Project-mrt2019.xsd")
GOLD = Path("/work/shared/gold/dev.jsonl")
NS = "{urn:QDA-XML:project:1.0}"

INTERVIEW = (
    "P: Bagaimana koordinasi di MPP? 😀\n"
    "I: Koordinasi sudah rutin lewat grup 📱 WhatsApp dengan Pak Budi. Tapi data belum sinkron 🙁 antar instansi.\n"
    "P: Baik, terima kasih.\n"
)
THESIS = (
    "BAB IV 𝐇𝐀𝐒𝐈𝐋\n"
    "Semua layanan 🏢 kini disatukan dalam satu gedung MPP. Integrasi adalah penyatuan layanan.\n"
)


def unit(doc_id: str, index: int, text: str, sentence: str, kind: str, role: str = "", informant: str = "",
         position: str = "", agency: str = "", city: str = "") -> dict:
    start = text.index(sentence)
    return {"doc_id": doc_id, "unit_id": f"{doc_id}-{index:05d}", "index": index, "start": start,
            "end": start + len(sentence), "text": sentence, "kind": kind, "block_id": f"{doc_id}-b0",
            "speaker_role": role, "informant": informant, "position": position, "agency": agency, "city": city}


def coding(unit_id: str, code: str, valence: str = "neutral", score: float = 0.9) -> dict:
    evidence = {"terms": [{"term": "rapat", "code": code, "start": 0, "end": 5, "weight": 1.0}], "reason": "lexicon"}
    return {"unit_id": unit_id, "codebook": "tamtanus", "code": code, "score": score, "valence": valence,
            "model": "lexicon:tamtanus@test", "evidence": json.dumps(evidence)}


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    documents = pd.DataFrame([
        {"doc_id": "aaaa00000001", "path": "wawancara/sleman_sekretaris.txt", "kind": "transcript", "fmt": "txt",
         "encoding": "utf-8", "text": INTERVIEW, "warnings": "", "study": "WoG MPP Sleman 2025",
         "city": "Kabupaten Sleman", "informant": "Ibu SW", "role": "Sekretaris DPMPTSP",
         "agency": "DPMPTSP Kabupaten Sleman", "date": "2025-03-14", "framework": "tamtanus"},
        {"doc_id": "bbbb00000002", "path": "skripsi/malang_bab4.txt", "kind": "thesis", "fmt": "txt",
         "encoding": "utf-8", "text": THESIS, "warnings": "", "study": "WoG MPP Malang 2025", "city": "Kota Malang",
         "informant": "", "role": "", "agency": "", "date": "2025", "framework": "tamtanus"},
    ])
    who = {"informant": "Ibu SW", "position": "Sekretaris DPMPTSP", "agency": "DPMPTSP Kabupaten Sleman",
           "city": "Kabupaten Sleman"}
    units = pd.DataFrame([
        unit("aaaa00000001", 0, INTERVIEW, "Bagaimana koordinasi di MPP? 😀", "utterance", "interviewer", "Ibu SW"),
        unit("aaaa00000001", 1, INTERVIEW, "Koordinasi sudah rutin lewat grup 📱 WhatsApp dengan Pak Budi.",
             "utterance", "informant", **who),
        unit("aaaa00000001", 2, INTERVIEW, "Tapi data belum sinkron 🙁 antar instansi.", "utterance", "informant",
             **who),
        unit("aaaa00000001", 3, INTERVIEW, "Baik, terima kasih.", "utterance", "interviewer", "Ibu SW"),
        unit("bbbb00000002", 0, THESIS, "BAB IV 𝐇𝐀𝐒𝐈𝐋", "heading", "researcher"),
        unit("bbbb00000002", 1, THESIS, "Semua layanan 🏢 kini disatukan dalam satu gedung MPP.", "narrative",
             "researcher", city="Kota Malang"),
        unit("bbbb00000002", 2, THESIS, "Integrasi adalah penyatuan layanan.", "narrative", "researcher"),
    ])
    codings = pd.DataFrame([
        coding("aaaa00000001-00000", "uncoded"),
        coding("aaaa00000001-00001", "koordinasi", "positive", 0.82),
        coding("aaaa00000001-00002", "sinkronisasi", "negative", 0.77),
        coding("aaaa00000001-00003", "uncoded"),
        coding("bbbb00000002-00000", "uncoded"),
        coding("bbbb00000002-00001", "integrasi", "positive", 0.91),
        coding("bbbb00000002-00002", "uncoded"),
    ])
    return documents, units, codings


@pytest.fixture(scope="module")
def codebook():
    return load_codebook("tamtanus")


@pytest.fixture(scope="module")
def exported(frames, codebook, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("qdpx") / "project.qdpx"
    write_qdpx(*frames, codebook, path)
    return path


def qde_root(path: Path):
    with zipfile.ZipFile(path) as archive:
        return SafeET.fromstring(archive.read("project.qde"))


def source_texts(path: Path) -> dict[str, str]:
    """TextSource guid -> text read from the archive's sources/ folder."""
    with zipfile.ZipFile(path) as archive:
        return {
            source.get("guid"): archive.read("sources/" + source.get("plainTextPath").removeprefix("internal://"))
            .decode("utf-8")
            for source in qde_root(path).iter(f"{NS}TextSource")
        }


# --------------------------------------------------------------------------- the export


def test_export_validates_against_the_refi_qda_schema(exported: Path) -> None:
    if not XSD.is_file():
        pytest.skip("../shared/refi-qda/Project-mrt2019.xsd is not present")
    with zipfile.ZipFile(exported) as archive:
        xml = archive.read("project.qde")
    xmlschema.XMLSchema(str(XSD)).validate(xml.decode("utf-8"))
    assert not xml.startswith(b"\xef\xbb\xbf") and b"\r" not in xml


def test_archive_layout_is_project_qde_plus_flat_sources(exported: Path) -> None:
    with zipfile.ZipFile(exported) as archive:
        names = archive.namelist()
    assert names[-1] == "project.qde"  # written last: the sources stream into the archive first
    assert all(n.startswith("sources/") and n.count("/") == 1 and n.endswith(".txt") for n in names[:-1])
    assert len(names) == 3


def test_every_reference_resolves(exported: Path, codebook) -> None:
    root = qde_root(exported)
    codes = {c.get("guid") for c in root.iter(f"{NS}Code")}
    codable = {c.get("guid") for c in root.iter(f"{NS}Code") if c.get("isCodable") == "true"}
    sources = {s.get("guid") for s in root.iter(f"{NS}TextSource")}
    selections = {s.get("guid") for s in root.iter(f"{NS}PlainTextSelection")}
    variables = {v.get("guid"): v.get("typeOfVariable") for v in root.iter(f"{NS}Variable")}
    users = {u.get("guid") for u in root.iter(f"{NS}User")}

    assert {r.get("targetGUID") for r in root.iter(f"{NS}CodeRef")} <= codable
    assert {r.get("targetGUID") for r in root.iter(f"{NS}SourceRef")} <= sources
    assert {r.get("targetGUID") for r in root.iter(f"{NS}SelectionRef")} <= selections
    for value in root.iter(f"{NS}VariableValue"):
        ref = value.find(f"{NS}VariableRef").get("targetGUID")
        assert variables[ref] == "Text" and value.find(f"{NS}TextValue") is not None
    assert {e.get("creatingUser") for e in root.iter() if e.get("creatingUser")} <= users
    every_guid = [e.get("guid") for e in root.iter() if e.get("guid")]
    assert len(every_guid) == len(set(every_guid))
    assert len(codes) == len(codebook.codes) + 1 + 4  # codes, the codebook folder, valence folder + 3


def test_every_selection_lies_inside_its_source_text(exported: Path) -> None:
    texts = source_texts(exported)
    for source in qde_root(exported).iter(f"{NS}TextSource"):
        for selection in source.iter(f"{NS}PlainTextSelection"):
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            assert 0 <= start < end <= len(texts[source.get("guid")])


def test_sources_hold_the_document_text_exactly(exported: Path, frames) -> None:
    documents = frames[0]
    assert sorted(source_texts(exported).values()) == sorted(documents["text"])


def test_texts_written_in_pieces_are_the_same_bytes(frames, codebook, tmp_path: Path, monkeypatch) -> None:
    """A huge source text is encoded a piece at a time: 3-character pieces (emoji included) give the same bytes."""
    monkeypatch.setattr("pipeline.export.qdpx.WRITE_CHARS", 3)
    pieces = write_qdpx(*frames, codebook, tmp_path / "pieces.qdpx")
    assert sorted(source_texts(pieces).values()) == sorted(frames[0]["text"])
    monkeypatch.undo()
    assert pieces.read_bytes() == write_qdpx(*frames, codebook, tmp_path / "whole.qdpx").read_bytes()


def test_offsets_are_code_points_even_after_emoji(exported: Path, frames) -> None:
    units = frames[1]
    texts = source_texts(exported)
    positions = {
        (int(s.get("startPosition")), int(s.get("endPosition"))): texts[source.get("guid")]
        for source in qde_root(exported).iter(f"{NS}TextSource") for s in source.iter(f"{NS}PlainTextSelection")
    }
    sinkron = units.set_index("unit_id").loc["aaaa00000001-00002"]
    text = positions[(sinkron.start, sinkron.end)]
    assert text[sinkron.start:sinkron.end] == sinkron.text
    utf16_start = len(text[: sinkron.start].encode("utf-16-le")) // 2
    assert utf16_start > sinkron.start  # emoji before the unit: code points and UTF-16 units differ here


def test_uncoded_units_get_no_selection_and_coded_ones_carry_code_and_valence(exported: Path, codebook) -> None:
    root = qde_root(exported)
    names = {c.get("guid"): c.get("name") for c in root.iter(f"{NS}Code")}
    coded = {}
    for selection in root.iter(f"{NS}PlainTextSelection"):
        coded[selection.get("name")] = [names[r.get("targetGUID")] for r in selection.iter(f"{NS}CodeRef")]
        assert "score" in selection.find(f"{NS}Description").text
    assert sorted(coded.values()) == [["Integrasi", "positive"], ["Koordinasi", "positive"],
                                      ["Sinkronisasi", "negative"]]


def test_the_informant_is_a_case_with_variables_linked_to_source_and_selections(exported: Path) -> None:
    root = qde_root(exported)
    variables = {v.get("guid"): v.get("name") for v in root.iter(f"{NS}Variable")}
    cases = list(root.iter(f"{NS}Case"))
    assert [c.get("name") for c in cases] == ["Ibu SW"]
    values = {variables[v.find(f"{NS}VariableRef").get("targetGUID")]: v.find(f"{NS}TextValue").text
              for v in cases[0].findall(f"{NS}VariableValue")}
    assert values == {"agency": "DPMPTSP Kabupaten Sleman", "city": "Kabupaten Sleman", "role": "Sekretaris DPMPTSP"}
    interview = next(s for s in root.iter(f"{NS}TextSource") if s.get("name").startswith("wawancara/"))
    assert [r.get("targetGUID") for r in cases[0].findall(f"{NS}SourceRef")] == [interview.get("guid")]
    spoken = {s.get("guid") for s in interview.iter(f"{NS}PlainTextSelection")}
    assert {r.get("targetGUID") for r in cases[0].findall(f"{NS}SelectionRef")} == spoken


def test_reexport_is_byte_identical_whatever_the_row_order(frames, codebook, tmp_path: Path) -> None:
    first, second = tmp_path / "a.qdpx", tmp_path / "b.qdpx"
    write_qdpx(*frames, codebook, first)
    shuffled = [frame.iloc[::-1].reset_index(drop=True) for frame in frames]
    write_qdpx(*shuffled, codebook, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:  # nothing in the archive depends on when it was written
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert qde_root(first).get("creationDateTime") == "1980-01-01T00:00:00Z"


def test_a_given_creation_date_is_written(frames, codebook, tmp_path: Path) -> None:
    path = tmp_path / "dated.qdpx"
    write_qdpx(*frames, codebook, path, created=datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc))
    dates = {e.get("creationDateTime") for e in qde_root(path).iter() if e.get("creationDateTime")}
    assert dates == {"2025-03-14T09:30:00Z"}


def test_pseudonyms_replace_names_everywhere_and_offsets_follow(frames, codebook, tmp_path: Path) -> None:
    path = tmp_path / "pseudo.qdpx"
    write_qdpx(*frames, codebook, path, pseudonymise={"Ibu SW": "Informan 1", "Pak Budi": "Pak X"})
    with zipfile.ZipFile(path) as archive:
        everything = b"".join(archive.read(name) for name in archive.namelist()).decode("utf-8")
    assert "Ibu SW" not in everything and "Budi" not in everything
    documents, selections = read_qdpx(path)
    assert "Koordinasi sudah rutin lewat grup 📱 WhatsApp dengan Pak X." in set(selections["text"])
    assert "Tapi data belum sinkron 🙁 antar instansi." in set(selections["text"])
    assert set(selections.loc[selections["doc_name"].str.startswith("wawancara/"), "case"]) == {"Informan 1"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d, u, c: (d, u.assign(start=u["start"] + 1), c), "does not match the text"),
        (lambda d, u, c: (d, u, c.assign(code="kolaborasi")), "which codebook 'tamtanus' lacks"),
        (lambda d, u, c: (d, u, c.assign(codebook="perry6")), "no rows for codebook 'tamtanus'"),
        (lambda d, u, c: (d.assign(text=d["text"].str.replace("\n", "\r\n")), u, c), "CR line ends"),
        (lambda d, u, c: (d.drop(columns="text"), u, c), "documents: missing column(s) text"),
    ],
)
def test_bad_input_is_refused_with_one_line(frames, codebook, tmp_path: Path, change, message) -> None:
    target = tmp_path / "bad.qdpx"
    with pytest.raises(QdpxError) as error:
        write_qdpx(*change(*frames), codebook, target)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not target.exists()


# --------------------------------------------------------------------------- the import


def test_round_trip_gives_back_units_and_codes(exported: Path, frames, codebook) -> None:
    documents, units, codings = frames
    docs, selections = read_qdpx(exported)
    path_of = dict(zip(documents["doc_id"], documents["path"]))
    name_of = {c.id: c.name for c in codebook.codes}
    expected = set()
    for _, row in codings[codings["code"] != "uncoded"].merge(units, on="unit_id").iterrows():
        expected |= {(path_of[row.doc_id], row.start, row.end, name_of[row.code]),
                     (path_of[row.doc_id], row.start, row.end, row.valence)}
    got = set(zip(selections["doc_name"], selections["start"], selections["end"], selections["code_name"]))
    assert got == expected
    assert set(selections["text"]) == set(units.set_index("unit_id").loc[
        codings.loc[codings["code"] != "uncoded", "unit_id"], "text"])
    assert sorted(docs["text"]) == sorted(documents["text"])


def test_own_export_becomes_gold_records(exported: Path) -> None:
    records = qdpx_to_gold(exported, "tamtanus")
    gold_keys = set(json.loads(GOLD.read_text(encoding="utf-8").splitlines()[0])) if GOLD.is_file() else None
    by_label = {r["label"]: r for r in records}
    assert sorted(by_label) == ["integrasi", "koordinasi", "sinkronisasi"]
    sinkron = by_label["sinkronisasi"]
    assert sinkron["text"] == "Tapi data belum sinkron 🙁 antar instansi."
    assert (sinkron["valence"], sinkron["speaker"], sinkron["agency"], sinkron["city"], sinkron["study"]) == (
        "negative", "Ibu SW", "DPMPTSP Kabupaten Sleman", "Kabupaten Sleman", "WoG MPP Sleman 2025")
    assert by_label["integrasi"]["speaker"] is None and by_label["integrasi"]["framework"] == "tamtanus"
    if gold_keys is not None:
        assert set(sinkron) == gold_keys


FOREIGN_QDE = """<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="hand coded" origin="NVivo 14">
  <CodeBook><Codes>
    <Code guid="{C0DE0000-0000-4000-8000-000000000001}" name="Koordinasi Antar Instansi" isCodable="true"/>
    <Code guid="{C0DE0000-0000-4000-8000-000000000002}" name="Negative" isCodable="true"/>
    <Code guid="{C0DE0000-0000-4000-8000-000000000003}" name="Kutipan menarik" isCodable="true"/>
  </Codes></CodeBook>
  <Variables>
    <Variable guid="7A000000-0000-4000-8000-000000000001" name="Agency" typeOfVariable="Text"/>
  </Variables>
  <Cases>
    <Case guid="CA5E0000-0000-4000-8000-000000000001" name="Pak HS">
      <VariableValue><VariableRef targetGUID="7A000000-0000-4000-8000-000000000001"/>
        <TextValue>Disdukcapil</TextValue></VariableValue>
      <SourceRef targetGUID="5C000000-0000-4000-8000-000000000001"/>
    </Case>
  </Cases>
  <Sources>
    <TextSource guid="5C000000-0000-4000-8000-000000000001" name="Wawancara HS"
                plainTextPath="internal://5C000000-0000-4000-8000-000000000001.txt">
      <PlainTextSelection guid="5E000000-0000-4000-8000-000000000001" startPosition="{start}" endPosition="{end}">
        <Coding guid="C0000000-0000-4000-8000-000000000001">
          <CodeRef targetGUID="c0de0000-0000-4000-8000-000000000001"/></Coding>
        <Coding guid="C0000000-0000-4000-8000-000000000002">
          <CodeRef targetGUID="{{C0DE0000-0000-4000-8000-000000000002}}"/></Coding>
        <Coding guid="C0000000-0000-4000-8000-000000000003">
          <CodeRef targetGUID="C0DE0000-0000-4000-8000-000000000003"/></Coding>
      </PlainTextSelection>
    </TextSource>
  </Sources>
</Project>
"""
FOREIGN_TEXT = "T: Apa kabar? 👋\nJ: Rapat antar instansi jarang sekali diadakan.\n"


def write_zip(path: Path, members: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def foreign_project(tmp_path: Path, **extra: bytes) -> Path:
    sentence = "Rapat antar instansi jarang sekali diadakan."
    start = FOREIGN_TEXT.index(sentence)
    qde = FOREIGN_QDE.replace("{start}", str(start)).replace("{end}", str(start + len(sentence)))
    qde = qde.replace("{{", "{").replace("}}", "}")
    members = {"project.qde": qde.encode(), "Sources/5C000000-0000-4000-8000-000000000001.txt": FOREIGN_TEXT.encode()}
    return write_zip(tmp_path / "foreign.qdpx", {**members, **extra})


def test_hand_coding_from_another_tool_becomes_gold(tmp_path: Path) -> None:
    records = qdpx_to_gold(foreign_project(tmp_path), "tamtanus")
    assert len(records) == 1
    record = records[0]
    assert (record["label"], record["valence"], record["speaker"], record["agency"]) == (
        "koordinasi", "negative", "Pak HS", "Disdukcapil")
    assert record["text"] == "Rapat antar instansi jarang sekali diadakan."


def test_path_traversal_member_is_refused(tmp_path: Path) -> None:
    path = foreign_project(tmp_path, **{"../evil.txt": b"x"})
    with pytest.raises(QdpxError, match=r"'\.\.' path component"):
        read_qdpx(path)


def test_absolute_member_path_is_refused(tmp_path: Path) -> None:
    path = foreign_project(tmp_path, **{"/etc/evil.txt": b"x"})
    with pytest.raises(QdpxError, match="absolute path"):
        read_qdpx(path)


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    path = foreign_project(tmp_path, **{"sources/bomb.txt": b"\0" * (20 * 2**20)})
    with pytest.raises(QdpxError, match="zip bomb"):
        read_qdpx(path)


def test_external_entity_in_xml_is_refused(tmp_path: Path) -> None:
    hostile = (b'<?xml version="1.0"?>\n<!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
               b'<Project xmlns="urn:QDA-XML:project:1.0" name="&x;"/>\n')
    path = write_zip(tmp_path / "xxe.qdpx", {"project.qde": hostile})
    with pytest.raises(QdpxError, match="refused unsafe XML"):
        read_qdpx(path)


def test_missing_source_file_is_named(tmp_path: Path) -> None:
    archive = io.BytesIO(foreign_project(tmp_path).read_bytes())
    with zipfile.ZipFile(archive) as original:
        qde = original.read("project.qde")
    path = write_zip(tmp_path / "nosource.qdpx", {"project.qde": qde})
    with pytest.raises(QdpxError, match=r"sources/5C000000-0000-4000-8000-000000000001\.txt is missing"):
        read_qdpx(path)


def test_not_a_zip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.qdpx"
    path.write_text("not a zip", encoding="utf-8")
    with pytest.raises(QdpxError, match="not a ZIP archive"):
        read_qdpx(path)


def test_the_run_folder_writes_the_same_project_a_chunk_at_a_time(frames, codebook, tmp_path: Path,
                                                                   monkeypatch) -> None:
    """The main job streams each document's coded units from its table; a document may span chunks.

    Documents are read a few at a time (each carries its whole text): here one at a time.
    """
    monkeypatch.setattr("pipeline.export.run_folder.DOCUMENTS_PER_READ", 1)
    from pipeline.export.qdpx import write_qdpx_documents
    from pipeline.export.run_folder import coded_units, project_items
    from pipeline.tables import ChunkedTable

    documents, units, codings = frames
    order = documents.sort_values("path")["doc_id"].tolist()
    documents.set_index("doc_id").loc[order].reset_index().to_parquet(tmp_path / "documents.parquet")
    table = coded_units(units, codings)
    table.assign(codebook=codebook.id).sort_values("doc_id", key=lambda ids: ids.map(order.index), kind="stable") \
        .to_parquet(tmp_path / "units.parquet")
    items = project_items(ChunkedTable(tmp_path / "documents.parquet"), ChunkedTable(tmp_path / "units.parquet"),
                          codebook, rows=2)
    streamed = write_qdpx_documents(items, codebook, tmp_path / "streamed.qdpx")
    whole = write_qdpx(*frames, codebook, tmp_path / "whole.qdpx")
    assert streamed.read_bytes() == whole.read_bytes()


def _selection_by_element_tree(selection, user: str, created: str) -> str:
    """What ``_selection_xml`` wrote while it built ElementTree elements: the reference layout."""
    import xml.etree.ElementTree as ET

    from pipeline.export.qdpx import _xml_safe, project_guid

    element = ET.Element("PlainTextSelection", {
        "guid": selection.guid, "name": _xml_safe(selection.name), "startPosition": str(selection.start),
        "endPosition": str(selection.end), "creatingUser": user, "creationDateTime": created})
    ET.SubElement(element, "Description").text = _xml_safe(selection.description)
    for target in selection.code_guids:
        coding = ET.SubElement(element, "Coding", {"guid": project_guid("coding", f"{selection.unit_id}\x1f{target}"),
                                                   "creatingUser": user, "creationDateTime": created})
        ET.SubElement(coding, "CodeRef", {"targetGUID": target})
    ET.indent(element, space="  ", level=3)
    return ET.tostring(element, encoding="unicode")


@pytest.mark.parametrize("name, description, targets", [
    ("Koordinasi \"lintas\" <OPD> & mal", "score 0.91 | terms: a&b, <x>", ["g1", "g2"]),
    ("tab\there, line\nbreak\r, ctrl\x01", "multi\nline\tdescription \"quoted\" ' apostrophe", ["t&1"]),
    ("", "", []),
    ("emoji 😀 and ümlaut", "", ["only-one"]),
])
def test_selection_xml_is_what_element_tree_writes(name: str, description: str, targets: list[str]) -> None:
    from pipeline.export.qdpx import Selection, _selection_xml

    selection = Selection(guid="sel-guid", unit_id="u&1", start=3, end=40, name=name, description=description,
                          code_guids=targets)
    assert _selection_xml(selection, "user<guid>", "2025-01-01T00:00:00Z") == \
        _selection_by_element_tree(selection, "user<guid>", "2025-01-01T00:00:00Z")


def test_guids_are_uuid5() -> None:
    import uuid

    from pipeline.export.qdc import uuid5_text

    for name in ("", "selection:abc", "ümlaut 😀 " * 20):
        for namespace in (uuid.NAMESPACE_URL, uuid.UUID("12345678-1234-5678-1234-567812345678")):
            assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))
