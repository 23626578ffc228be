# Quick start: `make demo` (install, train + evaluate the CPU demo) and `make test` (install, run tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_CONFIG ?= configs/Shapes/mask_rcnn_R_18_FPN_demo.py
# Two data-parallel CPU processes (gloo): on 2 cores they train ~1.25x faster than one process with
# two threads, which gains little from its second thread. The demo's numbers are measured this way.
DEMO_PROCESSES ?= 2
PYTEST_ARGS ?=

.PHONY: demo test install install-d2 clean-venv

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install whenever the dependency declarations change.
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

# Detectron2 is not on PyPI. To run the bridge's tests (tests/d2) against a real Detectron2, point
# D2_WHEEL at a wheel built for the pinned torch and this Python (README, "Detectron2"); without it,
# those tests skip. setuptools<81: Detectron2's model_zoo still imports pkg_resources.
D2_WHEEL ?=
D2_DEPS := "setuptools<81" iopath yacs tabulate cloudpickle termcolor hydra-core black

install-d2: install
	@test -n "$(D2_WHEEL)" || { echo "install-d2: set D2_WHEEL=path/to/detectron2-*.whl"; exit 2; }
	$(PY) -m pip install --quiet $(D2_DEPS)
	$(PY) -m pip install --quiet --no-deps --force-reinstall "$(D2_WHEEL)"
	$(PY) -c "import detectron2._C, maskrcnn_ext.d2" || { $(PY) -m pip uninstall --quiet -y detectron2; \
		echo "install-d2: $(D2_WHEEL) does not work with this torch/Python; removed it, tests/d2 will skip"; }

demo: install
	$(PY) train_net.py --config-file $(DEMO_CONFIG) --num-processes $(DEMO_PROCESSES)

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
