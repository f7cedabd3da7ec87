import math

import pytest
import torch

from expressivity.errors import ConfigurationError, NumericalWarning
from expressivity.length import integrate
from expressivity.length.quadrature import GAUSS_WEIGHTS, KRONROD_WEIGHTS, NODES


def test_rule_weights_sum_to_interval_length():
    assert float(KRONROD_WEIGHTS.sum()) == pytest.approx(2.0, abs=1e-15)
    assert float(GAUSS_WEIGHTS.sum()) == pytest.approx(2.0, abs=1e-15)


@pytest.mark.parametrize("degree", range(0, 23))
def test_kronrod_exact_up_to_degree_22(degree):
    exact = 0.0 if degree % 2 else 2.0 / (degree + 1)
    value = float((KRONROD_WEIGHTS * NODES**degree).sum())
    assert value == pytest.approx(exact, abs=1e-14)


@pytest.mark.parametrize("degree", range(0, 14))
def test_gauss_exact_up_to_degree_13(degree):
    exact = 0.0 if degree % 2 else 2.0 / (degree + 1)
    value = float((GAUSS_WEIGHTS * NODES**degree).sum())
    assert value == pytest.approx(exact, abs=1e-14)


def test_gauss_not_exact_at_degree_14():
    value = float((GAUSS_WEIGHTS * NODES**14).sum())
    assert abs(value - 2.0 / 15) > 1e-6


def test_integrate_vector_valued():
    def integrand(t):
        return torch.stack([torch.sin(t), torch.exp(t), t**5])

    result = integrate(integrand, (0.0, 1.0), rtol=1e-12)
    expected = torch.tensor([1 - math.cos(1.0), math.e - 1, 1 / 6], dtype=torch.float64)
    assert result.converged
    assert torch.allclose(result.values, expected, rtol=1e-12, atol=0)
    assert bool(torch.all(result.errors <= 1e-12 * expected.abs()))


def test_integrate_kink_at_breakpoint_is_cheap():
    def integrand(t):
        return (t - 0.3).abs()[None]

    with_break = integrate(integrand, (0.0, 0.3, 1.0), rtol=1e-10)
    without = integrate(integrand, (0.0, 1.0), rtol=1e-10)
    exact = (0.3**2 + 0.7**2) / 2
    assert float(with_break.values[0]) == pytest.approx(exact, rel=1e-12)
    assert float(without.values[0]) == pytest.approx(exact, rel=1e-9)
    assert with_break.n_evaluations < without.n_evaluations


def test_integrate_sqrt_singularity_meets_tolerance():
    result = integrate(lambda t: torch.sqrt(t)[None], (0.0, 1.0), rtol=1e-8)
    assert float(result.values[0]) == pytest.approx(2 / 3, rel=1e-8)


def test_integrate_absolute_tolerance_per_component():
    def integrand(t):
        return torch.stack([torch.cos(40 * t), torch.ones_like(t)])

    atol = torch.tensor([1e-3, 0.0], dtype=torch.float64)
    loose = integrate(integrand, rtol=1e-14, atol=atol)
    assert abs(float(loose.values[0]) - math.sin(40) / 40) <= 1e-3


def test_integrate_budget_exhausted_warns():
    with pytest.warns(NumericalWarning, match="max_evaluations"):
        result = integrate(
            lambda t: torch.sin(1 / (t + 1e-3))[None], rtol=1e-14, max_evaluations=200
        )
    assert not result.converged


def test_integrate_rejects_zero_tolerance():
    with pytest.raises(ConfigurationError, match="rtol"):
        integrate(lambda t: t[None], rtol=0.0)
