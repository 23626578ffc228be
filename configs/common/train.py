# Run-level settings shared by every config; children override what differs.
train = dict(
    output_dir="./output",
    init_checkpoint="",
    max_iter=90000,
    # Mixed precision of the training step: dtype "auto" is float16 with loss scaling on CUDA, bfloat16
    # on CPU (about 2x the float32 rate on CPUs with AVX-512 BF16 or AMX). Inference has its own
    # setting, model.inference_dtype.
    amp=dict(enabled=False, dtype="auto"),
    # torch.compile the backbone (forward and backward) for training; it pays with bfloat16 at standard
    # widths (an R-50-FPN step ran about 1.9x faster than eager bfloat16 on CPU, benchmarks/README.md),
    # after a compile of tens of seconds to minutes. The model's state dict and checkpoints are unchanged.
    compile_backbone=False,
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False),  # DistributedDataParallel options
    checkpointer=dict(period=5000, max_to_keep=3),
    eval_period=5000,
    log_period=20,
    grad_clip=None,  # max global gradient norm, or None
    # Parameters and computation. "float64" is for numerical checks: summation-order noise then stays
    # ~1e-15 and never flips a discrete decision (top-k, NMS, IoU thresholds); about 2x slower on CPU.
    dtype="float32",
    device="auto",  # "auto" = cuda when available, else cpu
    seed=0,  # < 0 draws a random seed (logged)
    vis_num_images=4,  # validation images drawn as PNGs after the final evaluation
)
