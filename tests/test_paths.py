import math

import pytest
import torch

from expressivity.errors import ConfigurationError
from expressivity.length import integrate
from expressivity.paths import (
    CallablePath,
    EllipseArc,
    LineSegment,
    circle_through,
    ellipse_through,
    polyline_through,
    random_circle,
    random_line,
)


def _paths(generator):
    a = torch.randn(5, generator=generator, dtype=torch.float64)
    b = torch.randn(5, generator=generator, dtype=torch.float64)
    points = torch.randn(4, 5, generator=generator, dtype=torch.float64)
    return [
        LineSegment(a, b),
        circle_through(a, b),
        ellipse_through(a, b),
        EllipseArc(a, b, 2 * a, 0.3, 2.0),
        polyline_through(points, closed=True),
        polyline_through(points, closed=False),
        random_circle(5, radius=2.0, generator=generator),
        random_line(5, 3.0, generator=generator),
    ]


def test_velocity_matches_central_difference(generator):
    t = torch.tensor([0.05, 0.21, 0.47, 0.66, 0.93], dtype=torch.float64)
    step = 1e-6
    for path in _paths(generator):
        # Keep away from polyline corners, where the derivative jumps.
        difference = (path.position(t + step) - path.position(t - step)) / (2 * step)
        assert torch.allclose(path.velocity(t), difference, rtol=1e-6, atol=1e-6), path


def test_exact_length_matches_quadrature(generator):
    for path in _paths(generator):
        exact = path.exact_length()
        if exact is None:
            continue
        result = integrate(
            lambda t, p=path: torch.linalg.vector_norm(p.velocity(t), dim=1)[None],
            path.breakpoints,
            rtol=1e-12,
        )
        assert float(result.values[0]) == pytest.approx(exact, rel=1e-10), path


def test_circle_through_passes_both_points(generator):
    a = torch.randn(7, generator=generator, dtype=torch.float64)
    b = torch.randn(7, generator=generator, dtype=torch.float64)
    circle = circle_through(a, b)
    ends = circle.position(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    assert torch.allclose(ends[0], a, atol=1e-12)
    assert torch.allclose(ends[1], b, atol=1e-12)
    assert torch.allclose(ends[2], a, atol=1e-12)
    assert circle.is_circle
    assert circle.closed
    assert circle.exact_length() == pytest.approx(
        math.pi * float(torch.linalg.vector_norm(b - a)), rel=1e-12
    )


def test_circle_radius_constant_about_midpoint(generator):
    a = torch.randn(6, generator=generator, dtype=torch.float64)
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    circle = circle_through(a, b)
    t = torch.linspace(0, 1, 50, dtype=torch.float64)
    radii = torch.linalg.vector_norm(circle.position(t) - (a + b) / 2, dim=1)
    assert torch.allclose(radii, torch.full_like(radii, float(radii[0])), atol=1e-12)


def test_circle_through_equal_points_rejected():
    point = torch.ones(3)
    with pytest.raises(ConfigurationError, match="coincide"):
        circle_through(point, point)


def test_polyline_breakpoints_and_closing():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    closed = polyline_through(points, closed=True)
    assert closed.breakpoints == (0.0, 1 / 3, 2 / 3, 1.0)
    assert closed.exact_length() == pytest.approx(2 + math.sqrt(2))
    ends = closed.position(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(ends[0], ends[1])


def test_line_dimension_mismatch_rejected():
    with pytest.raises(ConfigurationError, match="dimension"):
        LineSegment(torch.zeros(2), torch.zeros(3))


def test_callable_path_breakpoints_validated():
    with pytest.raises(ConfigurationError, match="breakpoints"):
        CallablePath(lambda t: t, lambda t: t, 1, breakpoints=(0.0, 0.7, 0.5, 1.0))
