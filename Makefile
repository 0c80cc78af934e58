# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

# Benchmarks are never part of `make test`. Quick size by default; BENCH_ARGS="--rows 10000000 --rows 20000000"
BENCH_ARGS ?= --rows 1000000
bench: $(STAMP)
	$(BIN)/python bench/copy_pg.py $(BENCH_ARGS)

clean:
	rm -rf demo-out .pytest_cache
