"""The run report: one self-contained HTML page a thesis supervisor reads.

The page has the run facts, coded and uncoded counts, two heatmaps of evidence
strength (codes × cities, codes × agencies), valence bars per code, and the
findings per city with verbatim quotes (speaker, file and offsets), plus a
"how to read this" note quoting :data:`pipeline.aggregate.STRENGTH_FORMULA`.

Self-contained: no external CSS, scripts or fonts; plots are inline SVG (text
drawn as paths) made with matplotlib's object API (``Figure``, no pyplot), so
no GUI backend is touched and importing this module changes no global state.
Deterministic: no clock is read (the date comes from ``run_info``) and the SVGs
carry fixed ids and no date, so the same inputs render the same bytes.  Every string from the data is HTML-escaped.
"""

from __future__ import annotations

import html
import io
import os
import re
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.aggregate import (
    MIN_STRENGTH,
    MIN_UNITS,
    STRENGTH_FORMULA,
    evidence_units,
    parse_excerpts,
)
from pipeline.atomic import write_text
from pipeline.codebook import Codebook
from pipeline.schema import CODABLE_KINDS, UNCODED

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn: a run's start-up need not wait for it
    from matplotlib.figure import Figure

#: Valence colours (Okabe-Ito, readable for colour-blind readers) and verdict marks.
VALENCE_COLOURS = {"positive": "#0072B2", "negative": "#D55E00", "neutral": "#BBBBBB"}
VERDICT_MARKS = {"positive": "+", "negative": "−", "mixed": "±", "insufficient": ""}
STRENGTH_CMAP = "YlGnBu"
#: Quotes shown per findings cell.
QUOTES_PER_CELL = 2

#: matplotlib settings for every plot (applied around drawing and saving).
_PLOT_RC = {
    "svg.fonttype": "path",  # glyphs as paths: looks the same on every machine, needs no font
    "text.parse_math": False,  # a "$" in a city name is not TeX
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


# --------------------------------------------------------------------------- helpers


def _e(value: Any) -> str:
    """HTML-escape any value as text."""
    return html.escape("" if value is None else str(value), quote=True)


def _plot_style(name: str) -> Any:
    """rc settings for one plot; the SVG ids are salted by ``name`` so they are fixed and unique per page."""
    import matplotlib

    return matplotlib.rc_context({**_PLOT_RC, "svg.hashsalt": f"wogcode-{name}"})


def _new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure of ``width`` x ``height`` inches (object API: no pyplot, no GUI backend)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _figure_svg(fig: Figure, name: str) -> str:
    """The figure as inline SVG without date, XML prolog or metadata (call inside :func:`_plot_style`)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_e(name)}" class="plot" ', 1)


def _column_label(key: str, city: str) -> str:
    """'Samsat (Kota Malang)': an agency with its city unless the name already says it."""
    return key if not city or city in key else f"{key} ({city})"


def _column_labels(rows: pd.DataFrame) -> list[str]:
    """One label per row key; a name used in several studies of the same city gets its study added."""
    labels = [_column_label(k, c) for k, c in zip(rows["key"], rows["city"])]
    studies: dict[str, set[str]] = {}
    for label, study in zip(labels, rows["study"]):
        studies.setdefault(label, set()).add(study)
    return [f"{label} [{study}]" if len(studies[label]) > 1 else label for label, study in zip(labels, rows["study"])]


def _pivot(rows: pd.DataFrame, codebook: Codebook) -> tuple[list[str], np.ndarray, list[list[str]]]:
    """Column labels, strength matrix (codes × columns) and verdict marks for one level's rows."""
    rows = rows.assign(label=_column_labels(rows))
    columns = sorted(set(rows["label"]))
    strength = np.zeros((len(codebook.codes), len(columns)))
    marks = [["" for _ in columns] for _ in codebook.codes]
    code_index = {code.id: i for i, code in enumerate(codebook.codes)}
    column_index = {label: j for j, label in enumerate(columns)}
    for row in rows.itertuples(index=False):
        i, j = code_index[row.code], column_index[row.label]
        strength[i, j] = row.strength
        marks[i][j] = VERDICT_MARKS.get(row.verdict, "")
    return columns, strength, marks


# --------------------------------------------------------------------------- plots


def heatmap_svg(evidence: pd.DataFrame, level: str, codebook: Codebook) -> str:
    """Strength of each code (rows) per key of ``level`` (columns), verdict marks in the cells; "" if none."""
    rows = evidence[(evidence["level"] == level) & (evidence["codebook"] == codebook.id)]
    if rows.empty:
        return ""
    columns, strength, marks = _pivot(rows, codebook)
    code_names = [code.name for code in codebook.codes]
    rotate = len(columns) > 8
    tick_labels = columns if rotate else [textwrap.fill(c, 12) for c in columns]
    column_inches = 0.62 if rotate else 0.95
    name = f"strength by {level}"
    with _plot_style(name):
        fig = _new_figure(min(14.0, 2.6 + column_inches * len(columns)), 0.9 + 0.36 * len(code_names))
        ax = fig.subplots()
        image = ax.imshow(strength, cmap=STRENGTH_CMAP, vmin=0.0, vmax=1.0, aspect="auto")
        for i in range(strength.shape[0]):
            for j in range(strength.shape[1]):
                value = strength[i, j]
                text = f"{value:.2f}".lstrip("0") + (f" {marks[i][j]}" if marks[i][j] else "") if value else "–"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if value > 0.55 else "#333333")
        ax.set_xticks(range(len(columns)), tick_labels, rotation=40 if rotate else 0,
                      ha="right" if rotate else "center", rotation_mode="anchor")
        ax.set_yticks(range(len(code_names)), code_names)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
        bar.set_label("strength")
        bar.outline.set_visible(False)
        return _figure_svg(fig, name)


def valence_svg(counts: Mapping[tuple[str, str], int], codebook: Codebook) -> str:
    """Stacked horizontal bars per code: positive, negative, neutral evidence units ((code, valence) -> n)."""
    names = [code.name for code in codebook.codes]
    name = "valence per code"
    with _plot_style(name):
        fig = _new_figure(7.6, 0.8 + 0.34 * len(names))
        ax = fig.subplots()
        left = np.zeros(len(names))
        for valence, colour in VALENCE_COLOURS.items():
            values = np.array([counts.get((code.id, valence), 0) for code in codebook.codes], dtype=float)
            ax.barh(names, values, left=left, color=colour, label=valence, height=0.62)
            for y, (x0, width) in enumerate(zip(left, values)):
                if width >= max(3.0, 0.06 * max(1.0, left.max() + values.max())):
                    ax.text(x0 + width / 2, y, f"{width:.0f}", ha="center", va="center", fontsize=7.5,
                            color="#222222" if valence == "neutral" else "white")
            left += values
        ax.invert_yaxis()
        ax.set_xlabel("evidence units")
        ax.tick_params(axis="y", length=0)
        ax.legend(ncols=3, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
        return _figure_svg(fig, name)


# --------------------------------------------------------------------------- what the report counts


@dataclass
class ReportFacts:
    """What the report needs from the unit and coding tables, gathered a chunk at a time.

    Memory grows with documents, informants and theses, never with units.
    """

    codebook: Codebook
    documents: set[str] = field(default_factory=set)
    n_units: int = 0
    models: set[str] = field(default_factory=set)
    n_codable: int = 0  # codable units coded with this codebook
    n_coded: int = 0
    evidence_counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (code, valence) of evidence units
    people: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # city -> informant -> (position, agency)
    theses: dict[str, set[str]] = field(default_factory=dict)  # city -> paths of researcher narrative

    def add(self, units: pd.DataFrame, codings: pd.DataFrame, evidence_frame: pd.DataFrame) -> None:
        """Count one chunk: its units, their codings, and its rows of :func:`evidence_units`."""
        self.documents.update(units["doc_id"])
        self.n_units += len(units)
        mine = codings[codings["codebook"] == self.codebook.id]
        self.models.update(str(model) for model in mine["model"].unique())  # astype(str) would make Arrow strings
        codable = set(units.loc[units["kind"].isin(CODABLE_KINDS), "unit_id"])
        mine = mine[mine["unit_id"].isin(codable)]
        self.n_codable += len(mine)
        self.n_coded += int((mine["code"] != UNCODED).sum())
        self.evidence_counts.update(zip(evidence_frame["code"], evidence_frame["valence"]))
        voices = units[(units["speaker_role"] == "informant") & (units["informant"] != "")]
        voices = voices.drop_duplicates(["city", "informant"])  # the first position and agency given
        for city, informant, position, agency in zip(voices["city"], voices["informant"], voices["position"],
                                                     voices["agency"]):
            self.people.setdefault(city, {}).setdefault(informant, (position, agency))
        narrative = units.loc[units["speaker_role"] == "researcher", ["city", "path"]].drop_duplicates()
        for city, path in zip(narrative["city"], narrative["path"]):
            self.theses.setdefault(city, set()).add(path)


# --------------------------------------------------------------------------- sections


def _fact_text(value: Any) -> Any:
    """Nested run info in one line: lists become counts ({'read': [...10]} -> 'read 10')."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {len(v) if isinstance(v, (list, tuple)) else _fact_text(v)}" for k, v in value.items())
    return value


def _run_facts(facts: ReportFacts, run_info: Mapping[str, Any]) -> str:
    """The run-info box: corpus, counts, model, codebook id/version/hash, date, plus any other run_info keys."""
    codebook = facts.codebook
    shown: dict[str, Any] = {
        "corpus": run_info.get("corpus", ""),
        "documents": run_info.get("documents", len(facts.documents)),
        "units": run_info.get("units", facts.n_units),
        "model": run_info.get("model", ", ".join(sorted(facts.models))),
        "codebook": f"{codebook.id} {codebook.version} (hash {codebook.content_hash})",
        "date": run_info.get("date", ""),
    }
    shown.update({k: _fact_text(v) for k, v in sorted(run_info.items()) if k not in shown})
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in shown.items() if v != "")
    return f'<dl class="facts">{items}</dl>'


def _counts(facts: ReportFacts) -> str:
    """Big numbers: codable units coded for this codebook, coded, uncoded, coded evidence units."""
    share = f"{facts.n_coded / facts.n_codable:.0%}" if facts.n_codable else "–"
    coded_evidence = sum(n for (code, _), n in facts.evidence_counts.items() if code != UNCODED)
    tiles = [
        (facts.n_codable, "codable units", "sentences of interviews and theses given to the model"),
        (facts.n_coded, f"coded ({share})", "given a code of this codebook"),
        (facts.n_codable - facts.n_coded, "uncoded", "greetings, questions, procedure, other topics"),
        (coded_evidence, "coded evidence", "coded units without interviewer turns"),
    ]
    body = "".join(
        f'<div class="tile"><span class="num">{n:,}</span><span class="lab">{_e(label)}</span>'
        f'<span class="hint">{_e(hint)}</span></div>'
        for n, label, hint in tiles
    )
    return f'<div class="tiles">{body}</div>'


def _how_to_read() -> str:
    return f"""
<section class="note">
<h2>How to read this report</h2>
<p><b>Evidence</b> is every sentence an informant said (interview turns and the quotes a thesis
gives) and the researcher's own narrative. Interviewer questions and cited literature never count.
Agency and informant results use the informants' own words only.</p>
<p><b>Strength</b> (0 to 1) says how much independent support a code has. A <i>source</i> is one
informant, or one document for the researcher's narrative. Each source counts at most once, however
often it repeats itself, so one talkative informant cannot outweigh several who agree:</p>
<p class="formula">{_e(STRENGTH_FORMULA)}</p>
<p>One source that says it clearly twice gives 0.39; two such sources 0.63, three 0.78, five 0.92.</p>
<p><b>Verdict</b>: each source votes with its own share of positive statements among its positive
and negative ones. <span class="pill positive">positive</span> when the mean vote is at least 2/3,
<span class="pill negative">negative</span> when at most 1/3, <span class="pill mixed">mixed</span>
in between. <span class="pill insufficient">insufficient</span> with fewer than {MIN_UNITS} units,
strength below {MIN_STRENGTH}, or no positive or negative statement at all.
In the heatmaps, + − ± mark the verdict and – means no evidence.</p>
<p>Everything here comes from an automatic classifier: read the quotes, and check a code in its
context (file and character offsets are given) before you cite it.</p>
</section>"""


def _quote(excerpt: Mapping[str, Any]) -> str:
    """One verbatim quote with who said it and where it is (file:start–end)."""
    speaker = excerpt.get("speaker") or ("researcher" if excerpt.get("speaker_role") == "researcher" else "")
    role = excerpt.get("speaker_role", "")
    who = f"{speaker} ({role})" if speaker and role and role != speaker else speaker or role
    valence = excerpt.get("valence", "neutral")
    return (
        f'<figure class="quote {_e(valence)}"><blockquote>{_e(excerpt.get("text_clean") or excerpt.get("text"))}'
        f'</blockquote><figcaption>— {_e(who)} · <span class="loc">{_e(excerpt.get("path"))}:'
        f'{_e(excerpt.get("start"))}–{_e(excerpt.get("end"))}</span> · <span class="val">{_e(valence)}</span>'
        "</figcaption></figure>"
    )


def _strength_cell(strength: float) -> str:
    return (
        f'<td class="strength"><span class="bar"><span style="width:{strength * 100:.0f}%"></span></span>'
        f"{strength:.2f}</td>"
    )


def _sources_line(facts: ReportFacts, city: str) -> str:
    """Who speaks in this city: informants with position and agency, and the theses."""
    parts = []
    for informant, (position, agency) in sorted(facts.people.get(city, {}).items()):
        detail = ", ".join(x for x in (position, agency) if x)
        parts.append(f"<b>{_e(informant)}</b>" + (f" ({_e(detail)})" if detail else ""))
    theses = sorted(facts.theses.get(city, ()))
    line = "Informants: " + ("; ".join(parts) if parts else "none")
    if theses:
        line += " · Researcher's narrative: " + ", ".join(f'<span class="loc">{_e(p)}</span>' for p in theses)
    return f'<p class="sources">{line}</p>'


def _city_findings(evidence: pd.DataFrame, facts: ReportFacts, codebook: Codebook) -> str:
    """One table per city: code, verdict, strength, units, informants, supporting quotes."""
    rows = evidence[(evidence["level"] == "city") & (evidence["codebook"] == codebook.id)]
    if rows.empty:
        return "<p>The corpus has no city metadata, so there are no findings per city.</p>"
    sections = []
    for city, table in rows.groupby("key", sort=True):
        body = []
        for row in table.itertuples(index=False):
            code = codebook.get(row.code)
            name = f"{_e(code.name)}" + (f'<span class="en">{_e(code.name_en)}</span>' if code.name_en else "")
            if row.n_units == 0:
                body.append(
                    f'<tr class="empty"><td class="code">{name}</td><td colspan="5">no evidence</td></tr>'
                )
                continue
            quotes = "".join(_quote(x) for x in parse_excerpts(row.supporting_excerpts)[:QUOTES_PER_CELL])
            body.append(
                f'<tr><td class="code">{name}</td><td><span class="pill {_e(row.verdict)}">{_e(row.verdict)}</span>'
                f'<span class="split">{row.n_positive}+ {row.n_negative}− {row.n_neutral}○</span></td>'
                f"{_strength_cell(row.strength)}<td class=\"n\">{row.n_units}</td>"
                f'<td class="n">{row.n_informants}</td><td class="quotes">{quotes}</td></tr>'
            )
        sections.append(
            f'<section class="city"><h3>{_e(city)}</h3>{_sources_line(facts, city)}'
            '<table class="findings"><colgroup><col class="c-code"><col class="c-verdict"><col class="c-strength">'
            '<col class="c-n"><col class="c-n"><col class="c-quotes"></colgroup>'
            "<thead><tr><th>Code</th><th>Verdict</th><th>Strength</th><th>Units</th><th>Inf.</th>"
            f"<th>Supporting quotes</th></tr></thead><tbody>{''.join(body)}</tbody></table></section>"
        )
    return "".join(sections)


def _figure(title: str, svg: str, caption: str) -> str:
    if not svg:
        return ""
    return (
        f'<section><h2>{_e(title)}</h2><figure class="plot">{svg}'
        f"<figcaption>{_e(caption)}</figcaption></figure></section>"
    )


# --------------------------------------------------------------------------- the page


def render_report(
    units: pd.DataFrame,
    codings: pd.DataFrame,
    evidence: pd.DataFrame,
    codebook: Codebook,
    run_info: Mapping[str, Any],
) -> str:
    """The whole report as one HTML string (see the module docstring)."""
    facts = ReportFacts(codebook)
    facts.add(units, codings, evidence_units(units, codings, codebook))
    return render_report_facts(facts, evidence, run_info)


def render_report_facts(facts: ReportFacts, evidence: pd.DataFrame, run_info: Mapping[str, Any]) -> str:
    """The report from facts gathered a chunk at a time (a run) and the evidence table."""
    codebook = facts.codebook
    title = f"{codebook.name}: coding report"
    parts: Sequence[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        f'<header><p class="eyebrow">wogcode · {_e(codebook.id)}</p><h1>{_e(codebook.name)}</h1>',
        f'<p class="lead">{_e(run_info.get("corpus", ""))}</p></header>',
        _run_facts(facts, run_info),
        _counts(facts),
        _how_to_read(),
        _figure(
            "Strength by city",
            heatmap_svg(evidence, "city", codebook),
            "Colour: strength of the evidence (all voices). Marks: verdict (+ positive, − negative, ± mixed).",
        ),
        _figure(
            "Strength by agency",
            heatmap_svg(evidence, "agency", codebook),
            "Informants' own words only, grouped by the agency they work for.",
        ),
        _figure(
            "Valence per code",
            valence_svg(facts.evidence_counts, codebook),
            "Evidence units per code and valence, all cities together.",
        ),
        "<section><h2>Findings per city</h2>",
        '<p class="legend">Per city and code: the verdict with the count of positive (+), negative (−) and '
        "neutral (○) evidence units, the strength, the number of evidence units and of distinct informants "
        "(Inf.), and two quotes that support the verdict.</p>",
        _city_findings(evidence, facts, codebook),
        "</section>",
        f'<footer>Generated by wogcode. Codebook {_e(codebook.id)} {_e(codebook.version)}, '
        f"hash {_e(codebook.content_hash)}.</footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(html_text: str, path: str | os.PathLike[str]) -> None:
    """Write the report atomically (UTF-8)."""
    write_text(path, html_text)


CSS = """
:root { --ink:#1f2328; --muted:#656d76; --line:#d8dee4; --soft:#f6f8fa; --pos:#0072B2; --neg:#D55E00; }
* { box-sizing: border-box; }
html { font-size: 15px; }
body { margin: 0; color: var(--ink); background: #fff;
  font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif;
  line-height: 1.5; }
main { max-width: 60rem; margin: 0 auto; padding: 2.5rem 2rem 4rem; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: .2rem 0 .4rem; }
h2 { font-size: 1.3rem; margin: 2.4rem 0 .8rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.12rem; margin: 2rem 0 .3rem; }
.eyebrow { text-transform: uppercase; letter-spacing: .08em; font-size: .78rem; color: var(--muted); margin: 0; }
.lead { color: var(--muted); margin: 0 0 1.2rem; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .6rem 1.4rem;
  margin: 0; padding: 1rem 1.2rem; background: var(--soft); border: 1px solid var(--line); border-radius: 6px; }
.facts dt { font-size: .72rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.facts dd { margin: 0; font-size: .92rem; overflow-wrap: anywhere; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: .8rem; margin: 1.2rem 0 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; display: flex; flex-direction: column; }
.tile .num { font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile .lab { font-weight: 600; font-size: .9rem; }
.tile .hint { color: var(--muted); font-size: .78rem; line-height: 1.3; margin-top: .2rem; }
.note { margin-top: 2rem; }
.note h2 { margin-top: 0; }
.note { background: #fbfbf8; border-left: 4px solid #c9b458; padding: .2rem 1.2rem .6rem; }
.note h2 { border: 0; padding-top: .9rem; }
.note p { margin: .5rem 0; font-size: .93rem; }
.formula { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: .84rem; background: #fff; border: 1px solid var(--line); padding: .5rem .7rem; border-radius: 4px; }
figure.plot { margin: 0; }
svg.plot { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figure.plot figcaption { color: var(--muted); font-size: .85rem; margin-top: .4rem; }
.legend { font-size: .86rem; color: var(--muted); }
.sources { color: var(--muted); font-size: .86rem; margin: 0 0 .6rem; }
.sources b { color: var(--ink); font-weight: 600; }
table.findings { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: .86rem; }
col.c-code { width: 17%; } col.c-verdict { width: 12%; } col.c-strength { width: 11%; }
col.c-n { width: 6%; } col.c-quotes { width: 48%; }
.findings th { text-align: left; font-size: .72rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); border-bottom: 2px solid var(--line); padding: .4rem .5rem; }
.findings td { vertical-align: top; border-bottom: 1px solid var(--line); padding: .55rem .5rem; }
.findings td.n { text-align: right; font-variant-numeric: tabular-nums; }
.findings th:nth-child(4), .findings th:nth-child(5) { text-align: right; }
.findings td.code { font-weight: 600; }
.findings .en { display: block; font-weight: 400; color: var(--muted); font-size: .78rem; }
.findings tr.empty td { color: #9aa1a8; padding: .3rem .5rem; }
.findings tr.empty td.code, .findings tr.empty .en { font-weight: 400; color: #9aa1a8; }
.split { display: block; color: var(--muted); font-size: .74rem; margin-top: .25rem; white-space: nowrap; }
.strength { font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { display: inline-block; width: 3rem; height: .5rem; background: #e9edf1; border-radius: 3px;
  margin-right: .35rem; vertical-align: middle; overflow: hidden; }
.bar span { display: block; height: 100%; background: #2c7fb8; }
.pill { display: inline-block; padding: .05rem .5rem; border-radius: 999px; font-size: .76rem; font-weight: 600;
  border: 1px solid transparent; }
.pill.positive { background: #e3f0fa; color: #00507f; border-color: #b5d5ee; }
.pill.negative { background: #fbe9df; color: #8f3c00; border-color: #f1c6ad; }
.pill.mixed { background: #f1ecf7; color: #5a3d7a; border-color: #d9cbe9; }
.pill.insufficient { background: #f2f3f5; color: #6b7280; border-color: #dfe2e6; }
figure.quote { margin: 0 0 .55rem; padding-left: .6rem; border-left: 3px solid var(--line); }
figure.quote:last-child { margin-bottom: 0; }
figure.quote.positive { border-color: var(--pos); }
figure.quote.negative { border-color: var(--neg); }
blockquote { margin: 0; font-family: Georgia, "Times New Roman", "DejaVu Serif", serif; font-size: .9rem; }
figure.quote figcaption { color: var(--muted); font-size: .74rem; margin-top: .15rem; overflow-wrap: anywhere; }
.loc { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .72rem; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid var(--line); color: var(--muted);
  font-size: .8rem; }
@media print {
  @page { size: A4; margin: 16mm 14mm; }
  html { font-size: 12px; }
  main { max-width: none; padding: 0; }
  section.city, figure.plot, .note { break-inside: avoid-page; }
  tr { break-inside: avoid; }
}
@media (max-width: 700px) { .tiles { grid-template-columns: repeat(2, 1fr); } main { padding: 1.2rem; } }
"""
