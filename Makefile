# The two commands a new user runs (see README): `make run` and `make test`.
PY := .venv/bin/python

.PHONY: setup run test lint bench

setup:
	bash scripts/setup.sh

run: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check .

bench: setup
	$(PY) benchmarks/bench_model.py
