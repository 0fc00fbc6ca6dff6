# Two commands on a fresh machine (each builds what it needs):
#   make demo   the main job: BAIT vs BADGE vs CORESET vs RANDOM on digits
#   make test   the fast tier of the tests (both environments)
# and the slow tier (the full chaos set of the Dask tests, docs builds):
#   make test-slow
#
# .venv        newest stack: NumPy, scikit-learn, torch (CPU), skorch, numba,
#              scikit-activeml, dask.distributed
# .venv-modal  the last modAL release, which needs scikit-learn < 1.8,
#              skorch 0.9 and setuptools < 81 (see README, "modAL")

PYTHON ?= python3
VENV := .venv
MODAL_VENV := .venv-modal
# The CPU build on this machine's disk; a bare "torch" pulls a CUDA build.
TORCH := torch==2.13.0
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: demo test test-main test-modal test-slow bench paper lint docs clean

$(VENV)/.installed: pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) $(TORCH)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[torch,bench,dev,docs,skactiveml,dask]"
	touch $@

$(MODAL_VENV)/.installed: pyproject.toml
	rm -rf $(MODAL_VENV)
	$(PYTHON) -m venv $(MODAL_VENV)
	$(MODAL_VENV)/bin/pip install $(PIP_FLAGS) $(TORCH) "scikit-learn<1.8" \
		"setuptools<81" "modAL-python==0.4.2.1" pytest
	$(MODAL_VENV)/bin/pip install $(PIP_FLAGS) -e .
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/run.py quick

# The selection engine's speed and memory against the authors' algorithm.
bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/bench_selection.py --plot

# Every experiment of the paper; hours; cached runs are reused.
paper: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/run.py paper

lint: $(VENV)/.installed
	$(VENV)/bin/flake8 skbait tests benchmarks examples

# The documentation site (Sphinx, numpydoc, MyST); warnings are errors.
docs: $(VENV)/.installed
	$(VENV)/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

REQUIRE_MAIN := numba,torch,skorch,array_api_strict,skactiveml,distributed

test: test-main test-modal

# The fast tier but the modAL loops, on the newest stack.
test-main: $(VENV)/.installed lint
	SKBAIT_REQUIRE=$(REQUIRE_MAIN) \
		$(VENV)/bin/python -m pytest -q -m "not modal and not slow"

# The slow tier: the full chaos set (every rule killed at ten moments, two
# workers, every worker, the scheduler), the documentation build.
test-slow: $(VENV)/.installed
	SKBAIT_REQUIRE=$(REQUIRE_MAIN) \
		$(VENV)/bin/python -m pytest -q -m "slow and not modal"

# The real modAL loops and the modAL example, where modAL works.
test-modal: $(MODAL_VENV)/.installed
	SKBAIT_REQUIRE=modAL,torch,skorch \
		$(MODAL_VENV)/bin/python -m pytest -q -m modal tests \
		-W "ignore::DeprecationWarning" -W "ignore::FutureWarning"

clean:
	rm -rf $(VENV) $(MODAL_VENV) results build *.egg-info
