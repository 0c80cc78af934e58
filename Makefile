# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both install the exact versions in requirements.lock (hashes checked): a fresh machine runs what CI ran.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock

.PHONY: demo test lint imports bench clean lock test-latest messages

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bunkatsu demo --dir demo-out

# Two pytest workers: the suite is I/O-bound on the database servers; each test makes its own databases.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check split checks tests
	$(BIN)/mypy split checks
	$(BIN)/lint-imports

# The message catalogues (README "Languages"): extract every marked message and template string into the .pot,
# merge it into each language's .po (translate what is new there), compile the .mo files the package reads.
# tests/test_i18n.py fails when a message is missing from the catalogue or lacks a Japanese translation.
LOCALES := split/locale
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --omit-header -o $(LOCALES)/bunkatsu.pot .
	$(BIN)/pybabel update -i $(LOCALES)/bunkatsu.pot -d $(LOCALES) -D bunkatsu -l ja --no-fuzzy-matching
	$(BIN)/pybabel compile -d $(LOCALES) -D bunkatsu -l ja

# The lock: the versions the tests passed with. Regenerate after changing a range in pyproject.toml, run
# `make test`, commit both. uv resolves for every platform (--universal) and records every file's hash.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--no-header --quiet -o $(LOCK) $(LOCK_ARGS)

# The newest versions pyproject.toml's ranges allow, in a venv of their own: the next upstream break shows
# here before a user installs it (the lock test is skipped: that venv is unlocked on purpose).
LATEST := .venv-latest
test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev]'
	BUNKATSU_UNLOCKED=1 $(LATEST)/bin/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Benchmarks are never part of `make test`. Quick size by default; BENCH_ARGS="--rows 10000000 --rows 20000000"
BENCH_ARGS ?= --rows 1000000
bench: $(STAMP)
	$(BIN)/python bench/copy_pg.py $(BENCH_ARGS)
	$(BIN)/python bench/many_tables.py --supply-points 3000

clean:
	rm -rf demo-out .pytest_cache
