VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench loadtest lint clean area-codes

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

# Needs PostgreSQL at 127.0.0.1:5432. The full size: 3 nodes and 20,000 leads with its
# invariants, then attempts per second with 1, 2 and 3 nodes on one campaign and on three.
# Bounded: at most 4 + 6 x 2 minutes of dialing.
loadtest: install
	$(PY) -m bench.loadtest --nodes 3 --leads 20000 --seconds-max 240
	$(PY) -m bench.loadtest --scaling 1,2,3 --leads 20000 --seconds-max 120
	$(PY) -m bench.loadtest --scaling 1,2,3 --leads 20000 --seconds-max 120 --campaigns 3

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The area code -> state table, from phonenumbers' geocoder (a test says when it is stale).
area-codes: install
	$(PY) -c 'from compliance.zones import area_code_table; print(area_code_table(), end="")' \
		> config/area_codes.toml

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
