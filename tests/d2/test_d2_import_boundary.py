"""The bridge's boundary: only ``maskrcnn_ext.d2`` imports detectron2, and without detectron2 it says
how to install it. Runs everywhere, detectron2 or not (each check in a fresh interpreter)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=600)


def test_importing_every_module_outside_the_bridge_never_imports_detectron2():
    result = run_python("""
        import importlib, pkgutil, sys
        import maskrcnn_ext

        def fail(name):
            raise ImportError(f"cannot import {name}")

        imported = []
        for top in pkgutil.iter_modules(maskrcnn_ext.__path__, "maskrcnn_ext."):
            if top.name in ("maskrcnn_ext.d2", "maskrcnn_ext.__main__"):  # the bridge; the CLI entry point runs
                continue
            package = importlib.import_module(top.name)
            imported.append(top.name)
            if top.ispkg:
                for info in pkgutil.walk_packages(package.__path__, top.name + ".", onerror=fail):
                    if not info.name.endswith(".__main__"):
                        importlib.import_module(info.name)
                        imported.append(info.name)
        print(len(imported))
        print(sorted(m for m in sys.modules if m.split(".")[0] == "detectron2" or m.startswith("maskrcnn_ext.d2")))
    """)
    assert result.returncode == 0, result.stderr
    count, leaked = result.stdout.strip().splitlines()[-2:]
    assert int(count) > 50  # the walk reached the package's modules
    assert leaked == "[]"


def test_the_bridge_without_detectron2_raises_an_import_error_that_says_how_to_install_it():
    result = run_python("""
        import sys
        sys.modules["detectron2"] = None  # as if detectron2 were not installed, also where it is
        try:
            import maskrcnn_ext.d2
        except ImportError as err:
            print(err)
        else:
            raise SystemExit("maskrcnn_ext.d2 imported without detectron2")
    """)
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert "needs detectron2" in message and "not on PyPI" in message
    assert "pip install 'git+https://github.com/facebookresearch/detectron2.git'" in message
    assert "detectron2.readthedocs.io" in message
