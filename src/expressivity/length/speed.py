"""Exact speeds ||d z(k)(x(t)) / dt|| at every layer by forward-mode autodiff.

The derivative of a layer's output along the path is the Jacobian-vector
product J_k(x(t)) x'(t), which ``torch.func.jvp`` returns exactly (to
rounding) for a whole batch of parameters t in one forward pass.
"""

from __future__ import annotations

import torch
from torch.func import jvp

from expressivity.errors import NumericalError
from expressivity.models import LayeredModel
from expressivity.paths import Path

DEFAULT_CHUNK = 8192


def check_finite(
    tensors: tuple[torch.Tensor, ...] | list[torch.Tensor],
    names: list[str],
    what: str,
) -> None:
    """Raise NumericalError naming the first layer with a non-finite value."""
    for index, tensor in enumerate(tensors):
        if not bool(torch.isfinite(tensor).all()):
            raise NumericalError(
                f"non-finite {what} at layer {index + 1} ({names[index]}): "
                f"the values overflowed or became NaN. Use float64 "
                "(--dtype float64), a smaller sigma_w, or a shorter path",
                layer=index + 1,
            )


def layer_values_and_velocities(
    layered: LayeredModel, path: Path, t: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Return each layer's output and its derivative along the path at t.

    Returns
    -------
    values, velocities
        Lists with one tensor of shape (n_points, n_k) per reported layer,
        preceded by the input x(t) and x'(t) themselves.
    """
    dtype = layered.dtype
    x = path.position(t).to(dtype)
    dx = path.velocity(t).to(dtype)
    with torch.no_grad():
        outputs, tangents = jvp(layered.outputs, (x,), (dx,))
    check_finite(outputs, layered.names, "layer output")
    check_finite(tangents, layered.names, "derivative of the layer output")
    return [x, *outputs], [dx, *tangents]


def layer_speeds(
    layered: LayeredModel,
    path: Path,
    t: torch.Tensor,
    chunk_size: int = DEFAULT_CHUNK,
) -> torch.Tensor:
    """Return speeds of shape (n_layers + 1, n_points): input first, then each layer.

    Row 0 is ||x'(t)||, row k is ||J_k(x(t)) x'(t)|| for the k-th reported
    layer output (the last row is the network output).
    """
    rows = []
    for chunk in torch.split(t, chunk_size):
        _, velocities = layer_values_and_velocities(layered, path, chunk)
        rows.append(
            torch.stack(
                [
                    torch.linalg.vector_norm(v, dim=1).to(torch.float64)
                    for v in velocities
                ]
            )
        )
    return torch.cat(rows, dim=1)


def layer_values(
    layered: LayeredModel,
    path: Path,
    t: torch.Tensor,
    chunk_size: int = DEFAULT_CHUNK,
) -> list[torch.Tensor]:
    """Return [x(t), z(1)(x(t)), ..., f(x(t))], each of shape (n_points, n_k)."""
    dtype = layered.dtype
    pieces: list[list[torch.Tensor]] = []
    for chunk in torch.split(t, chunk_size):
        x = path.position(chunk).to(dtype)
        with torch.no_grad():
            outputs = layered.outputs(x)
        check_finite(outputs, layered.names, "layer output")
        pieces.append([x, *outputs])
    return [torch.cat(parts) for parts in zip(*pieces, strict=True)]
