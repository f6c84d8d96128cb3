# Set-up and everyday commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STATE  ?= .reconciler/state.db

.PHONY: install run test docs schemas examples golden clean bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## Plan and apply the examples into a fresh SQLite store, then show that nothing is left to do.
run: install
	rm -f $(STATE) $(STATE)-wal $(STATE)-shm
	$(BIN)/reconciler validate examples/enterprises
	$(BIN)/reconciler apply examples/enterprises --state sqlite:///$(STATE) --auto-approve
	$(BIN)/reconciler plan examples/enterprises --state sqlite:///$(STATE) --detailed-exitcode
	$(BIN)/reconciler show --state sqlite:///$(STATE)
	$(BIN)/reconciler audit verify --state sqlite:///$(STATE)

test: install
	$(BIN)/python -m pytest -q

## Regenerate what is derived from the code: JSON Schema and the README's tables.
docs schemas: install
	$(BIN)/python -m reconciler.docs

## Regenerate the large example enterprise (deterministic).
examples: install
	$(BIN)/python examples/make_large_employer.py examples/enterprises/large-employer

## Rewrite the golden plan outputs after an intended change of format.
golden: install
	$(BIN)/python -m pytest -q tests/test_golden.py --update-golden

clean:
	rm -rf $(VENV) .reconciler .pytest_cache

## Benchmarks (not part of make test): BENCH_SIZES=10k,100k make bench for a quicker run.
bench: install
	$(BIN)/python bench/run.py
