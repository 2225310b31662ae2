"""The statistical check of book/practice/lr-finder.ipynb, over many seeds.

The chapter asserts that on the digits MLP both suggestions of the range test (steepest descent, min/10) land in the
good band of a grid search (a third of the smallest to three times the largest grid rate within 10% of the best final
loss), and that the test stops to the right of the band. For every one of 20 seeds (of the model's initialisation and
of the mini-batches) this holds with margin: each suggestion is at least a factor 1.3 inside the band's edges, and the
stop at least a factor 3 beyond its right edge.
"""

from __future__ import annotations

import numpy as np
import torch

from gdlab import data, lr_finder

Xd, yd = data.digits()
TRAIN = np.random.default_rng(0).permutation(len(Xd))[:1400]
XT, YT = torch.tensor(Xd[TRAIN], dtype=torch.float32), torch.tensor(yd[TRAIN])


def _mlp(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def _momentum_sgd(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def _full_loss(model):
    return torch.nn.functional.cross_entropy(model(XT), YT).item()


def _margins(seed):
    """log-margins of both suggestions inside the good band, and of the stop beyond it (the chapter's seed is 0)."""
    batches = data.Minibatches(Xd[TRAIN], yd[TRAIN], batch_size=64, count=400, seed=seed + 1)
    model = _mlp(seed)
    res = lr_finder.lr_range_test(model, _momentum_sgd(model.parameters(), 1e-3), torch.nn.functional.cross_entropy,
                                  batches, min_lr=1e-4, max_lr=10.0, num_steps=100)
    grid = np.logspace(-3, 1, 9)
    losses = lr_finder.grid_search(lambda: _mlp(seed), _momentum_sgd, torch.nn.functional.cross_entropy, batches, grid,
                                   steps=150, evaluate=_full_loss)
    lo, hi = lr_finder.good_band(grid, losses, within=0.1, widen=3.0)
    inside = [min(lr / lo, hi / lr) for lr in (res.steepest_lr, res.min_lr_over_10)]
    assert res.diverged
    return inside, res.stop_lr / hi


def test_suggestions_land_in_the_good_band_for_every_seed():
    torch.set_num_threads(1)
    inside, beyond = [], []
    for seed in range(20):
        i, b = _margins(seed)
        inside += i
        beyond.append(b)
    assert min(inside) > 1.3, f"smallest factor inside the band per suggestion: {np.round(inside, 2)}"
    assert min(beyond) > 3.0, f"stop / right edge of the band: {np.round(beyond, 2)}"


def test_good_band_and_grid_search_by_hand():
    lrs = np.array([0.01, 0.1, 1.0, 10.0])
    assert lr_finder.good_band(lrs, np.array([3.0, 1.05, 1.0, np.inf])) == (0.1 / 3, 3.0)
    assert lr_finder.good_band(lrs, np.array([3.0, 2.0, 1.0, 5.0]), widen=2.0) == (0.5, 2.0)
    model_calls = []

    def make():
        model_calls.append(1)
        return torch.nn.Linear(2, 1, bias=False)

    x = torch.ones(4, 2)
    batches = [(x, torch.zeros(4, 1))] * 5
    out = lr_finder.grid_search(make, lambda p, lr: torch.optim.SGD(p, lr=lr), torch.nn.functional.mse_loss, batches,
                                [0.0, 1e30], steps=5, evaluate=lambda m: float(m(x).abs().sum()))
    assert len(model_calls) == 2 and np.isfinite(out[0]) and out[1] == np.inf  # a fresh model per rate; inf kept
