# Run-level settings shared by every config; children override what differs.
train = dict(
    output_dir="./output",
    init_checkpoint="",
    max_iter=90000,
    amp=dict(enabled=False),  # mixed precision; takes effect on CUDA only
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
