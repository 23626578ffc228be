import os

import pytest
from e2e_helpers import TINY, load_train_net, run_train_net


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


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, datasets_root, train_net):
    """The tiny config trained once (30 iterations): its directory and final results."""
    out = tmp_path_factory.mktemp("tiny_run")
    results = run_train_net(train_net, "--config-file", TINY, f"train.output_dir={out}")
    return out, results
