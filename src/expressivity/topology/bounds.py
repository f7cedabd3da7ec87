"""Theoretical maxima for the Betti numbers of decision regions.

A network with a polynomial activation is a polynomial map, so each
difference f_i - f_j is a polynomial in the slice coordinates and the region
of class i is a semi-algebraic set. Milnor's bound limits the sum of its
Betti numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from expressivity.errors import ConfigurationError
from expressivity.models import ChainUnavailable, extract_chain

NOT_POLYNOMIAL = "not a polynomial network"


@dataclass(frozen=True)
class BettiBound:
    """Upper bound on the sum of the Betti numbers of one class region.

    Attributes
    ----------
    degree
        Degree d of each f_i - f_j, or None for a network that is not
        polynomial.
    n_variables
        Number n of variables (the slice dimension).
    n_inequalities
        Number of inequalities that define the region (m - 1 for m classes).
    single
        Milnor's bound for one inequality of degree d.
    several
        Milnor's bound for n_inequalities inequalities of total degree
        k = n_inequalities * d: the bound for the region in all of R^n.
    in_box
        Milnor's bound for the region intersected with the bounding box,
        which adds 2n linear inequalities: total degree k + 2n.
    reason
        Why no bound is given, when ``degree`` is None.
    """

    degree: int | None
    n_variables: int
    n_inequalities: int
    single: int | None
    several: int | None
    in_box: int | None
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "degree": self.degree,
            "n_variables": self.n_variables,
            "n_inequalities": self.n_inequalities,
            "milnor_single": self.single,
            "milnor_several": self.several,
            "milnor_in_box": self.in_box,
            "reason": self.reason,
        }


def milnor_bound(degree: int, n_variables: int) -> int:
    """Milnor's bound on the sum of Betti numbers of {x in R^n : p(x) >= 0}.

    For a polynomial p of degree d in n variables,

        sum_k b_k <= 1/2 (2 + d) (1 + d)^(n - 1).

    The same formula bounds {p_1 >= 0, ..., p_s >= 0} with d replaced by the
    total degree k = deg p_1 + ... + deg p_s (see ``milnor_bound_several``).

    References
    ----------
    J. Milnor, "On the Betti numbers of real varieties", Proc. Amer. Math.
    Soc. 15 (1964), 275-280.
    """
    _check_positive("degree", degree)
    _check_positive("n_variables", n_variables)
    # (2 + d)(1 + d) is a product of consecutive integers, so it is even.
    return (2 + degree) * (1 + degree) ** (n_variables - 1) // 2


def milnor_bound_several(degrees: list[int], n_variables: int) -> int:
    """Milnor's bound for {p_1 >= 0, ..., p_s >= 0}: k = sum of the degrees.

    sum_k b_k <= 1/2 (2 + k) (1 + k)^(n - 1) with k = deg p_1 + ... + deg p_s
    (Milnor, Proc. Amer. Math. Soc. 15, 1964).
    """
    if not degrees:
        raise ConfigurationError("give at least one inequality degree")
    return milnor_bound(sum(degrees), n_variables)


def output_degree(network: nn.Module) -> int | None:
    """Compute the degree of each output f_j of a polynomial network, or None.

    A chain of h linear layers with polynomial activations of degrees
    r_1, ..., r_(h-1) computes polynomials of degree r_1 ... r_(h-1); with a
    single activation of degree r that is r^(h-1) (Bianchini and Scarselli,
    "On the complexity of neural network classifiers: a comparison between
    shallow and deep architectures", IEEE TNNLS 25(8), 2014), so 2^(h-1) for
    quadratic networks. The degree is an upper bound because cancellations
    can lower it. Networks without a chain of linear layers and activations,
    or with a non-polynomial activation, give None.
    """
    try:
        chain = extract_chain(network)
    except ChainUnavailable:
        return None
    degree = 1
    for layer in chain.layers:
        if layer.activation is None:
            continue
        if layer.activation.degree is None:
            return None
        degree *= layer.activation.degree
    return degree


def region_bound(network: nn.Module, n_variables: int, n_classes: int) -> BettiBound:
    """Milnor bounds for the region of one class of ``network`` on a slice.

    The region of class i is {x : f_i(x) - f_j(x) > 0 for all j != i}, given
    by m - 1 inequalities of degree d = r^(h-1) each in the n slice variables
    (an affine slice keeps the degree).

    NOTE: the region is an open set given by strict inequalities, while the
    bound is stated for closed sets {p_j >= 0}. It is applied to the closed
    set {f_i - f_j - eps >= 0 for all j}, whose polynomials have the same
    degrees; for small enough eps > 0 this set is homotopy equivalent to the
    open region (a standard fact for semi-algebraic sets). The rasterised
    region only approximates the true one, so compare it with the bound once
    its Betti numbers are stable in resolution.
    """
    if n_classes < 2:
        raise ConfigurationError(
            f"a decision region needs at least 2 classes, got {n_classes}"
        )
    degree = output_degree(network)
    n_inequalities = n_classes - 1
    if degree is None:
        return BettiBound(
            None, n_variables, n_inequalities, None, None, None, NOT_POLYNOMIAL
        )
    degrees = [degree] * n_inequalities
    return BettiBound(
        degree=degree,
        n_variables=n_variables,
        n_inequalities=n_inequalities,
        single=milnor_bound(degree, n_variables),
        several=milnor_bound_several(degrees, n_variables),
        in_box=milnor_bound_several(degrees + [1] * 2 * n_variables, n_variables),
    )


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
