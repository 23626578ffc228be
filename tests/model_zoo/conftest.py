import functools
import http.server
import threading

import pytest
from zoo_helpers import make_run

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
    handler = functools.partial(_QuietHandler, directory=str(zoo[0]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
