"""Trajectory length, Jacobian bounds and decision-region topology of networks."""

__version__ = "0.1.0"
