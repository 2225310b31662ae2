"""gdlab.clipping against torch.nn.utils, AGC's definition; gdlab.loss_scaling against GradScaler."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from gdlab import clipping as C
from gdlab import loss_scaling as LS


def _params(seed=0, scale=1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (4,), (2, 3, 2, 2), ()]
    ps = []
    for s in shapes:
        p = torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype))
        p.grad = scale * torch.randn(s, generator=g, dtype=dtype)
        ps.append(p)
    return ps


def _clone(ps):
    out = []
    for p in ps:
        q = torch.nn.Parameter(p.detach().clone())
        q.grad = p.grad.clone()
        out.append(q)
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm,scale", [(0.5, 1.0), (100.0, 1.0), (1.0, 1e-3)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, scale):
    a = _params(scale=scale)
    b = _clone(a)
    na = C.clip_grad_norm_(a, max_norm, norm_type)
    nb = torch.nn.utils.clip_grad_norm_(b, max_norm, norm_type)
    assert torch.equal(na, nb)
    for p, q in zip(a, b):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-15, atol=0)
    after = C.clip_grad_norm_(_clone(a), 1e9, norm_type)  # the norm now
    assert float(after) <= max_norm * (1 + 1e-12) or float(na) <= max_norm


def test_clip_grad_norm_nonfinite_is_reported():
    a = _params()
    a[0].grad[1, 1] = float("inf")
    with pytest.raises(RuntimeError, match="non-finite"):
        C.clip_grad_norm_(_clone(a), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(_clone(a), 1.0, error_if_nonfinite=True)
    b, c = _clone(a), _clone(a)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        n = C.clip_grad_norm_(b, 1.0)
    nt = torch.nn.utils.clip_grad_norm_(c, 1.0)
    assert math.isinf(float(n)) and math.isinf(float(nt))
    for p, q in zip(b, c):
        torch.testing.assert_close(p.grad, q.grad, equal_nan=True)
    with pytest.warns(RuntimeWarning):
        _, n_np = C.clip_by_global_norm([p.grad.numpy() for p in a], 1.0)
    assert math.isinf(n_np)


def test_clip_grad_value_matches_torch():
    a = _params(scale=3.0)
    b = _clone(a)
    C.clip_grad_value_(a, 0.7)
    torch.nn.utils.clip_grad_value_(b, 0.7)
    for p, q in zip(a, b):
        assert torch.equal(p.grad, q.grad)
    np_out = C.clip_by_value([q.grad.numpy() for q in _params(scale=3.0)], 0.7)
    for x, q in zip(np_out, b):
        np.testing.assert_array_equal(x, q.grad.numpy())


@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_numpy_global_norm_clipping_matches_torch(norm_type):
    a = _params(scale=2.0)
    grads = [p.grad.numpy().copy() for p in a]
    clipped, n = C.clip_by_global_norm(grads, 0.5, norm_type)
    nt = torch.nn.utils.clip_grad_norm_(a, 0.5, norm_type)
    assert n == pytest.approx(float(nt), rel=1e-14)
    for x, p in zip(clipped, a):
        np.testing.assert_allclose(x, p.grad.numpy(), rtol=1e-14)
    # eps = 0: exactly the textbook projection onto the ball, direction kept
    exact, n_p = C.clip_by_global_norm(grads, 0.5, norm_type, eps=0.0)
    assert C.global_norm(exact, norm_type) == pytest.approx(0.5, rel=1e-14)
    np.testing.assert_allclose(np.concatenate([e.ravel() for e in exact]) * n_p / 0.5,
                               np.concatenate([g.ravel() for g in grads]), rtol=1e-13)
    single, n1 = C.clip_by_global_norm(np.array([3.0, 4.0]), 1.0, eps=0.0)
    assert n1 == 5.0 and np.allclose(single, [0.6, 0.8])


def _agc_reference(g, w, lam, eps):
    """AGC written out unit by unit (rows; a vector is one unit)."""
    g, w = np.array(g, dtype=float), np.array(w, dtype=float)
    if g.ndim <= 1:
        units = [(slice(None),)]
    else:
        units = [(i,) for i in range(g.shape[0])]
    out = g.copy()
    for u in units:
        gn, wn = np.linalg.norm(g[u]), max(np.linalg.norm(w[u]), eps)
        if gn / wn > lam:
            out[u] = g[u] * lam * wn / gn
    return out


def test_adaptive_clipping_is_unitwise():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 4).double()
    conv = torch.nn.Conv2d(2, 3, 3).double()
    params = list(lin.parameters()) + list(conv.parameters())
    with torch.no_grad():
        lin.weight[2].zero_()  # a dead unit: its norm is replaced by eps
    for i, p in enumerate(params):
        p.grad = torch.randn_like(p) * (0.001 if i % 2 else 0.05)
    ref = [_agc_reference(p.grad.numpy(), p.detach().numpy(), 0.01, 1e-3) for p in params]
    np_out, frac_np = C.adaptive_clip([p.grad.numpy() for p in params], [p.detach().numpy() for p in params])
    frac = C.adaptive_clip_grad_(params)
    assert 0 < frac < 1 and frac == frac_np
    for p, r, x in zip(params, ref, np_out):
        np.testing.assert_allclose(p.grad.numpy(), r, rtol=1e-13, atol=0)
        np.testing.assert_allclose(x, r, rtol=1e-13, atol=0)
        ratio = C.unitwise_norm(p.grad.numpy()) / np.maximum(C.unitwise_norm(p.detach().numpy()), 1e-3)
        assert np.all(ratio <= 0.01 * (1 + 1e-12))
    bad = [np.array([[np.inf, 0.0], [0.1, 0.1]])]
    with pytest.warns(RuntimeWarning, match="non-finite"):
        out_bad, frac_bad = C.adaptive_clip(bad, [np.ones((2, 2))])
    np.testing.assert_array_equal(out_bad[0][0], bad[0][0])  # reported and left as it is
    assert frac_bad == 0.5 and np.allclose(out_bad[0][1], [0.01, 0.01])
    # units are rows: the Linear weight has 4 units, the bias 1
    assert C.unitwise_norm(lin.weight.detach().numpy()).shape == (4, 1)
    assert C.unitwise_norm(lin.bias.detach().numpy()).shape == ()


CLIP_ERRORS = [
    (lambda: C.clip_grad_norm_(_params(), -1.0), "max_norm"),
    (lambda: C.clip_grad_norm_(_params(), 1.0, norm_type=0), "norm_type"),
    (lambda: C.clip_grad_value_(_params(), -0.1), "clip_value"),
    (lambda: C.adaptive_clip_grad_(_params(), clipping=0.0), "clipping"),
    (lambda: C.adaptive_clip([np.ones(3)], [np.ones(3)], eps=-1.0), "eps"),
    (lambda: C.clip_by_global_norm([np.ones(2)], float("nan")), "max_norm"),
    (lambda: LS.DynamicScale(init_scale=0.0), "init_scale|scale"),
    (lambda: LS.DynamicScale(growth_factor=1.0), "growth_factor"),
    (lambda: LS.DynamicScale(backoff_factor=1.5), "backoff_factor"),
    (lambda: LS.DynamicScale(growth_interval=0), "growth_interval"),
    (lambda: LS.fp16_underflow(np.ones(3), scale=-2.0), "scale"),
]


@pytest.mark.parametrize("make,arg", CLIP_ERRORS, ids=[e[1] for e in CLIP_ERRORS])
def test_invalid_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# --- loss scaling -------------------------------------------------------------------------
def _scaled_run(make_scaler, inf_steps, n=40):
    """Scale before each step and whether the step was skipped, with inf gradients injected."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.SGD([w], lr=0.01)
    scaler = make_scaler()
    x = torch.randn(8, 5)
    scales, skipped = [], []
    for k in range(n):
        opt.zero_grad()
        loss = ((x @ w) ** 2).mean()
        scaler.scale(loss).backward()
        if k in inf_steps:
            w.grad[k % 5] = float("inf") if k % 2 else float("nan")
        before = w.detach().clone()
        scales.append(scaler.get_scale())
        scaler.step(opt)
        scaler.update()
        skipped.append(bool(torch.equal(before, w.detach())))
    return scales, skipped, w.detach().clone()


@pytest.mark.parametrize("kw", [dict(init_scale=2.0 ** 10, growth_interval=3),
                                dict(init_scale=1000.0, growth_factor=3.0, backoff_factor=0.3, growth_interval=4)])
def test_dynamic_scaling_matches_gradscaler(kw):
    inf_steps = {2, 3, 4, 11, 20, 21, 33}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _scaled_run(lambda: torch.amp.GradScaler("cpu", **kw), inf_steps)
    ours = _scaled_run(lambda: LS.LossScaler(**kw), inf_steps)
    assert ours[0] == ref[0]  # the same scale trajectory, step by step
    assert ours[1] == ref[1] and [k for k, s in enumerate(ours[1]) if s] == sorted(inf_steps)
    torch.testing.assert_close(ours[2], ref[2], rtol=0, atol=0)
    assert len(set(ref[0])) > 3  # the run really grew and backed off


def test_static_scaling_skips_but_keeps_the_scale():
    scales, skipped, _ = _scaled_run(lambda: LS.LossScaler(init_scale=512.0, dynamic=False), {5, 6})
    assert set(scales) == {512.0} and [k for k, s in enumerate(skipped) if s] == [5, 6]


def test_dynamic_state_machine_by_hand():
    s = LS.DynamicScale(init_scale=8.0, growth_interval=2)
    flags = (False, False, True, False, True, True, False, False)
    seq = [(s.update(f), s.scale) for f in flags]
    assert [sc for _, sc in seq] == [8.0, 16.0, 8.0, 8.0, 4.0, 2.0, 2.0, 4.0]
    assert [sk for sk, _ in seq] == list(flags) and s.skipped == 3 and s.steps == 8
    big = LS.DynamicScale(init_scale=float(np.finfo(np.float32).max) / 1.5, growth_interval=1)
    big.update(False)  # growing would overflow float32: the scale stays finite
    assert math.isfinite(big.scale)


def test_fp16_underflow_simulation():
    rng = np.random.default_rng(0)
    g = np.exp(rng.uniform(np.log(1e-10), np.log(1e-2), size=20000)) * rng.choice([-1, 1], 20000)
    plain, scaled = LS.fp16_underflow(g), LS.fp16_underflow(g, scale=2.0 ** 16)
    # entries below half the smallest subnormal 2^-24 round to zero: log-uniform fraction
    expected = (np.log(2.0 ** -25) - np.log(1e-10)) / (np.log(1e-2) - np.log(1e-10))
    assert plain.flushed == pytest.approx(expected, abs=0.02)
    assert scaled.flushed < 1e-3 < plain.flushed and scaled.overflow == 0.0
    assert scaled.rel_error < plain.rel_error
    over = LS.fp16_underflow(g, scale=2.0 ** 30)
    assert over.overflow > 0  # |g| S > 65504 overflows
    np.testing.assert_allclose(LS.fp16_roundtrip(np.array([1e-9]), 2.0 ** 16), [1e-9], rtol=1e-3)
    assert LS.fp16_roundtrip(np.array([1e-9]))[0] == 0.0


def test_numpy_modules_do_not_import_torch():
    import subprocess
    import sys
    code = ("import sys, numpy as np, gdlab.clipping as c, gdlab.loss_scaling as l;"
            "c.clip_by_global_norm([np.ones(3)], 1.0); l.fp16_underflow(np.ones(3));"
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
