# Two commands for a fresh machine (Python 3.11, no GPU): `make run` and `make test`. Both install what they need.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch first, from its pinned CPU wheel (an unpinned resolve would pull a multi-GB CUDA build); then the rest,
# held to the versions in constraints.txt.
INSTALL = $(PY) -m pip install --disable-pip-version-check -q

.PHONY: run test full repro ui clean prefect-server prefect-setup worker-cpu worker-gpu deploy retrain mlflow-server serve

run: $(VENV)/.installed        ## the pipeline on the quick profile: train, evaluate, register every variant
	$(PY) -m flows.pipeline

test: $(VENV)/.installed-test  ## the test suite
	$(PY) -m pytest

full: $(VENV)/.installed       ## real training (the `full` profile)
	$(PY) -m flows.pipeline --profile full

repro: $(VENV)/.installed      ## rebuild data/ if absent, then `dvc repro` (stages call the venv's python)
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; python -m gan_core data --if-missing; dvc repro

ui: $(VENV)/.installed         ## the MLflow UI on the local store, http://127.0.0.1:5000; prints the runs table by score
	MLFLOW_TRACKING_URI=sqlite:///$(CURDIR)/mlflow/mlflow.db $(PY) -m gan_core.tracking http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

# ---- scheduled retraining on a Prefect server (README "Scheduled retraining"); each command in its own terminal --------
PREFECT_HOST    ?= 127.0.0.1
PREFECT_PORT    ?= 4200
PREFECT_API_URL ?= http://$(PREFECT_HOST):$(PREFECT_PORT)/api
# the global concurrency limits to create, one per GPU (1 slot each), and the one this GPU worker's trainings hold
GPU_LIMITS      ?= gpu
GAN_GPU_LIMIT   ?= gpu
# e.g. RETRAIN_CRON='0 3 * * *': `make deploy` replaces prefect.yaml's weekly schedule with it
RETRAIN_CRON    ?=
BIN         = $(abspath $(VENV))/bin
PREFECT_ENV = PREFECT_HOME="$(CURDIR)/.prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false \
              PREFECT_API_URL=$(PREFECT_API_URL) PATH="$(BIN):$$PATH"

prefect-server: $(VENV)/.installed  ## the Prefect server and UI, state in .prefect/ (http://127.0.0.1:4200)
	$(PREFECT_ENV) prefect server start --host $(PREFECT_HOST) --port $(PREFECT_PORT)

prefect-setup: $(VENV)/.installed   ## work pools cpu and gpu, and the GPU concurrency limits (idempotent)
	$(PREFECT_ENV) python -m flows.work_pools --gpu-limits $(GPU_LIMITS)

worker-cpu: $(VENV)/.installed      ## a worker of the cpu pool: pipeline runs (data, classifier, evaluation, registry)
	$(PREFECT_ENV) prefect worker start --pool cpu

worker-gpu: $(VENV)/.installed      ## a worker of the gpu pool: one training at a time, on this machine's GPU
	$(PREFECT_ENV) GAN_GPU_LIMIT=$(GAN_GPU_LIMIT) prefect worker start --pool gpu --limit 1

deploy: $(VENV)/.installed          ## register prefect.yaml's deployments (weekly-retrain: cron schedule)
	$(PREFECT_ENV) prefect --no-prompt deploy --all
	$(if $(RETRAIN_CRON),$(PREFECT_ENV) prefect deployment schedule create gan-pipeline/weekly-retrain \
	    --cron "$(RETRAIN_CRON)" --timezone UTC --replace --accept-yes)

retrain: $(VENV)/.installed         ## run weekly-retrain now and watch it (PROFILE=full: real training)
	$(PREFECT_ENV) prefect deployment run gan-pipeline/weekly-retrain --watch $(if $(PROFILE),--param profile=$(PROFILE))

# ---- MLflow tracking server and model serving -----------------------------------------------------------------------
# backend store: or postgresql://user:password@host:5432/mlflow; artifacts: or s3://bucket/mlflow (the server proxies
# them); a host other than 127.0.0.1 also needs MLFLOW_SERVER_ARGS='--allowed-hosts name:port,...'
MLFLOW_BACKEND_STORE ?= sqlite:///$(CURDIR)/mlflow/mlflow.db
MLFLOW_ARTIFACTS     ?= $(CURDIR)/mlflow/artifacts
MLFLOW_HOST          ?= 127.0.0.1
MLFLOW_PORT          ?= 5000
MLFLOW_SERVER_ARGS   ?= --workers 2
# the registry `serve` loads from (the local store unless set)
MLFLOW_TRACKING_URI  ?= sqlite:///$(CURDIR)/mlflow/mlflow.db
VARIANT    ?= mlp
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 5001

# MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: no job runner (8 more processes for GenAI jobs this project has none of)
mlflow-server: $(VENV)/.installed   ## MLflow tracking server; use it with MLFLOW_TRACKING_URI=http://127.0.0.1:5000
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --backend-store-uri $(MLFLOW_BACKEND_STORE) --artifacts-destination $(MLFLOW_ARTIFACTS) \
	    --host $(MLFLOW_HOST) --port $(MLFLOW_PORT) $(MLFLOW_SERVER_ARGS)

serve: $(VENV)/.installed           ## REST endpoint of models:/gan-$(VARIANT)@champion (POST /invocations)
	MLFLOW_TRACKING_URI=$(MLFLOW_TRACKING_URI) PATH="$(BIN):$$PATH" mlflow models serve \
	    -m models:/gan-$(VARIANT)@champion --env-manager local -h $(SERVE_HOST) -p $(SERVE_PORT)

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
