# gdlab: `make book` builds the course, `make test` checks everything, `make student` writes the student edition.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := book
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gdlab-installed
STAGE := tools/stage
STAGE_LOG := artifacts/stages.txt
export STAGE_LOG
# every notebook of the book and the labs (checkpoints and build outputs left out)
NOTEBOOKS = $(shell find book labs -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -not -path '*/_build/*' 2>/dev/null | sort)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
# One thread per process: the test stages run two processes on two cores, and the course's models are
# small enough that a second thread only adds contention (tiny-MLP steps ran ~100x slower oversubscribed).
export OMP_NUM_THREADS ?= 1
# torch.compile's on-disk cache lives in the build's own folder: torch 2.13 may reuse a kernel compiled by another
# process for another vector ISA (see ALT_NUMERICS below), so make's stages never share /tmp's cache.
export TORCHINDUCTOR_CACHE_DIR ?= $(CURDIR)/artifacts/inductor

.PHONY: book test student unit notebooks alt-numerics mutants strict-book browser chromium clean gpu-labs lab-linear-scaling

# Install into .venv only when requirements.txt or pyproject.toml changed since the last install.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { echo "==> creating $(VENV) with $(PYTHON_BOOT)"; $(PYTHON_BOOT) -m venv $(VENV); }
	@$(STAGE) install $(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . > $(VENV)/gdlab-install.log 2>&1 \
	  || { cat $(VENV)/gdlab-install.log; exit 1; }
	@touch $@

book: $(STAMP)
	@$(STAGE) book $(VENV)/bin/jupyter-book build . --keep-going
	@echo "The book: $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	@mkdir -p artifacts && : > $(STAGE_LOG)
	@$(MAKE) --no-print-directory unit notebooks alt-numerics mutants strict-book browser
	@echo "==> stages"; cat $(STAGE_LOG)
	@awk '{ total += $$2 } END { printf "==> make test: all stages passed in %d s\n", total }' $(STAGE_LOG)

unit: $(STAMP)
	@$(STAGE) unit-tests $(PY) -m pytest tests -n 2 -q

notebooks: $(STAMP)
	@if [ -z "$(NOTEBOOKS)" ]; then echo "==> notebooks: there is no notebook in book/ or labs/"; else \
	  $(STAGE) notebooks $(PY) -m pytest --nbval-lax --nbval-current-env -n 2 --dist loadfile -q $(NOTEBOOKS); fi

# The unit tests and the notebooks again, with other kernels than this machine's: OpenBLAS's SSE3 (Prescott) kernels
# for NumPy and torch's scalar (default) code path. They sum in other orders, as another CPU would; a check that
# depends on one machine's rounding fails here. Left out: the seed sweeps (tests/test_seeds_*.py, statistics over
# 20+ seeds, not rounding) and the student edition (its notebooks run here under nbval).
# torch.compile's on-disk cache gets a folder of its own: torch 2.13 reuses kernels compiled for another vector ISA
# (wrong numbers under avx2, C++ that does not compile under default), so the two environments must not share one.
ALT_NUMERICS := OPENBLAS_CORETYPE=Prescott ATEN_CPU_CAPABILITY=default TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/artifacts/inductor-alt
alt-numerics: $(STAMP)
	@$(STAGE) alt-numerics-unit env $(ALT_NUMERICS) $(PY) -m pytest tests -n 2 -q \
	  --ignore-glob='tests/test_seeds_*' --ignore=tests/test_student.py
	@$(STAGE) alt-numerics-notebooks env $(ALT_NUMERICS) $(PY) -m pytest --nbval-lax --nbval-current-env -n 2 \
	  --dist loadfile -q $(NOTEBOOKS)

# The mutation suite (tests/mutations/): every plausible wrong formula in the table must turn its chapter red.
mutants: $(STAMP)
	@$(STAGE) mutants $(PY) tools/mutants.py --jobs 2

# A cold build: every page read again (--all) and every notebook executed (execute_notebooks: force).
strict-book: $(STAMP)
	@$(STAGE) strict-book $(VENV)/bin/jupyter-book build . --all -W -n --keep-going

browser: $(STAMP) chromium
	@$(STAGE) browser $(PY) -m pytest tests/browser --browser -q -n 2

# Debian's Chromium, driven by Playwright from pip (never `playwright install`: it downloads a browser).
chromium:
	@command -v chromium >/dev/null || { echo "==> installing chromium"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# Both labs at full size on one GPU (H100/H200 class, at most 10 minutes); each writes labs/results/*.json with the
# GPU model and the date. tests/test_memory_lab.py runs the memory lab's script at its tiny size on a CPU.
# Both labs at full size on one GPU (meant to take at most 10 minutes on an H100/H200), results with the GPU's model
# and the date in labs/results/. GPU_LABS_SIZE=tiny GPU_LABS_OUT=<dir> runs the same commands in seconds on a CPU
# (tests/test_gpu_labs.py does).
GPU_LABS_SIZE ?= full
GPU_LABS_OUT ?= labs/results
gpu-labs: $(STAMP)
	@mkdir -p $(GPU_LABS_OUT)
	@echo "==> the memory lab: labs/memory_accounting.py --size $(GPU_LABS_SIZE)"
	$(PY) labs/memory_accounting.py --size $(GPU_LABS_SIZE) --out $(GPU_LABS_OUT)/memory-accounting-$(GPU_LABS_SIZE).json
	@echo "==> the linear-scaling lab: labs/linear_scaling.py --size $(GPU_LABS_SIZE)"
	$(PY) labs/linear_scaling.py --size $(GPU_LABS_SIZE) --out $(GPU_LABS_OUT)/linear-scaling-$(GPU_LABS_SIZE).json

# The linear-scaling reproduction on CPU (about 10 minutes on 2 cores); its results are what the lab's page checks.
lab-linear-scaling: $(STAMP)
	@$(STAGE) lab-linear-scaling $(PY) labs/linear_scaling.py --size medium --jobs 2

student: $(STAMP)
	@$(STAGE) student $(PY) tools/student.py --out student book labs

clean:
	rm -rf _build student artifacts
