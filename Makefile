# The two commands of the README.
.PHONY: setup demo test
setup:
	./scripts/setup.sh

demo: setup
	.venv/bin/wogcode run corpora/sample --codebook perry6 --out runs/sample

test: setup
	.venv/bin/python -m pytest
