# Entry points: `make pipeline` installs and runs the paper's pipeline, `make study` the regime map
# (study/dvc.yaml, docs/study.md), `make test` runs every test (what CI runs), `make test-fast` the unit tests
# (no pipeline run, no server), `make docs` rewrites the docs' generated blocks from the committed results.
# Offline: C2Q_DATA_MIRROR=../shared/datasets make pipeline
# `make tracking-server` starts MLflow on PostgreSQL in .tracking/ (docs/team.md).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install pipeline study docs test test-fast tracking-server ui

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

pipeline: install
	PATH=$(abspath $(VENV))/bin:$$PATH dvc repro

study: install
	PATH=$(abspath $(VENV))/bin:$$PATH dvc repro study/dvc.yaml

docs: install  # the tables and numbers of README.md and docs/ from metrics/ and study/results/ (c2q/docs)
	$(PY) -m c2q.docs

# The suite mostly waits on subprocesses and servers, so its files run on TEST_WORKERS workers (pytest-xdist);
# each file stays on one worker, whose module fixtures (a digits pipeline, a PostgreSQL server) it builds once.
TEST_WORKERS ?= 2

test: install
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: install
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest -q -m "not pipeline and not server"

ui: install  # mlflow ui on mlflow.db, and the link that opens the pipeline's run list
	$(PY) -m c2q.tracking.ui

tracking-server: install
	$(PY) -m c2q.tracking.server --dir .tracking
