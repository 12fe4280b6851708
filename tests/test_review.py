"""Reviewing auto-coded units: the append-only store, the queue, the Excel path, agreement, retraining."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from pipeline.review import (
    REVIEW_COLUMNS,
    ReviewError,
    ReviewPanel,
    ReviewStore,
    ReviewWarning,
    agreement,
    cell_units,
    context,
    crosswalk_shares,
    export_sample_csv,
    highlight_terms,
    import_reviewed_csv,
    load_run,
    review_queue,
    training_reviews,
    unit_html,
    write_training_csv,
)

#: Two short interviews: (document, informant, agency, city, [(speaker role, text), ...]).
INTERVIEWS = [
    ("padang.txt", "Bapak AR", "DPMPTSP Kota Padang", "Kota Padang", [
        ("interviewer", "Bagaimana koordinasi dengan instansi lain, Pak?"),
        ("informant", "Koordinasi kami jalan karena petugas gerai sudah akrab, sering makan siang bareng."),
        ("informant", "Kalau ada masalah, koordinasinya cukup lewat obrolan santai sesama petugas, "
                      "kami sudah seperti keluarga."),
        ("informant", "Rapat koordinasi antar instansi digelar setiap bulan di MPP."),
        ("informant", "Selamat pagi, Bu."),
        ("informant", "Pimpinan daerah membentuk tim kerja bersama lintas instansi."),
    ]),
    ("pekanbaru.txt", "Ibu NK", "Disdukcapil Kota Pekanbaru", "Kota Pekanbaru", [
        ("informant", "Hubungan antar petugas dekat sekali, jadi koordinasi tidak perlu surat resmi."),
        ("informant", "Kami sering ngopi bareng dengan petugas BPJS, koordinasi jadi gampang."),
        ("informant", "Data kependudukan sudah terintegrasi dengan aplikasi BPJS."),
        ("informant", "Gedungnya bersih dan dingin."),
        ("informant", "Forum koordinasi kami pakai grup WhatsApp, semua koordinator gerai ada di situ."),
    ]),
]


def make_run(folder: Path, codebook: str = "perry6") -> Path:
    """A small run folder like `wogcode run` writes (units, evidence, documents, manifest), coded by the lexicon."""
    from pipeline.aggregate import evidence_table
    from pipeline.classify.base import code_units
    from pipeline.classify.lexicon import LexiconCoder
    from pipeline.codebook import load_codebook
    from pipeline.export.run_folder import coded_units
    from pipeline.schema import Unit
    from pipeline.tables import units_frame

    book = load_codebook(codebook)
    units, documents = [], []
    for number, (path, informant, agency, city, turns) in enumerate(INTERVIEWS):
        doc_id = f"{number:012x}"
        study = f"WoG MPP {city} 2025"
        text = ""
        for index, (role, sentence) in enumerate(turns):
            speaker = "P" if role == "interviewer" else informant
            start = len(text) + len(speaker) + 2
            text += f"{speaker}: {sentence}\n\n"
            units.append(Unit(doc_id, f"{doc_id}-{index:05d}", index, start, start + len(sentence), sentence,
                              "utterance", f"{doc_id}-b{index:04d}", "", speaker, role, informant, "", agency,
                              city, study, path, sentence))
        documents.append({"doc_id": doc_id, "path": path, "kind": "transcript", "fmt": "txt", "encoding": "utf-8",
                          "text": text, "warnings": "", "study": study, "city": city, "informant": informant,
                          "role": "", "agency": agency, "date": "2025-02-18",
                          "framework": "tamtanus" if number == 0 else codebook})
    frame = units_frame(units)
    codings = code_units(LexiconCoder(book), frame)
    folder.mkdir(parents=True, exist_ok=True)
    coded_units(frame, codings).to_parquet(folder / "units.parquet", index=False)
    evidence_table(frame, codings, book).to_parquet(folder / "evidence.parquet", index=False)
    pd.DataFrame(documents).to_parquet(folder / "documents.parquet", index=False)
    manifest = {"codebook": {"id": book.id, "version": book.version, "hash": book.content_hash}, "model": "lexicon"}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def run_template(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture
def run_dir(run_template, tmp_path) -> Path:
    """A fresh copy of the small run for each test (tests write reviews.csv into it)."""
    import shutil

    return Path(shutil.copytree(run_template, tmp_path / "run"))


def unit_id_of(units: pd.DataFrame, start_of_text: str) -> str:
    return units.loc[units["text"].str.startswith(start_of_text), "unit_id"].iloc[0]


# --------------------------------------------------------------------------- the store


def test_record_appends_one_line_per_decision_and_never_rewrites(tmp_path):
    store = ReviewStore(tmp_path, codes=["koordinasi", "integrasi", "uncoded"])
    store.record("u1", "integrasi", "negative", "Dina", old_code="koordinasi", old_valence="neutral")
    first = store.path.read_bytes()
    store.record("u2", "uncoded", "neutral", "Dina", old_code="integrasi", old_valence="positive")
    after = store.path.read_bytes()
    assert after.startswith(first)
    lines = after.decode("utf-8").splitlines()
    assert lines[0] == ",".join(REVIEW_COLUMNS)
    assert lines[1].startswith("u1,koordinasi,neutral,integrasi,negative,Dina,")
    assert len(lines) == 3


def test_latest_decision_for_a_unit_wins(tmp_path):
    store = ReviewStore(tmp_path, codes=["koordinasi", "integrasi", "uncoded"])
    store.record("u1", "integrasi", "negative", "Dina", "koordinasi", "neutral", time="2025-03-01T10:00:00+00:00")
    store.record("u2", "koordinasi", "neutral", "Dina", "koordinasi", "neutral", time="2025-03-01T10:01:00+00:00")
    store.record("u1", "uncoded", "neutral", "Rudi", "koordinasi", "neutral", time="2025-03-01T10:05:00+00:00")
    decisions = store.decisions().set_index("unit_id")
    assert len(decisions) == 2
    assert decisions.loc["u1", ["new_code", "reviewer", "action"]].tolist() == ["uncoded", "Rudi", "reject"]
    assert decisions.loc["u2", "action"] == "accept"
    assert len(store.rows()) == 3  # the history stays in the file


def test_latest_by_time_even_when_lines_are_out_of_order(tmp_path):
    """Two reviewers' files pasted together: the later decision wins, not the later line."""
    store = ReviewStore(tmp_path, codes=["koordinasi", "integrasi", "uncoded"])
    store.record("u1", "integrasi", "neutral", "Rudi", "koordinasi", "neutral", time="2025-03-02T09:00:00+00:00")
    store.record("u1", "koordinasi", "neutral", "Dina", "koordinasi", "neutral", time="2025-03-01T09:00:00+00:00")
    assert store.decisions()["new_code"].tolist() == ["integrasi"]


def test_a_line_torn_by_a_crash_is_skipped_with_a_warning_and_sealed(tmp_path):
    store = ReviewStore(tmp_path, codes=["koordinasi", "integrasi", "uncoded"])
    store.record("u1", "integrasi", "negative", "Dina", "koordinasi", "neutral")
    with store.path.open("a", encoding="utf-8") as handle:  # the kernel died halfway through a line
        handle.write("u2,koordinasi,neutral,integr")
    with pytest.warns(ReviewWarning, match=r"line 3 is incomplete"):
        assert store.decisions()["unit_id"].tolist() == ["u1"]
    store.record("u3", "uncoded", "neutral", "Dina", "integrasi", "neutral")  # the next save still works
    with pytest.warns(ReviewWarning, match=r"line 3 has 4 field\(s\)"):
        assert store.decisions()["unit_id"].tolist() == ["u1", "u3"]


def test_a_crash_while_writing_the_header_loses_nothing_later(tmp_path):
    store = ReviewStore(tmp_path, codes=["koordinasi", "uncoded"])
    store.path.write_text("unit_id,old_co", encoding="utf-8")
    assert store.decisions().empty
    store.record("u1", "uncoded", "neutral", "Dina", "koordinasi", "neutral")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.decisions()["unit_id"].tolist() == ["u1"]


def test_record_refuses_unknown_codes_and_valences_before_writing(tmp_path):
    store = ReviewStore(tmp_path, codes=["koordinasi", "uncoded"])
    with pytest.raises(ReviewError, match="code 'kordinasi' is not one of koordinasi, uncoded"):
        store.record("u1", "kordinasi", "neutral", "Dina", "koordinasi", "neutral")
    with pytest.raises(ReviewError, match="valence must be one of"):
        store.record("u1", "koordinasi", "good", "Dina", "koordinasi", "neutral")
    with pytest.raises(ReviewError, match="reviewer"):
        store.record("u1", "koordinasi", "neutral", " ", "koordinasi", "neutral")
    assert not store.path.exists()


def test_store_reads_the_codes_of_the_runs_codebook(run_dir):
    store = ReviewStore(run_dir)
    assert store.codes == ["koordinasi", "integrasi", "kedekatan_pelibatan", "uncoded"]


def test_a_foreign_file_is_refused_with_its_name(tmp_path):
    (tmp_path / "reviews.csv").write_text("id;code\nu1;koordinasi\n", encoding="utf-8")
    with pytest.raises(ReviewError, match=r"reviews\.csv: line 1 must be the header"):
        ReviewStore(tmp_path, codes=["koordinasi"]).decisions()


# --------------------------------------------------------------------------- queue and display


def test_queue_filters_and_puts_the_least_certain_first(run_dir):
    units = load_run(run_dir).units
    queue = review_queue(units)
    assert "interviewer" not in set(queue["speaker_role"])  # prompts are not evidence
    assert queue["score"].is_monotonic_increasing
    coded = review_queue(units, code="koordinasi", city="Kota Pekanbaru", score_band=(0.0, 0.95))
    assert len(coded) > 0
    assert set(coded["code"]) == {"koordinasi"} and set(coded["city"]) == {"Kota Pekanbaru"}
    assert review_queue(units, informant=["Bapak AR"], exclude=set(queue["unit_id"])).empty
    with pytest.raises(ReviewError, match="order must be one of"):
        review_queue(units, order="newest")


def test_random_order_is_reproducible_with_a_seed(run_dir):
    units = load_run(run_dir).units
    assert review_queue(units, order="random", seed=3)["unit_id"].tolist() == \
        review_queue(units, order="random", seed=3)["unit_id"].tolist()


def test_context_gives_the_neighbours_in_the_same_document(run_dir):
    units = load_run(run_dir).units
    target = unit_id_of(units, "Rapat koordinasi")
    around = context(units, target, window=1)
    assert len(around) == 3 and around["is_target"].tolist() == [False, True, False]
    assert set(around["doc_id"]) == {units.set_index("unit_id").at[target, "doc_id"]}
    first = context(units, units["unit_id"].iloc[0], window=2)
    assert first["is_target"].tolist() == [True, False, False]


def test_highlight_marks_the_matched_spans_and_escapes_the_rest():
    text = "Koordinasi <antar> instansi & rapat"
    terms = [{"term": "koordinasi", "code": "koordinasi", "start": 0, "end": 10},
             {"term": "rapat", "code": "koordinasi", "start": 30, "end": 35},
             {"term": "rap", "code": "x", "start": 30, "end": 33},  # overlaps: merged
             {"term": "outside", "code": "x", "start": 50, "end": 60}]
    out = highlight_terms(text, terms)
    assert out == ('<mark title="koordinasi">Koordinasi</mark> &lt;antar&gt; instansi &amp; '
                   '<mark title="koordinasi, x">rapat</mark>')


def test_unit_html_shows_context_terms_and_scores(run_dir):
    units = load_run(run_dir).units
    target = unit_id_of(units, "Rapat koordinasi")
    page = unit_html(units, target)
    assert "<mark" in page and "koordinasi</mark>" in page
    assert "Koordinasi kami jalan" in page  # a unit before it
    assert "score per code" in page and "nearest training examples" in page
    with pytest.raises(ReviewError, match="not in this run"):
        unit_html(units, "nope")


# --------------------------------------------------------------------------- agreement


def test_agreement_uses_the_reviewers_codes_as_truth(run_dir):
    run = load_run(run_dir)
    store = ReviewStore(run_dir)
    queue = review_queue(run.units, code="koordinasi")
    store.decide(queue.iloc[0], "koordinasi", queue.iloc[0]["valence"], "Dina")  # accept
    store.decide(queue.iloc[1], "kedekatan_pelibatan", "positive", "Dina")  # recode
    store.decide(queue.iloc[2], "uncoded", "neutral", "Dina")  # reject
    result = agreement(run.units, store.decisions())
    assert result["n"] == 3
    assert result["accuracy"] == pytest.approx(1 / 3)
    confusion = result["confusion"]
    assert confusion.loc["kedekatan_pelibatan", "koordinasi"] == 1
    assert confusion.loc["uncoded", "koordinasi"] == 1
    assert confusion.loc["koordinasi", "koordinasi"] == 1
    assert result["per_code"].loc["koordinasi", "precision"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["kappa"] is not None and result["kappa"] <= 0.0  # no better than chance


def test_agreement_without_decisions_is_empty_not_an_error(run_dir):
    run = load_run(run_dir)
    result = agreement(run.units, ReviewStore(run_dir).decisions())
    assert result["n"] == 0 and result["kappa"] is None


# --------------------------------------------------------------------------- the Excel path


def edit_sample(path: Path, edits: dict[str, tuple[str, str]], delimiter: str = ";", encoding: str = "cp1252") -> None:
    """What a reviewer does in Excel (Indonesian locale: semicolons, Windows code page)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["unit_id"] in edits:
            row["new_code"], row["new_valence"] = edits[row["unit_id"]]
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def test_excel_round_trip_records_only_the_filled_rows(run_dir, tmp_path):
    run = load_run(run_dir)
    store = ReviewStore(run_dir)
    queue = review_queue(run.units, code="koordinasi", order="document")
    sample = export_sample_csv(queue, tmp_path / "sample.csv", run.units)
    assert sample.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    exported = pd.read_csv(sample, encoding="utf-8-sig", keep_default_na=False)
    assert exported["new_code"].eq("").all() and exported["matched_terms"].str.contains("koordinasi").all()
    assert exported["context_before"].str.len().gt(0).any()
    assert import_reviewed_csv(sample, store, "Dina") == 0  # nothing filled in, nothing recorded
    assert not store.path.exists()

    first, second, third = queue["unit_id"].iloc[:3]
    edit_sample(sample, {first: ("accept", ""), second: ("kedekatan_pelibatan", "Positive"), third: ("reject", "")})
    assert import_reviewed_csv(sample, store, "Dina") == 3
    decisions = store.decisions().set_index("unit_id")
    assert decisions.loc[first, ["new_code", "action"]].tolist() == ["koordinasi", "accept"]
    assert decisions.loc[second, ["new_code", "new_valence", "old_code"]].tolist() == \
        ["kedekatan_pelibatan", "positive", "koordinasi"]
    machine = run.units.set_index("unit_id").loc[third, "valence"]
    assert machine != "neutral"  # so the test tells "kept" from the old default
    assert decisions.loc[third, ["new_code", "new_valence", "action"]].tolist() == ["uncoded", machine, "reject"]
    assert import_reviewed_csv(sample, store, "Dina") == 0  # importing twice records nothing new


def test_a_bad_row_stops_the_import_before_anything_is_recorded(run_dir, tmp_path):
    run = load_run(run_dir)
    store = ReviewStore(run_dir)
    queue = review_queue(run.units, code="koordinasi", order="document")
    sample = export_sample_csv(queue, tmp_path / "sample.csv", run.units)
    edit_sample(sample, {queue["unit_id"].iloc[0]: ("accept", ""), queue["unit_id"].iloc[1]: ("kordinasi", "")},
                delimiter=",", encoding="utf-8")
    with pytest.raises(ReviewError, match=r"sample\.csv:3: new_code 'kordinasi' is not one of"):
        import_reviewed_csv(sample, store, "Dina")
    assert not store.path.exists()


def test_cli_export_and_import(run_dir, tmp_path, capsys):
    from pipeline.cli import main

    sample = tmp_path / "sample.csv"
    assert main(["review", "export", str(run_dir), "--n", "2", "--out", str(sample), "--code", "koordinasi"]) == 0
    assert "2 of" in capsys.readouterr().out
    rows = pd.read_csv(sample, encoding="utf-8-sig", keep_default_na=False)
    assert len(rows) == 2
    edit_sample(sample, {rows["unit_id"].iloc[0]: ("integrasi", "negative")})
    assert main(["review", "import", str(run_dir), str(sample), "--reviewer", "Dina"]) == 0
    assert "1 decision(s) recorded" in capsys.readouterr().out
    assert main(["review", "export", str(run_dir), "--n", "50", "--out", str(sample), "--code", "koordinasi"]) == 0
    exported = pd.read_csv(sample, encoding="utf-8-sig")
    assert rows["unit_id"].iloc[0] not in set(exported["unit_id"])  # reviewed units are not offered again
    assert main(["review", "import", str(run_dir), str(tmp_path / "missing.csv"), "--reviewer", "Dina"]) == 2
    assert "missing.csv: not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- the widget


def test_widget_buttons_save_each_decision_at_once(run_dir):
    run = load_run(run_dir)
    store = ReviewStore(run_dir)
    queue = review_queue(run.units, code="koordinasi", order="document")
    panel = ReviewPanel(run.units, store, queue, "Dina", run.codebook)
    assert not store.path.exists()  # building and showing it records nothing
    panel.buttons["accept"].click()
    panel.code.value, panel.valence.value = "kedekatan_pelibatan", "positive"
    panel.buttons["recode"].click()
    panel.buttons["skip"].click()
    panel.buttons["reject"].click()
    decisions = store.decisions().set_index("unit_id")
    ids = queue["unit_id"]
    assert decisions.loc[ids.iloc[0], "action"] == "accept"
    assert decisions.loc[ids.iloc[1], ["new_code", "new_valence"]].tolist() == ["kedekatan_pelibatan", "positive"]
    assert ids.iloc[2] not in decisions.index
    assert decisions.loc[ids.iloc[3], ["new_code", "action"]].tolist() == ["uncoded", "reject"]
    assert decisions.loc[ids.iloc[3], "new_valence"] == queue["valence"].iloc[3]  # the tone was not judged
    assert panel.position == 4


# --------------------------------------------------------------------------- exploring evidence


def test_drill_down_finds_the_units_the_evidence_table_counted(run_dir):
    run = load_run(run_dir)
    rows = run.evidence[run.evidence["n_units"] > 0]
    assert not rows.empty
    for row in rows.itertuples():
        found = cell_units(run, row.level, row.key, row.code, study=row.study, city=row.city)
        assert len(found) == row.n_units, (row.level, row.key, row.code)


def test_crosswalk_carries_codes_to_another_codebook(run_dir):
    run = load_run(run_dir)
    shares = crosswalk_shares(run.units, "tamtanus").set_index(["study", "to_code"])
    study = "WoG MPP Kota Padang 2025"
    n_koordinasi = int(((run.units["study"] == study) & (run.units["code"] == "koordinasi")
                        & (run.units["speaker_role"] != "interviewer")).sum())
    assert shares.loc[(study, "koordinasi"), "n_units"] == n_koordinasi  # perry6.koordinasi = tamtanus.koordinasi
    assert set(shares.index.get_level_values("to_code")) >= {"koordinasi", "integrasi", "sinkronisasi"}


def test_each_study_is_coded_with_its_own_framework_before_the_crosswalk(run_dir):
    from pipeline.review import code_studies_by_framework, pick_studies_to_compare, study_frameworks

    run = load_run(run_dir)
    padang, pekanbaru = "WoG MPP Kota Padang 2025", "WoG MPP Kota Pekanbaru 2025"
    frameworks = study_frameworks(run.documents)
    assert frameworks == {padang: "tamtanus", pekanbaru: "perry6"}
    assert pick_studies_to_compare(frameworks, "perry6") == [padang, pekanbaru]
    coded = code_studies_by_framework(run, [padang, pekanbaru], model="lexicon")
    assert set(coded.loc[coded["study"] == padang, "codebook"]) == {"tamtanus"}
    assert set(coded.loc[coded["study"] == pekanbaru, "codebook"]) == {"perry6"}
    shares = crosswalk_shares(coded, "perry6").set_index(["study", "to_code"])
    spoken = coded[(coded["study"] == padang) & (coded["speaker_role"] == "informant")]
    assert shares.loc[(padang, "koordinasi"), "n_units"] == (spoken["code"] == "koordinasi").sum() > 0
    share = (spoken["code"] == "koordinasi").mean()
    assert shares.loc[(padang, "koordinasi"), "share"] == pytest.approx(share, abs=1e-4)
    with pytest.raises(ReviewError, match="no study named 'Kota X'"):
        code_studies_by_framework(run, ["Kota X"])


def test_pick_studies_prefers_frameworks_the_crosswalk_covers():
    from pipeline.review import pick_studies_to_compare

    frameworks = {"A": "mpp_factors", "B": "tamtanus", "C": "sudrajat", "D": "tamtanus"}
    assert pick_studies_to_compare(frameworks, "perry6") == ["B", "C"]
    assert pick_studies_to_compare({"A": "perry6", "B": "perry6"}, "perry6") == ["A", "B"]


def test_the_panel_shows_a_decision_it_could_not_save(run_dir):
    run = load_run(run_dir)
    queue = review_queue(run.units, code="koordinasi")
    panel = ReviewPanel(run.units, ReviewStore(run_dir), queue, "", run.codebook)  # no reviewer name
    panel.buttons["accept"].click()
    assert "not saved" in panel.status.value and "reviewer" in panel.status.value
    assert panel.position == 0  # stays on the unit


def test_the_panel_has_a_static_copy_for_viewers_without_widgets(run_dir):
    run = load_run(run_dir)
    queue = review_queue(run.units, code="koordinasi")
    bundle = ReviewPanel(run.units, ReviewStore(run_dir), queue, "Dina", run.codebook)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert queue["unit_id"].iloc[0] in bundle["text/html"] and "<mark" in bundle["text/html"]


# --------------------------------------------------------------------------- retraining


def test_training_csv_is_what_train_reads(run_dir, tmp_path):
    from pipeline.codebook import load_codebook
    from pipeline.train import review_examples

    run = load_run(run_dir)
    store = ReviewStore(run_dir)
    target = unit_id_of(run.units, "Kami sering ngopi")
    store.decide(run.units.set_index("unit_id").loc[target].to_dict() | {"unit_id": target},
                 "integrasi", "neutral", "Dina")
    store.decide(run.units.set_index("unit_id").loc[target].to_dict() | {"unit_id": target},
                 "kedekatan_pelibatan", "positive", "Dina")
    path = write_training_csv(run.units, store.decisions(), tmp_path / "corrections.csv")
    examples = review_examples(path, load_codebook("perry6"))
    assert [(e.code, e.valence, e.text) for e in examples] == [
        ("kedekatan_pelibatan", "positive", "Kami sering ngopi bareng dengan petugas BPJS, koordinasi jadi gampang.")]
    assert list(training_reviews(run.units, store.decisions()).columns) == ["unit_id", "code", "valence", "text"]


@pytest.fixture(scope="module")
def retrained(run_template, tmp_path_factory):
    """The run reviewed (five units recoded to closeness, four accepted) and a model trained on it, once."""
    import shutil

    from pipeline.persist import load_model
    from pipeline.review import retrain

    run_dir = Path(shutil.copytree(run_template, tmp_path_factory.mktemp("retrain") / "run"))
    run = load_run(run_dir)
    store = ReviewStore(run_dir)
    units = run.units.set_index("unit_id", drop=False)
    closeness = ["Koordinasi kami jalan", "Kalau ada masalah", "Hubungan antar petugas", "Kami sering ngopi",
                 "Pimpinan daerah membentuk"]
    for start in closeness:  # informal closeness, not formal coordination (and one the lexicon missed)
        store.decide(units.loc[unit_id_of(run.units, start)], "kedekatan_pelibatan", "positive", "Dina")
    for start in ("Rapat koordinasi", "Forum koordinasi", "Data kependudukan", "Gedungnya bersih"):
        unit = units.loc[unit_id_of(run.units, start)]
        store.decide(unit, unit["code"], unit["valence"], "Dina")  # accepted as coded
    model = retrain(run_dir, run_dir / "model", ["--cv", "none"])  # `wogcode train --reviews`
    return run, store.decisions(), model, load_model(model, run.codebook)


def test_retrain_writes_a_model_folder_trained_on_the_decisions(retrained):
    run, decisions, model, _ = retrained
    manifest = json.loads((model / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["codebook"]["id"] == "perry6"
    assert manifest["training"]["counts_per_source"]["review"] == len(decisions) == 9
    corrections = pd.read_csv(run.folder / "reviews_for_training.csv")
    assert list(corrections.columns) == ["unit_id", "code", "valence", "text"]
    assert corrections["code"].value_counts()["kedekatan_pelibatan"] == 5


def test_a_model_retrained_with_corrections_codes_those_units_as_corrected(retrained):
    from pipeline.review import code_with

    run, decisions, _, coder = retrained
    reviewed = run.units[run.units["unit_id"].isin(decisions["unit_id"])]
    recoded = code_with(reviewed, coder)
    by_unit = recoded.set_index("unit_id")["code"]
    corrected = decisions[decisions["action"] != "accept"]
    assert len(corrected) == 5
    assert [by_unit[u] for u in corrected["unit_id"]] == list(corrected["new_code"])
    assert agreement(recoded, decisions)["accuracy"] > agreement(reviewed, decisions)["accuracy"]
