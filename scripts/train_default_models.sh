#!/usr/bin/env bash
# Train the shipped default models models/{perry6,tamtanus,sudrajat,mpp_factors}/ from what the
# repository and ../shared hold: seed theses, the sample corpus theses, the dev gold file, and each
# codebook's own examples.  Reproducible: a fixed date goes into the manifests, so rerunning on the
# same data and encoder rewrites identical files.
#
#   scripts/train_default_models.sh            # all four codebooks
#   scripts/train_default_models.sh perry6     # just one
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
SHARED=${SHARED:-../shared}
CREATED=${CREATED:-2025-06-01}
CODEBOOKS=("$@")
[ ${#CODEBOOKS[@]} -eq 0 ] && CODEBOOKS=(perry6 tamtanus sudrajat mpp_factors)

args=(--theses corpora/sample/skripsi)
[ -d "$SHARED/seeds" ] && args+=(--theses "$SHARED/seeds")
[ -f "$SHARED/gold/dev.jsonl" ] && args+=(--gold "$SHARED/gold/dev.jsonl")

for codebook in "${CODEBOOKS[@]}"; do
    echo "== $codebook"
    "$PYTHON" -m pipeline.cli train --codebook "$codebook" "${args[@]}" --cv study \
        --created "$CREATED" --out "models/$codebook"
done
du -sh models/*/
