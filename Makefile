# edge-music: `make run` plays, `make test` checks. Both install what is missing first.
VENV   := .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edge-installed
DEV    := $(VENV)/.edge-dev-installed

.PHONY: run test bench soak lint models data deps-run deps-test deps-bench clean

run: deps-run $(STAMP)
	$(VENV)/bin/edge-music run $(ARGS)

# Tests need the train extra too (CI's smoke test trains, exports and plays a tiny model), the
# eval extra (the evaluation's piano rolls and loudness meter are tested) and the sampled extra
# (FluidSynth plays the packs' SoundFont instruments).
test: deps-test $(DEV)
	$(PY) -m ruff check edge tests scripts
	$(PY) -m pytest $(PYTEST_ARGS)

bench: deps-bench $(DEV)
	$(PY) scripts/bench.py --out docs/benchmarks.md
	$(PY) scripts/bench_sampled.py --out docs/benchmarks.md
	$(PY) scripts/bench_credentials.py --out docs/benchmarks.md
	$(PY) scripts/bench_deck.py --out docs/benchmarks.md
	$(PY) scripts/bench_audio_track.py --out docs/benchmarks.md
	$(PY) scripts/bench_reimagine.py --out docs/benchmarks.md

soak: deps-test $(DEV)
	$(PY) scripts/soak.py --minutes 30 --restarts 5

lint: $(DEV)
	$(PY) -m ruff check edge tests scripts

# The shipped models, exactly as committed: data, then S, M and L (resumable), then the figures.
data: $(DEV)
	$(PY) scripts/build_data.py

models: data
	$(PY) scripts/train_model.py --tier S --author edge-music --licence MIT
	$(PY) scripts/train_model.py --tier M --author edge-music --licence MIT
	$(PY) scripts/train_model.py --tier L --author edge-music --licence MIT
	$(PY) scripts/eval_models.py

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

deps-bench:
	@scripts/install-deps.sh bench

# Re-install only when the project metadata changes; a second run costs nothing.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	@touch $(STAMP)

$(DEV): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,train,eval,sampled,bench]'
	@touch $(STAMP) $(DEV)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
