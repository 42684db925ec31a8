# The two set-up commands of the README: `make run` and `make test` (and `make test-fast` for the inner loop).
VENV ?= .venv
export VENV
PORT ?= 5006
HOST ?= 127.0.0.1
# pytest-xdist workers: 2 on this 2-core machine; `make test JOBS=auto` uses every core
JOBS ?= 2
export VTK_DEFAULT_OPENGL_WINDOW ?= vtkEGLRenderWindow

# every test, in parallel; the browser tests on the shared app server run in order on one worker (one xdist group;
# each browser module with a server of its own is a group of its own, see tests/conftest.py),
# the docstring examples of injectmap run too (conftest files are not collected as doctest modules: two share
# the name conftest; the database migrations' env.py runs only inside Alembic); the 15 slowest tests are listed at the end
PYTEST = $(VENV)/bin/python -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadgroup --durations=15 --ignore-glob='*/conftest.py' --ignore-glob='*/migrations/env.py'
# the inner loop: no browser, no notebooks, no faces other than the default, no wheel build, no benchmark
FAST = -m "not browser and not notebooks and not variants and not wheel and not bench"

.PHONY: setup run test test-fast lint bench build

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/injectmap serve --port $(PORT) --host $(HOST)

test: setup lint
	$(PYTEST) --doctest-modules injectmap tests

test-fast: setup lint
	$(PYTEST) $(FAST) --doctest-modules injectmap tests

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

build: setup
	$(VENV)/bin/injectmap anatomy build

bench: setup
	$(VENV)/bin/injectmap bench --format table
