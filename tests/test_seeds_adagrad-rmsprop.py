"""The statistical checks of book/adaptive/adagrad-rmsprop.ipynb, over 20 seeds.

Each test repeats one group of the chapter's checks, with the chapter's gdlab calls and parameters, for the seeds 0-19
(the chapter's own seed is one of them, or the data are drawn as the chapter draws them with another seed), and
requires every seed to pass with margin: a statistic uses at most MARGIN of its tolerance, and a ratio asserted to
exceed a threshold exceeds it by the factor 1/MARGIN. The race of tuned AdaGrad against tuned gradient descent runs on
the chapter's from-scratch arithmetic (vectorised over a grid of learning rates), repeated here: a notebook cannot be
imported.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from gdlab import online, problems
from gdlab.optim import numpy as gnp

SEEDS = range(20)
MARGIN = 0.9


def _effective_steps(opt, grads, buffer=None):
    out, state = np.empty_like(grads), np.empty_like(grads)
    for t, g in enumerate(grads):
        x = [np.zeros(grads.shape[1])]
        opt.step_arrays(x, [g])
        out[t] = np.abs(x[0]) / np.abs(g)
        if buffer:
            state[t] = opt.states[0][buffer]
    return (out, state) if buffer else out


def test_effective_step_checks_hold_for_20_seeds():
    K, d, eta, beta2 = 4000, 200, 0.1, 0.99
    sigma = np.geomspace(1e-2, 1e2, d)
    G = np.sqrt(3) * sigma
    t = np.arange(1, K + 1)
    used = []
    for seed in SEEDS:
        stream = sigma * np.random.default_rng(seed).uniform(-np.sqrt(3), np.sqrt(3), size=(K, d))
        eff_ada = _effective_steps(gnp.Adagrad(lr=eta), stream) * sigma / eta
        raw, v = _effective_steps(gnp.RMSprop(lr=eta, alpha=beta2), stream, "square_avg")
        eff_rms = raw * sigma / eta
        slope_ada = np.polyfit(np.log(t[t >= 100]), np.log(np.median(eff_ada, axis=1)[t >= 100]), 1)[0]
        slope_rms = np.polyfit(np.log(t[t >= 1000]), np.log(np.median(eff_rms, axis=1)[t >= 1000]), 1)[0]
        row = [abs(slope_ada / -0.5 - 1) / 0.02,
               np.max(np.abs(np.sqrt(K) * eff_ada[-1] - 1)) / (5 * 0.5 * np.sqrt(0.8 / K)),
               abs(slope_rms) / 0.02,
               abs(np.median(eff_rms[K // 2:]) - 1) / 0.01]
        assert np.all(eta / (G + 1e-8) <= raw * (1 + 16 * 2.0 ** -52)), seed
        for t_ in (10, 100, 1000):
            r = v[t_ - 1] / sigma ** 2
            row.append(abs(r.mean() / (1 - beta2 ** t_) - 1) / (5 * r.std(ddof=1) / np.sqrt(d) / (1 - beta2 ** t_)))
        edge = G * np.where(np.random.default_rng(seed + 100).random((K, d)) < 0.5, -1.0, 1.0)
        ratio = (eta / (G + 1e-8)) / _effective_steps(gnp.RMSprop(lr=eta, alpha=beta2), edge)
        assert ratio.max() <= 1 + 16 * 2.0 ** -52 and ratio.max() >= 1 - 1e-12, seed
        used.append(row)
    used = np.array(used)
    print(f"effective steps, worst use of the tolerances over {len(SEEDS)} seeds (AdaGrad slope, AdaGrad constant, "
          f"RMSprop slope, RMSprop median, E v_10, E v_100, E v_1000): {np.round(used.max(axis=0), 3)}")
    assert used.max() <= MARGIN, used.max(axis=0)


def _race(seed):
    """The chapter's comparison of tuned AdaGrad and tuned gradient descent, on data drawn with ``seed``."""
    X, w_true, freq = online.sparse_features(n=600, seed=seed)
    y = (np.random.default_rng(seed + 1).random(len(X)) < expit(X @ w_true)).astype(float)
    sparse = problems.LogisticRegression(X, y, lam=1e-3)

    def f_rows(W):
        Z = W @ X.T
        return np.mean(np.logaddexp(0.0, Z) - y * Z, axis=1) + 0.5 * sparse.lam * np.sum(W * W, axis=1)

    def grad_rows(W):
        return (expit(W @ X.T) - y) @ X / sparse.n + sparse.lam * W

    K = 1000
    target = 1e-4 * (sparse.f(sparse.x0) - sparse.f_star)
    gd_grid = np.geomspace(0.5, 4.0, 13) / sparse.L
    ada_grid = np.geomspace(0.05, 5.0, 13)
    runs = {}
    with np.errstate(over="ignore", invalid="ignore"):
        W = np.zeros((13, sparse.dim))
        gaps = [f_rows(W)]
        for _ in range(K):
            W = W - gd_grid[:, None] * grad_rows(W)
            gaps.append(f_rows(W))
        runs["gd"] = np.array(gaps) - sparse.f_star
        W, S = np.zeros((13, sparse.dim)), np.zeros((13, sparse.dim))
        gaps = [f_rows(W)]
        Ws = [W]
        for _ in range(K):
            g = grad_rows(W)
            S = S + g * g
            W = W - ada_grid[:, None] * g / (np.sqrt(S) + 1e-10)
            gaps.append(f_rows(W))
            Ws.append(W)
        runs["ada"] = np.array(gaps) - sparse.f_star
    out = {}
    for name, grid in (("gd", gd_grid), ("ada", ada_grid)):
        hit = np.nan_to_num(runs[name], nan=np.inf) <= target
        score = np.where(hit.any(axis=0), hit.argmax(axis=0), np.inf)
        best = int(np.argmin(score))
        reached = grid[np.isfinite(score)]
        out[name] = (score[best], best, reached.max() / reached.min())
    best_ada = out["ada"][1]
    s_final = np.sum(grad_rows(np.array(Ws)[:-1, best_ada]) ** 2, axis=0)
    step_eff = ada_grid[best_ada] / (np.sqrt(s_final) + 1e-10)
    rare = freq < 0.1
    return out, np.median(step_eff[rare]) / np.median(step_eff[~rare])


def test_rare_feature_race_holds_on_20_data_sets():
    worst = []
    for seed in SEEDS:
        out, rare_ratio = _race(seed)
        for name in out:
            steps, best, _ = out[name]
            assert 0 < best < 12, (seed, name, best)
            assert 2 * steps <= 1000, (seed, name, steps)
        speedup = out["gd"][0] / out["ada"][0]
        width = out["ada"][2] / out["gd"][2]
        worst.append((3 / speedup, 5 / width, 3 / rare_ratio))
    worst = np.array(worst)
    print(f"race, worst threshold / value over {len(SEEDS)} data sets (speedup 3, width 5, rare/common 3): "
          f"{np.round(worst.max(axis=0), 3)}")
    assert worst.max() <= MARGIN, worst.max(axis=0)


def test_regret_checks_hold_for_20_streams():
    K, box, lam = 10_000, 5.0, 1e-2
    Ks = np.unique(np.geomspace(10, K, 40).astype(int))
    worst = []
    for seed in SEEDS:
        stream = online.SparseLeastSquares(K, lam=lam, box=box, noise=0.5, seed=seed)
        played = online.play(stream, gnp.Adagrad(lr=1.0), K, rounds=Ks)
        assert stream.inside_box.all(), seed
        bound = online.adagrad_regret_bound(played.grads, 2 * box, 1.0, eps=1e-10, rounds=Ks)
        avg = played.regret / Ks
        slope = np.polyfit(np.log(Ks[Ks >= 1000]), np.log(played.regret[Ks >= 1000]), 1)[0]
        assert np.max(np.diff(avg[Ks >= 300])) < 0, seed
        worst.append((np.max(played.regret / bound), slope / 0.6))
    worst = np.array(worst)
    print(f"regret, worst over {len(SEEDS)} streams (R_K / bound, slope / 0.6): {np.round(worst.max(axis=0), 3)}")
    assert worst.max() <= MARGIN, worst.max(axis=0)


def test_burst_checks_hold_for_20_seeds():
    burst, calm, lr = 1000, 2000, 0.01
    worst = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        shift = np.concatenate([10.0 * rng.standard_normal(burst), np.full(calm, -0.1)])[:, None]
        paths, eff = {}, {}
        for name, opt in (("ada", gnp.Adagrad(lr=lr)), ("rms", gnp.RMSprop(lr=lr, alpha=0.99))):
            x, path, e = [np.zeros(1)], [0.0], []
            for g in shift:
                before = x[0][0]
                opt.step_arrays(x, [g])
                path.append(x[0][0])
                e.append(abs(x[0][0] - before) / abs(g[0]))
            paths[name], eff[name] = np.array(path), np.array(e)
        moved = {name: p[-1] - p[burst] for name, p in paths.items()}
        recovered = int(np.argmax(eff["rms"][burst:] >= 0.9 * eff["rms"][-1]))
        b2, g_calm = 0.99, 0.1
        v_burst = (1 - b2) * np.sum(b2 ** np.arange(burst - 1, -1, -1) * shift[:burst, 0] ** 2)
        predicted = np.log((v_burst - g_calm ** 2) / (g_calm ** 2 * (1 / 0.81 - 1))) / np.log(1 / b2)
        worst.append((abs(eff["ada"][-1] / eff["ada"][burst] - 1) / 0.01, 50 / (eff["rms"][-1] / eff["rms"][burst]),
                      100 / (moved["rms"] / moved["ada"]), abs(recovered - predicted) / 2))
    worst = np.array(worst)
    print(f"burst, worst use over {len(SEEDS)} seeds (AdaGrad frozen, RMSprop recovers, distance, recovery count): "
          f"{np.round(worst.max(axis=0), 3)}")
    assert worst.max() <= MARGIN, worst.max(axis=0)
