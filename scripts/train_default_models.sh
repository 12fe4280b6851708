#!/usr/bin/env bash
# Train the shipped default models models/{perry6,tamtanus,sudrajat,mpp_factors}/ from what the
# repository and ../shared hold: the sample corpus (its theses give coded units by dimension heading
# and uncoded units from non-findings sections; its transcripts give interviewer turns as uncoded),
# the seed theses, the dev gold file, the spoken-register excerpts in corpora/training/, each
# codebook's own examples, and lexicons/uncoded_examples.yaml
# (read by `wogcode train` itself).  Reproducible: a fixed date goes into the manifests and every
# random step has a fixed seed, so rerunning on the same data and encoder rewrites identical files.
#
#   scripts/train_default_models.sh            # all four codebooks
#   scripts/train_default_models.sh perry6     # just one
#   OUT=/tmp/models scripts/train_default_models.sh   # write elsewhere (e.g. to compare with models/)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
# The shipped models are trained and cross-validated on float32 vectors, whatever the CPU.
export WOGCODE_ENCODER_BACKEND=${WOGCODE_ENCODER_BACKEND:-onnx}
SHARED=${SHARED:-../shared}
CREATED=${CREATED:-2025-06-01}
OUT=${OUT:-models}
CODEBOOKS=("$@")
[ ${#CODEBOOKS[@]} -eq 0 ] && CODEBOOKS=(perry6 tamtanus sudrajat mpp_factors)

args=(--theses corpora/sample --gold corpora/training/spoken_excerpts.jsonl)
[ -d "$SHARED/seeds" ] && args+=(--theses "$SHARED/seeds")
[ -f "$SHARED/gold/dev.jsonl" ] && args+=(--gold "$SHARED/gold/dev.jsonl")

for codebook in "${CODEBOOKS[@]}"; do
    echo "== $codebook"
    "$PYTHON" -m pipeline.cli train --codebook "$codebook" "${args[@]}" --cv study --pseudonymise \
        --created "$CREATED" --out "$OUT/$codebook"
done
du -sh "$OUT"/*/
