VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint clean area-codes

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: install
	$(PY) -m dialer.demo

test: install lint
	$(PY) -m pytest

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The area code -> state table, from phonenumbers' geocoder (a test says when it is stale).
area-codes: install
	$(PY) -c 'from compliance.zones import area_code_table; print(area_code_table(), end="")' \
		> config/area_codes.toml

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
