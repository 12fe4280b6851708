"""The notebooks run top to bottom against a real run of the sample corpus, so they never rot.

One `wogcode run corpora/sample --model lexicon` per session; each notebook is
executed headless with nbclient, its parameters injected after the cell tagged
``parameters`` (papermill's convention).  Notebooks must be stored without outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = ["01_review_autocoded.ipynb", "02_evidence_explorer.ipynb", "03_train_for_a_new_study.ipynb"]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """The sample corpus coded with the lexicon, as a researcher would make it."""
    out = tmp_path_factory.mktemp("notebooks") / "sample"
    command = [sys.executable, "-m", "pipeline.cli", "run", str(REPO / "corpora" / "sample"),
               "--codebook", "perry6", "--model", "lexicon", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=_env())
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def _env() -> dict[str, str]:
    """The environment of the kernel: the package importable from anywhere."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def execute(name: str, workdir: Path, **parameters: object) -> nbformat.NotebookNode:
    """Run a notebook with ``parameters`` injected after its parameters cell; returns the executed notebook."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [1], f"{name}: the second cell (and only it) must be tagged 'parameters'"
    injected = nbformat.v4.new_code_cell("\n".join(f"{key} = {value!r}" for key, value in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(2, injected)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute(env=_env())
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    """Everything the executed notebook printed or displayed as text/HTML."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert "RUN_DIR" in code[0].source and "WOGCODE_RUN" in code[0].source


def test_review_notebook_runs_and_records_nothing_by_itself(sample_run, tmp_path):
    from pipeline.review import ReviewStore, load_run

    run = load_run(sample_run)
    store = ReviewStore(sample_run)
    queue = run.units[(run.units["code"] == "koordinasi") & (run.units["speaker_role"] == "informant")]
    store.decide(queue.iloc[0], "koordinasi", queue.iloc[0]["valence"], "Dina")
    store.decide(queue.iloc[1], "integrasi", "negative", "Dina")
    before = store.path.read_bytes()

    nb = execute("01_review_autocoded.ipynb", tmp_path, RUN_DIR=str(sample_run), REVIEWER="nbtest")
    shown = text_of(nb)
    assert "2 reviewed unit(s)" in shown and "kappa" in shown
    assert "<mark" in shown  # the first unit, with its matched terms highlighted
    assert "0 decision(s) recorded from review_sample.csv" in shown
    assert store.path.read_bytes() == before  # headless: no click, no decision
    assert (sample_run / "review_sample.csv").is_file()
    widget_views = [o for c in nb.cells for o in c.get("outputs", [])
                    if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert widget_views  # the panel was built and displayed


def outputs_of(nb: nbformat.NotebookNode, marker: str) -> str:
    """The text of the outputs of the first code cell whose source contains ``marker``."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and marker in c.source)
    return text_of(nbformat.v4.new_notebook(cells=[cell]))


def test_evidence_explorer_runs(sample_run, tmp_path):
    nb = execute("02_evidence_explorer.ipynb", tmp_path, RUN_DIR=str(sample_run), COMPARE_MODEL="lexicon")
    kinds = [kind for c in nb.cells for o in c.get("outputs", []) for kind in o.get("data", {})]
    assert kinds.count("image/svg+xml") == 3  # heatmaps by city, agency, informant
    assert kinds.count("image/png") == 3  # two bar charts and the comparison
    assert "unit(s), strength" in outputs_of(nb, "cell_units(run, LEVEL")  # the drill-down
    compared = outputs_of(nb, "crosswalk_shares")
    # the two studies the crosswalk covers best, each coded with its own framework
    assert "WoG MPP Kota Malang 2025" in compared and "tamtanus" in compared
    assert "WoG MPP Kota Padang 2025" in compared and "perry6" in compared


def test_training_notebook_retrains_on_the_reviews(sample_run, tmp_path):
    from pipeline.review import ReviewStore, load_run

    run = load_run(sample_run)
    store = ReviewStore(sample_run)
    coded = run.units[(run.units["code"] != "uncoded") & (run.units["speaker_role"] == "informant")]
    for _, unit in coded.head(6).iterrows():
        store.decide(unit, unit["code"], unit["valence"], "Dina")
    for _, unit in coded.iloc[6:9].iterrows():
        store.decide(unit, "uncoded", "neutral", "Dina")
    model = tmp_path / "model"
    nb = execute("03_train_for_a_new_study.ipynb", tmp_path, RUN_DIR=str(sample_run), NEW_MODEL_DIR=str(model))
    shown = text_of(nb)
    assert (model / "manifest.json").is_file()
    assert "leave-one-study-out" in shown
    assert "start (lexicon:perry6" in shown and "new (model)" in shown
    reviewed = pd.read_csv(sample_run / "reviews_for_training.csv")
    assert len(reviewed) == len(store.decisions())
