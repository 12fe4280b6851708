"""Researchers check auto-coded units: pick, show, decide, measure agreement, retrain.

    >>> run = load_run("runs/sample")
    >>> store = ReviewStore(run.folder)
    >>> queue = review_queue(run.units, code="koordinasi", order="least_certain", exclude=store.reviewed_ids())
    >>> store.record(queue.unit_id.iloc[0], "integrasi", "negative", "Dina",
    ...              old_code="koordinasi", old_valence="neutral")
    >>> agreement(run.units, store.decisions())["kappa"]

The review store
    Every decision is one line appended to ``reviews.csv`` in the run folder
    (:data:`REVIEW_COLUMNS`), flushed and fsync'ed before ``record`` returns, so
    a kernel that dies loses nothing that was clicked.  The file is never
    rewritten (unless it holds nothing but a header torn by a crash on the very
    first save).  A line cut short by a crash is skipped with a warning when the
    file is read, and the next ``record`` first ends it, so the torn line can
    never swallow a good one.  A unit decided twice keeps its latest decision
    (by time, then by file order).

The Excel path
    :func:`export_sample_csv` writes a queue as a CSV with empty ``new_code`` and
    ``new_valence`` columns; the reviewer fills them in (a code, ``uncoded``,
    or the words ``accept`` / ``reject``) in Excel or LibreOffice, and
    :func:`import_reviewed_csv` records the filled rows in the store.

Retraining
    :func:`write_training_csv` turns the decisions into exactly the CSV that
    ``wogcode train --reviews`` reads (``unit_id, code, valence, text``, one row
    per unit, the latest decision only).

Evidence exploration (notebook 02)
    :func:`evidence_matrix`, :func:`cell_units` (drill down from a heatmap cell
    to its excerpts), :func:`code_studies_by_framework` and
    :func:`crosswalk_shares` (compare studies coded with different frameworks
    on one codebook through ``lexicons/crosswalk.yaml``).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, load_codebook, map_code
from pipeline.findings import outside_findings
from pipeline.schema import CODABLE_KINDS, UNCODED, VALENCES

REVIEW_FILE = "reviews.csv"
REVIEW_COLUMNS: tuple[str, ...] = ("unit_id", "old_code", "old_valence", "new_code", "new_valence", "reviewer", "time")
#: What ``wogcode train --reviews`` reads (pipeline.train.review_examples).
TRAINING_COLUMNS: tuple[str, ...] = ("unit_id", "code", "valence", "text")
#: Columns of the sample a reviewer edits in Excel; the last two are filled in.
SAMPLE_COLUMNS: tuple[str, ...] = (
    "unit_id", "path", "speaker", "informant", "agency", "city",
    "context_before", "text", "context_after", "matched_terms",
    "code", "valence", "score", "new_code", "new_valence",
)
ORDERS: tuple[str, ...] = ("least_certain", "most_certain", "document", "random")
#: Words a reviewer may type in ``new_code`` instead of a code.
ACCEPT_WORDS = frozenset({"accept", "ok"})
REJECT_WORDS = frozenset({"reject"})
#: Roles whose units are never evidence (aggregate.py): not offered for review by default.
NOT_EVIDENCE_ROLES = frozenset({"interviewer", "cited"})
CODING_COLUMNS: tuple[str, ...] = ("codebook", "code", "score", "valence", "model", "evidence")
NO_COUNTERPART = "(no counterpart)"


class ReviewError(ValueError):
    """Review input that cannot be used; one line naming the file and the reason."""


class ReviewWarning(UserWarning):
    """A line of the review store that was skipped (torn by a crash, or edited by hand)."""


# --------------------------------------------------------------------------- the run folder


@dataclass
class Run:
    """A run folder as read for review: coded units, evidence, documents, manifest, codebook."""

    folder: Path
    units: pd.DataFrame
    evidence: pd.DataFrame
    documents: pd.DataFrame
    manifest: dict[str, Any]
    codebook: Codebook


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a folder written by ``wogcode run``; a clear error when it is not one."""
    folder = Path(run_dir)
    needed = ("units.parquet", "evidence.parquet", "documents.parquet", "manifest.json")
    for name in needed:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: not found (is {folder} a folder written by `wogcode run`?)")
    units = pd.read_parquet(folder / "units.parquet")
    columns = ("unit_id", "doc_id", "text", "kind", "code", "score", "valence", "evidence")
    missing = [c for c in columns if c not in units]
    if missing:
        raise ReviewError(f"{folder / 'units.parquet'}: column '{missing[0]}' is missing; run `wogcode run` again")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    codebook = load_codebook(manifest["codebook"]["id"])
    return Run(folder, units, pd.read_parquet(folder / "evidence.parquet"),
               pd.read_parquet(folder / "documents.parquet"), manifest, codebook)


def allowed_codes(codebook: Codebook) -> list[str]:
    """Codes a reviewer may choose: the codebook's, then ``uncoded``."""
    return [*codebook.code_ids, UNCODED]


# --------------------------------------------------------------------------- the review store


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _csv_line(values: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _one_line(value: Any) -> str:
    """A field as a single physical line (a record is always exactly one line of the file)."""
    return " ".join(str(value).split())


def action_of(old_code: str, old_valence: str, new_code: str, new_valence: str) -> str:
    """``accept`` (nothing changed), ``reject`` (a code taken away), or ``recode``."""
    if (new_code, new_valence) == (old_code, old_valence):
        return "accept"
    if new_code == UNCODED and old_code != UNCODED:
        return "reject"
    return "recode"


class ReviewStore:
    """The append-only log of review decisions, ``<run>/reviews.csv``."""

    def __init__(self, run_dir: str | os.PathLike[str], codes: Iterable[str] | None = None) -> None:
        """``codes``: the codes a decision may use (default: the run's codebook, read from its manifest)."""
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / REVIEW_FILE
        if codes is None:
            manifest = self.run_dir / "manifest.json"
            if manifest.is_file():
                codebook_id = json.loads(manifest.read_text(encoding="utf-8"))["codebook"]["id"]
                codes = allowed_codes(load_codebook(codebook_id))
        self.codes = list(codes) if codes is not None else None

    def record(
        self,
        unit_id: str,
        new_code: str,
        new_valence: str,
        reviewer: str,
        old_code: str,
        old_valence: str,
        time: str | None = None,
    ) -> dict[str, str]:
        """Append one decision and make it durable (flush + fsync) before returning it."""
        row = {
            "unit_id": _one_line(unit_id), "old_code": _one_line(old_code), "old_valence": _one_line(old_valence),
            "new_code": _one_line(new_code), "new_valence": _one_line(new_valence),
            "reviewer": _one_line(reviewer), "time": time or _now(),
        }
        self._check(row)
        if _parse_time(row["time"]) is None:
            raise ReviewError(f"{self.path}: time '{row['time']}' is not an ISO date-time")
        new_file = not self._has_header()
        with self.path.open("w" if new_file else "a", encoding="utf-8", newline="") as handle:
            if new_file:
                handle.write(_csv_line(REVIEW_COLUMNS))
            elif not self._ends_with_newline():
                handle.write("\n")  # seal a line torn by a crash so it cannot absorb this one
            handle.write(_csv_line([row[c] for c in REVIEW_COLUMNS]))
            handle.flush()
            os.fsync(handle.fileno())
        if new_file:
            _fsync_folder(self.run_dir)
        return row

    def _check(self, row: Mapping[str, str]) -> None:
        """Refuse a decision that could not be used later."""
        if not row["unit_id"]:
            raise ReviewError(f"{self.path}: a decision needs a unit_id")
        if not row["reviewer"]:
            raise ReviewError(f"{self.path}: a decision needs the reviewer's name")
        if row["new_valence"] not in VALENCES:
            raise ReviewError(f"{self.path}: valence must be one of {', '.join(VALENCES)}, not '{row['new_valence']}'")
        if self.codes is not None and row["new_code"] not in self.codes:
            raise ReviewError(f"{self.path}: code '{row['new_code']}' is not one of {', '.join(self.codes)}")

    def _has_header(self) -> bool:
        """Whether the file exists with at least its header line complete (a torn header is no file)."""
        if not self.path.is_file():
            return False
        with self.path.open("rb") as handle:
            return b"\n" in handle.read(len(_csv_line(REVIEW_COLUMNS)) + 8)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"

    def rows(self) -> pd.DataFrame:
        """Every readable decision in file order; torn or malformed lines are skipped with a warning."""
        if not self.path.is_file():
            return pd.DataFrame(columns=[*REVIEW_COLUMNS, "line"])
        text = self.path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
        lines = text.split("\n")
        complete, last = lines[:-1], lines[-1]  # ``last`` is "" unless the file ends mid-line
        if not complete:  # empty, or a header torn by a crash on the first decision
            return pd.DataFrame(columns=[*REVIEW_COLUMNS, "line"])
        header = next(csv.reader([complete[0]]))
        if tuple(header) != REVIEW_COLUMNS:
            raise ReviewError(f"{self.path}: line 1 must be the header {','.join(REVIEW_COLUMNS)}")
        records = []
        for number, line in enumerate(complete[1:], start=2):
            record = self._parse(line, number)
            if record is not None:
                records.append(record)
        if last:
            warnings.warn(
                f"{self.path}: line {len(lines)} is incomplete (the kernel stopped while saving?); ignored",
                ReviewWarning, stacklevel=2,
            )
        return pd.DataFrame(records, columns=[*REVIEW_COLUMNS, "line"])

    def _parse(self, line: str, number: int) -> dict[str, Any] | None:
        """One line as a decision, or None (with a warning) when it is unusable."""
        if not line.strip():
            return None
        values = next(csv.reader([line]))
        problem = ""
        if len(values) != len(REVIEW_COLUMNS):
            problem = f"has {len(values)} field(s), not {len(REVIEW_COLUMNS)}"
        else:
            record = dict(zip(REVIEW_COLUMNS, values))
            if not record["unit_id"] or record["new_valence"] not in VALENCES:
                problem = "has no unit_id or an unknown valence"
            elif _parse_time(record["time"]) is None:
                problem = f"has an unreadable time '{record['time']}'"
        if problem:
            warnings.warn(f"{self.path}: line {number} {problem} (torn by a crash?); ignored", ReviewWarning,
                          stacklevel=3)
            return None
        return {**record, "line": number}

    def decisions(self) -> pd.DataFrame:
        """The current decision per unit (the latest by time, then by line), oldest first, with an ``action``."""
        rows = self.rows()
        if rows.empty:
            return pd.DataFrame(columns=[*REVIEW_COLUMNS, "action"])
        rows = rows.assign(_time=rows["time"].map(_parse_time))
        rows = rows.sort_values(["_time", "line"], kind="stable").drop_duplicates("unit_id", keep="last")
        actions = [action_of(*values) for values in
                   zip(rows["old_code"], rows["old_valence"], rows["new_code"], rows["new_valence"])]
        return rows.assign(action=actions)[[*REVIEW_COLUMNS, "action"]].reset_index(drop=True)

    def reviewed_ids(self) -> set[str]:
        """Units that already have a decision."""
        return set(self.decisions()["unit_id"])

    def decide(
        self, unit: Mapping[str, Any] | pd.Series, new_code: str, new_valence: str, reviewer: str
    ) -> dict[str, str]:
        """Record a decision on a unit row (its machine code and valence are the old ones)."""
        return self.record(str(unit["unit_id"]), new_code, new_valence, reviewer,
                           old_code=str(unit["code"]), old_valence=str(unit["valence"]))


def _parse_time(value: str) -> dt.datetime | None:
    """An ISO time as an aware UTC datetime, or None."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _fsync_folder(folder: Path) -> None:
    """Make a new file's directory entry durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- choosing what to review


def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    return {value} if isinstance(value, str) else set(value)


def review_queue(
    units: pd.DataFrame,
    code: str | Iterable[str] | None = None,
    valence: str | Iterable[str] | None = None,
    score_band: tuple[float, float] | None = None,
    informant: str | Iterable[str] | None = None,
    agency: str | Iterable[str] | None = None,
    city: str | Iterable[str] | None = None,
    order: str = "least_certain",
    exclude: Iterable[str] = (),
    evidence_only: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """The units to review, filtered and ordered.

    Only codable units; with ``evidence_only`` (default) no interviewer prompts
    or cited literature, the units that never count as evidence.  Filters take
    one value or several; ``score_band=(low, high)`` keeps ``low <= score <= high``
    (the score is the model's confidence in its decision).  ``order``:
    ``least_certain`` (lowest score first: what most needs a human),
    ``most_certain``, ``document`` (reading order), ``random`` (with ``seed``:
    use it when the sample is meant to estimate agreement without bias).
    ``exclude``: unit ids to leave out, e.g. ``store.reviewed_ids()``.
    """
    if order not in ORDERS:
        raise ReviewError(f"order must be one of {', '.join(ORDERS)}, not '{order}'")
    keep = units["kind"].isin(CODABLE_KINDS) & ~units["unit_id"].isin(set(exclude))
    if evidence_only and "speaker_role" in units:
        keep &= ~units["speaker_role"].isin(NOT_EVIDENCE_ROLES)
    if evidence_only:
        keep &= ~outside_findings(units)
    for column, wanted in (("code", code), ("valence", valence), ("informant", informant),
                           ("agency", agency), ("city", city)):
        values = _as_set(wanted)
        if values is not None:
            keep &= units[column].isin(values)
    if score_band is not None:
        low, high = score_band
        keep &= units["score"].between(low, high)
    queue = units[keep]
    if order == "random":
        queue = queue.sample(frac=1.0, random_state=seed)
    elif order == "document":
        queue = queue.sort_values(["path", "start"], kind="stable")
    else:
        queue = queue.sort_values(["score", "path", "start"], ascending=[order == "least_certain", True, True],
                                  kind="stable")
    return queue.reset_index(drop=True)


# --------------------------------------------------------------------------- showing a unit


def unit_row(units: pd.DataFrame, unit_id: str) -> pd.Series:
    """The row of ``unit_id``; a clear error when the run has no such unit."""
    found = units[units["unit_id"] == unit_id]
    if found.empty:
        raise ReviewError(f"unit '{unit_id}' is not in this run")
    return found.iloc[0]


def context(units: pd.DataFrame, unit_id: str, window: int = 2) -> pd.DataFrame:
    """The unit and up to ``window`` units before and after it in its document (column ``is_target``)."""
    target = unit_row(units, unit_id)
    document = units[units["doc_id"] == target["doc_id"]].sort_values("start", kind="stable").reset_index(drop=True)
    position = int(np.flatnonzero(document["unit_id"].to_numpy() == unit_id)[0])
    around = document.iloc[max(0, position - window): position + window + 1]
    return around.assign(is_target=around["unit_id"] == unit_id).reset_index(drop=True)


def evidence_of(unit: Mapping[str, Any]) -> dict[str, Any]:
    """A unit's evidence JSON as a dict (scores, terms, neighbours, valence_cues, reason)."""
    raw = unit.get("evidence") or "{}"
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    return {"scores": {}, "terms": [], "neighbours": [], "valence_cues": [], "reason": "", **data}


def highlight_terms(text: str, terms: Iterable[Mapping[str, Any]]) -> str:
    """``text`` as escaped HTML with each matched term's span (``start``/``end`` offsets) in ``<mark>``.

    Overlapping spans are merged; spans outside the text are ignored.
    """
    spans = sorted(
        (int(t["start"]), int(t["end"]), str(t.get("code", "")))
        for t in terms
        if 0 <= int(t["start"]) < int(t["end"]) <= len(text)
    )
    merged: list[list[Any]] = []
    for start, end, code in spans:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] |= {code}
        else:
            merged.append([start, end, {code}])
    parts, cursor = [], 0
    for start, end, codes in merged:
        parts.append(html.escape(text[cursor:start]))
        title = html.escape(", ".join(sorted(c for c in codes if c)), quote=True)
        parts.append(f'<mark title="{title}">{html.escape(text[start:end])}</mark>')
        cursor = end
    parts.append(html.escape(text[cursor:]))
    return "".join(parts)


def _score_bars(scores: Mapping[str, float], chosen: str) -> str:
    rows = []
    for code, value in sorted(scores.items(), key=lambda item: -item[1]):
        width = int(round(max(0.0, min(1.0, float(value))) * 120))
        weight = "bold" if code == chosen else "normal"
        rows.append(
            f'<tr><td style="text-align:left;padding:1px 8px 1px 0;font-weight:{weight}">{html.escape(code)}</td>'
            f'<td style="text-align:left;white-space:nowrap">{float(value):.2f} '
            f'<div style="background:#4c78a8;height:10px;width:{width}px;display:inline-block"></div></td></tr>'
        )
    return "<table>" + "".join(rows) + "</table>" if rows else "<p><i>no scores</i></p>"


def _neighbour_list(neighbours: Sequence[Mapping[str, Any]]) -> str:
    if not neighbours:
        return ("<p><i>no nearest training examples (the lexicon model has none; "
                "its evidence is the matched terms)</i></p>")
    items = "".join(
        f"<li>{html.escape(str(n.get('text', '')))} <small>({html.escape(str(n.get('code', '')))}, "
        f"similarity {float(n.get('similarity', 0.0)):.2f})</small></li>"
        for n in neighbours
    )
    return f"<ol>{items}</ol>"


def _who(unit: Mapping[str, Any]) -> str:
    parts = [unit.get("speaker") or unit.get("speaker_role") or "", unit.get("agency") or "", unit.get("city") or ""]
    return " · ".join(html.escape(str(p)) for p in parts if p)


def unit_html(units: pd.DataFrame, unit_id: str, window: int = 2, decision: Mapping[str, Any] | None = None) -> str:
    """One unit for a reviewer: its context with the unit in bold and its matched terms marked,
    the machine's code, valence and score, the score per code, the reason and the nearest training examples."""
    unit = unit_row(units, unit_id)
    evidence = evidence_of(unit)
    lines = []
    for row in context(units, unit_id, window).itertuples(index=False):
        who = html.escape(str(row.speaker)) + ": " if row.speaker else ""
        if row.is_target:
            body = highlight_terms(str(row.text), evidence["terms"])
            lines.append(f'<p style="margin:4px 0;padding:4px;border-left:4px solid #4c78a8;background:#f3f6fa">'
                         f"<b>{who}{body}</b></p>")
        else:
            lines.append(f'<p style="margin:2px 0;color:#777">{who}{html.escape(str(row.text))}</p>')
    reviewed = ""
    if decision is not None:
        reviewed = (f'<p style="color:#b35c00">already reviewed by {html.escape(str(decision["reviewer"]))}: '
                    f"{html.escape(str(decision['new_code']))} / {html.escape(str(decision['new_valence']))}</p>")
    return (
        '<div style="font-family:sans-serif;max-width:60em">'
        f'<p style="color:#555;margin:0"><code>{html.escape(str(unit["unit_id"]))}</code> · '
        f'{html.escape(str(unit.get("path", "")))} · {_who(unit)}<br>'
        f'<small>{html.escape(str(unit.get("section", "")))}'
        "</small></p>"
        + "".join(lines)
        + f'<p style="margin:6px 0">machine: <b>{html.escape(str(unit["code"]))}</b>, '
        f'{html.escape(str(unit["valence"]))}, score {float(unit["score"]):.2f} — '
        f'<i>{html.escape(str(evidence["reason"]))}</i></p>'
        + reviewed
        + '<div style="display:flex;gap:2em"><div><b>score per code</b>'
        + _score_bars(evidence["scores"], str(unit["code"]))
        + "</div><div><b>nearest training examples</b>"
        + _neighbour_list(evidence["neighbours"])
        + "</div></div></div>"
    )


# --------------------------------------------------------------------------- agreement


def agreement(units: pd.DataFrame, decisions: pd.DataFrame) -> dict[str, Any]:
    """How far the machine (``units``' code and valence) agrees with the reviewers' decisions.

    Returns ``n`` (decided units found in ``units``), ``accuracy``, ``kappa``
    (Cohen's, None when undefined), ``alpha`` (Krippendorff's), ``valence_agreement``,
    ``per_code`` (precision/recall/F1/support of the machine, reviewer as truth),
    ``confusion`` (rows: reviewer, columns: machine) and ``not_in_run``.
    Uses :func:`pipeline.evaluate.score`.
    """
    from pipeline.evaluate import score

    joined = decisions.merge(units[["unit_id", "code", "valence"]], on="unit_id", how="inner")
    result: dict[str, Any] = {
        "n": len(joined), "accuracy": None, "kappa": None, "alpha": None, "valence_agreement": None,
        "per_code": pd.DataFrame(columns=["precision", "recall", "f1", "support"]),
        "confusion": pd.DataFrame(), "not_in_run": len(decisions) - len(joined),
    }
    if joined.empty:
        return result
    scores = score(list(joined["new_code"]), list(joined["code"]), list(joined["new_valence"]), list(joined["valence"]))
    confusion = pd.DataFrame(scores.confusion, index=scores.labels, columns=scores.labels)
    confusion.index.name, confusion.columns.name = "reviewer", "machine"
    plain = scores.to_dict()
    result.update(
        accuracy=plain["accuracy"], kappa=plain["kappa"], alpha=plain["alpha"],
        valence_agreement=plain["valence_accuracy"],
        per_code=pd.DataFrame(scores.per_code).T.round(3).astype({"support": int}), confusion=confusion,
    )
    return result


def agreement_line(result: Mapping[str, Any]) -> str:
    """One line for the terminal or a notebook."""
    if not result["n"]:
        return "no reviewed unit yet"

    def show(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (f"{result['n']} reviewed unit(s): machine = reviewer in {show(result['accuracy'])} of them, "
            f"Cohen's kappa {show(result['kappa'])}, valence agreement {show(result['valence_agreement'])}")


def agreement_table(codings: Mapping[str, pd.DataFrame], decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per model (name -> its coded units): n, accuracy, kappa, alpha, valence agreement on decided units."""
    rows = {}
    for name, coded in codings.items():
        result = agreement(coded, decisions)
        rows[name] = {key: result[key] for key in ("n", "accuracy", "kappa", "alpha", "valence_agreement")}
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------- the Excel path


def _neighbour_texts(units: pd.DataFrame, queue: pd.DataFrame, window: int) -> tuple[list[str], list[str]]:
    """The text of up to ``window`` units before and after each queued unit."""
    before, after = [], []
    for unit_id in queue["unit_id"]:
        around = context(units, unit_id, window)
        position = int(np.flatnonzero(around["is_target"].to_numpy())[0])
        before.append(" / ".join(_one_line(t) for t in around["text"].iloc[:position]))
        after.append(" / ".join(_one_line(t) for t in around["text"].iloc[position + 1:]))
    return before, after


def export_sample_csv(queue: pd.DataFrame, path: str | os.PathLike[str], units: pd.DataFrame | None = None,
                      window: int = 1) -> Path:
    """Write ``queue`` for review in a spreadsheet: context, matched terms, the machine's coding,
    and empty ``new_code`` / ``new_valence`` columns.  UTF-8 with a BOM, so Excel shows Indonesian text right.

    ``units`` (the whole run) gives the context columns; without it they stay empty.
    """
    target = Path(path)
    sample = queue.copy()
    if units is not None and not sample.empty:
        sample["context_before"], sample["context_after"] = _neighbour_texts(units, sample, window)
    terms = [", ".join(dict.fromkeys(str(t["term"]) for t in evidence_of(row)["terms"]))
             for row in sample.to_dict("records")]
    sample = sample.assign(matched_terms=terms, new_code="", new_valence="", text=sample["text"].map(_one_line))
    for column in SAMPLE_COLUMNS:
        if column not in sample:
            sample[column] = ""
    from pipeline.atomic import write_with

    write_with(target, lambda tmp: sample[list(SAMPLE_COLUMNS)].to_csv(tmp, index=False, encoding="utf-8-sig"))
    return target


def _read_spreadsheet_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Rows of a CSV saved by Excel or LibreOffice: UTF-8 (BOM or not) or cp1252; comma, semicolon or tab."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    lines = text.splitlines()
    if lines and lines[0].lower().startswith("sep="):  # Excel's own delimiter hint
        text = "\n".join(lines[1:])
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    fields = [f.strip() for f in reader.fieldnames or []]
    reader.fieldnames = fields
    return fields, [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def import_reviewed_csv(path: str | os.PathLike[str], store: ReviewStore, reviewer: str) -> int:
    """Record the filled-in rows of an exported sample; returns how many decisions were recorded.

    A row counts when ``new_code`` is filled: a code, ``uncoded``, ``accept``
    (keep the machine's code) or ``reject`` (= ``uncoded``).  An empty
    ``new_valence`` keeps the machine's valence, also on ``reject``: the
    reviewer judged the code, not the tone, and an uncoded unit keeps the
    valence its words carry.
    The machine's code is taken from the run, not from the sheet.  Every row is
    checked before anything is recorded; a row equal to the unit's current
    decision is skipped, so importing the same file twice records nothing new.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: not found")
    fields, rows = _read_spreadsheet_csv(source)
    missing = [c for c in ("unit_id", "new_code", "new_valence") if c not in fields]
    if missing:
        raise ReviewError(f"{source}: column '{missing[0]}' is missing "
                          "(export the sample with `wogcode review export`)")
    run = load_run(store.run_dir)
    by_id = run.units.set_index("unit_id")
    codes = store.codes or allowed_codes(run.codebook)
    current = store.decisions().set_index("unit_id")
    planned = []
    for number, row in enumerate(rows, start=2):
        if not row["new_code"]:
            continue
        unit_id = row["unit_id"]
        if unit_id not in by_id.index:
            raise ReviewError(f"{source}:{number}: unit '{unit_id}' is not in the run {store.run_dir}")
        old_code, old_valence = str(by_id.at[unit_id, "code"]), str(by_id.at[unit_id, "valence"])
        new_code, new_valence = _decoded(row["new_code"], row["new_valence"], old_code, old_valence)
        if new_code not in codes:
            raise ReviewError(f"{source}:{number}: new_code '{row['new_code']}' is not one of "
                              f"{', '.join(codes)}, accept, reject")
        if new_valence not in VALENCES:
            raise ReviewError(f"{source}:{number}: new_valence '{row['new_valence']}' is not one of "
                              f"{', '.join(VALENCES)}")
        if unit_id in current.index and (current.at[unit_id, "new_code"], current.at[unit_id, "new_valence"]) == (
            new_code, new_valence
        ):
            continue
        planned.append((unit_id, new_code, new_valence, old_code, old_valence))
    for unit_id, new_code, new_valence, old_code, old_valence in planned:
        store.record(unit_id, new_code, new_valence, reviewer, old_code, old_valence)
    return len(planned)


def _decoded(new_code: str, new_valence: str, old_code: str, old_valence: str) -> tuple[str, str]:
    """A spreadsheet's ``new_code`` / ``new_valence`` cells as a (code, valence) decision."""
    word = new_code.strip().lower()
    code = old_code if word in ACCEPT_WORDS else UNCODED if word in REJECT_WORDS else new_code.strip()
    valence = new_valence.strip().lower()
    return code, valence or old_valence


# --------------------------------------------------------------------------- retraining


def training_reviews(units: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions as training rows ``unit_id, code, valence, text`` (what ``train --reviews`` reads).

    The text is the unit's ``text_clean`` (PDF artefacts removed) when the run has it, else its verbatim text.
    """
    joined = decisions.merge(units, on="unit_id", how="inner")
    clean = joined["text_clean"].fillna("") if "text_clean" in joined else joined["text"]
    texts = [_one_line(c) or _one_line(t) for c, t in zip(clean, joined["text"])]
    frame = pd.DataFrame({"unit_id": joined["unit_id"], "code": joined["new_code"],
                          "valence": joined["new_valence"], "text": texts})
    return frame[frame["text"] != ""].reset_index(drop=True)


def write_training_csv(units: pd.DataFrame, decisions: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write :func:`training_reviews` as UTF-8 CSV for ``wogcode train --reviews``; returns the path."""
    from pipeline.atomic import write_with

    target = Path(path)
    frame = training_reviews(units, decisions)
    write_with(target, lambda tmp: frame[list(TRAINING_COLUMNS)].to_csv(tmp, index=False, encoding="utf-8"))
    return target


def retrain(run_dir: str | os.PathLike[str], out: str | os.PathLike[str], extra_args: Sequence[str] = ()) -> Path:
    """``wogcode train --codebook <the run's> --reviews <its decisions> --out OUT [extra_args]``; returns OUT.

    The decisions are first written to ``<run>/reviews_for_training.csv``.
    ``extra_args`` are passed on, e.g. ``["--gold", "gold.jsonl", "--cv", "none"]``.
    """
    from pipeline.cli import main

    run = load_run(run_dir)
    decisions = ReviewStore(run.folder).decisions()
    if decisions.empty:
        raise ReviewError(f"{run.folder / REVIEW_FILE}: no decision yet; review some units first")
    corrections = write_training_csv(run.units, decisions, run.folder / "reviews_for_training.csv")
    argv = ["train", "--codebook", run.codebook.id, "--reviews", str(corrections), "--out", str(out), *extra_args]
    status = main(argv)
    if status:
        raise ReviewError(f"wogcode {' '.join(argv)} failed (exit {status}); see the message above")
    return Path(out)


def code_with(units: pd.DataFrame, coder: Any) -> pd.DataFrame:
    """``units`` with their coding columns replaced by ``coder``'s decisions (codable kinds only are coded)."""
    from pipeline.classify.base import code_units

    codings = code_units(coder, units.reset_index(drop=True))
    plain = units.drop(columns=[c for c in CODING_COLUMNS if c in units]).reset_index(drop=True)
    return plain.merge(codings[["unit_id", *CODING_COLUMNS]], on="unit_id", how="left", validate="one_to_one")


def starting_coder(model: str, codebook: Codebook) -> Any:
    """A coder to start a new study from: ``zero-shot`` (the codebook's prototypes, no training),
    ``default`` (the shipped model, else the lexicon), ``lexicon``, or a model folder."""
    if model == "zero-shot":
        from pipeline.classify.embedding import EmbeddingCoder, default_encoder

        return EmbeddingCoder(codebook, encoder=default_encoder())
    from pipeline.classify.registry import load_coder

    return load_coder(model, codebook.id)


# --------------------------------------------------------------------------- exploring the evidence


def evidence_matrix(evidence: pd.DataFrame, level: str, value: str = "strength") -> pd.DataFrame:
    """Codes (rows, codebook order) × keys of ``level`` (columns): ``value`` of each evidence row."""
    rows = evidence[evidence["level"] == level]
    if rows.empty:
        levels = ", ".join(sorted(evidence["level"].unique()))
        raise ReviewError(f"evidence has no rows at level '{level}' (levels: {levels})")
    codes = list(dict.fromkeys(rows["code"]))
    matrix = rows.pivot_table(index="code", columns="key", values=value, aggfunc="sum", sort=True)
    return matrix.reindex(codes).fillna(0)


def cell_units(run: Run, level: str, key: str, code: str, study: str = "", city: str = "") -> pd.DataFrame:
    """The evidence units behind one evidence row (a heatmap cell), best score first.

    The same units :func:`pipeline.aggregate.evidence_table` counted: for
    ``study`` and ``city`` all evidence units of that key, for ``agency`` and
    ``informant`` the informants' own words; give ``study`` and ``city`` to
    tell apart two informants with the same initials in different studies.
    """
    from pipeline.aggregate import evidence_units

    frame = evidence_units(run.units, run.units, run.codebook)
    frame = frame[(frame["code"] == code) & (frame[level] == key)]
    if level in ("agency", "informant"):
        frame = frame[frame["speaker_role"] == "informant"]
    if study:
        frame = frame[frame["study"] == study]
    if city:
        frame = frame[frame["city"] == city]
    return frame.sort_values(["score", "unit_id"], ascending=[False, True]).reset_index(drop=True)


def study_frameworks(documents: pd.DataFrame) -> dict[str, str]:
    """Each study's framework (codebook id) from its documents' metadata; studies without one are left out."""
    if "framework" not in documents:
        return {}
    named = documents[(documents["framework"].fillna("") != "") & (documents["study"].fillna("") != "")]
    return {study: group["framework"].mode().iloc[0] for study, group in named.groupby("study", sort=True)}


def crosswalk_coverage(codebook_id: str, to_codebook: str,
                       relations: Sequence[str] = ("exact", "broader")) -> float:
    """Share of ``codebook_id``'s codes that the crosswalk carries to ``to_codebook`` (1.0 for the same codebook)."""
    codes = load_codebook(codebook_id).code_ids
    return sum(bool(map_code(codebook_id, code, to_codebook, relations)) for code in codes) / len(codes)


def pick_studies_to_compare(frameworks: Mapping[str, str], to_codebook: str,
                            relations: Sequence[str] = ("exact", "broader")) -> list[str]:
    """Two studies with different frameworks that the crosswalk carries best onto ``to_codebook``.

    The pair whose weaker framework has the highest :func:`crosswalk_coverage`
    (ties: by study name); fewer than two studies when no two frameworks differ.
    """
    coverage = {name: crosswalk_coverage(name, to_codebook, relations) for name in set(frameworks.values())}
    studies = sorted(frameworks)
    pairs = [(a, b) for i, a in enumerate(studies) for b in studies[i + 1:] if frameworks[a] != frameworks[b]]
    if not pairs:
        return studies[:2]
    return list(max(pairs, key=lambda pair: min(coverage[frameworks[study]] for study in pair)))  # first of ties


def code_studies_by_framework(run: Run, studies: Iterable[str], model: str = "default",
                              coder_for: Callable[[str], Any] | None = None) -> pd.DataFrame:
    """The units of ``studies``, each study coded with the framework its documents name.

    A study whose framework is the run's codebook keeps the run's coding; the
    others are coded again (``model``: ``default`` = the shipped model of that
    codebook, else its lexicon).  Studies without a framework keep the run's coding.
    """
    from pipeline.classify.registry import load_coder

    frameworks = study_frameworks(run.documents)
    make = coder_for or (lambda codebook_id: load_coder(model, codebook_id))
    parts = []
    for study in studies:
        units = run.units[run.units["study"] == study]
        if units.empty:
            known = ", ".join(sorted(run.units["study"].unique()))
            raise ReviewError(f"{run.folder}: no study named '{study}' (studies: {known})")
        framework = frameworks.get(study, run.codebook.id)
        parts.append(units if framework == run.codebook.id else code_with(units, make(framework)))
    return pd.concat(parts, ignore_index=True)


def crosswalk_shares(units: pd.DataFrame, to_codebook: str,
                     relations: Sequence[str] = ("exact", "broader")) -> pd.DataFrame:
    """Per study, the share of its evidence units that fall under each code of ``to_codebook``.

    Every unit keeps the code of its own codebook (column ``codebook``); the
    crosswalk (:func:`pipeline.codebook.map_code`, only ``relations``) carries it
    to ``to_codebook``.  A code with no counterpart is counted under
    ``(no counterpart)``; a code with two counterparts counts for both.  Shares
    are of the study's evidence units (coded or not), as in the evidence table.
    Columns: study, codebook, to_code, n_units, share, from_codes.
    """
    evidence = units[units["kind"].isin(CODABLE_KINDS) & ~units["speaker_role"].isin(NOT_EVIDENCE_ROLES)
                     & ~outside_findings(units)]
    targets: dict[tuple[str, str], list[str]] = {}
    rows = []
    for (study, codebook_id), group in evidence.groupby(["study", "codebook"], sort=True):
        total = len(group)
        counts: dict[str, int] = {}
        sources: dict[str, set[str]] = {}
        for code, n in group.loc[group["code"] != UNCODED, "code"].value_counts().items():
            key = (codebook_id, code)
            if key not in targets:
                targets[key] = map_code(codebook_id, code, to_codebook, relations) or [NO_COUNTERPART]
            for target in targets[key]:
                counts[target] = counts.get(target, 0) + int(n)
                sources.setdefault(target, set()).add(code)
        listed = [*load_codebook(to_codebook).code_ids, *([NO_COUNTERPART] if NO_COUNTERPART in counts else [])]
        for target in listed:
            rows.append({
                "study": study, "codebook": codebook_id, "to_code": target, "n_units": counts.get(target, 0),
                "share": round(counts.get(target, 0) / total, 4) if total else 0.0,
                "from_codes": ", ".join(sorted(sources.get(target, ()))),
            })
    return pd.DataFrame(rows, columns=["study", "codebook", "to_code", "n_units", "share", "from_codes"])


# --------------------------------------------------------------------------- the widget


class ReviewPanel:
    """ipywidgets to go through a queue: accept, reject or recode, each decision saved at once.

    Build it and ``display(panel)``; the buttons call :meth:`accept`,
    :meth:`reject`, :meth:`recode` and :meth:`skip`, which notebooks and tests
    can also call directly.  Nothing is recorded until a button is pressed.  A
    decision that cannot be saved is shown in red above the unit, never lost silently.
    """

    def __init__(self, units: pd.DataFrame, store: ReviewStore, queue: pd.DataFrame, reviewer: str,
                 codebook: Codebook, window: int = 2) -> None:
        import ipywidgets as w

        self.units, self.store, self.queue, self.reviewer, self.window = units, store, queue, reviewer, window
        self.position = 0
        self.view = w.HTML()
        self.status = w.HTML()
        self.code = w.Dropdown(options=allowed_codes(codebook), description="code")
        self.valence = w.Dropdown(options=list(VALENCES), description="valence")
        self.buttons = {
            "accept": w.Button(description="Accept", button_style="success", icon="check"),
            "reject": w.Button(description="Reject (uncoded)", button_style="danger", icon="times"),
            "recode": w.Button(description="Save recode", button_style="warning", icon="pencil"),
            "back": w.Button(description="Back", icon="arrow-left"),
            "skip": w.Button(description="Skip", icon="arrow-right"),
        }
        self.buttons["accept"].on_click(lambda _: self.accept())
        self.buttons["reject"].on_click(lambda _: self.reject())
        self.buttons["recode"].on_click(lambda _: self.recode(self.code.value, self.valence.value))
        self.buttons["back"].on_click(lambda _: self.move(-1))
        self.buttons["skip"].on_click(lambda _: self.move(1))
        b = self.buttons
        self.widget = w.VBox([
            self.status, self.view,
            w.HBox([b["accept"], b["reject"]]),
            w.HBox([self.code, self.valence, b["recode"]]),
            w.HBox([b["back"], b["skip"]]),
        ])
        self.render()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The live widget in Jupyter, plus a static HTML copy for viewers without widgets (nbconvert, GitHub)."""
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        buttons = "".join(f"<button disabled>{html.escape(b.description)}</button> " for b in self.buttons.values())
        data["text/html"] = (
            f"<div>{self.status.value}</div>{self.view.value}<p>{buttons}<br><i>(a static copy: the buttons work in "
            "a running Jupyter; without one, use the Excel path)</i></p>"
        )
        return data

    @property
    def current(self) -> pd.Series | None:
        """The queued unit on screen (None when the queue is done)."""
        return self.queue.iloc[self.position] if self.position < len(self.queue) else None

    def render(self) -> None:
        """Show the current unit and the progress line."""
        unit = self.current
        done = len(self.store.reviewed_ids() & set(self.queue["unit_id"]))
        shown = self.position + 1 if unit is not None else len(self.queue)
        self.status.value = (f"<b>{shown} / {len(self.queue)}</b> · {done} of this queue reviewed · "
                             f"saved to <code>{html.escape(str(self.store.path))}</code>")
        if unit is None:
            self.view.value = "<p><b>Queue done.</b> Run the agreement cell below.</p>"
            return
        decisions = self.store.decisions().set_index("unit_id")
        decision = decisions.loc[unit["unit_id"]] if unit["unit_id"] in decisions.index else None
        self.view.value = unit_html(self.units, str(unit["unit_id"]), self.window, decision)
        self.code.value = str(unit["code"]) if str(unit["code"]) in self.code.options else UNCODED
        self.valence.value = str(unit["valence"])

    def move(self, step: int) -> None:
        """Go ``step`` units forward (or back) without deciding."""
        self.position = max(0, min(len(self.queue), self.position + step))
        self.render()

    def _decide(self, code: str, valence: str) -> None:
        unit = self.current
        if unit is None:
            return
        try:
            self.store.decide(unit, code, valence, self.reviewer)
        except (ReviewError, OSError) as exc:  # a button callback's exception would only reach the log
            self.status.value = f'<b style="color:#c0392b">not saved: {html.escape(str(exc))}</b>'
            return
        self.move(1)

    def accept(self) -> None:
        """The machine is right: record its code and valence."""
        if self.current is not None:
            self._decide(str(self.current["code"]), str(self.current["valence"]))

    def reject(self) -> None:
        """No code applies: record ``uncoded`` with the machine's valence (the tone was not judged)."""
        if self.current is not None:
            self._decide(UNCODED, str(self.current["valence"]))

    def recode(self, code: str, valence: str) -> None:
        """Record another code and/or valence."""
        self._decide(code, valence)

    def skip(self) -> None:
        """Next unit, nothing recorded."""
        self.move(1)
