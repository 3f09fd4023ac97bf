# Entry points: `make pipeline` installs and runs the paper's pipeline, `make study` the regime map
# (study/dvc.yaml, README: "When does distillation help?"), `make test` runs the tests.
# Offline: C2Q_DATA_MIRROR=../shared/datasets make pipeline
# `make tracking-server` starts MLflow on PostgreSQL in .tracking/ (README: "Working as a team").
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install pipeline study test tracking-server

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

test: install
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest -q

tracking-server: install
	$(PY) -m c2q.tracking_server --dir .tracking
