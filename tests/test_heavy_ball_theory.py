"""theory.heavy_ball_max_step, the stability edge of book/deterministic/heavy-ball.ipynb, against brute force."""

import numpy as np
import pytest

from gdlab import theory


@pytest.mark.parametrize("L", [1.0, 4.0, 0.3])
def test_max_step_is_where_the_radius_crosses_one(L):
    betas = np.linspace(0.0, 0.99, 34)
    edge = theory.heavy_ball_max_step(betas, L)
    np.testing.assert_allclose(edge, (2 + 2 * betas) / L, rtol=1e-15)
    for b, a in zip(betas, edge):
        for lam in (L, 0.5 * L, 1e-3 * L):  # every eigenvalue in (0, L] is stable below the edge
            assert theory.spectral_radius(a * (1 - 1e-7), b, lam) < 1
        assert theory.spectral_radius(a * (1 + 1e-7), b, L) > 1  # and the top one is not above it
        T = theory.heavy_ball_matrix(float(a) * (1 + 1e-7), float(b), L)
        assert np.abs(np.linalg.eigvals(T)).max() > 1


def test_max_step_at_zero_momentum_is_gradient_descents():
    assert theory.heavy_ball_max_step(0.0, 5.0) == pytest.approx(2 / 5.0)
    assert isinstance(theory.heavy_ball_max_step(0.5), float)


@pytest.mark.parametrize("beta, L, name", [(1.0, 1.0, "beta"), (-0.1, 1.0, "beta"), (0.5, 0.0, "L"), (float("nan"), 1.0, "beta")])
def test_max_step_refuses_bad_arguments(beta, L, name):
    with pytest.raises(ValueError, match=name):
        theory.heavy_ball_max_step(beta, L)
