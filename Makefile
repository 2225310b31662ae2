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

.PHONY: benchmarks release-checks colab plain-env book test student grade grade-check unit notebooks alt-numerics mutants strict-book browser chromium clean gpu-labs lab-linear-scaling oldest dist ddp-teardown typecheck

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
# 20+ seeds, not rounding), the student edition (its notebooks run here under nbval), and the tests of files, tools
# and processes rather than arithmetic: the Colab edition, grading, packaging, the lab CLIs, the build, notebook
# formatting, signatures and stubs.
# torch.compile's on-disk cache gets a folder of its own: torch 2.13 reuses kernels compiled for another vector ISA
# (wrong numbers under avx2, C++ that does not compile under default), so the two environments must not share one.
ALT_NUMERICS := OPENBLAS_CORETYPE=Prescott ATEN_CPU_CAPABILITY=default TORCHINDUCTOR_CACHE_DIR=$(CURDIR)/artifacts/inductor-alt
alt-numerics: $(STAMP)
	@$(STAGE) alt-numerics-unit env $(ALT_NUMERICS) $(PY) -m pytest tests -n 2 -q \
	  --ignore-glob='tests/test_seeds_*' --ignore=tests/test_student.py --ignore=tests/test_colab_edition.py \
	  --ignore=tests/test_grading.py --ignore=tests/test_dist.py --ignore=tests/test_lab_cli.py \
	  --ignore=tests/test_book_build.py --ignore=tests/test_gpu_labs.py --ignore=tests/test_notebook_format.py \
	  --ignore=tests/test_api_typing.py
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
	$(PY) labs/memory_accounting.py --size $(GPU_LABS_SIZE) --out $(GPU_LABS_OUT)/memory-accounting-$(GPU_LABS_SIZE)-lab-w1.json
	@echo "==> the linear-scaling lab: labs/linear_scaling.py --size $(GPU_LABS_SIZE)"
	$(PY) labs/linear_scaling.py --size $(GPU_LABS_SIZE) --out $(GPU_LABS_OUT)/linear-scaling-$(GPU_LABS_SIZE)-train-w1.json

# The linear-scaling reproduction on CPU (about 10 minutes on 2 cores); its results are what the lab's page checks.
lab-linear-scaling: $(STAMP)
	@$(STAGE) lab-linear-scaling $(PY) labs/linear_scaling.py --size medium --jobs 2

# The optimizer benchmark the book's Benchmarks page reads and checks: every rule but the matrix ones (Muon, Shampoo,
# SOAP), with their options, both layouts, each also with compile=True, against torch.optim (foreach, for-loop, fused)
# and pytorch_optimizer; then the matrix rules on one transformer block's matrices, per step over a whole
# preconditioner interval (benchmarks/bench_matrix.py, about 2 minutes); then Langevin dynamics' chain-steps per
# second (benchmarks/bench_langevin.py, under a minute). Run it on an otherwise idle machine; the page shows the load average it recorded. The
# script sets its own thread count (all cores), so make's one-thread setting is lifted for it. The date and the machine
# are inside the file (book/reference/results/benchmarks-cpu.json).
BENCH_RULES ?= Adam,AdamW,SGD,Adagrad,RMSprop,NAdam,RAdam,Lion,SignSGD,LAMB,LARS,AdamP,ScheduleFreeAdamW,Adafactor,Sophia,Adam8bit
benchmarks: $(STAMP)
	@$(STAGE) benchmarks env -u OMP_NUM_THREADS $(PY) benchmarks/bench_optimizers.py \
	  --only $(BENCH_RULES) --out book/reference/results --stem benchmarks-cpu
	@$(STAGE) benchmarks-matrix env -u OMP_NUM_THREADS $(PY) benchmarks/bench_matrix.py \
	  --out book/reference/results --stem benchmarks-matrix-cpu
	@$(STAGE) benchmarks-langevin env -u OMP_NUM_THREADS $(PY) benchmarks/bench_langevin.py \
	  --json book/reference/results/benchmarks-langevin-cpu.json

# gdlab at the lower bounds of pyproject.toml: a fresh venv with exactly those versions (tools/lower_bounds.py prints
# them; torch is the CPU build, and the run stops if a CUDA build or CUDA packages came in), the test tools at
# requirements.txt's pins, gdlab itself with --no-deps; then the unit tests and every notebook. Left out: the two tests
# that drive the project's own .venv through make (test_book_build, test_gpu_labs), which test the build, not the
# dependencies. Measured: the install 2 minutes; the unit tests 37 minutes with one worker on a 2-core machine
# shared with other jobs (make test's unit stage runs the same tests on two workers); part of make release-checks.
OLDEST := artifacts/oldest-venv
OLDEST_JOBS ?= 2
oldest:
	@rm -rf $(OLDEST) && mkdir -p artifacts && $(PYTHON_BOOT) -m venv $(OLDEST)
	@$(PYTHON_BOOT) tools/lower_bounds.py --tools > artifacts/oldest-requirements.txt
	@$(STAGE) oldest-install $(OLDEST)/bin/python -m pip install -q --disable-pip-version-check --only-binary :all: \
	  -r artifacts/oldest-requirements.txt
	@$(OLDEST)/bin/python tools/lower_bounds.py --check
	@$(OLDEST)/bin/python -m pip install -q --disable-pip-version-check --no-deps .
	@$(STAGE) oldest-unit $(OLDEST)/bin/python -m pytest tests -q -n $(OLDEST_JOBS) \
	  --ignore=tests/test_book_build.py --ignore=tests/test_gpu_labs.py
	@$(STAGE) oldest-notebooks $(OLDEST)/bin/python -m pytest --nbval-lax --nbval-current-env -n $(OLDEST_JOBS) \
	  --dist loadfile -q $(NOTEBOOKS)

# The wheel and the sdist, ready for PyPI, in dist/: the wheel is built from the sdist (so the sdist holds what a build
# needs), and twine checks both strictly (tests/test_dist.py checks their contents and a clean install of the wheel).
dist: $(STAMP)
	@rm -rf dist
	@$(STAGE) dist $(PY) -m build --no-isolation --outdir dist .
	@$(PY) -m twine check --strict dist/*

# DDP teardown: 2-rank gloo jobs under torchrun, each ended by gdlab.distributed.close (a barrier bounded by the
# group's timeout, then destroy_process_group). First a rank that never reaches close() and a process left behind must
# be caught, then ten jobs in a row must neither hang nor leave a process running (tests/ddp_teardown.py). Each job
# starts three Python processes that import torch (35 s a job, 45 s for the two faults, on a busy 2-core machine):
# minutes in all, so it is part of make release-checks, and the unit tests run one job.
ddp-teardown: $(STAMP)
	@$(STAGE) ddp-teardown $(PY) tests/ddp_teardown.py --runs 10 --check-faults

# mypy checks small user scripts against the optimizer stubs (gdlab/optim/*.pyi): right calls pass, wrong types fail.
# Reading torch's own annotations takes mypy 30 s to 3 min on 2 cores, too slow for make test: part of make release-checks.
# every elementwise rule's compiled fused step against eager, float64 and float32 (tests/test_fused.py, compiled sweep)
fused-all: $(STAMP)
	GDLAB_FUSED_ALL=1 $(PY) -m pytest tests/test_fused.py -q

typecheck: $(STAMP)
	@$(STAGE) typecheck $(PY) -m pytest tests/typecheck_stubs.py -q -p no:cacheprovider

student: $(STAMP)
	@$(STAGE) student $(PY) tools/student.py --out student book labs

# Grade submitted copies of the student edition with nbgrader (tools/grade.py), hidden tests included:
# `make grade SUBMISSIONS=dir`, where dir/<student>/<notebook>.ipynb are the notebooks each student hands in. Writes
# the nbgrader course folder (and its sqlite gradebook) to GRADING, and the points to GRADING/grades.csv.
GRADING ?= artifacts/grading
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<folder of <student>/<notebook>.ipynb>"; exit 2; }
	@$(PY) tools/grade.py "$(SUBMISSIONS)" --course "$(GRADING)"

# nbgrader grades a chapter and a lab, correct and wrong submissions (tests/grading_course.py; each notebook runs
# twice: minutes), so it is part of make release-checks; tests/test_grading.py grades a small chapter inside make test.
grade-check: $(STAMP)
	@$(STAGE) grade-check $(PY) -m pytest tests/grading_course.py -q -p no:cacheprovider

# The Colab/Jupyter edition (tools/colab.py): every notebook in plain Markdown, written to colab/, which is committed
# so that Colab opens it from GitHub (the book's Colab buttons point there). tests/test_colab_edition.py fails when
# colab/ is not what this target writes now.
colab: $(STAMP)
	@$(STAGE) colab $(PY) tools/colab.py

# Every notebook of the Colab/Jupyter edition (every chapter and both labs) in an environment with nothing but what a
# reader installs: torch==2.13.0 first (as Colab has it), then `pip install .[labs]` and a kernel (ipykernel, nbclient
# at requirements.txt's pins); no myst-nb, no test tools. tools/plain_env.py runs each notebook with a kernel of that
# venv. The edition's code cells are the book's (tests/test_colab_edition.py), plus the cells that show glued
# values, so the book's own notebooks are not run a second time; `tools/plain_env.py book labs` runs them too.
# Measured on a 2-core machine: the install 4.7 minutes; the 18 notebooks 17 minutes with one job at low priority
# beside a make test run (5 CPU-minutes in all). Part of make release-checks.
PLAIN := artifacts/plain-env
plain-env:
	@rm -rf $(PLAIN) && mkdir -p artifacts && $(PYTHON_BOOT) -m venv $(PLAIN)
	@$(STAGE) plain-env-install bash -c '$(PLAIN)/bin/python -m pip install -q --disable-pip-version-check \
	  "$$(grep -E "^torch==" requirements.txt)" && $(PLAIN)/bin/python -m pip install -q --disable-pip-version-check \
	  ".[labs]" $$(grep -E "^(ipykernel|nbclient)==" requirements.txt)'
	@$(STAGE) plain-env-notebooks $(PLAIN)/bin/python tools/plain_env.py --jobs 2 colab

# Before each release (too slow to sit beside make test in .ci/run's 90 minutes on 2 cores): every notebook in a
# gdlab[labs]-only venv, ten DDP jobs torn down in a row, every elementwise rule through the compiled fused step,
# mypy against the stubs, nbgrader on a chapter and a lab, and the tests and notebooks at pyproject's lower bounds.
release-checks: plain-env ddp-teardown fused-all typecheck grade-check oldest

clean:
	rm -rf _build student artifacts
