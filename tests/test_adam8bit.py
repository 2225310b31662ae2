"""gdlab.optim.Adam8bit and gdlab.optim.quantize against an independent NumPy reference.

The reference builds the dynamic map from its bit layout (sign, a run of zeros for the decade, an end bit, the
fraction bits), quantises by brute force (the nearest of the 256 values), and takes Adam's step on the decoded
moments, so that it shares no code with the rule or the quantiser.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gdlab import memory
from gdlab import optim as gopt
from gdlab.optim import numpy as gnp
from gdlab.optim import quantize as Q


# --------------------------------------------------------------------------------------- the reference
def reference_map(signed: bool) -> np.ndarray:
    """Decode every byte: [sign] zeros(E) 1 fraction(F); E zeros give 10^-E, F bits a midpoint of [0.1, 1]."""
    values = []
    nbits = 7 if signed else 8
    for b in range(256):
        neg = signed and (b >> 7) & 1
        r = b & ((1 << nbits) - 1)
        if r == 0:
            values.append(1.0 if neg else 0.0)  # the pattern of -0 (signed) stands for 1
            continue
        e = nbits - r.bit_length()  # leading zeros of the field
        f = nbits - e - 1           # fraction bits after the end bit
        if not signed and f == 0:   # 0000 0001: the unsigned map's slot for 1
            values.append(1.0)
            continue
        j = r & ((1 << f) - 1)
        v = 10.0**-e * (0.1 + 0.9 * (j + 0.5) / 2**f)
        values.append(-v if neg else v)
    return np.sort(np.array(values))


def reference_quantize(x: np.ndarray, signed: bool, block: int):
    code = reference_map(signed)
    flat = x.reshape(-1).astype(np.float64)
    codes = np.empty(flat.size, dtype=np.int64)
    scales = []
    for lo in range(0, flat.size, block):
        blk = flat[lo:lo + block]
        a = float(np.max(np.abs(blk))) if blk.size else 0.0
        a32 = float(np.float32(a))
        y = blk / a32 if a32 > 0 else np.zeros_like(blk)
        codes[lo:lo + block] = np.argmin(np.abs(y[:, None] - code[None, :]), axis=1)
        scales.append(a32)
    return codes, np.array(scales)


def reference_dequantize(codes, scales, signed, block):
    code = reference_map(signed).astype(np.float32).astype(np.float64)  # the map is a float32 table
    return code[codes] * np.repeat(scales, block)[:codes.size]


def _same_codes(got, want, y, code):
    """Codes equal, except where y sits (to float32 rounding) halfway between the two candidates."""
    bad = np.nonzero(got != want)[0]
    for i in bad:
        d1, d2 = abs(y[i] - code[got[i]]), abs(y[i] - code[want[i]])
        assert abs(d1 - d2) <= 1e-6 * max(abs(y[i]), 1e-30), (i, y[i], got[i], want[i])
    return bad.size


# --------------------------------------------------------------------------------------- the map
@pytest.mark.parametrize("signed", [True, False])
def test_dynamic_map_equals_its_bit_layout(signed):
    got = Q.dynamic_map(signed).astype(np.float64)
    want = reference_map(signed)
    assert got.shape == (256,) and np.all(np.diff(got) > 0), "256 distinct sorted values"
    np.testing.assert_allclose(got, want, rtol=2**-23, atol=0)
    assert got[-1] == 1.0 and (0.0 in got)
    assert (got.min() < 0) == signed
    assert np.min(np.abs(got[got != 0])) < 1e-6  # reaches down to 1e-7 of the block's scale


def test_dynamic_map_resolution():
    # 64 steps per decade at the top (signed), 128 unsigned: the half-gap there bounds the error of large values
    top_s = np.diff(Q.dynamic_map(True)[-66:-1]).max()
    top_u = np.diff(Q.dynamic_map(False)[-130:-1]).max()
    assert math.isclose(top_s, 0.9 / 64, rel_tol=1e-5) and math.isclose(top_u, 0.9 / 128, rel_tol=1e-5)
    assert math.isclose(Q.max_half_gap(True), 0.9 / 128, rel_tol=1e-3)


# --------------------------------------------------------------------------------------- quantising
@pytest.mark.parametrize("xp", ["numpy", "torch"])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("n,block", [(5000, 2048), (4096, 256), (300, 2048), (2049, 2048)])
def test_quantize_is_the_nearest_code_of_each_blocks_scale(xp, signed, n, block):
    rng = np.random.default_rng(n + block)
    x = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 0, n)).astype(np.float32)
    if not signed:
        x = np.abs(x)
    x[7] = 0.0
    nb = Q.n_blocks(n, block)
    want_codes, want_scales = reference_quantize(x, signed, block)
    if xp == "numpy":
        q, a = np.zeros(n, np.uint8), np.zeros(nb, np.float32)
        Q.quantize("numpy", x, q, a, signed=signed, block_size=block)
        back = Q.dequantize("numpy", q, a, (n,), np.float32, signed=signed, block_size=block)
    else:
        q, a = torch.zeros(n, dtype=torch.uint8), torch.zeros(nb)
        Q.quantize("torch", torch.from_numpy(x), q, a, signed=signed, block_size=block)
        back = Q.dequantize("torch", q, a, (n,), torch.float32, signed=signed, block_size=block).numpy()
        q, a = q.numpy(), a.numpy()
    np.testing.assert_array_equal(a, want_scales.astype(np.float32))
    y = x.astype(np.float64) / np.repeat(want_scales, block)[:n]
    _same_codes(q.astype(np.int64), want_codes, y, reference_map(signed))
    np.testing.assert_allclose(back, reference_dequantize(q.astype(np.int64), want_scales, signed, block),
                               rtol=2**-22, atol=0)
    # the round trip is within half the largest gap of the map, times each block's scale
    bound = np.repeat(want_scales, block)[:n] * Q.max_half_gap(signed)
    assert np.all(np.abs(back - x) <= bound * (1 + 1e-5))  # float32 decoding of -1 (half a gap exactly)


def test_codes_round_trip_exactly_and_zero_blocks_stay_zero():
    code = Q.dynamic_map(True)
    x = np.concatenate([code * 3.0, np.zeros(2048)]).astype(np.float32)  # block 0: every code x 3, block 1: zeros
    q, a = np.zeros(x.size, np.uint8), np.zeros(Q.n_blocks(x.size, 256), np.float32)
    Q.quantize("numpy", x, q, a, signed=True, block_size=256)
    assert a[0] == 3.0 and np.all(a[1:] == 0)
    np.testing.assert_array_equal(q[:256], np.arange(256))
    back = Q.dequantize("numpy", q, a, x.shape, np.float32, signed=True, block_size=256)
    np.testing.assert_array_equal(back, x)


def test_an_outlier_spoils_only_its_block():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(4 * 2048) * 1e-3).astype(np.float32)
    x[10] = 10.0
    q, a = np.zeros(x.size, np.uint8), np.zeros(4, np.float32)
    Q.quantize("numpy", x, q, a, signed=True)
    err = np.abs(Q.dequantize("numpy", q, a, x.shape, np.float32, signed=True) - x).reshape(4, 2048)
    assert err[0].max() > 10 * err[1:].max()  # the outlier's block is quantised against 10, the others against 3e-3
    assert np.all(err[1:].max(axis=1) <= a[1:] * Q.max_half_gap(True) * (1 + 1e-5))


# --------------------------------------------------------------------------------------- the rule
def reference_step(p, g, st, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, block=2048):
    """One 8-bit Adam step from the rule's state, in float64, with the reference quantiser."""
    g = g.astype(np.float64) + wd * p
    m = reference_dequantize(st["exp_avg_q"].astype(np.int64), st["exp_avg_absmax"].astype(np.float64), True, block)
    v = reference_dequantize(st["exp_avg_sq_q"].astype(np.int64), st["exp_avg_sq_absmax"].astype(np.float64), False, block)
    m = b1 * m + (1 - b1) * g.ravel()
    v = b2 * v + (1 - b2) * g.ravel() ** 2
    mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
    p_new = p.ravel() - lr * mhat / (np.sqrt(vhat) + eps)
    return p_new.reshape(p.shape), m, v


@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_numpy_face_steps_equal_the_reference_from_the_same_state(wd):
    rng = np.random.default_rng(1)
    shape = (72, 80)  # 5760 values: 3 blocks, the last one short
    opt = gnp.Adam8bit(lr=1e-3, weight_decay=wd)
    x = rng.standard_normal(shape)
    for t in range(1, 8):
        g = rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 0, shape)
        if opt.states:
            st = {k: np.array(v, copy=True) for k, v in opt.states[0].items() if k != "step"}
        else:
            nb = Q.n_blocks(x.size, 2048)
            st = dict(exp_avg_q=np.zeros(x.size, np.uint8), exp_avg_absmax=np.zeros(nb, np.float32),
                      exp_avg_sq_q=np.zeros(x.size, np.uint8), exp_avg_sq_absmax=np.zeros(nb, np.float32))
        want, m, v = reference_step(x, g, st, t, wd=wd)
        x_old, x = x, opt(x, g)
        # the rule decodes in float32 (code x scale): each step within ~1e-6 of the reference's, relative (a
        # coordinate whose v decodes to 0 takes a step of lr m/eps, far larger than lr: compare steps, not iterates)
        # (where 0.9 m + 0.1 g cancels, the float32 decoding of m shows absolutely: lr x 1e-7)
        np.testing.assert_allclose(x - x_old, want - x_old, rtol=2e-6, atol=1e-10)
        # the state after the step is the quantisation of the float moments
        s = opt.states[0]
        cm, am = reference_quantize(m, True, 2048)
        np.testing.assert_allclose(s["exp_avg_absmax"], am, rtol=2**-23)
        _same_codes(s["exp_avg_q"].astype(np.int64), cm, m / np.repeat(am, 2048)[:m.size], reference_map(True))
        cv, av = reference_quantize(v, False, 2048)
        np.testing.assert_allclose(s["exp_avg_sq_absmax"], av, rtol=2**-23)
        _same_codes(s["exp_avg_sq_q"].astype(np.int64), cv, v / np.repeat(av, 2048)[:v.size], reference_map(False))


def test_torch_face_equals_numpy_face_one_step_at_a_time():
    rng = np.random.default_rng(2)
    shapes = [(96, 64), (40,), (70000,)]  # 8-bit, float32 (small), 8-bit over several chunks
    params = [torch.nn.Parameter(torch.from_numpy(rng.standard_normal(s).astype(np.float32))) for s in shapes]
    opt = gopt.Adam8bit(params, lr=1e-2)
    ref = gnp.Adam8bit(lr=1e-2)
    for _ in range(4):
        grads = [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in shapes]
        before = [p.detach().numpy().astype(np.float32).copy() for p in params]
        if ref.states:  # start the NumPy face from the torch face's state
            ref.states = [{k: (v.numpy().copy() if hasattr(v, "numpy") else v) for k, v in opt.state[p].items()}
                          for p in params]
        arrays = [b.copy() for b in before]
        ref.step_arrays(arrays, [g.numpy() for g in grads])
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        for p, a, b in zip(params, arrays, before):
            np.testing.assert_allclose(p.detach().numpy(), a, rtol=0, atol=1e-6 * max(1.0, np.abs(b).max()))
    assert set(opt.state[params[1]]) == {"step", "exp_avg", "exp_avg_sq"}
    assert opt.state[params[2]]["exp_avg_absmax"].numel() == Q.n_blocks(70000, 2048)


def test_small_tensors_take_adams_step():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(30, 20))
    b = torch.nn.Parameter(a.detach().clone())
    o8, oa = gopt.Adam8bit([a], lr=1e-2), gopt.Adam([b], lr=1e-2)
    for _ in range(5):
        g = torch.randn(30, 20)
        a.grad, b.grad = g.clone(), g.clone()
        o8.step()
        oa.step()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_state_bytes_measured_predicted_and_by_hand():
    model = torch.nn.Sequential(torch.nn.Linear(100, 80), torch.nn.Linear(80, 3))
    opt = gopt.Adam8bit(model.parameters(), lr=1e-3)
    model(torch.randn(4, 100)).sum().backward()
    opt.step()
    n = 100 * 80
    # + a 4-byte step count per parameter tensor (four of them), as torch.optim keeps it
    hand = 2 * n + 8 * Q.n_blocks(n, 2048) + 8 * (80 + 80 * 3 + 3) + 4 * 4
    assert sum(memory.state_bytes(opt).values()) == hand
    assert memory.predict(model, "Adam8bit").state_total == hand
    # 8B parameters in one tensor: the prediction needs no storage (meta) and is exact
    psi = 8 * 10**9
    assert memory.predict(psi, "Adam8bit").state_total == 2 * psi + 8 * Q.n_blocks(psi, 2048) + 4


def test_block_size_option_and_validation():
    p = torch.nn.Parameter(torch.randn(5000))
    opt = gopt.Adam8bit([p], block_size=256)
    p.grad = torch.randn(5000)
    opt.step()
    assert opt.state[p]["exp_avg_absmax"].numel() == Q.n_blocks(5000, 256)
    for bad in (dict(block_size=0), dict(min_8bit_size=-1), dict(lr=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad)) if "lr" not in bad else "learning rate"):
            gopt.Adam8bit([p], **bad)
    with pytest.raises(TypeError, match="block_size must be an int, got float 2.5"):  # a wrong type
        gopt.Adam8bit([p], block_size=2.5)


def test_training_follows_fp32_adam():
    torch.manual_seed(0)
    X = torch.randn(256, 64)
    w_true = torch.randn(64, 1)
    y = X @ w_true
    losses = {}
    for name in ("Adam", "Adam8bit"):
        torch.manual_seed(1)
        net = torch.nn.Linear(64, 128)
        head = torch.nn.Linear(128, 1)
        opt = getattr(gopt, name)(list(net.parameters()) + list(head.parameters()), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            loss = ((head(net(X)) - y) ** 2).mean()
            loss.backward()
            opt.step()
        losses[name] = float(loss.detach())
    assert losses["Adam8bit"] < 0.05 * float((y ** 2).mean())
    assert abs(losses["Adam8bit"] / losses["Adam"] - 1) < 0.5
