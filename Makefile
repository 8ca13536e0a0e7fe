PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck bench clean

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,sekoia]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m connector demo

test: $(BIN)/.installed
	$(BIN)/ruff check connector entrasim tests benchmarks integrations
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 3 --dist loadfile

bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV)
