"""The linear-scaling lab's statistical check, on 20 seeds: the two-batch noise-scale estimator (labs/linear_scaling.py)
is unbiased, its mean of 256 draws lies within 4.5 standard errors of the exact |G|^2 and tr(Sigma) computed from every
per-example gradient, and a wrong trace formula (1/B_small + 1/B_big) lies far outside."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "labs"))
import linear_scaling as lab  # noqa: E402


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    data = lab.load_data(2500)
    few = lab.Data(data.x[:1000], data.y[:1000], data.x_test, data.y_test)
    model, _ = lab.train(lab.RunConfig(batch=64, lr=0.1, warmup_epochs=0.5, epochs=2, hidden=64, seed=0), few)
    return model, few, lab.exact_noise_scale(model, few.x, few.y)


def test_two_batch_estimator_within_its_errors_for_20_seeds(trained):
    model, few, exact = trained
    worst, wrong = 0.0, np.inf
    for seed in range(20):
        est = lab.noise_scale(model, few, b_small=16, b_big=64, draws=256, seed=seed)
        z = lab.noise_scale_zscores(est, exact)
        worst = max(worst, *map(abs, z.values()))
        tr = np.asarray(est["trace_draws"]) * (1 / 16 - 1 / 64) / (1 / 16 + 1 / 64)  # the wrong formula
        wrong = min(wrong, abs((tr.mean() - exact["trace_sigma"]) / (tr.std(ddof=1) / np.sqrt(len(tr)))))
    assert worst < 4.0, worst      # the page allows 4.5
    assert wrong > 10.0, wrong     # the page rejects beyond 4.5


def test_exact_noise_scale_against_a_loop(trained):
    model, few, exact = trained
    x, y = few.x[:50], few.y[:50]
    grads = []
    for i in range(len(x)):
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]).double())
    g = torch.stack(grads)
    G = g.mean(0)
    ours = lab.exact_noise_scale(model, x, y)
    # float32 gradients from two kernels (vmap and a loop): a few float32 ulps apart
    assert ours["G2"] == pytest.approx(float(G @ G), rel=1e-5)
    assert ours["trace_sigma"] == pytest.approx(float(((g - G) ** 2).sum(1).mean()), rel=1e-5)
