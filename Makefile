# proxyinit: `make demo` and `make test` do all the set-up on a fresh Debian machine (as root).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lint test demo bench clean

install: $(STAMP)

# Re-runs only when pyproject.toml or scripts/proxyinit changes; `compat` editable mode is a
# plain .pth path entry, which keeps the init container's start-up free of setuptools' import
# hook (~10 ms). pip writes `proxyinit`'s first line as `#!<python>`, dropping the `-S` after
# `#!python`: the sed puts it back (no `site` at start-up, see scripts/proxyinit; idempotent).
$(STAMP): pyproject.toml scripts/system-packages.sh scripts/proxyinit
	sh scripts/system-packages.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e '.[dev]'
	sed -i '1s|^\(#!.*python[0-9.]*\)$$|\1 -S|' $(VENV)/bin/proxyinit
	touch $(STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest

demo: install
	$(PY) -m proxyinit demo

bench: install
	$(PY) -m bench.apply
	$(PY) -m bench.conn_rate
	$(PY) -m bench.xds_push
	$(PY) -m bench.xds_push --no-envoy --streams 10000 --processes 4
	$(PY) -m bench.api_push
	$(PY) -m bench.replicas
	$(PY) -m bench.api_scale
	$(PY) -m bench.mesh

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
