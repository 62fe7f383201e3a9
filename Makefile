# Two commands for a fresh machine (Python 3.11, no GPU): `make run` and `make test`. Both install what they need.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# torch first, from its pinned CPU wheel (an unpinned resolve would pull a multi-GB CUDA build); then the rest,
# held to the versions in constraints.txt.
INSTALL = $(PY) -m pip install --disable-pip-version-check -q

.PHONY: run test test-fast full repro sweep ui clean prefect-server prefect-setup worker-cpu worker-gpu deploy retrain mlflow-server serve \
        postgres postgres-stop dvc-remote system-packages

run: $(VENV)/.installed        ## the pipeline on the quick profile: train, evaluate, register every variant
	$(PY) -m flows.pipeline $(if $(PARAMS),--params $(PARAMS))

test: $(VENV)/.installed-test system-packages  ## every test, end-to-end ones included (what CI runs)
	$(PY) -m pytest

test-fast: $(VENV)/.installed-test  ## the unit tier: no servers, no whole flow (tests marked e2e are left out)
	$(PY) -m pytest -m "not e2e"

full: $(VENV)/.installed       ## real training (the `full` profile)
	$(PY) -m flows.pipeline --profile full

repro: $(VENV)/.installed      ## rebuild data/ if absent, then `dvc repro` (stages call the venv's python)
	export PATH="$(CURDIR)/$(VENV)/bin:$$PATH"; python -m gan_core data --if-missing; dvc repro

# a hyperparameter sweep of one variant (docs/sweeps.md): e.g. `make sweep VARIANT=dcgan TRIALS=16`
SPACE  ?= sweeps/$(VARIANT).yaml
TRIALS ?= 16
sweep: $(VENV)/.installed      ## Optuna over the search space $(SPACE): TRIALS trials, pruned; the best registered
	$(PY) -m flows.sweep $(SPACE) --trials $(TRIALS) $(if $(PARALLEL),--parallel $(PARALLEL))

ui: $(VENV)/.installed         ## the MLflow UI on the local store, http://127.0.0.1:5000; prints the runs table by score
	MLFLOW_TRACKING_URI=sqlite:///$(CURDIR)/mlflow/mlflow.db $(PY) -m gan_core.tracking http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow/mlflow.db --host 127.0.0.1 --port 5000

# ---- control services of several machines (docs/scaling.md): PostgreSQL and the DVC remote --------------------------
# Every server binds to CONTROL_HOST only (never all interfaces): the control machine's address on the workers' network.
CONTROL_HOST ?= 127.0.0.1
# their state and passwords, outside the checkout (never committed); root's home is closed to the servers' own users
CONTROL_DIR  ?= $(if $(filter 0,$(shell id -u)),/var/lib/gan-pipeline,$(HOME)/.local/state/gan-pipeline)
PG_DIR       ?= $(CONTROL_DIR)/postgres
PG_HOST      ?= $(CONTROL_HOST)
PG_PORT      ?= 5432
DVC_REMOTE_DIR  ?= $(CONTROL_DIR)/dvc-remote
DVC_REMOTE_HOST ?= $(CONTROL_HOST)
DVC_REMOTE_PORT ?= 8008
# DB=postgres: `make prefect-server` and `make mlflow-server` use the cluster of `make postgres` (default: SQLite)
DB ?= sqlite
PG_URL = $(shell $(PY) -m ops.postgres url --dir $(PG_DIR) --database $(1) $(2))

postgres: $(VENV)/.installed        ## start PostgreSQL (databases prefect, mlflow; role gan, password in $(PG_DIR)/password)
	$(PY) -m ops.postgres start --dir $(PG_DIR) --host $(PG_HOST) --port $(PG_PORT)

postgres-stop: $(VENV)/.installed
	$(PY) -m ops.postgres stop --dir $(PG_DIR)

dvc-remote: $(VENV)/.installed      ## the DVC remote: WebDAV (nginx) serving $(DVC_REMOTE_DIR)/store; hosts: `python -m ops.dvc_remote config`
	$(PY) -m ops.dvc_remote start --dir $(DVC_REMOTE_DIR) --host $(DVC_REMOTE_HOST) --port $(DVC_REMOTE_PORT)

# Debian packages of the control services' tests, where missing: installed when root (CI: a fresh machine, root);
# elsewhere those tests skip. nginx comes with its WebDAV module; PostgreSQL's server is on the machine image already.
SYSTEM_PACKAGES = $(if $(wildcard /usr/lib/nginx/modules/ngx_http_dav_ext_module.so),,nginx libnginx-mod-http-dav-ext) \
                  $(if $(wildcard /usr/lib/postgresql/*/bin/pg_ctl),,postgresql) $(if $(shell command -v ip),,iproute2)
system-packages:
	@if [ -n "$(strip $(SYSTEM_PACKAGES))" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

# ---- scheduled retraining on a Prefect server (docs/operations.md); each command in its own terminal --------
PREFECT_HOST    ?= $(CONTROL_HOST)
PREFECT_PORT    ?= 4200
PREFECT_API_URL ?= http://$(PREFECT_HOST):$(PREFECT_PORT)/api
# the global concurrency limits to create, one per GPU (1 slot each), and the one this GPU worker's trainings hold
GPU_LIMITS      ?= gpu
GAN_GPU_LIMIT   ?= gpu
# seconds without a heartbeat (flow runs send one every 30 s) before a flow run counts as Crashed: its machine died
# and the pipeline dispatches its training again (flows/work_pools.py)
CRASHED_AFTER   ?= 90
# e.g. RETRAIN_CRON='0 3 * * *': `make deploy` replaces prefect.yaml's weekly schedule with it
RETRAIN_CRON    ?=
BIN         = $(abspath $(VENV))/bin
PREFECT_ENV = PREFECT_HOME="$(CURDIR)/.prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false \
              PREFECT_API_URL=$(PREFECT_API_URL) PATH="$(BIN):$$PATH"

# its database (DB=postgres: the cluster of `make postgres`); URLs with a password reach a server by its environment,
# never its command line (which `ps` shows every user)
PREFECT_DB_URL ?= $(if $(filter postgres,$(DB)),$(call PG_URL,prefect,--driver asyncpg),sqlite+aiosqlite:///$(CURDIR)/.prefect/prefect.db)
prefect-server: export PREFECT_SERVER_DATABASE_CONNECTION_URL = $(PREFECT_DB_URL)
prefect-server: $(VENV)/.installed  ## the Prefect server and UI, state in .prefect/ (http://127.0.0.1:4200)
	$(PREFECT_ENV) prefect server start --host $(PREFECT_HOST) --port $(PREFECT_PORT)

prefect-setup: $(VENV)/.installed   ## work pools cpu and gpu, the GPU limits, the crash automation (idempotent)
	$(PREFECT_ENV) python -m flows.work_pools --gpu-limits $(GPU_LIMITS) --crashed-after $(CRASHED_AFTER)

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
# backend store: DB=postgres (the cluster of `make postgres`) or any postgresql+psycopg2://user:password@host:5432/mlflow;
# artifacts: or s3://bucket/mlflow (the server proxies them: clients need no store access)
MLFLOW_BACKEND_STORE ?= $(if $(filter postgres,$(DB)),$(call PG_URL,mlflow),sqlite:///$(CURDIR)/mlflow/mlflow.db)
MLFLOW_ARTIFACTS     ?= $(CURDIR)/mlflow/artifacts
MLFLOW_HOST          ?= $(CONTROL_HOST)
MLFLOW_PORT          ?= 5000
# the Host headers it answers (DNS rebinding): on another address than loopback, exactly the one workers use
MLFLOW_ALLOWED_HOSTS ?= $(if $(filter 127.0.0.1 localhost,$(MLFLOW_HOST)),,$(MLFLOW_HOST):$(MLFLOW_PORT))
MLFLOW_SERVER_ARGS   ?= --workers 2
# the registry `serve` loads from (the local store unless set)
MLFLOW_TRACKING_URI  ?= sqlite:///$(CURDIR)/mlflow/mlflow.db
VARIANT    ?= mlp
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 5001

# MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: no job runner (8 more processes for GenAI jobs this project has none of)
mlflow-server: export MLFLOW_BACKEND_STORE_URI = $(MLFLOW_BACKEND_STORE)
mlflow-server: $(VENV)/.installed   ## MLflow tracking server; use it with MLFLOW_TRACKING_URI=http://127.0.0.1:5000
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow server --artifacts-destination $(MLFLOW_ARTIFACTS) \
	    --host $(MLFLOW_HOST) --port $(MLFLOW_PORT) $(if $(MLFLOW_ALLOWED_HOSTS),--allowed-hosts $(MLFLOW_ALLOWED_HOSTS)) $(MLFLOW_SERVER_ARGS)

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
