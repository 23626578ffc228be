"""Shared bits of the end-to-end tests."""
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
