# The two commands a new user runs (see README): `make run` and `make test`.
#   make run ARGS="--port 7861"          flags for app.py
#   make test TESTS="tests/test_lift.py"  a part of the suite (default: all of it)
#   make test JOBS=0                      in one process (default: 2 pytest-xdist workers)
PY := .venv/bin/python
ARGS ?=
TESTS ?=
JOBS ?= 2

.PHONY: setup setup-test run test lint bench

# torch-cluster only where torch sees a GPU (a CPU-only first run takes minutes, not 11 more)
setup:
	bash scripts/setup.sh run

# torch-cluster always: its backend tests run in CI
setup-test:
	bash scripts/setup.sh test

run: setup
	$(PY) app.py $(ARGS)

test: setup-test
	$(PY) -m pytest -q -n $(JOBS) --dist loadgroup $(TESTS)

lint: setup
	$(PY) -m ruff check .

bench: setup-test
	$(PY) benchmarks/bench_model.py
