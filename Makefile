# Two entry points for a fresh machine with only Python 3.11+ (see README.md):
#   make run    the main job on its embedded defaults
#   make test   the whole test suite
# Both create .venv on first use. torch is installed first, pinned to the
# CPU wheel, because anything else that pulls torch would fetch a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The C accelerator (models/_sha256x2.c) is compiled by the install: a change to it reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml models/_sha256x2.c | cksum | cut -d' ' -f1)

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml models/_sha256x2.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[render,test]"
	rm -f $(VENV)/.installed-*
	touch $@

run: $(STAMP)
	$(BIN)/sdhub demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache models/_sha256x2.*.so
