"""gdlab.lr_finder: the range test stops past 2/L on least squares, and restores every state exactly."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from gdlab.lr_finder import lr_range_test


def _least_squares(n=64, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    y = X @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.1 * torch.randn(n, 1, generator=g,
                                                                                     dtype=torch.float64)
    L = float(2 * torch.linalg.eigvalsh(X.T @ X / n).max())  # f(w) = mean((Xw - y)^2)
    return X, y, L


def test_range_test_on_least_squares_stops_only_past_two_over_L():
    X, y, L = _least_squares()
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1, bias=False).double()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    res = lr_range_test(model, opt, torch.nn.functional.mse_loss, [(X, y)], min_lr=1e-4, max_lr=10.0,
                        num_steps=120, skip_start=5)
    assert res.diverged and res.stop_lr > 2 / L
    # gradient descent with a step below 2/L never increases a quadratic
    below = res.lrs[:-1] <= 2 / L
    assert np.all(np.diff(res.losses)[below] <= 1e-12)
    assert res.lrs[0] == pytest.approx(1e-4) and np.all(np.diff(np.log(res.lrs)) > 0)
    assert 1e-4 < res.suggestion < 2 / L and 1e-4 < res.min_lr_over_10 < 2 / L
    assert res.suggestion == res.steepest_lr
    # the smoothed curve is the bias-corrected running average of the raw losses
    m, beta = 0.0, 0.98
    for i, v in enumerate(res.losses[:10]):
        m = beta * m + (1 - beta) * v
        assert res.smoothed[i] == pytest.approx(m / (1 - beta ** (i + 1)), rel=1e-12)
    ax = res.plot()
    assert len(ax.lines) == 4 and ax.get_xscale() == "log"


def _snapshot(model, opt):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {k: {n: (t.clone() if torch.is_tensor(t) else t) for n, t in s.items()}
             for k, s in opt.state_dict()["state"].items()},
            [{k: v for k, v in g.items() if k != "params"} for g in opt.state_dict()["param_groups"]])


@pytest.mark.parametrize("make_opt,warm", [
    (lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True), 3),
    (lambda ps: torch.optim.Adam(ps, lr=1e-3, betas=(0.8, 0.99)), 2),
    (lambda ps: torch.optim.AdamW(ps, lr=1e-3), 0),  # no state yet: none afterwards either
])
def test_model_and_optimizer_are_restored_exactly(make_opt, warm):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    opt = make_opt(model.parameters())
    x, t = torch.randn(32, 4), torch.randint(0, 3, (32,))
    loss_fn = torch.nn.functional.cross_entropy
    for _ in range(warm):
        opt.zero_grad()
        loss_fn(model(x), t).backward()
        opt.step()
    model.eval()
    params_before = [p for p in model.parameters()]
    before = _snapshot(model, opt)
    res = lr_range_test(model, opt, loss_fn, [(x, t), (x[:16], t[:16])], min_lr=1e-5, max_lr=1.0, num_steps=30)
    assert len(res.lrs) >= 2
    after = _snapshot(model, opt)
    assert not model.training  # the mode is restored too
    assert [p for p in model.parameters()] == params_before  # same Parameter objects
    assert before[0].keys() == after[0].keys()
    for k in before[0]:
        assert torch.equal(before[0][k], after[0][k]), k
    assert before[1].keys() == after[1].keys()
    for k in before[1]:
        for n in before[1][k]:
            a, b = before[1][k][n], after[1][k][n]
            assert torch.equal(a, b) if torch.is_tensor(a) else a == b
    assert before[2] == after[2]  # lr and every other hyperparameter
    # the optimizer still drives the model's parameters
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert ids == {id(p) for p in model.parameters()}
    assert all(p.grad is None for p in model.parameters())


def test_without_restore_the_model_has_moved():
    X, y, _ = _least_squares()
    model = torch.nn.Linear(5, 1, bias=False).double()
    w0 = model.weight.detach().clone()
    lr_range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.mse_loss,
                  [(X, y)], min_lr=1e-4, max_lr=1e-2, num_steps=10, restore=False)
    assert not torch.equal(w0, model.weight.detach())


def test_one_shot_iterator_ends_the_sweep():
    X, y, _ = _least_squares()
    model = torch.nn.Linear(5, 1, bias=False).double()
    batches = iter([(X[:16], y[:16]), (X[16:32], y[16:32]), (X[32:48], y[32:48])])
    res = lr_range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.mse_loss,
                        batches, min_lr=1e-4, max_lr=1e-2, num_steps=50)
    assert len(res.lrs) == 3 and not res.diverged


@pytest.mark.parametrize("kw,arg", [(dict(min_lr=1.0, max_lr=0.1), "min_lr"), (dict(min_lr=-1.0), "min_lr"),
                                    (dict(num_steps=1), "num_steps"), (dict(smoothing=1.0), "smoothing"),
                                    (dict(diverge_factor=0.5), "diverge_factor")])
def test_invalid_arguments(kw, arg):
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=arg):
        lr_range_test(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.functional.mse_loss, [], **kw)
