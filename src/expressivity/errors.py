"""Exceptions and warnings raised by expressivity."""

from __future__ import annotations


class ExpressivityError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigurationError(ExpressivityError, ValueError):
    """An argument, option or file has an invalid value.

    The message names the value and says how to fix it.
    """


class NumericalError(ExpressivityError, ArithmeticError):
    """A computation produced a non-finite value.

    Parameters
    ----------
    message
        What failed and what to try.
    layer
        One-based index of the layer whose output first became non-finite,
        or None when the layer is not known.
    """

    def __init__(self, message: str, layer: int | None = None) -> None:
        super().__init__(message)
        self.layer = layer


class NumericalWarning(UserWarning):
    """A computation lost accuracy or did not reach its requested tolerance."""
