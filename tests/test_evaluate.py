"""Gold files and evaluation: the reader's checks, metrics against hand-computed numbers, ``wogcode evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.classify.base import Prediction
from pipeline.cli import main
from pipeline.codebook import Codebook, load_codebook
from pipeline.evaluate import (
    ModelMismatch,
    coder_factory,
    evaluate,
    krippendorff_alpha_nominal,
    score,
)
from pipeline.gold import GoldError, GoldRecord, read_gold
from pipeline.schema import UNCODED

DEV_GOLD = Path(__file__).resolve().parents[2] / "shared" / "gold" / "dev.jsonl"


def record(**fields) -> dict:
    base = {
        "id": "t-1", "source": "x.txt", "study": "S", "city": "Kota Padang", "framework": "perry6",
        "section_heading": None, "label": "koordinasi", "speaker": None, "agency": None,
        "text": "Koordinasi antar instansi berjalan dengan baik.", "kind": "researcher_narrative",
        "valence": "positive",
    }
    return base | fields


def write_gold(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- metrics


def test_krippendorff_alpha_two_coders_by_hand():
    # Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 4; n_a = 3, n_b = 5, n = 8.
    # alpha = 1 - (n - 1) * (o_ab + o_ba) / (2 * n_a * n_b) = 1 - 7 * 2 / 30 = 8 / 15.
    units = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
    assert krippendorff_alpha_nominal(units) == pytest.approx(8 / 15)


def test_krippendorff_alpha_reference_example_with_missing_values():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: alpha = 0.743.
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = list(zip(*coders))
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_edge_cases():
    assert krippendorff_alpha_nominal([("a", "a"), ("b", "b")]) == 1.0
    assert math.isnan(krippendorff_alpha_nominal([("a", "a"), ("a", "a")]))


def test_score_against_hand_computed_numbers():
    gold = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "b"]
    result = score(gold, predicted, ["positive"] * 4, ["positive", "negative", "positive", "neutral"])
    assert result.n == 4
    assert result.accuracy == pytest.approx(0.75)
    # p_o = 3/4, p_e = (2/4)(1/4) + (2/4)(3/4) = 1/2, kappa = (3/4 - 1/2) / (1/2) = 1/2
    assert result.kappa == pytest.approx(0.5)
    assert result.alpha == pytest.approx(8 / 15)
    assert result.per_code["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert result.per_code["b"] == {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": 0.8, "support": 2}
    assert result.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert result.valence_accuracy == pytest.approx(0.5)
    assert result.confusion == [[1, 1], [0, 2]]


def test_uncoded_predictions_count_as_a_label():
    result = score(["a", "b"], ["a", UNCODED], ["neutral"] * 2, ["neutral"] * 2)
    assert result.labels == ["a", "b", UNCODED]
    assert result.per_code[UNCODED]["f1"] == 0.0 and result.per_code["b"]["recall"] == 0.0
    assert result.macro_f1 == pytest.approx(1 / 3)


def test_score_refuses_unequal_lengths():
    with pytest.raises(ValueError, match="equal length"):
        score(["a"], ["a", "b"], ["neutral"], ["neutral"])


# --------------------------------------------------------------------------- gold reader


def test_reads_the_shared_dev_gold():
    if not DEV_GOLD.is_file():
        pytest.skip("../shared/gold/dev.jsonl is not present")
    records = read_gold(DEV_GOLD)
    assert len(records) == 50 and len({r.id for r in records}) == 50
    assert {r.framework for r in records} == {"perry6", "tamtanus", "mpp_factors"}
    quote = next(r for r in records if r.kind == "interview_quote")
    assert quote.speaker and quote.section_heading


def test_reads_nulls_as_empty_text_and_skips_blank_lines(tmp_path):
    path = write_gold(tmp_path, [json.dumps(record()), "", json.dumps(record(id="t-2", speaker="Ibu A"))])
    first, second = read_gold(path)
    assert first == GoldRecord(
        id="t-1", framework="perry6", label="koordinasi", text=record()["text"], valence="positive",
        source="x.txt", study="S", city="Kota Padang", kind="researcher_narrative",
    )
    assert second.speaker == "Ibu A"


@pytest.mark.parametrize(
    ("bad_line", "problem"),
    [
        ('{"id": "t-2", ', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        (json.dumps({k: v for k, v in record(id="t-2").items() if k != "text"}), "field 'text' missing"),
        (json.dumps(record(id="t-2", text="  ")), "field 'text' must be non-empty text"),
        (json.dumps(record(id="t-2", label="koordinasii")), "label 'koordinasii' is not a code of perry6"),
        (json.dumps(record(id="t-2", framework="perry7")), "framework 'perry7' is not a codebook"),
        (json.dumps(record(id="t-2", valence="good")), "valence must be one of positive, negative, neutral"),
        (json.dumps(record(id="t-2", speaker=3)), "field 'speaker' must be text or null"),
        (json.dumps(record(id="t-1")), "id 't-1' was already used on line 1"),
    ],
)
def test_a_malformed_line_names_file_and_line(tmp_path, bad_line, problem):
    path = write_gold(tmp_path, [json.dumps(record()), bad_line])
    with pytest.raises(GoldError) as caught:
        read_gold(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ") and problem in message and "\n" not in message


def test_missing_or_empty_gold_file(tmp_path):
    with pytest.raises(GoldError, match="file not found"):
        read_gold(tmp_path / "nope.jsonl")
    with pytest.raises(GoldError, match="no records"):
        read_gold(write_gold(tmp_path, [""]))


# --------------------------------------------------------------------------- evaluate()


class FixedCoder:
    """A stand-in model for testing evaluate(): answers one code for every text."""

    def __init__(self, codebook: Codebook, code: str) -> None:
        self.codebook = codebook
        self.code = code

    @property
    def model_id(self) -> str:
        return f"fixed:{self.code}"

    def explain(self, texts):
        return [Prediction(self.code, 1.0, "neutral", reason="fixed") for _ in texts]


def gold_records() -> list[GoldRecord]:
    rows = [
        ("g1", "perry6", "koordinasi", "Koordinasi antar instansi melalui rapat rutin.", "neutral"),
        ("g2", "perry6", "integrasi", "Semua layanan ada di satu gedung.", "neutral"),
        ("g3", "tamtanus", "sinkronisasi", "Data BPJS belum sinkron dengan Dukcapil.", "negative"),
    ]
    return [GoldRecord(id=i, framework=f, label=l, text=t, valence=v) for i, f, l, t, v in rows]


def test_evaluate_with_the_lexicon_scores_each_framework():
    result = evaluate(gold_records(), coder_factory("lexicon"))
    assert set(result.per_framework) == {"perry6", "tamtanus"}
    assert result.overall.accuracy == 1.0 and result.overall.n == 3
    assert result.overall.labels == ["perry6.integrasi", "perry6.koordinasi", "tamtanus.sinkronisasi"]
    assert result.models["perry6"].startswith("lexicon:perry6@")
    assert [p["predicted"] for p in result.predictions] == ["koordinasi", "integrasi", "sinkronisasi"]


def test_evaluate_takes_any_coder_factory_and_skips_mismatched_frameworks():
    def only_perry6(codebook: Codebook) -> FixedCoder:
        if codebook.id != "perry6":
            raise ModelMismatch(f"codes perry6, not {codebook.id}")
        return FixedCoder(codebook, "koordinasi")

    result = evaluate(gold_records(), only_perry6)
    assert result.skipped == {"tamtanus": "codes perry6, not tamtanus"}
    assert result.overall.n == 2 and result.overall.accuracy == 0.5
    assert result.per_framework["perry6"].per_code["integrasi"]["recall"] == 0.0


def test_a_model_folder_for_another_codebook_is_a_mismatch(tmp_path):
    from pipeline.model_folder import FORMAT_VERSION, MANIFEST

    manifest = {"format_version": FORMAT_VERSION, "kind": "ensemble", "codebook": {"id": "tamtanus"},
                "encoder": {}, "embedding": {}, "arrays": "", "training_texts": ""}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelMismatch, match="the model codes 'tamtanus', not 'perry6'"):
        coder_factory(str(tmp_path))(load_codebook("perry6"))


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="no-such-model: not a model name"):
        coder_factory("no-such-model")


# --------------------------------------------------------------------------- wogcode evaluate


def test_cli_evaluate_prints_and_writes_json(tmp_path, capsys):
    lines = [json.dumps(record(id=r.id, framework=r.framework, label=r.label, text=r.text, valence=r.valence))
             for r in gold_records()]
    gold = write_gold(tmp_path, lines)
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(gold), "--model", "lexicon", "--json", str(out), "--errors"]) == 0
    printed = capsys.readouterr().out
    assert "== perry6" in printed and "macro-F1=1.000" in printed and "confusion" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"macro_f1", "kappa", "alpha", "accuracy", "valence_accuracy", "n", "per_code", "per_framework"} <= set(data)
    assert data["n"] == 3 and data["macro_f1"] == 1.0
    assert data["per_framework"]["tamtanus"]["per_code"]["sinkronisasi"]["support"] == 1


def test_cli_evaluate_bad_gold_is_one_line(tmp_path, capsys):
    gold = write_gold(tmp_path, ["{oops"])
    assert main(["evaluate", str(gold)]) == 2
    assert capsys.readouterr().err.strip() == f"wogcode: error: {gold}:1: invalid JSON (Expecting property name enclosed in double quotes at column 2)"


def test_lexicon_on_the_dev_gold_beats_chance():
    if not DEV_GOLD.is_file():
        pytest.skip("../shared/gold/dev.jsonl is not present")
    result = evaluate(read_gold(DEV_GOLD), coder_factory("lexicon"))
    assert result.overall.n == 50
    assert result.overall.kappa > 0.6 and result.overall.valence_accuracy > 0.6
    assert load_codebook("perry6").id in result.per_framework


def test_cli_evaluate_uses_the_shipped_default_models_without_model(tmp_path, capsys):
    lines = [json.dumps(record(id=r.id, framework=r.framework, label=r.label, text=r.text, valence=r.valence))
             for r in gold_records()]
    gold = write_gold(tmp_path, lines)
    assert main(["evaluate", str(gold)]) == 0
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("== perry6")]
    assert headers and "ensemble:perry6" in headers[0] and "/perry6" in headers[0]
