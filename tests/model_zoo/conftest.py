import pytest
from zoo_helpers import make_run, serve_folder

from maskrcnn_ext.model_zoo import publish_run


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A zoo folder with one published model, ``tiny_run``; returns (zoo dir, run dir)."""
    root = tmp_path_factory.mktemp("zoo_case")
    run = make_run(root / "tiny_run")
    publish_run(run, root / "zoo", input_size=(64, 80))
    return root / "zoo", run


@pytest.fixture
def http_zoo(zoo):
    """The zoo folder served over HTTP on 127.0.0.1; yields its URL."""
    with serve_folder(zoo[0]) as url:
        yield url
