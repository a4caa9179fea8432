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
	$(BIN)/python -m pip install --quiet -e '.[test,jax,torch,sweep]'
	touch $(STAMP)

fit: $(STAMP)
	$(BIN)/hwkeras fit --preset quick

# The parity tests run once per non-TF backend, each in its own pytest process (a process holds
# one Keras backend); under TensorFlow they would repeat both, hence the --ignore. All three parts
# run even when one fails (one failure never hides another); the target fails if any did.
# pytest-randomly shuffles the order of modules and of the tests in each, so that an order
# dependence shows: each part prints its seed; PYTEST_ARGS=--randomly-seed=N replays an order,
# PYTEST_ARGS='-p no:randomly' runs in file order.
PYTEST_ARGS ?=
test: $(STAMP)
	@failed=""; \
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) --ignore=tests/test_backends.py || failed="$$failed tensorflow"; \
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/test_backends.py || failed="$$failed jax"; \
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q $(PYTEST_ARGS) tests/test_backends.py || failed="$$failed torch"; \
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
	$(BIN)/python benchmarks/bench_metrics.py --measure-encoder

# docs/RESULTS.md, one table each (hwkeras sweep on one GPU, JAX backend; rerun to resume).
results-ellipses: $(STAMP)
	$(BIN)/python benchmarks/results.py ellipses

results-dsprites: $(STAMP)
	$(BIN)/python benchmarks/results.py dsprites

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
