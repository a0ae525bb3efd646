# proxyinit: `make demo` and `make test` do all the set-up on a fresh Debian machine (as root).
# The venv's interpreter: Debian's own python3, the one the set-up documents (built with PGO and
# LTO, as the image's python:3.11-slim): a pyenv build first on PATH starts `proxyinit` ~10% slower.
PYTHON ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Who made a venv, as venv writes it in pyvenv.cfg (`executable`, `version`).
MADE_BY := import os, sys; print(os.path.realpath(sys.executable), "%d.%d.%d" % sys.version_info[:3])

.PHONY: install lint test demo bench clean FORCE

install: $(STAMP)

# Re-runs only when pyproject.toml or scripts/proxyinit changes or the venv is made (again);
# `compat` editable mode is a plain .pth path entry, which keeps the init container's start-up
# free of setuptools' import hook (~10 ms). pip writes `proxyinit`'s first line as `#!<python>`, dropping the `-S` after
# `#!python`: the sed puts it back (no `site` at start-up, see scripts/proxyinit; idempotent).
$(STAMP): pyproject.toml scripts/system-packages.sh scripts/proxyinit $(VENV)/pyvenv.cfg
	PYTHON=$(PYTHON) sh scripts/system-packages.sh
	$(PY) -m pip install -q --disable-pip-version-check --config-settings editable_mode=compat -e '.[dev]'
	sed -i '1s|^\(#!.*python[0-9.]*\)$$|\1 -S|' $(VENV)/bin/proxyinit
	touch $(STAMP)

# Checked at every `make install`: a venv another interpreter made is removed and made again with
# $(PYTHON); its new pyvenv.cfg, newer than the stamp, installs the packages again.
$(VENV)/pyvenv.cfg: FORCE
	@if [ -f $@ ]; then \
	  made="$$(sed -n 's/^executable = //p' $@) $$(sed -n 's/^version = //p' $@)"; \
	  want="$$($(PYTHON) -c '$(MADE_BY)')" || exit 1; \
	  [ "$$made" = "$$want" ] || { echo "rebuilding $(VENV): made by $$made, PYTHON=$(PYTHON) is $$want"; rm -rf $(VENV); }; \
	fi
	@test -f $@ || { PYTHON=$(PYTHON) sh scripts/system-packages.sh && set -x && $(PYTHON) -m venv $(VENV); }

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

FORCE:
