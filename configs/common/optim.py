# SGD with momentum; weight decay off for normalization layers.
import torch

from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.engine.optimizer import get_default_optimizer_params

SGD = L(torch.optim.SGD)(
    # The launcher fills params.model with the model being trained.
    params=L(get_default_optimizer_params)(weight_decay_norm=0.0),
    lr=0.02,
    momentum=0.9,
    weight_decay=1e-4,
)
