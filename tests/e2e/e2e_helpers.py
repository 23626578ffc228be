"""Shared bits of the end-to-end tests."""
import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "Shapes" / "mask_rcnn_R_18_FPN_tiny.py")


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]


def train_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir) if r.get("type") == "train"]


def eval_rows(run_dir: Path) -> list[dict]:
    return [r for r in read_metrics(run_dir) if r.get("type") == "eval"]


def run_train_net(train_net, *argv: str):
    args = train_net.default_argument_parser().parse_args(list(argv))
    return train_net.main(args)


def load_train_net():
    """The launcher script as a module (it lives outside the package, like detectron2's tools/)."""
    spec = importlib.util.spec_from_file_location("train_net", REPO / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_in_rank_dir(argv: list[str], root: str) -> None:
    """A ``launch`` worker: ``train_net.main`` with this rank's own ``output_dir`` under ``root``."""
    from maskrcnn_ext.utils import comm

    train_net = load_train_net()
    run_train_net(train_net, *argv, f"train.output_dir={Path(root) / f'rank{comm.get_rank()}'}")
