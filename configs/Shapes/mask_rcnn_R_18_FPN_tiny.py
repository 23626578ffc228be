# A seconds-long run of the demo model on 32 tiny-split images: for tests and smoke checks.
from .mask_rcnn_R_18_FPN_demo import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset = "shapes_tiny_train"
dataloader.train.num_workers = 0
dataloader.train.total_batch_size = 2
dataloader.test.dataset = "shapes_tiny_val"
dataloader.test.num_workers = 0

train.update(output_dir="./output/shapes_R18_FPN_tiny", max_iter=30, log_period=5,
             checkpointer=dict(period=10, max_to_keep=2), vis_num_images=2)
lr_multiplier.update(steps=[25], warmup_iters=5)
