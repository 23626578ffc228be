"""Logger setup, environment report, seeding, argument parser and run-directory setup."""
from __future__ import annotations

import logging

import pytest
import torch
from omegaconf import OmegaConf

from maskrcnn_ext.engine import defaults as defaults_module
from maskrcnn_ext.engine import default_argument_parser, default_setup
from maskrcnn_ext.utils.env import collect_env_info, seed_all
from maskrcnn_ext.utils.logger import setup_logger


def _own_handlers(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if hasattr(h, "_maskrcnn_ext_handler")]


def test_setup_logger_is_idempotent_and_appends(tmp_path):
    (tmp_path / "log.txt").write_text("from the previous run\n")
    logger = setup_logger(str(tmp_path), name="maskrcnn_ext.test_a")
    setup_logger(str(tmp_path), name="maskrcnn_ext.test_a")
    assert len(_own_handlers(logger)) == 2  # one console, one file
    logging.getLogger("maskrcnn_ext.test_a.child").info("hello")
    for handler in logger.handlers:
        handler.flush()
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert lines[0] == "from the previous run"
    assert lines[1].endswith("maskrcnn_ext.test_a.child INFO] hello")
    for handler in _own_handlers(logger):
        handler.close()
        logger.removeHandler(handler)


def test_non_main_rank_writes_no_file_and_sends_warnings_to_stderr(tmp_path, capsys):
    logger = setup_logger(str(tmp_path), distributed_rank=3, name="maskrcnn_ext.test_b")
    logger.info("progress only rank 0 reports")
    logger.warning("image x.jpg is truncated")
    handlers = _own_handlers(logger)
    assert [type(h) for h in handlers] == [logging.StreamHandler]
    assert not list(tmp_path.iterdir())
    err = capsys.readouterr().err
    assert "[rank 3]" in err and "image x.jpg is truncated" in err and "progress" not in err
    logger.removeHandler(handlers[0])


def test_env_info_and_seed():
    info = collect_env_info()
    assert "torch" in info and torch.__version__ in info
    assert "pycocotools" in info and "CUDA available" in info
    seed_all(7)
    first = torch.rand(3)
    seed_all(7)
    assert torch.equal(torch.rand(3), first)
    with pytest.raises(ValueError, match="seed must be in"):
        seed_all(-1)


def test_argument_parser():
    args = default_argument_parser().parse_args(
        ["--config-file", "a.py", "--resume", "--num-gpus", "2", "train.max_iter=5", "optimizer.lr=0.1"]
    )
    assert args.config_file == "a.py" and args.resume and not args.eval_only
    assert args.num_gpus == 2 and args.dist_url == "auto"
    assert args.opts == ["train.max_iter=5", "optimizer.lr=0.1"]
    assert default_argument_parser().parse_args(["--num-processes", "3"]).num_gpus == 3


class _FakeLazyConfig:
    saved: list[str] = []

    @classmethod
    def save(cls, cfg, path):
        cls.saved.append(path)
        with open(path, "w") as f:
            f.write(OmegaConf.to_yaml(cfg))


def test_default_setup_fills_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(defaults_module, "LazyConfig", _FakeLazyConfig)
    source = tmp_path / "my_config.py"
    source.write_text("train = dict(max_iter=5)\n")
    output_dir = tmp_path / "run"
    cfg = OmegaConf.create({"train": {"output_dir": str(output_dir), "seed": 11}})
    args = default_argument_parser().parse_args(["--config-file", str(source)])

    default_setup(cfg, args)

    assert sorted(p.name for p in output_dir.iterdir()) == ["config.yaml", "config_source.py", "config_source.txt",
                                                            "env.txt", "log.txt"]
    assert (output_dir / "config_source.txt").read_text().strip().endswith("my_config.py")
    assert _FakeLazyConfig.saved == [str(output_dir / "config.yaml")]
    assert (output_dir / "config_source.py").read_text() == "train = dict(max_iter=5)\n"
    assert "torch" in (output_dir / "env.txt").read_text()
    drawn = torch.rand(2)
    torch.manual_seed(11)  # rank 0: seed + 0
    assert torch.equal(drawn, torch.rand(2))
    for handler in logging.getLogger("maskrcnn_ext").handlers:
        handler.flush()
    assert "Command line arguments" in (output_dir / "log.txt").read_text()
