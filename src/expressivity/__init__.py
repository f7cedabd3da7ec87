"""Trajectory length, Jacobian bounds and decision-region topology of networks."""

from expressivity.measurement import Measurement, measure

__version__ = "0.1.0"

__all__ = ["Measurement", "__version__", "measure"]
