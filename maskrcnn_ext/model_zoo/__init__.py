"""The model zoo: publish finished runs as hash-named, ``weights_only``-loadable checkpoints with a
manifest, and load them back by name from a folder or a URL.

    maskrcnn-ext publish output/my_run --zoo model_zoo
    model = maskrcnn_ext.model_zoo.get("my_run", zoo="model_zoo")
"""
from .load import ZooModel, default_zoo, get, get_config, locate, resolve_checkpoint
from .publish import publish_run
from .storage import ZooError
from .upstream import fetch_upstream, upstream_names

__all__ = ["ZooError", "ZooModel", "default_zoo", "fetch_upstream", "get", "get_config", "locate", "publish_run",
           "resolve_checkpoint", "upstream_names"]
