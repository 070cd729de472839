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
	$(VENV)/bin/apkscan inspect fixtures/apks/*.apk --json > out/fixtures-identity.json; test $$? -le 3
	$(VENV)/bin/apkscan inspect fixtures/apks/clean-v1v2v3.apk fixtures/apks/wechat-forged-cert.apk

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/bench_inspect.py

clean:
	rm -rf $(VENV) out .pytest_cache
