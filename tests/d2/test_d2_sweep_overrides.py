"""The overrides ``maskrcnn-ext sweep`` gives each job (seed, output folder) apply to the bridge's
Detectron2 LazyConfigs, so a suite with a Detectron2 ``launcher:`` seeds and places its runs."""
import pytest

pytest.importorskip("detectron2")

from d2_helpers import CONFIG_DIR
from detectron2.config import LazyConfig

from maskrcnn_ext.experiments.sweep import Suite, plan_sweep


def test_sweep_job_overrides_set_seed_and_output_dir(tmp_path):
    config = CONFIG_DIR / "mask_rcnn_R_50_C4_roiwarp_pooler.py"
    suite = Suite(path=str(tmp_path / "suite.yaml"), seeds=[7], arms={"c_roiwarp": str(config)},
                  overrides=["train.max_iter=40"], subsets={})
    (job,) = plan_sweep(suite, output_dir=str(tmp_path / "out"))
    cfg = LazyConfig.apply_overrides(LazyConfig.load(job.config), job.overrides)
    assert (cfg.train.seed, cfg.dataloader.train.seed, cfg.train.max_iter) == (7, 7, 40)
    assert cfg.train.output_dir == str(tmp_path / "out" / "c_roiwarp" / "seed7")
    assert cfg.model.roi_heads.pooler.pooler_type == "ROIWarp"  # the arm's own change is kept
