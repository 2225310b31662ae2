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

.PHONY: book test student unit notebooks alt-numerics mutants strict-book browser chromium clean

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
# depends on one machine's rounding fails here.
ALT_NUMERICS := OPENBLAS_CORETYPE=Prescott ATEN_CPU_CAPABILITY=default
alt-numerics: $(STAMP)
	@$(STAGE) alt-numerics-unit env $(ALT_NUMERICS) $(PY) -m pytest tests -n 2 -q
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

student: $(STAMP)
	@$(STAGE) student $(PY) tools/student.py --out student book labs

clean:
	rm -rf _build student artifacts
