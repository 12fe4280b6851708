# The two commands of the README.
.PHONY: setup demo test
setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/wogcode ingest corpora/sample --out runs/demo

test: setup
	.venv/bin/python -m pytest
