# Quick start: `make demo` (install, train + evaluate the CPU demo) and `make test` (install, run tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/Shapes/mask_rcnn_R_18_FPN_demo.py
# Two data-parallel CPU processes (gloo): on 2 cores they train ~1.25x faster than one process with
# two threads, which gains little from its second thread. The demo's numbers are measured this way.
DEMO_PROCESSES ?= 2
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
	$(PY) train_net.py --config-file $(DEMO_CONFIG) --num-processes $(DEMO_PROCESSES)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
