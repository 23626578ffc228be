"""Models and their components; importing this registers every shipped component.

The contracts every model here keeps (the engine, the evaluator, the predictor and the exporters
rely on them):

- **Input**: a list of per-image dicts ``{"image": uint8 (3, H, W) RGB tensor, "height", "width",
  "image_id"}``; ``height``/``width`` are the original image size that outputs are mapped back to.
  In training each dict also has ``"instances": {"boxes": float (N, 4) XYXY in input pixels,
  "classes": int64 (N,) contiguous 0..K-1, "masks": bool (N, H, W)}`` (keypoint models also
  ``"keypoints": float (N, K, 3)`` ``(x, y, visibility)``, continuous pixel coordinates: pixel ``i``
  spans ``[i, i + 1)``) and optionally ``"sample_seed"`` (the image's anchor and RoI samples are
  drawn from it).
- **Training output**: a dict of scalar losses, every key starting with ``loss_``; the trainer sums them.
- **Inference output**: per image ``{"instances": {"boxes" (D, 4), "scores" (D,), "classes" (D,),
  "masks" bool (D, height, width), "mask_scores" (D,)}}`` at the original size, plus
  ``"keypoints" (D, K, 3)`` ``(x, y, score)`` when the model has a keypoint branch. ``scores`` rank
  boxes and ``mask_scores`` rank masks (equal to ``scores`` unless a mask-scoring head is on); the
  COCO evaluator uses them for bbox and segm AP respectively.
"""
from ..registry import ALL_REGISTRIES, build_from_registry
from . import backbone, meta_arch, proposal_generator, roi_heads  # noqa: F401  (registration)
from .meta_arch import GeneralizedRCNN

__all__ = ["GeneralizedRCNN", "ALL_REGISTRIES", "build_from_registry"]
