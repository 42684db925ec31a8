# The two set-up commands of the README: `make run` and `make test`.
VENV ?= .venv
PORT ?= 5006
HOST ?= 127.0.0.1
export VTK_DEFAULT_OPENGL_WINDOW ?= vtkEGLRenderWindow

.PHONY: setup run test lint bench build

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/injectmap serve --port $(PORT) --host $(HOST)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

build: setup
	$(VENV)/bin/injectmap anatomy build

bench: setup
	$(VENV)/bin/injectmap bench --format table
