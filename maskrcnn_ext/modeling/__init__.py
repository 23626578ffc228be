"""Models and their components; importing this registers every shipped component."""
from . import backbone, meta_arch, proposal_generator, roi_heads  # noqa: F401  (registration)
from .meta_arch import GeneralizedRCNN
from .registry import ALL_REGISTRIES, build_from_registry

__all__ = ["GeneralizedRCNN", "ALL_REGISTRIES", "build_from_registry"]
