import os

import pytest
from e2e_helpers import load_train_net


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
    return load_train_net()
