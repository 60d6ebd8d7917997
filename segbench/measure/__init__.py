"""Measurements: parameters, FLOPs, latency, memory and (segmentation) accuracy."""

from segbench.measure.profile import Profile, profile

__all__ = ["Profile", "profile"]
