import importlib.util
import os

import pytest
from e2e_helpers import REPO


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory):
    """One generated copy of the shapes splits for every end-to-end test."""
    root = tmp_path_factory.mktemp("datasets")
    old = os.environ.get("MASKRCNN_EXT_DATASETS")
    os.environ["MASKRCNN_EXT_DATASETS"] = str(root)
    yield root
    if old is None:
        os.environ.pop("MASKRCNN_EXT_DATASETS", None)
    else:
        os.environ["MASKRCNN_EXT_DATASETS"] = old


@pytest.fixture(scope="session")
def train_net():
    """The launcher script as a module (it lives outside the package, like detectron2's tools/)."""
    spec = importlib.util.spec_from_file_location("train_net", REPO / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
