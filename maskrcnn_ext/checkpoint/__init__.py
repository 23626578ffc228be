"""Weights I/O: safe reading of weights files and loading them into models with a report."""
from .weights import LoadReport, load_model_weights, read_model_state, unwrap_model

__all__ = ["LoadReport", "load_model_weights", "read_model_state", "unwrap_model"]
