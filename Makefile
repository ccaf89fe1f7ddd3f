# asdlib: `make test` runs the tests, `make book` rebuilds the study as a Jupyter Book.
# Both create the project-local virtual environment (.venv) on first use.
#
#   make book                          quick scale on the synthetic stand-in (default)
#   make book SCALE=smoke MACHINES=fan a tiny build (what the tests do)
#   make book SCALE=paper DATA=/path/to/dcase2022 [TRUTH=/path/to/evaluator]
#   make -j 2 book                     independent notebook runs in parallel
#   make clean                         remove the built books, keep data and feature caches

SHELL := /bin/bash
.DELETE_ON_ERROR:
.SUFFIXES:

PYTHON   ?= python3
SCALE    ?= quick
SEED     ?= 0
MACHINES ?= ToyCar ToyTrain bearing fan gearbox slider valve
DATA     ?=
TRUTH    ?=

VENV  := .venv
STAMP := $(VENV)/.installed
PY    := $(VENV)/bin/python

BUILD    ?= build/$(SCALE)$(if $(DATA),-real)
ROOT     := $(if $(DATA),$(DATA),$(BUILD)/data)
TRUTHDIR := $(if $(TRUTH),$(TRUTH),$(if $(DATA),,$(BUILD)/data/eval_truth))
DATASTAMP := $(if $(DATA),$(STAMP),$(BUILD)/data/synth.json)
BOOKSRC  := $(BUILD)/book
SOURCES  := $(wildcard asdlib/*.py asdlib/*/*.py)

# Faster CPU training with jemalloc where it is installed (scripts/ensure-jemalloc.sh installs it).
JEMALLOC := /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
RUN = env $(if $(wildcard $(JEMALLOC)),LD_PRELOAD=$(JEMALLOC) MALLOC_CONF=dirty_decay_ms:-1$(,)muzzy_decay_ms:-1) \
      ASDLIB_CACHE=$(abspath build/cache) PYTHONUNBUFFERED=1
, := ,

.PHONY: test book bench clean distclean env
env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@echo "asdlib: creating the project environment in $(VENV) (first run only)"
	@scripts/ensure-jemalloc.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -c constraints.txt -e .
	@touch $@

test: $(STAMP)
	$(RUN) $(PY) -m pytest -q

# ---------------------------------------------------------------------------------------------
# The book
# ---------------------------------------------------------------------------------------------
MATHJAX := build/mathjax/es5/tex-chtml.js
$(MATHJAX):
	@mkdir -p build/mathjax.tmp
	cd build/mathjax.tmp && npm pack --silent mathjax@3 >/dev/null && tar -xzf mathjax-3*.tgz
	rm -rf build/mathjax && mv build/mathjax.tmp/package build/mathjax && rm -rf build/mathjax.tmp

$(BUILD)/data/synth.json: $(STAMP) $(wildcard asdlib/synth/*.py) asdlib/scales.py asdlib/names.py
	rm -rf $(BUILD)/data
	$(RUN) $(VENV)/bin/asdlib synth $(BUILD)/data --scale $(SCALE) --seed $(SEED) --machines $(MACHINES)

BOOK_PAGES := $(patsubst book/%,$(BOOKSRC)/%,$(wildcard book/*.md book/*.yml book/*.bib))
$(BOOKSRC)/%: book/%
	@mkdir -p $(@D) && cp $< $@

# One executed notebook per chapter notebook; the parameters cell takes these.
NB_PARAMS = -p data_root $(abspath $(ROOT)) -p truth_dir "$(if $(TRUTHDIR),$(abspath $(TRUTHDIR)))" \
            -p scale $(SCALE) -p machines "$(MACHINES)"
CHAPTERS := data
$(BOOKSRC)/%.ipynb: notebooks/%.py $(DATASTAMP) $(SOURCES)
	@mkdir -p $(@D)
	$(VENV)/bin/jupytext --quiet --to ipynb -o $@.src.ipynb $<
	$(RUN) $(VENV)/bin/papermill --no-progress-bar -k python3 $@.src.ipynb $@.tmp.ipynb $(NB_PARAMS)
	@mv $@.tmp.ipynb $@ && rm -f $@.src.ipynb

book: $(BOOK_PAGES) $(foreach c,$(CHAPTERS),$(BOOKSRC)/$(c).ipynb) $(MATHJAX)
	@rm -rf $(BOOKSRC)/_static/mathjax && mkdir -p $(BOOKSRC)/_static && cp -r build/mathjax/es5 $(BOOKSRC)/_static/mathjax
	$(RUN) $(VENV)/bin/jupyter-book build --quiet --warningiserror --keep-going $(BOOKSRC) --path-output $(BUILD)
	@echo "The book: $(abspath $(BUILD))/_build/html/index.html"

bench: $(STAMP)
	$(RUN) $(PY) -m asdlib.bench

clean:
	rm -rf $(BUILD)/book $(BUILD)/_build

distclean:
	rm -rf build $(VENV)
