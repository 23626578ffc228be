# A seconds-long run of the shapes keypoint recipe on 32 tiny-split images, evaluated on 16: for tests
# and smoke checks of the whole keypoint path (data, training, inference, OKS evaluation).
from .recipe import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset = "shapes_kp_tiny_train"
dataloader.train.total_batch_size = 2
dataloader.test.dataset = "shapes_kp_tiny_val"
model.roi_heads.keypoint_head.conv_dims = [32, 32]

train.update(output_dir="./output/keypoints_shapes_tiny", max_iter=20, log_period=5,
             checkpointer=dict(period=20, max_to_keep=1), vis_num_images=0)
lr_multiplier.update(steps=[15], warmup_iters=5)
