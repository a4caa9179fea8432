# Each target creates .venv and installs hwkeras into it when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: fit test bench results-ellipses results-dsprites clean

# Real data some tests read (the 320 dSprites frames); CI clones the repository next to ../shared.
# A test that needs it fails, naming this variable, when it is missing.
HWKERAS_SHARED_DATA ?= $(abspath ../shared/data)
export HWKERAS_SHARED_DATA

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,jax,torch,sweep,serve,onnx]'
	touch $(STAMP)

fit: $(STAMP)
	$(BIN)/hwkeras fit --preset quick

# ruff first (a lint error stops here); then three pytest processes, one per Keras backend (a process holds one backend; docs/TESTING.md):
# TensorFlow runs everything but the parity tests on two xdist workers (a file's tests stay in one
# worker, so module fixtures are built once); then the parity tests under JAX and PyTorch run side
# by side, their output shown when both are done. All three parts run even when one fails (one
# failure never hides another); the target fails if any did, naming them. pytest-randomly
# shuffles the order of files and tests from SEED (printed first): `make test SEED=N` replays an
# order, PYTEST_ARGS=--randomly-dont-reorganize keeps file order. The TensorFlow part lists its
# 15 slowest tests: the suite's cost stays in view (docs/BENCHMARKS.md).
SEED ?= $(shell date +%s)
PYTEST_ARGS ?=
PYTEST := $(BIN)/python -m pytest -q -p randomly --randomly-seed=$(SEED) $(PYTEST_ARGS)
test: $(STAMP)
	@echo "make test: ruff check (pyproject.toml's [tool.ruff])"; $(BIN)/ruff check . || exit 1; \
	echo "make test: random order from seed $(SEED) (replay it: make test SEED=$(SEED))"; \
	failed=""; logs=$$(mktemp -d); \
	$(PYTEST) -n 2 --dist loadfile --durations=15 --ignore=tests/test_backends.py || failed="$$failed tensorflow"; \
	KERAS_BACKEND=jax $(PYTEST) tests/test_backends.py >$$logs/jax 2>&1 & jax=$$!; \
	KERAS_BACKEND=torch $(PYTEST) tests/test_backends.py >$$logs/torch 2>&1 & torch=$$!; \
	wait $$jax || failed="$$failed jax"; wait $$torch || failed="$$failed torch"; \
	for part in jax torch; do echo "== tests/test_backends.py under KERAS_BACKEND=$$part"; cat $$logs/$$part; done; \
	rm -rf $$logs; \
	if [ -n "$$failed" ]; then echo "make test: failed parts:$$failed"; exit 1; fi

# Each script compares two or more things in one run; figures go to docs/BENCHMARKS.md.
# bench_metrics at the reference sizes takes ~20 minutes on 2 CPU cores.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_backends.py
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_checkpoints.py
	$(BIN)/python benchmarks/bench_errors.py
	$(BIN)/python benchmarks/bench_metrics.py --measure-encoder
	$(BIN)/python benchmarks/bench_dci.py
	$(BIN)/python benchmarks/bench_evaluate.py --scale 0.1 --grid 0.1
	$(BIN)/python benchmarks/bench_serve.py

# docs/RESULTS.md, one table each (hwkeras sweep on one GPU, JAX backend; rerun to resume).
results-ellipses: $(STAMP)
	$(BIN)/python benchmarks/results.py ellipses

results-dsprites: $(STAMP)
	$(BIN)/python benchmarks/results.py dsprites

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
