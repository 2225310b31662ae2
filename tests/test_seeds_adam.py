"""The adam chapter's statistical check, over many seeds: Kingma & Ba's bias correction checked by Monte Carlo on
gdlab's Adam (gdlab.stochastic.noise_streams), as in book/adaptive/adam.ipynb. For every one of 40 seeds the theorem
holds within four standard errors at every step, with margin, and each natural wrong formula is refuted by more than
ten standard errors."""

import numpy as np
import pytest

from gdlab import stochastic
from gdlab.optim import numpy as gnp

SEEDS = range(40)
N_STREAMS, STEPS = 20_000, 40
M_BAR, V_BAR, B1, B2 = 0.5, 0.5**2 + 1.0, 0.9, 0.999


@pytest.fixture(scope="module")
def sweep():
    t = np.arange(1, STEPS + 1)[:, None]
    theorem = {"exp_avg": (1 - B1**t) * M_BAR, "exp_avg_sq": (1 - B2**t) * V_BAR}
    wrong = {"exp_avg": [np.full_like(t, M_BAR, dtype=float), (1 - B1 ** (t + 1)) * M_BAR, (1 - B2**t) * M_BAR],
             "exp_avg_sq": [np.full_like(t, V_BAR, dtype=float), (1 - B2 ** (t + 1)) * V_BAR, (1 - B1**t) * V_BAR]}
    right, refuted = [], []
    for seed in SEEDS:
        st = stochastic.noise_streams(gnp.Adam(lr=1e-3, betas=(B1, B2)), N_STREAMS, STEPS, mean=M_BAR, std=1.0,
                                      seed=seed, buffers=("exp_avg", "exp_avg_sq"))
        right.append(max(st.z(b, p).max() for b, p in theorem.items()))
        refuted.append(min(st.z(b, alt).max() for b, alts in wrong.items() for alt in alts))
    return np.array(right), np.array(refuted)


def test_the_theorem_holds_for_every_seed_with_margin(sweep):
    right, _ = sweep
    # the chapter asserts z < 4 at every step; every seed stays well inside (the worst of 40 is about 3.4)
    assert right.max() < 3.8, (right.max(), int(right.argmax()))


def test_every_wrong_formula_is_refuted_for_every_seed(sweep):
    _, refuted = sweep
    assert refuted.min() > 20, (refuted.min(), int(refuted.argmin()))   # the chapter asks for 10


def test_the_chapter_seed_is_not_the_luckiest(sweep):
    right, _ = sweep
    assert right[0] > np.percentile(right, 10), "the chapter's seed 0 should be a typical one"


# --- gdlab.stochastic.noise_streams itself ----------------------------------------------------------------------------
def test_noise_streams_records_the_mean_and_its_standard_error():
    # SGD on g_t = mean + std xi_t from x0: x_t = x0 - lr (t mean + sum of noises), so E[x_t] = x0 - lr t mean
    lr, mean, std, n, steps = 0.1, np.array([1.0, -2.0]), np.array([0.5, 3.0]), 5000, 30
    st = stochastic.noise_streams(gnp.SGD(lr=lr), n, steps, mean=mean, std=std, x0=[1.0, 0.0], seed=3)
    t = np.arange(steps + 1)[:, None]
    assert st.mean["x"].shape == (steps + 1, 2) and st.n_streams == n
    assert np.array_equal(st.mean["x"][0], [1.0, 0.0]) and np.all(st.se["x"][0] == 0)
    assert st.z("x", np.array([1.0, 0.0]) - lr * t * mean).max() < 4.5
    # the standard error is the spread over streams / sqrt(n): lr std sqrt(t) / sqrt(n)
    np.testing.assert_allclose(st.se["x"][1:], lr * std * np.sqrt(t[1:]) / np.sqrt(n), rtol=0.1)
    # the same seed gives the same numbers; another seed other numbers
    again = stochastic.noise_streams(gnp.SGD(lr=lr), n, steps, mean=mean, std=std, x0=[1.0, 0.0], seed=3)
    other = stochastic.noise_streams(gnp.SGD(lr=lr), n, steps, mean=mean, std=std, x0=[1.0, 0.0], seed=4)
    assert np.array_equal(st.mean["x"], again.mean["x"]) and not np.array_equal(st.mean["x"], other.mean["x"])


def test_noise_streams_reads_buffers_and_refuses_bad_input():
    st = stochastic.noise_streams(gnp.Adam(lr=1e-3), 10, 3, buffers=("exp_avg",))
    assert st.mean["exp_avg"].shape == (3, 1)
    assert np.isinf(st.z("x", 1.0)[0, 0]) and st.z("x", 0.0)[0, 0] == 0      # se = 0 at the start
    used = gnp.Adam(lr=1e-3)
    used(np.zeros(2), np.ones(2))
    for call, message in [
        (lambda: stochastic.noise_streams(used, 10, 3), "already holds state"),
        (lambda: stochastic.noise_streams(gnp.Adam(), 10, 3, buffers=("nope",)), "no buffer 'nope'"),
        (lambda: stochastic.noise_streams(gnp.Adam(), 1, 3), "at least 2 streams"),
        (lambda: stochastic.noise_streams(gnp.Adam(), 10, 0), "steps"),
        (lambda: stochastic.noise_streams(gnp.Adam(), 10, 3, mean=[0.0, 1.0], std=[1.0, 1.0, 1.0]), "broadcast"),
        (lambda: stochastic.noise_streams(gnp.Adam(), 10, 3, std=-1.0), "std >= 0"),
        (lambda: stochastic.noise_streams(lambda x, g, k: x, 10, 3), "gdlab.optim.numpy optimizer"),
        (lambda: st.z("nope", 0.0), "was not recorded"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
