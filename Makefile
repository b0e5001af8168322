# The two commands at the top of README.md: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BASTION_HOME := $(CURDIR)

.PHONY: demo test test-sqlite test-postgres lint bench bench-quick bench-zones bench-testing bench-scan-api bench-backpressure bench-delivery bench-transfer bench-codes messages clean help

help:
	@echo "make demo   - build a demo city under ./var and serve the console on http://127.0.0.1:8000"
	@echo "make test   - run the whole suite"
	@echo "make bench  - city generation benchmarks (docs/BENCHMARKS.md)"

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Bastion needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	mkdir -p var
	BASTION_DEV=1 $(BIN)/bastion demo

# On a developer's machine: SQLite, then PostgreSQL if one answers. In CI (.ci/run): both, always.
test: $(STAMP)
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	@if [ -n "$$CI" ] || $(BIN)/python -c 'import psycopg,sys; psycopg.connect("postgres://postgres@127.0.0.1:5432/test", connect_timeout=2).close()' 2>/dev/null; then \
		$(MAKE) --no-print-directory test-postgres; \
	else echo "PostgreSQL not reachable on 127.0.0.1:5432: skipped the PostgreSQL run"; fi

test-sqlite: $(STAMP)
	mkdir -p var
	SECRET_KEY=test-only-secret-key-0123456789abcdef DATABASE_URL=sqlite:///var/test.db \
		$(BIN)/pytest -n 2 -m "not postgres" $(PYTEST_ARGS)

test-postgres: $(STAMP)
	SECRET_KEY=test-only-secret-key-0123456789abcdef DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
		$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	BASTION_DEV=1 $(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/city_generation.py --sqlite-residents 1000000 --postgres-residents 21000000
	$(MAKE) --no-print-directory bench-zones

bench-quick: $(STAMP)
	$(BIN)/python bench/city_generation.py --sqlite-residents 100000 --postgres-residents 1000000
	$(BIN)/python bench/zones.py --residents 1000000 --zones 4000 --database bench_zones_quick

# Cases and zones on a 21 M city in the database bench_zones, kept between runs (generated once).
bench-zones: $(STAMP)
	$(BIN)/python bench/zones.py --residents 21000000 --keep

# A Chengdu round of mass testing (20 M scans) on the same 21 M city, beside its floors. Long:
# about 25 minutes on this machine (docs/BENCHMARKS.md), so not part of `make bench`.
bench-testing: $(STAMP)
	$(BIN)/python bench/testing_round.py --database bench_zones --keep

# The single-scan API under load (granian on loopback); generates its 1 M city when missing.
# The load generator is wrk (Debian's package), installed here when missing, never by hand.
bench-scan-api: $(STAMP)
	@if ! command -v wrk >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi; \
	fi
	$(BIN)/python bench/scan_api.py --database bench_scan_api --seconds 30

# A burst on the single scan (issue 14 §6): steady load, then 1,000 connections at once; the
# burst answered 503 with Retry-After, the served scans timed, the server healthy afterwards.
bench-backpressure: $(STAMP)
	@if ! command -v wrk >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi; \
	fi
	$(BIN)/python bench/backpressure.py --database bench_scan_api --seconds 30

# Supplies and delivery (issue 5): the day's standard packages and building tasks for 1 M locked
# households, the coverage board, 50 volunteers claiming 10,000 tasks through the API (granian).
# Generates its 3 M city in bench_delivery when missing; about 25 minutes (docs/BENCHMARKS.md).
bench-delivery: $(STAMP)
	$(BIN)/python bench/delivery_day.py --keep

# Transfer: a 1,000-case day against 500 vehicles and 50 places, on SQLite and PostgreSQL.
bench-transfer: $(STAMP)
	$(BIN)/python bench/transfer_assign.py

# Health codes (issue 14) on the 21 M city of bench_zones (generated once): a zone's residents
# recoloured, a 20 M round's results (bench/testing_round.py's files), its deadline and a timed
# sweep, then venue checks under wrk (installed here when missing, as for bench-scan-api).
# Long: the round's loads take most of half an hour on this machine (docs/BENCHMARKS.md).
bench-codes: $(STAMP)
	@if ! command -v wrk >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null; fi; \
	fi
	$(BIN)/python bench/codes.py --database bench_zones --keep --explain

messages: $(STAMP)
	cd src/bastion && ../../$(BIN)/bastion makemessages -l zh_Hans -l en --no-obsolete && ../../$(BIN)/bastion compilemessages

clean:
	rm -rf $(VENV) var
