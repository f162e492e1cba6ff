# Two commands a newcomer needs: `make demo` and `make test`. Everything else is a building block.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Every test spawns Python processes (meltano, taps, targets, sandboxes): with bytecode writing off (some shells and
# CI images export PYTHONDONTWRITEBYTECODE=1) each of them compiled meltano, singer-sdk and ponte from source again,
# twice the CPU of an import from .pyc (`python -c "import meltano.cli"`: 2.1 s vs 0.7 s). __pycache__ is ignored.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo serve test acceptance lint validate plugins bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==0.13.8" 2>/dev/null || true
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev,embedded-pg]'
	@touch $(STAMP)

install: $(STAMP)

## Run the demo end to end: sandbox + database + `ponte run tap-sienge target-postgres`, then show what landed.
demo: $(STAMP)
	$(BIN)/ponte demo

## The service (docs/deploy.md) on the Sienge sandbox and the demo database: prints its URL; Ctrl-C stops it.
serve: $(STAMP)
	$(BIN)/ponte serve --demo

## Lint, check the layer contracts, validate the declarations and run the whole test suite (what CI runs).
test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/ponte validate
	$(BIN)/pytest -n 6 --dist worksteal -m "not alone and not acceptance" --durations=25
	$(BIN)/pytest -m alone

## The end-to-end scenarios too long for CI's 10 minutes (two real runs taking turns on one extractor).
acceptance: $(STAMP)
	$(BIN)/pytest -n 2 -m acceptance

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

validate: $(STAMP)
	$(BIN)/ponte validate

## Rewrite plugins/*.yml (the Meltano plugin definitions) from meltano.yml after changing a plugin there.
plugins: $(STAMP)
	$(BIN)/python -m ponte.project.plugin_definitions

bench: $(STAMP)
	$(BIN)/python bench/tap_sienge.py
	$(BIN)/python bench/tap_bling.py
	$(BIN)/python bench/target_retailportal.py
	$(BIN)/python bench/scheduler_overhead.py
	$(BIN)/python bench/panel_pages.py

clean:
	rm -rf $(VENV) .meltano .ponte output bench/out
