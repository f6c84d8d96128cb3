# Set-up and everyday commands. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STATE  ?= .reconciler/state.db
LETTERS ?= .reconciler/letters
PLAN   ?= .reconciler/first-apply.plan
PORT   ?= 8080
SUDO    = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run serve browser axe lint test docs schemas examples golden clean bench messages translations screenshots

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q reconciler  # as a wheel's install does, also where bytecode is not written
	touch $@

## Plan and apply the examples into a fresh SQLite store (access codes as letters), then show
## that nothing is left to do, and where the letters and the first-login page are. The first
## plan has thousands of lines: it is printed as counts and saved whole in $(PLAN).
run: install
	@rm -rf $(STATE) $(STATE)-wal $(STATE)-shm $(LETTERS) $(PLAN)
	@$(BIN)/reconciler validate examples/enterprises
	@$(BIN)/reconciler plan examples/enterprises --state sqlite:///$(STATE) --out $(PLAN) > /dev/null
	@$(BIN)/reconciler apply $(PLAN) --state sqlite:///$(STATE) --auto-approve --summary \
		--delivery letters:$(LETTERS) --login-url http://127.0.0.1:$(PORT)/first-login
	@$(BIN)/reconciler plan examples/enterprises --state sqlite:///$(STATE) --detailed-exitcode
	@$(BIN)/reconciler show --state sqlite:///$(STATE)
	@$(BIN)/reconciler audit verify --state sqlite:///$(STATE)
	@echo
	@echo "The whole first plan: $(BIN)/reconciler show $(PLAN)"
	@echo "Access codes of the example accounts, one folder per person: $(LETTERS)/<enterprise>/<user name>/"
	@echo "  for example: cat $(LETTERS)/0999055557/emertens/*"
	@echo "First-login page: run 'make serve', then open http://127.0.0.1:$(PORT)/first-login"

## Serve the first-login page and the overview on the store `make run` filled.
serve: install
	$(BIN)/reconciler serve --state sqlite:///$(STATE) --port $(PORT)

## Debian's Chromium, for the end-to-end tests of the first-login page.
browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

## axe-core, pinned, from the npm registry: the accessibility check the end-to-end tests run in Chromium.
AXE_VERSION = 4.14.1
AXE_DIR = .reconciler/axe-$(AXE_VERSION)
axe: $(AXE_DIR)/node_modules/axe-core/axe.min.js

$(AXE_DIR)/node_modules/axe-core/axe.min.js:
	@mkdir -p $(AXE_DIR)
	cd $(AXE_DIR) && npm install --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION)

## The layer contract (.importlinter), ruff's lint rules and format, and mypy; `make test` runs it first.
lint: install
	$(BIN)/ruff check reconciler tests bench examples
	$(BIN)/ruff format --check reconciler tests bench examples
	$(BIN)/lint-imports
	$(BIN)/mypy

test: install browser axe lint
	$(BIN)/python -m pytest -q -n auto

## Texts to translate: extract them from the code and templates into messages.pot and merge them
## into each language's messages.po (then translate, then `make translations`).
LOCALE = reconciler/locale
messages: install
	$(BIN)/pybabel --quiet extract -F $(LOCALE)/babel.cfg -k N_ --no-location --sort-output \
		--add-comments Translators: --project reconciler --copyright-holder reconciler \
		-o $(LOCALE)/messages.pot reconciler
	$(BIN)/pybabel --quiet update -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages --no-fuzzy-matching --ignore-obsolete

## Compile the catalogues into the .mo files shipped in the package (nothing is compiled at run time).
translations: install
	$(BIN)/pybabel compile -d $(LOCALE) -D messages --statistics

## The first-login page in Dutch and French, and the overview, for the README (docs/screenshots/).
screenshots: install browser
	$(BIN)/python -m tests.make_screenshots docs/screenshots

## Regenerate what is derived from the code: JSON Schema and the README's tables.
docs schemas: install
	$(BIN)/python -m reconciler.cli.docs

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
