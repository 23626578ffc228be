import pytest
import torch

from modeling_toys import build_tiny_model, synthetic_input


def test_training_returns_finite_loss_dict(tiny_model):
    losses = tiny_model([synthetic_input(), synthetic_input(48, 64)])
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    # Untrained: K + 1 = 4 way classification starts near ln(4), masks near ln(2).
    assert losses["loss_cls"].item() == pytest.approx(torch.log(torch.tensor(4.0)).item(), abs=0.2)
    assert losses["loss_mask"].item() == pytest.approx(0.693, abs=0.05)


def test_losses_fall_when_overfitting_one_batch(tiny_model):
    optimizer = torch.optim.SGD(tiny_model.parameters(), lr=0.01, momentum=0.9)
    batch = [synthetic_input(), synthetic_input()]
    history = []
    for _ in range(30):
        losses = tiny_model(batch)
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    def median(key, rows):
        return float(torch.tensor([sum(r.values()) if key == "total" else r[key] for r in rows]).median())

    # Medians over five iterations: one-batch overfitting has occasional single-step spikes.
    first, last = history[:5], history[-5:]
    assert median("total", last) < 0.5 * median("total", first)
    for key in ("loss_mask", "loss_rpn_cls", "loss_cls"):
        assert median(key, last) < median(key, first), key


def test_inference_output_contract_at_original_size(tiny_model):
    tiny_model.eval()
    outputs = tiny_model([synthetic_input(original=(128, 192))])
    inst = outputs[0]["instances"]
    num = len(inst["boxes"])
    assert inst["boxes"].shape == (num, 4)
    assert inst["scores"].shape == inst["mask_scores"].shape == inst["classes"].shape == (num,)
    assert inst["masks"].shape == (num, 128, 192) and inst["masks"].dtype == torch.bool
    assert torch.equal(inst["mask_scores"], inst["scores"])
    assert (inst["boxes"][:, 2] <= 192).all() and (inst["boxes"][:, 3] <= 128).all()
    assert num <= 100


def test_training_input_without_instances_names_the_file(tiny_model):
    x = synthetic_input()
    del x["instances"]
    x["file_name"] = "img_7.png"
    with pytest.raises(ValueError, match="img_7.png"):
        tiny_model([x])


def test_bad_image_shape_is_reported(tiny_model):
    tiny_model.eval()
    with pytest.raises(ValueError, match=r"Input 0: 'image' must be a \(3, H, W\) tensor, got \(64, 64\)"):
        tiny_model([{"image": torch.zeros(64, 64, dtype=torch.uint8), "height": 64, "width": 64}])


def test_preprocess_pads_to_multiples_of_32_and_keeps_sizes(tiny_model):
    images = tiny_model.preprocess_image([synthetic_input(70, 100), synthetic_input(64, 64)])
    assert tuple(images.tensors.shape) == (2, 3, 96, 128)
    assert images.image_sizes == [(70, 100), (64, 64)]
    assert images.tensors[1, :, 64:, :].abs().sum() == 0  # padding stays zero after normalization


@pytest.mark.parametrize("cap, expected", [(None, 16), (3, 6)])
def test_mask_branch_trains_on_at_most_the_capped_rois(tiny_model, cap, expected):
    heads = tiny_model.roi_heads
    heads.mask_rois_per_image = cap
    batch = [synthetic_input(), synthetic_input()]
    images = tiny_model.preprocess_image(batch)
    features = tiny_model.backbone(images.tensors)
    targets = [tiny_model._targets_to_device(x, i) for i, x in enumerate(batch)]
    # 20 near-copies of the ground truth per image: more foreground than the 8 (25% of 32) sampled.
    proposals = [t["boxes"].repeat(10, 1) + torch.rand(20, 4) for t in targets]
    seen = []
    hook = heads.mask_head.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    heads(features, proposals, images.image_sizes, targets)
    hook.remove()
    assert seen == [expected]


def test_seeded_images_sample_the_same_anchors_and_rois_whatever_the_global_rng(tiny_model):
    batch = [{**synthetic_input(), "sample_seed": 11}, {**synthetic_input(48, 64), "sample_seed": 12}]

    def losses_after_reseeding(global_seed, inputs):
        torch.manual_seed(global_seed)
        return {k: v.item() for k, v in tiny_model(inputs).items()}

    assert losses_after_reseeding(1, batch) == losses_after_reseeding(2, batch)
    unseeded = [{k: v for k, v in x.items() if k != "sample_seed"} for x in batch]
    assert losses_after_reseeding(1, unseeded) != losses_after_reseeding(2, unseeded)


def test_channels_last_inference_computes_what_the_default_layout_computes(tiny_model):
    nhwc = build_tiny_model(channels_last_inference=True)
    nhwc.load_state_dict(tiny_model.state_dict())
    batch = [synthetic_input()]
    assert nhwc.preprocess_image(batch).tensors.is_contiguous()  # training keeps NCHW
    for model in (tiny_model, nhwc):
        model.eval()
        model.roi_heads.box_predictor.test_score_thresh = 0.0
    assert nhwc.preprocess_image(batch).tensors.is_contiguous(memory_format=torch.channels_last)
    ours, theirs = nhwc(batch)[0]["instances"], tiny_model(batch)[0]["instances"]
    assert len(ours["scores"]) == len(theirs["scores"]) == 100
    torch.testing.assert_close(ours["scores"], theirs["scores"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours["boxes"], theirs["boxes"], rtol=1e-4, atol=1e-3)
    assert (ours["masks"] == theirs["masks"]).float().mean() > 0.999
