"""The Mask R-CNN ablation arms: each written once (projects/MaskRCNN-Ablations/configs/arms.py), and each arm
file at each scale is its root plus exactly the arm's declared changes; linked sizes follow their one home."""
import importlib.util
from pathlib import Path

import pytest
import yaml

from maskrcnn_ext.config import LazyConfig
from maskrcnn_ext.config.overrides import flatten

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "projects/MaskRCNN-Ablations"
SCALES = ("coco", "shapes", "shapes_2a")
# At COCO scale each backbone starts from the ImageNet file of its arch, with the input and stride options
# that file needs (configs/common/imagenet.py, called again after a backbone arm): keys that follow the arch
# whichever arm changed it, so exempt here. tests/config/test_imagenet_recipe.py checks them in every config.
FOLLOW_THE_ARCH = {
    "coco": ("train.init_checkpoint", "model.input_format", "model.pixel_mean", "model.pixel_std",
             "model.backbone.stride_in_1x1", "model.backbone.bottom_up.stride_in_1x1",
             "model.roi_heads.box_head.stride_in_1x1"),
    "shapes": (),
    "shapes_2a": (),
}


def _load_arms() -> dict:
    spec = importlib.util.spec_from_file_location("ablation_arms", STUDY / "configs/arms.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: f for name, f in vars(module).items() if callable(f) and hasattr(f, "root")}


ARMS = _load_arms()
# Every arm at COCO scale and on the first CPU stand-ins; sub-table (a) again on bottleneck stand-ins.
SCALE_ARMS = {"coco": set(ARMS), "shapes": set(ARMS), "shapes_2a": {a for a in ARMS if a.startswith("a_")}}
SUITES = {"suite_shapes.yaml": "shapes", "suite_shapes_2a.yaml": "shapes_2a"}


def _changed_keys(cfg, base) -> set[str]:
    """Dotted keys whose written value (interpolations unresolved, as config.yaml stores them) differ."""
    a, b = flatten(cfg), flatten(base)
    return {k for k in set(a) | set(b) if a.get(k, ...) != b.get(k, ...)}


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def test_every_arm_file_at_each_scale_is_an_arm_of_arms_py():
    for scale in SCALES:
        files = {p.stem for p in (STUDY / "configs" / scale).glob("*.py")
                 if not p.name.startswith("base_") and p.name != "recipe.py"}
        arms = SCALE_ARMS[scale]
        assert files == arms, f"configs/{scale}: {sorted(files ^ arms)} is not both an arm and a file"


@pytest.mark.parametrize("suite_file, scale", SUITES.items())
def test_the_suites_run_the_arm_files_under_their_own_names(suite_file, scale):
    suite = yaml.safe_load((STUDY / suite_file).read_text())
    assert suite["arms"] and set(suite["arms"]) <= SCALE_ARMS[scale]
    for name, config in suite["arms"].items():
        assert config == f"configs/{scale}/{name}.py"


@pytest.mark.parametrize("scale, arm", [(s, a) for s in SCALES for a in sorted(SCALE_ARMS[s])])
def test_arm_file_is_its_root_plus_the_declared_changes(arm, scale):
    apply = ARMS[arm]
    cfg = LazyConfig.load(str(STUDY / "configs" / scale / f"{arm}.py"))
    base = LazyConfig.load(str(STUDY / "configs" / scale / f"{apply.root}.py"))
    assert cfg.train.output_dir == f"./output/ablations/{scale}/{arm}"  # each arm trains into its own folder
    changed = _changed_keys(cfg, base) - {"train.output_dir"}
    allowed = (*apply.changes, *FOLLOW_THE_ARCH[scale])
    undeclared = sorted(k for k in changed if not any(_under(k, d) for d in allowed))
    assert not undeclared, f"{scale}/{arm}.py changes {undeclared}, which {arm} does not declare"
    unchanged = [d for d in apply.changes if not any(_under(k, d) for k in changed)]
    assert not unchanged, f"{scale}/{arm}.py leaves {unchanged} as in {apply.root}, but {arm} declares them"


@pytest.mark.parametrize("config, home, value, linked", [
    # FPN and C5: the box predictor reads the box head's fc width.
    ("configs/Shapes/mask_rcnn_R_18_FPN_demo.py", "model.roi_heads.box_head.fc_dims", [96, 96],
     ["model.roi_heads.box_predictor.input_dim"]),
    # C4: res5 channels, read by the box predictor and the mask head.
    ("projects/MaskRCNN-Ablations/configs/coco/a_R_50_C4.py", "model.roi_heads.box_predictor.input_dim", 96,
     ["model.roi_heads.mask_head.in_channels"]),
    # C5: res5 channels, read by the RPN and both heads.
    ("projects/MaskRCNN-Ablations/configs/shapes/d_C5_roipool.py", "model.proposal_generator.in_channels", 96,
     ["model.roi_heads.box_head.in_channels", "model.roi_heads.mask_head.in_channels"]),
])
def test_linked_sizes_follow_their_home_also_after_a_save_and_load(config, home, value, linked, tmp_path):
    cfg = LazyConfig.load(str(REPO / config))
    LazyConfig.apply_overrides(cfg, [f"{home}={value}"])
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    reloaded = LazyConfig.load(str(tmp_path / "config.yaml"))
    width = value[-1] if isinstance(value, list) else value
    for c in (cfg, reloaded):
        resolved = flatten(c, resolve=True)
        assert [resolved[k] for k in linked] == [width] * len(linked)
