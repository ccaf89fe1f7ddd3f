# asdlib: `make test` runs the tests, `make book` rebuilds the study as a Jupyter Book.
# Both create the project-local virtual environment (.venv) on first use.
#
#   make book                          quick scale on the synthetic stand-in (default)
#   make book SCALE=smoke MACHINES=fan a tiny build (what the tests do)
#   make book SCALE=paper DATA=/path/to/dcase2022 [TRUTH=/path/to/evaluator]
#   make book CHECKPOINT=best_dev      tables with the paper's checkpoint rule (every run is scored both ways)
#   make book OVERRIDES="train.epochs=20"   scale settings changed for every run
#   make -j 2 book                     independent notebook runs in parallel
#   make book SEEDS=5                  training seeds per system and machine (default 3)
#   make book YEAR=2024 SCALE=smoke    a small book of its own: the stand-in in the DCASE 2024 layout (or 2023,
#                                      2025), pre-trained on every machine, scored per machine (notebooks/years.py)
#   make -j 64 -k book LAUNCH="scripts/slurm-batch.sh --gres=gpu:1 --time=24:00:00"   every run a SLURM job
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
CHECKPOINT ?= last
OVERRIDES  ?=
YEAR       ?= 2022

VENV  := .venv
STAMP := $(VENV)/.installed
PY    := $(VENV)/bin/python

BUILD    ?= build/$(SCALE)$(if $(DATA),-real)$(if $(filter-out 2022,$(YEAR)),-$(YEAR))
CACHE    ?= build/cache
MATHJAX_DIR ?= build/mathjax
ROOT     := $(if $(DATA),$(DATA),$(BUILD)/data)
TRUTHDIR := $(if $(TRUTH),$(TRUTH),$(if $(DATA),,$(BUILD)/data/eval_truth))
DATASTAMP := $(if $(DATA),$(STAMP),$(BUILD)/data/synth.json)
BOOKSRC  := $(BUILD)/book
SOURCES  := $(wildcard asdlib/*.py asdlib/*/*.py)
# what a run's results depend on (the book-only modules are left out, so editing them reruns no training)
RUN_SOURCES := $(filter-out asdlib/study/% asdlib/bench.py asdlib/evaluate.py asdlib/cli.py asdlib/__main__.py asdlib/plots.py asdlib/explain.py \
                 asdlib/bootstrap.py,$(SOURCES))

# Faster CPU training with jemalloc where it is installed (scripts/ensure-jemalloc.sh installs it).
# Threads per job: every core for a serial build, cores / N under -jN (oversubscribed OpenMP threads
# slow PyTorch down many times over).
NPROC    := $(shell nproc 2>/dev/null || echo 1)
JOBS      = $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS)))
THREADS   = $(shell j='$(JOBS)'; j=$${j:-1}; t=$$(( $(NPROC) / j )); echo $$(( t > 0 ? t : 1 )))
JEMALLOC := /usr/lib/x86_64-linux-gnu/libjemalloc.so.2
# LAUNCH: a prefix that hands each run (a system on a machine, all its seeds) to a cluster scheduler,
# e.g. LAUNCH="scripts/slurm-batch.sh --gres=gpu:1 --cpus-per-task=8 --time=24:00:00" (a batch job
# that requeues itself before its time limit) or LAUNCH="srun ..."; make waits for each, reruns only
# stale runs, and a run killed at its time limit resumes from its last checkpoint at the next make.
# Inside a job the threads come from the allocation (scripts/job-threads.sh), not from this host.
LAUNCH   ?=
# The study's training path on a CPU (asdlib.speed): COMPILE=1 compiles the MobileFaceNet trunk (its
# first compilation, some 3 minutes, is kept in $(CACHE)/inductor for every later run), BF16=1 runs the
# forward pass under bfloat16 autocast where the CPU has avx512_bf16 or AMX. COMPILE=0 BF16=0: eager float32.
COMPILE  ?= 1
BF16     ?= 1
SPEED     = ASDLIB_COMPILE=$(COMPILE) ASDLIB_BF16=$(BF16)
LAUNCHED  = $(LAUNCH) $(RUN) $(SPEED) scripts/job-threads.sh
# OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning, so a run keeps its speed
# when another process holds a core (measured: a 2-thread step 18x slower under load without it).
RUN = env $(if $(wildcard $(JEMALLOC)),LD_PRELOAD=$(JEMALLOC) MALLOC_CONF=dirty_decay_ms:-1$(,)muzzy_decay_ms:-1) \
      ASDLIB_CACHE=$(abspath $(CACHE)) TORCHINDUCTOR_CACHE_DIR=$(abspath $(CACHE))/inductor PYTHONUNBUFFERED=1 OMP_NUM_THREADS=$(THREADS) MKL_NUM_THREADS=$(THREADS) \
      OMP_WAIT_POLICY=PASSIVE
, := ,

.PHONY: test test-cluster book book-html study pipeline bench clean distclean env ipynb repository-url
env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@echo "asdlib: creating the project environment in $(VENV) (first run only)"
	@scripts/ensure-jemalloc.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[book,test]"
	@touch $@

test: $(STAMP)
	$(RUN) $(PY) -m pytest -q

# ---------------------------------------------------------------------------------------------
# The book
# ---------------------------------------------------------------------------------------------
MATHJAX := $(MATHJAX_DIR)/es5/tex-chtml.js
$(MATHJAX):
	@rm -rf $(MATHJAX_DIR).tmp && mkdir -p $(MATHJAX_DIR).tmp
	cd $(MATHJAX_DIR).tmp && npm pack --silent mathjax@3 >/dev/null && tar -xzf mathjax-3*.tgz
	rm -rf $(MATHJAX_DIR) && mv $(MATHJAX_DIR).tmp/package $(MATHJAX_DIR) && rm -rf $(MATHJAX_DIR).tmp

$(BUILD)/data/synth.json: $(STAMP) $(wildcard asdlib/synth/*.py) asdlib/scales.py asdlib/names.py
	rm -rf $(BUILD)/data
	$(RUN) $(VENV)/bin/asdlib synth $(BUILD)/data --scale $(SCALE) --seed $(SEED) $(if $(filter-out 2022,$(YEAR)),--year $(YEAR),--machines $(MACHINES))

BOOK_PAGES := $(patsubst book/%,$(BOOKSRC)/%,$(wildcard book/*.md book/*.yml book/*.bib book/*.png))
$(BOOKSRC)/%: book/%
	@mkdir -p $(@D) && cp $< $@

# A kernel that dies before it answers, its port taken by another kernel starting at the same moment
# (jupyter_client picks free ports, then binds them: two notebooks started together can collide;
# seen once in a -j2 build beside the test suite): the notebook is started once more, nothing else is.
KERNEL_RACE := Address already in use|Kernel died before replying to kernel_info
# $(call notebook,LAUNCHER,MESSAGE,PARAMETERS[,FINISH]): execute the jupytext notebook $< into $@ with
# papermill under LAUNCHER (its stderr in $@.log, shown if it fails; the failing notebook kept as
# $@.tmp.ipynb), run FINISH on the executed copy, then put it in place: $@ exists only when complete.
define notebook
	@mkdir -p $(@D)
	@$(VENV)/bin/jupytext --quiet --to ipynb -o $@.src.ipynb $<
	@echo "$(2)"
	@$(1) $(VENV)/bin/papermill --no-progress-bar --log-level WARNING -k python3 $@.src.ipynb $@.tmp.ipynb $(3) \
	  2> $@.log || { grep -qE "$(KERNEL_RACE)" $@.log && echo "$(2): the kernel did not start (a port taken by another); once more" \
	  && $(1) $(VENV)/bin/papermill --no-progress-bar --log-level WARNING -k python3 $@.src.ipynb $@.tmp.ipynb $(3) 2> $@.log; } \
	  || { cat $@.log; echo "failed: $@.tmp.ipynb holds the failing notebook"; exit 1; }
	$(if $(4),@$(4))
	@mv $@.tmp.ipynb $@ && rm -f $@.src.ipynb $@.log
endef
# what every training notebook gets; where it runs (said when it starts)
RUN_PARAMS = -p scale $(SCALE) -p data_root $(abspath $(ROOT)) -r seeds "$(SEED_LIST)" -r overrides "$(OVERRIDES)"
WHERE      = ($(if $(LAUNCH),through $(word 1,$(LAUNCH)),$(THREADS) thread(s)))

# ---------------------------------------------------------------------------------------------
# The study: one papermill run of notebooks/run_system.py per (system, machine), training and
# scoring its SEEDS seeds in one process (STUDY/<system>/<machine>/seed<k>/). A notebook whose
# inputs changed starts afresh; one that was interrupted resumes each seed from its last checkpoint.
# ---------------------------------------------------------------------------------------------
SYSTEMS ?= sec_softmax sec_arcface mtl disent disent_split adversarial ae mn anp
SEEDS   ?= 3
# the systems also scored with averaged weights (Beyond the paper: the top rank's pipeline)
AVERAGED      ?= disent sec_arcface
AVERAGE_RULES ?= average2
# a study folder per seed count and settings: changing either never meets the runs of another
VARIANT := $(SEEDS)seeds$(if $(OVERRIDES),-$(shell echo '$(OVERRIDES)' | md5sum | cut -c1-8))
STUDY   := $(BUILD)/study-$(VARIANT)
RUNS    := $(foreach s,$(SYSTEMS),$(foreach m,$(MACHINES),$(STUDY)/$(s)/$(m).ipynb))

$(STUDY)/%.ipynb: notebooks/run_system.py $(DATASTAMP) $(RUN_SOURCES)
	@if [ -f $@ ]; then rm -rf $(STUDY)/$*; fi
	$(call notebook,$(LAUNCHED),run $* $(WHERE),$(RUN_PARAMS) -p system $(word 1,$(subst /, ,$*)) \
	  -p machine $(word 2,$(subst /, ,$*)) -p truth_dir "$(if $(TRUTHDIR),$(abspath $(TRUTHDIR)))" -p run_dir $(abspath $(STUDY)/$*) \
	  -p rules "last best_dev$(if $(filter $(AVERAGED),$(word 1,$(subst /, ,$*))), $(AVERAGE_RULES))")

study: $(RUNS)

# ---------------------------------------------------------------------------------------------
# Beyond the paper: the top rank's pipeline. Per system of PIPELINE_SYSTEMS and seed, one run
# pre-trained on every machine (PIPELINE/pretrained/<system>/seed<k>), then one fine-tuned run per
# machine (PIPELINE/<system>/<machine>/seed<k>), at the step budget of training from scratch.
# ---------------------------------------------------------------------------------------------
PIPELINE_SYSTEMS ?= $(filter disent sec_arcface,$(SYSTEMS))
PIPELINE   := $(BUILD)/pipeline-$(VARIANT)
PRETRAINED := $(foreach s,$(PIPELINE_SYSTEMS),$(PIPELINE)/pretrained/$(s).ipynb)
FINETUNED  := $(foreach s,$(PIPELINE_SYSTEMS),$(foreach m,$(MACHINES),$(PIPELINE)/$(s)/$(m).ipynb))
SEED_LIST   = $(shell seq -s ' ' 0 $$(($(SEEDS) - 1)))

$(PIPELINE)/pretrained/%.ipynb: notebooks/run_system.py $(DATASTAMP) $(RUN_SOURCES)
	@if [ -f $@ ]; then rm -rf $(PIPELINE)/pretrained/$*; fi
	$(call notebook,$(LAUNCHED),pre-train $* on every machine $(WHERE),$(RUN_PARAMS) -p system $* -p machine all \
	  -p truth_dir "" -p run_dir $(abspath $(PIPELINE)/pretrained/$*) -p stage pretrain)

.SECONDEXPANSION:
$(FINETUNED): $(PIPELINE)/%.ipynb: notebooks/run_system.py $(DATASTAMP) $(RUN_SOURCES) \
              $$(PIPELINE)/pretrained/$$(word 1,$$(subst /, ,$$*)).ipynb
	@if [ -f $@ ]; then rm -rf $(PIPELINE)/$*; fi
	$(call notebook,$(LAUNCHED),fine-tune $* $(WHERE),$(RUN_PARAMS) -p system $(word 1,$(subst /, ,$*)) \
	  -p machine $(word 2,$(subst /, ,$*)) -p truth_dir "$(if $(TRUTHDIR),$(abspath $(TRUTHDIR)))" -p run_dir $(abspath $(PIPELINE)/$*) \
	  -p stage finetune -p pretrained $(abspath $(PIPELINE)/pretrained/$(word 1,$(subst /, ,$*))) \
	  -p rules "last best_dev $(AVERAGE_RULES)")

pipeline: $(FINETUNED)

# ---------------------------------------------------------------------------------------------
# The book's chapters: executed notebooks, each reading the data or the study's result files.
# ---------------------------------------------------------------------------------------------
CHAPTERS       := data systems table2 table3 table4 claims embeddings backends pipeline explanations reproduce
STUDY_CHAPTERS := systems table2 table3 table4 claims embeddings backends pipeline explanations reproduce
NB_PARAMS = -p data_root $(abspath $(ROOT)) -p truth_dir "$(if $(TRUTHDIR),$(abspath $(TRUTHDIR)))" \
            -p scale $(SCALE) -p machines "$(MACHINES)" -p study_dir $(abspath $(STUDY)) \
            -p pipeline_dir $(abspath $(PIPELINE)) \
            -p paper_results $(abspath asdlib/paper_results.csv) -p checkpoint $(CHECKPOINT)
$(BOOKSRC)/%.ipynb: notebooks/%.py $(DATASTAMP) $(SOURCES) asdlib/paper_results.csv
	$(call notebook,$(RUN),chapter $*,$(NB_PARAMS),$(PY) scripts/hide_code.py $@.tmp.ipynb)
$(foreach c,$(STUDY_CHAPTERS),$(BOOKSRC)/$(c).ipynb): $(RUNS)
$(BOOKSRC)/pipeline.ipynb: $(FINETUNED)

# ---------------------------------------------------------------------------------------------
# YEAR=2023|2024|2025: a book of its own on the stand-in in that year's layout. Per system of
# YEAR_SYSTEMS one run pre-trained on every machine (the method when each machine type has one
# section), scored per machine (YEAR_RUNS/<system>/), and one chapter, notebooks/years.py.
# ---------------------------------------------------------------------------------------------
YEAR_SYSTEMS ?= disent sec_softmax
YEAR_RUNS    := $(BUILD)/runs-seed$(SEED)$(if $(OVERRIDES),-$(shell echo '$(OVERRIDES)' | md5sum | cut -c1-8))
YEAR_BOOK    := $(BOOKSRC)/_config.yml $(BOOKSRC)/_toc.yml $(BOOKSRC)/years.ipynb
ifneq ($(YEAR),2022)
$(YEAR_RUNS)/%/scored: $(DATASTAMP) $(RUN_SOURCES)
	rm -rf $(YEAR_RUNS)/$*
	$(RUN) $(SPEED) $(PY) -m asdlib train --data $(abspath $(ROOT)) --machine all --system $* --scale $(SCALE) \
	  --seed $(SEED) $(if $(TRUTHDIR),--truth $(abspath $(TRUTHDIR))) --out $(YEAR_RUNS)/$* $(foreach o,$(OVERRIDES),--set $(o))
	$(RUN) $(PY) -m asdlib score $(YEAR_RUNS)/$* --checkpoint last best_dev
	@touch $@

$(BOOKSRC)/_toc.yml: book/years/_toc.yml
	@mkdir -p $(@D) && cp $< $@

$(BOOKSRC)/years.ipynb: notebooks/years.py $(DATASTAMP) $(SOURCES) $(foreach s,$(YEAR_SYSTEMS),$(YEAR_RUNS)/$(s)/scored)
	$(call notebook,$(RUN),chapter years ($(YEAR)),-p data_root $(abspath $(ROOT)) -p truth_dir "$(if $(TRUTHDIR),$(abspath $(TRUTHDIR)))" \
	  -p scale $(SCALE) -p year $(YEAR) -p runs_dir $(abspath $(YEAR_RUNS)) -p systems "$(YEAR_SYSTEMS)",$(PY) scripts/hide_code.py $@.tmp.ipynb)
endif

# `make book` runs independent notebooks in parallel (one job per core) unless -jN is given.
book:
	@$(MAKE) --no-print-directory $(if $(JOBS),,-j$(NPROC)) --output-sync=target book-html

book-html: $(if $(filter 2022,$(YEAR)),$(BOOK_PAGES) $(foreach c,$(CHAPTERS),$(BOOKSRC)/$(c).ipynb),$(YEAR_BOOK)) $(MATHJAX)
	@rm -rf $(BOOKSRC)/_static/mathjax && mkdir -p $(BOOKSRC)/_static && cp -r $(MATHJAX_DIR)/es5 $(BOOKSRC)/_static/mathjax
	$(RUN) $(VENV)/bin/jupyter-book build --quiet --warningiserror --keep-going $(BOOKSRC) --path-output $(BUILD)
	@echo "The book: $(abspath $(BUILD))/_build/html/index.html"

# The study grid through a real SLURM (a one-node cluster started here; needs root): scripts/test-cluster.sh
test-cluster: $(STAMP) $(MATHJAX)
	scripts/test-cluster.sh

# make bench [DEVICE=cuda|cpu] [SCALE=...] [VARIANTS=1]: quick scale by default, the paper's with DEVICE=cuda;
# VARIANTS=1 adds the training step and embedding timed side by side in eager, channels_last, bf16 and compiled forms
bench: $(STAMP)
	$(RUN) $(SPEED) $(PY) -m asdlib.bench $(if $(DEVICE),--device $(DEVICE)) $(if $(VARIANTS),--variants) \
	  --scale $(if $(filter command line,$(origin SCALE)),$(SCALE),$(if $(filter cuda,$(DEVICE)),paper,quick))

# The notebooks' paired .ipynb copies (notebooks/ipynb/, what Colab opens), rewritten from the .py sources.
ipynb: $(STAMP)
	$(PY) scripts/write-ipynb.py

# Publishing the repository: make repository-url URL=https://github.com/ORG/REPO rewrites every copy of its URL.
repository-url: $(STAMP)
	$(PY) scripts/set-repository-url.py $(URL)

clean:
	rm -rf $(BUILD)/book $(BUILD)/_build

distclean:
	rm -rf build $(VENV)
