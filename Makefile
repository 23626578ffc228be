# Quick start: `make demo` (install, train + evaluate the CPU demo) and `make test` (install, run tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/Shapes/mask_rcnn_R_18_FPN_demo.py
PYTEST_ARGS ?=

.PHONY: demo test install clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install whenever the dependency declarations change.
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) train_net.py --config-file $(DEMO_CONFIG)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
