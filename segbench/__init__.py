"""segbench: which encoder with which decoder, at what cost."""

__version__ = "0.1.0"
