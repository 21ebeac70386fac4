.PHONY: install format lint type test bench constraints

install:
	bash scripts/install.sh

format:
	.venv/bin/ruff format autoreward tests bench
	.venv/bin/ruff check --fix autoreward tests bench

lint:
	.venv/bin/ruff check autoreward tests bench

type:
	.venv/bin/mypy autoreward

test:
	bash scripts/test.sh

bench:
	.venv/bin/python bench/bench_train.py

# After changing dependencies in pyproject.toml: fresh venv, full test suite, new constraints.txt.
constraints:
	bash scripts/refresh-constraints.sh
