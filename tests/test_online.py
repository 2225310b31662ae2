"""gdlab.online: Reddi et al.'s problem, the sparse least-squares stream, and regret by play."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from gdlab import online
from gdlab.optim import numpy as gnp


# ------------------------------------------------------------------------------- Reddi et al.
def test_reddi_losses_gradients_and_best_point():
    prob = online.Reddi(C=3.0)
    np.testing.assert_array_equal(prob.gradients(7), [3.0, -1.0, -1.0, 3.0, -1.0, -1.0, 3.0])
    for t, coef in [(1, 3.0), (2, -1.0), (3, -1.0), (4, 3.0)]:
        assert prob.loss(t, np.array([0.5])) == 0.5 * coef
        np.testing.assert_array_equal(prob.grad(t, np.array([0.2])), [coef])
    rounds = np.arange(1, 31)
    points, best = prob.best_in_hindsight(rounds)
    # by hand: the cumulative loss of x = -1 is minus the sum of the coefficients, positive for C > 2
    sums = np.cumsum(prob.gradients(30))
    assert np.all(sums > 0)
    np.testing.assert_array_equal(points[:, 0], -1.0)
    np.testing.assert_allclose(best, -sums)
    # and no vertex (nor any other point of [-1, 1]) does better: linear losses, checked on a grid
    grid = np.linspace(-1, 1, 201)
    np.testing.assert_allclose(best, np.min(np.outer(sums, grid), axis=1))
    assert prob.worst_average_regret == pytest.approx(2 / 3)


def _reddi_play(amsgrad, T=1500, C=3.0):
    prob = online.Reddi(C)
    opt = gnp.Adam(lr=0.5, betas=(0.0, 1 / (1 + C**2)), amsgrad=amsgrad)
    return prob, online.play(prob, opt, T, x0=[0.0], lr=lambda t: 0.5 / np.sqrt(t))


def test_adam_drifts_to_the_worst_point_and_amsgrad_to_the_best():
    prob, adam = _reddi_play(False)
    _, ams = _reddi_play(True)
    assert not adam.diverged and not ams.diverged
    assert np.all(adam.xs[-150:, 0] > 0.98)            # Adam sits at +1 (dips of about 0.5 C / sqrt(t v))
    assert abs(adam.average_regret[-1] - prob.worst_average_regret) < 0.03   # ... paying (2C - 4)/3 per round
    assert np.all(ams.xs[-150:, 0] < -0.98)            # AMSGrad sits at x* = -1
    assert ams.average_regret[-1] < 0.1
    assert np.all(np.diff(ams.average_regret[-600::3]) < 0)


def test_play_matches_a_hand_written_loop():
    prob = online.Reddi(C=4.0)
    opt_a, opt_b = gnp.Adam(lr=0.3, betas=(0.0, 0.2)), gnp.Adam(lr=0.3, betas=(0.0, 0.2))
    res = online.play(prob, opt_a, 60, x0=[0.1], lr=lambda t: 0.3 / np.sqrt(t))
    x, losses = np.array([0.1]), []
    for t in range(1, 61):
        g = 4.0 if t % 3 == 1 else -1.0
        losses.append(g * x[0])
        opt_b.lr = 0.3 / np.sqrt(t)
        x = np.clip(opt_b(x, np.array([g])), -1.0, 1.0)
    np.testing.assert_array_equal(res.losses, losses)
    assert res.xs[-1, 0] == x[0]
    assert res.regret[-1] == pytest.approx(np.sum(losses) - (-np.sum(prob.gradients(60))), abs=1e-12)


def test_regret_of_a_fixed_learner_by_hand():
    # a learner that never moves (lr = 0) at x = 1/2 on C = 3: by hand, round t costs
    # 1.5, -0.5, -0.5, ... and the best point -1 costs -3, 1, 1, ...; R_T = sum (g_t/2 + g_t) = 1.5 sum g_t
    prob = online.Reddi(C=3.0)
    res = online.play(prob, gnp.SGD(lr=0.0), 9, x0=[0.5])
    np.testing.assert_allclose(res.regret, 1.5 * np.cumsum([3, -1, -1] * 3))
    assert res.regret[-1] == pytest.approx(1.5 * 3)
    np.testing.assert_array_equal(res.xs[:, 0], 0.5)


def test_projection_keeps_the_iterates_in_the_box():
    prob = online.Reddi(C=3.0)
    res = online.play(prob, gnp.SGD(lr=10.0), 30, x0=[0.0])
    assert np.all(np.abs(res.xs) <= 1.0) and set(np.unique(res.xs[1:])) <= {-1.0, 1.0}
    free = online.play(prob, gnp.SGD(lr=10.0), 30, x0=[0.0], project=False)
    assert np.abs(free.xs).max() > 1.0


# ------------------------------------------------------------------------ sparse least squares
def test_sparse_features_frequencies_and_weights():
    X, w, p = online.sparse_features(20_000, seed=0)
    assert X.shape == (20_000, 40) and set(np.unique(X)) == {0.0, 1.0}
    se = np.sqrt(p * (1 - p) / len(X))
    assert np.all(np.abs(X.mean(axis=0) - p) < 5 * se)
    np.testing.assert_array_equal(np.abs(w[10:]), 3.0)


def test_sparse_least_squares_best_point_solves_the_normal_equations():
    s = online.SparseLeastSquares(400, lam=1e-2, box=5.0, seed=3)
    rounds = np.array([50, 10, 400, 123])          # unsorted on purpose
    pts, best = s.best_in_hindsight(rounds)
    for T, x, v in zip(rounds, pts, best):
        A, b = s.A[:T], s.b[:T]
        np.testing.assert_allclose((A.T @ A + T * s.lam * np.eye(s.dim)) @ x, A.T @ b, atol=1e-9)
        assert v == pytest.approx(sum(s.loss(t, x) for t in range(1, T + 1)), rel=1e-12)
    assert s.inside_box.all()


def test_sparse_least_squares_with_a_binding_box():
    s = online.SparseLeastSquares(300, lam=1e-3, box=0.5, seed=1)
    (x,), (v,) = s.best_in_hindsight([300])
    assert not s.inside_box[0] and np.all(np.abs(x) <= 0.5 + 1e-12) and np.any(np.isclose(np.abs(x), 0.5))
    total = lambda z: sum(s.loss(t, z) for t in range(1, 301))  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(20):                            # no feasible point nearby does better
        z = np.clip(x + 0.05 * rng.standard_normal(s.dim), -0.5, 0.5)
        assert total(z) >= v - 1e-9


def test_adagrad_regret_on_the_stream_is_below_the_theorem():
    s = online.SparseLeastSquares(2000, lam=1e-2, box=5.0, seed=3)
    rounds = np.unique(np.geomspace(10, 2000, 15).astype(int))
    res = online.play(s, gnp.Adagrad(lr=1.0), 2000, rounds=rounds)
    assert res.best_points.shape == (rounds.size, s.dim) and np.abs(res.best_points).max() < s.box
    sqrt_s = np.sqrt(np.cumsum(res.grads**2, axis=0)[rounds - 1]).sum(axis=1)
    bound = s.diameter**2 / 2 * (sqrt_s + s.dim * 1e-10) + sqrt_s    # Duchi et al., eta = 1
    assert np.all(res.regret <= bound) and np.all(res.regret > 0)
    assert res.average_regret[-1] < res.average_regret[3]


# ------------------------------------------------------------------------- validation, non-finite
@pytest.mark.parametrize("make, match", [
    (lambda: online.Reddi(C=2.0), "C=2.0"),
    (lambda: online.Reddi(C=float("nan")), "C=nan"),
    (lambda: online.SparseLeastSquares(0), "horizon=0"),
    (lambda: online.SparseLeastSquares(10, lam=-1.0), "lam=-1.0"),
    (lambda: online.SparseLeastSquares(10, box=0.0), "box=0.0"),
    (lambda: online.sparse_features(10, p_rare=1.5), "p_rare=1.5"),
    (lambda: online.play(online.Reddi(), gnp.SGD(lr=0.1), 0), "T=0"),
    (lambda: online.play(online.SparseLeastSquares(10), gnp.SGD(lr=0.1), 11), "T=11"),
    (lambda: online.play(online.Reddi(), gnp.SGD(lr=0.1), 5, rounds=[6]), "exceeds T=5"),
    (lambda: online.play(online.Reddi(), gnp.SGD(lr=0.1), 5, lr=lambda t: -1.0), r"lr\(1\)=-1.0"),
    (lambda: online.play(online.Reddi(), lambda x, g, k: x, 5, lr=lambda t: 0.1), "no attribute lr"),
    (lambda: online.Reddi().loss(0, np.zeros(1)), "t=0"),
])
def test_invalid_arguments_raise_value_error_naming_them(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_non_finite_iterate_stops_the_play_and_is_reported():
    with pytest.warns(RuntimeWarning, match="non-finite iterate after round 3"):
        res = online.play(online.Reddi(), lambda x, g, k: x + (np.nan if k == 2 else 0.1), 6, project=False)
    assert res.diverged and "round 3" in res.reason
    assert np.all(np.isfinite(res.xs[:3])) and np.all(np.isnan(res.xs[3:]))
    assert np.isnan(res.regret[-1]) and np.isfinite(res.regret[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not online.play(online.Reddi(), gnp.SGD(lr=0.1), 6).diverged


def test_importing_online_does_not_import_torch():
    code = "import sys, gdlab.online; assert 'torch' not in sys.modules, 'torch imported'"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
