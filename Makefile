# Two entry points for a fresh machine (see README.md):
#   make demo   set up a virtualenv, scan the bundled fixture APKs, write reports to out/
#   make test   set up a virtualenv and run the test suite (what CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: demo test bench clean
demo: $(VENV)/.installed
	mkdir -p out
	# exit 1 means "a prohibited app was found", which is the point of the fixtures
	$(VENV)/bin/apkscan scan fixtures/apks --json out/fixtures.json --html out/fixtures.html \
		--sarif out/fixtures.sarif --csv out/fixtures.csv; test $$? -le 1
	@echo "reports: out/fixtures.html out/fixtures.json out/fixtures.sarif out/fixtures.csv"

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/bench_inspect.py

clean:
	rm -rf $(VENV) out .pytest_cache
