# Two commands for a fresh machine (Python 3.11, no GPU): `make run` and `make test`. Both install what they need.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch first, from its pinned CPU wheel (an unpinned resolve would pull a multi-GB CUDA build); then the rest,
# held to the versions in constraints.txt.
INSTALL = $(PY) -m pip install --disable-pip-version-check -q

.PHONY: run test full repro ui clean

run: $(VENV)/.installed        ## the pipeline on the quick profile: train, evaluate, register every variant
	$(PY) -m flows.pipeline

test: $(VENV)/.installed-test  ## the test suite
	$(PY) -m pytest

full: $(VENV)/.installed       ## real training (the `full` profile)
	$(PY) -m flows.pipeline --profile full

repro: $(VENV)/.installed      ## rebuild data/ if absent, then `dvc repro` (stages call the venv's python)
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; python -m gan_core data --if-missing; dvc repro

ui: $(VENV)/.installed         ## the MLflow UI on the local store, http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(INSTALL) torch==2.13.0
	$(INSTALL) -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(INSTALL) -c constraints.txt -e ".[test]"
	touch $@

clean:                         ## remove pipeline outputs (keeps data/, the venv and the MLflow store)
	rm -rf models metrics samples reports
