# edge-music: `make run` plays, `make test` checks. Both install what is missing first.
VENV   := .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edge-installed

.PHONY: run test bench soak lint deps-run deps-test deps-bench clean

run: deps-run $(STAMP)
	$(VENV)/bin/edge-music run $(ARGS)

test: deps-test $(STAMP)
	$(PY) -m ruff check edge tests scripts
	$(PY) -m pytest $(PYTEST_ARGS)

bench: deps-bench $(STAMP)
	$(PY) scripts/bench.py --out docs/benchmarks.md

soak: deps-test $(STAMP)
	$(PY) scripts/soak.py --minutes 30 --restarts 5

lint: $(STAMP)
	$(PY) -m ruff check edge tests scripts

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

deps-bench:
	@scripts/install-deps.sh bench

# Re-install only when the project metadata changes; a second run costs nothing.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
