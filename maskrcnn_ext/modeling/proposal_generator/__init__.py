from .rpn import RPN

__all__ = ["RPN"]
