"""Yilian (医联): an open platform for regional medical collaboration."""

__version__ = "0.1.0"
__all__ = ["__version__"]
