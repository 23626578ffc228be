"""maskrcnn_ext: a Mask R-CNN research toolkit in the Detectron2 tradition."""

__version__ = "0.1.0"
