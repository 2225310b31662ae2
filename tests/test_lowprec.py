"""gdlab.optim.lowprec: bfloat16 updates with Kahan compensation and stochastic rounding (``bf16_update=``)."""

from __future__ import annotations

import pytest
import torch

from gdlab import memory
from gdlab import optim as gopt
from gdlab.optim import lowprec


def _neighbours(x: torch.Tensor):
    """The two bfloat16 numbers around float32 ``x`` (truncation toward zero and the next one away from zero)."""
    bits = x.view(torch.int32)
    down = (bits & -65536).view(torch.float32)
    up = ((bits & -65536) + 65536).view(torch.float32)
    return down, up


def test_bf16_loses_small_updates():
    assert float(torch.tensor(1.0, dtype=torch.bfloat16) - 1e-3) == 1.0
    w = torch.full((8,), 0.05, dtype=torch.bfloat16)
    assert torch.equal(w - 1e-4, w)  # half the spacing near 0.05 is 1.2e-4


def test_stochastic_rounding_is_a_neighbour_and_unbiased():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1000, generator=g) * 4 - 2
    x[:10] = x[:10].bfloat16().float()  # exactly representable: must come back unchanged
    down, up = _neighbours(x)
    draws = torch.stack([lowprec.stochastic_round_bf16(x, g).float() for _ in range(400)])
    assert torch.all((draws == down) | (draws == up))
    assert torch.equal(draws[:, :10], x[:10].expand(400, 10))
    p_up = (x - down) / (up - down)  # the probability of rounding away from zero
    freq = (draws == up).float().mean(0)
    # 400 Bernoulli draws: standard error <= 0.025; 5 of them is far outside any fluctuation seen
    assert torch.all((freq - p_up).abs() < 0.125)
    mean_err = (draws.mean(0) - x).abs() / (up - down)
    assert mean_err.mean() < 0.01  # unbiased: the average of 400 draws is within 1% of a gap, on average


def test_stochastic_rounding_keeps_inf_and_nan():
    x = torch.tensor([float("inf"), float("-inf"), float("nan"), 3.0])
    out = lowprec.stochastic_round_bf16(x, torch.Generator().manual_seed(0))
    assert torch.isinf(out[0]) and out[0] > 0 and torch.isinf(out[1]) and out[1] < 0 and torch.isnan(out[2])
    assert float(out[3]) == 3.0


def _drift(mode, steps=300, lr=1e-4, n=2048, seed=0):
    """SGD-like constant pushes of size lr on bf16 weights near 0.05 (AdamW with a constant gradient)."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, generator=g)
    w = torch.nn.Parameter(torch.full((n,), 0.05).bfloat16())
    start = w.detach().float().clone()
    opt = gopt.AdamW([w], lr=lr, weight_decay=0.0, bf16_update=mode, bf16_seed=seed)
    for _ in range(steps):
        w.grad = d.bfloat16()
        opt.step()
    return ((w.detach().float() - start) * -torch.sign(d)).mean().item(), opt, w


def test_nearest_loses_kahan_and_stochastic_keep_the_updates():
    lost, _, _ = _drift("nearest")
    kahan, opt, w = _drift("kahan")
    sr, _, _ = _drift("stochastic")
    assert lost == 0.0
    # 300 Adam steps of about 1e-4 each: 0.03 in float32; the bf16 moments shorten the later steps by a few %
    assert 0.9 * 0.03 < kahan < 1.0 * 0.03
    assert abs(sr - kahan) < 0.01 * kahan
    # Kahan keeps one bfloat16 compensation per parameter: 2 bytes, counted by memory.state_bytes
    assert opt.state[w]["kahan_comp"].dtype == torch.bfloat16
    assert memory.state_bytes(opt)["kahan_comp"] == 2 * w.numel()


def test_kahan_pair_follows_the_sum_of_tiny_updates():
    # 2000 increments of about 1.4e-4 on a weight of 1 (each below half the spacing, 3.9e-3, so nearest rounding
    # keeps none): w + c follows the float64 sum; storing c in bfloat16 loses at most 2^-9 |c| <= 2^-17 |w| a step
    K = 2000
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.bfloat16))
    opt = gopt.SGD([w], lr=1.0, bf16_update="kahan")
    total = 1.0
    for k in range(K):
        step = 1e-4 * (1 + (k % 7) / 7)
        w.grad = torch.tensor([-step], dtype=torch.bfloat16)
        total += float(torch.tensor(step, dtype=torch.bfloat16))
        opt.step()
    pair = float((w.detach().float() + opt.state[w]["kahan_comp"].float())[0])
    assert abs(pair - total) <= K * 2**-17 * total
    assert abs(pair - total) < 0.02 * (total - 1.0)  # it keeps 98% of the updates; nearest rounding keeps none
    assert abs(float(w.detach()[0]) - pair) <= 2**-8 * pair  # and the weight is the nearest bfloat16 to the pair


def test_float32_parameters_are_untouched_and_modes_validated():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(10))
    b = torch.nn.Parameter(a.detach().clone())
    oa = gopt.Adam([a], lr=1e-2, bf16_update="kahan")
    ob = gopt.Adam([b], lr=1e-2)
    for _ in range(3):
        g = torch.randn(10)
        a.grad, b.grad = g.clone(), g.clone()
        oa.step()
        ob.step()
    assert torch.equal(a, b) and "kahan_comp" not in oa.state[a]
    with pytest.raises(ValueError, match="bf16_update"):
        gopt.Adam([a], bf16_update="fast")
    with pytest.raises(ValueError, match="compile"):
        gopt.Adam([a], bf16_update="kahan", compile=True)


def test_stochastic_rounding_is_reproducible_from_its_seed():
    out = [_drift("stochastic", steps=50, seed=s)[0] for s in (3, 3, 4)]
    assert out[0] == out[1] != out[2]
