"""Shared bits of the model-zoo tests."""
import contextlib
import functools
import http.server
import json
import threading
from pathlib import Path

import torch

from maskrcnn_ext.config import LazyConfig, instantiate
from maskrcnn_ext.engine.checkpoint import Checkpointer

TINY = str(Path(__file__).resolve().parents[2] / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny.py")


def make_run(run: Path, *, seed: int = 0, evaluated: bool = True, final: bool = True) -> Path:
    """A run directory as training leaves it (config, checkpoint with optimizer state, metrics),
    with the tiny config's randomly initialised model instead of a trained one."""
    cfg = LazyConfig.load(TINY)
    cfg.train.output_dir = str(run)
    run.mkdir(parents=True)
    LazyConfig.save(cfg, str(run / "config.yaml"))
    torch.manual_seed(seed)
    model = instantiate(cfg.model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    Checkpointer(model, str(run), optimizer=optimizer).save("model_final" if final else "model_0000004", iteration=9)
    rows = [{"type": "train", "iteration": 4, "time": 0.5}, {"type": "train", "iteration": 9, "time": 0.7}]
    if evaluated:
        rows.append({"type": "eval", "iteration": 9, "bbox/AP": 0.25, "segm/AP": 0.2, "inference/s_per_img": 0.05})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@contextlib.contextmanager
def serve_folder(directory):
    """``directory`` served over HTTP on 127.0.0.1 while the block runs; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
