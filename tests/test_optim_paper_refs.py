"""The optimizers torch.optim lacks, checked against independent float64 references written from the papers
(tests/reference_impls.py), across the NumPy and torch faces, and against pytorch_optimizer where it follows
the same convention."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gdlab.optim as go
import gdlab.optim.numpy as gnp
from gdlab.optim import averaging, matrix
from gdlab.optim.ops import NumpyOps, TorchOps
from gdlab.optim.rules import schedule_free, sophia

import reference_impls as ref

torch.set_num_threads(1)


# --- a smooth random problem over several parameter tensors ---------------------------------
class Problem:
    """f(θ) = ½(θ−θ*)ᵀH(θ−θ*) + 0.1 Σ(1 − cos θ) over the concatenation of the tensors."""

    def __init__(self, shapes, seed=0):
        rng = np.random.default_rng(seed)
        self.shapes = shapes
        self.sizes = [int(np.prod(s)) for s in shapes]
        n = sum(self.sizes)
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        self.diag = np.linspace(1.0, 10.0, n)
        self.H = (q * self.diag) @ q.T
        self.star = rng.standard_normal(n)
        self.x0 = [rng.standard_normal(s) + 0.5 for s in shapes]

    def flat(self, xs):
        return np.concatenate([np.asarray(x, dtype=float).ravel() for x in xs])

    def split(self, v):
        out, i = [], 0
        for s, k in zip(self.shapes, self.sizes):
            out.append(v[i:i + k].reshape(s))
            i += k
        return out

    def grad(self, xs):
        th = self.flat(xs)
        return self.split(self.H @ (th - self.star) + 0.1 * np.sin(th))

    def f(self, xs):
        d = self.flat(xs) - self.star
        return 0.5 * d @ self.H @ d + 0.1 * np.sum(1 - np.cos(self.flat(xs)))

    def hess_diag(self, xs):
        return self.split(np.diag(self.H) + 0.1 * np.cos(self.flat(xs)))


MAT = [(4, 3), (3,)]
MUON = [(4, 3), (3, 5)]
TENSOR = [(4, 3), (3,), (2, 3, 2)]
SOAP_SHAPES = [(4, 3), (3, 4), (3,)]  # null spaces of GGᵀ, GᵀG of dimension <= 1: the eigenbasis is unique up to sign

# name, gdlab rule, hyperparameters, reference, reference kwargs, shapes, extras (Sophia's estimates)
CONTINUOUS = [
    ("LAMB", "LAMB", dict(lr=1e-2, weight_decay=0.01), ref.lamb_step, dict(weight_decay=0.01), MAT),
    ("LAMB-clip", "LAMB", dict(lr=1e-2, weight_decay=0.0, trust_clip=1.0), ref.lamb_step,
     dict(weight_decay=0.0, clip=1.0), MAT),
    ("LARS", "LARS", dict(lr=1.0, trust_coefficient=0.02, weight_decay=1e-3), ref.lars_step,
     dict(trust_coefficient=0.02, weight_decay=1e-3), MAT),
    ("Sophia", "Sophia", dict(lr=1e-2, gamma=0.5, weight_decay=0.1), ref.sophia_step,
     dict(gamma=0.5, weight_decay=0.1), MAT),
    ("Shampoo", "Shampoo", dict(lr=0.05, eps=0.1, update_freq=3), ref.shampoo_step,
     dict(eps=0.1, update_freq=3), TENSOR),
    ("Shampoo-root2", "Shampoo", dict(lr=0.05, eps=0.1, exponent_override=2), ref.shampoo_step,
     dict(eps=0.1, root=2), TENSOR),
    # ε = 1e-3: at step 1 the rotated moments vanish along the null space of GGᵀ up to rounding (1e-17),
    # which a tiny ε would amplify to ~1e-9 differences between any two implementations
    ("SOAP", "SOAP", dict(lr=1e-2, eps=1e-3, precondition_frequency=5), ref.soap_step,
     dict(eps=1e-3, precondition_frequency=5), SOAP_SHAPES),
    ("Muon", "Muon", dict(lr=0.02, weight_decay=0.1), ref.muon_step, dict(weight_decay=0.1), MUON),
    ("Muon-heavy-ball", "Muon", dict(lr=0.02, nesterov=False, weight_decay=0.0), ref.muon_step, dict(nesterov=False), MUON),
    ("ScheduleFreeAdamW", "ScheduleFreeAdamW", dict(lr=1e-2, warmup_steps=5, weight_decay=0.01, r=0.5),
     ref.schedule_free_step, dict(warmup_steps=5, weight_decay=0.01, r=0.5), MAT),
]
SOPHIA_PERIOD = 3


def _extras(name, prob, xs, t):
    if name.startswith("Sophia") and (t - 1) % SOPHIA_PERIOD == 0:
        return prob.hess_diag(xs)
    return None


def _run_numpy(rule, hp, prob, steps, name=""):
    opt = gnp.make(rule, **hp)
    xs = [x.copy() for x in prob.x0]
    traj = [[x.copy() for x in xs]]
    for t in range(1, steps + 1):
        e = _extras(name, prob, xs, t)
        opt.step_arrays(xs, prob.grad(xs), extras=None if e is None else {"hessian": e})
        traj.append([x.copy() for x in xs])
    return traj


def _run_torch(rule, hp, prob, steps, name="", foreach=True, opt=None, params=None, start=1):
    if params is None:
        params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in prob.x0]
    if opt is None:
        opt = getattr(go, rule)(params, foreach=foreach, **hp)
    traj = []
    for t in range(start, start + steps):
        xs = [p.detach().numpy() for p in params]
        for p, g in zip(params, prob.grad(xs)):
            p.grad = torch.tensor(g, dtype=torch.float64)
        e = _extras(name, prob, xs, t)
        if e is not None:
            sophia.set_hessian_estimate(opt, [torch.tensor(h) for h in e], params)
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, opt, params


@pytest.mark.parametrize("name,rule,hp,ref_step,ref_hp,shapes", CONTINUOUS, ids=[c[0] for c in CONTINUOUS])
def test_matches_paper_reference_over_50_steps(name, rule, hp, ref_step, ref_hp, shapes):
    prob = Problem(shapes, seed=1)
    ours = _run_numpy(rule, hp, prob, 50, name)
    ys, state = [x.copy() for x in prob.x0], {}
    moved = 0.0
    for t in range(1, 51):
        e = _extras(name, prob, ys, t)
        kw = dict(ref_hp, hessian=e) if name.startswith("Sophia") else ref_hp
        ys = ref_step(ys, prob.grad(ys), state, t, lr=hp["lr"], **kw)
        for a, b in zip(ours[t], ys):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{name} step {t}")
        moved = max(moved, max(float(np.abs(a - b).max()) for a, b in zip(ours[t], prob.x0)))
    assert moved > 1e-3, f"{name} barely moved ({moved}); the comparison would be vacuous"


def _margin_ok(c, tol=1e-9):
    return all(np.min(np.abs(x)) > tol for x in c)


SIGN = [  # name, rule, hyperparameters, reference, its arguments, the β that mixes m and g inside sign()
    ("Lion", "Lion", dict(lr=1e-2, weight_decay=0.1), ref.lion_step, dict(weight_decay=0.1), 0.9),
    ("signSGD", "SignSGD", dict(lr=1e-2, weight_decay=0.1), ref.signum_step, dict(weight_decay=0.1), 0.0),
    ("Signum", "SignSGD", dict(lr=1e-2, momentum=0.9), ref.signum_step, dict(momentum=0.9), 0.9),
]


@pytest.mark.parametrize("name,rule,hp,ref_step,ref_hp,beta", SIGN, ids=[c[0] for c in SIGN])
def test_sign_rules_one_step_at_a_time(name, rule, hp, ref_step, ref_hp, beta):
    prob = Problem(MAT, seed=2)
    noise = np.random.default_rng(21)             # noisy gradients: m and g often disagree in sign
    opt = gnp.make(rule, **hp)
    xs, state = [x.copy() for x in prob.x0], {}
    checked = 0
    for t in range(1, 41):
        g = [gi + 2.0 * noise.standard_normal(gi.shape) for gi in prob.grad(xs)]
        m = state.get("m", [np.zeros_like(x) for x in xs])
        arg = [beta * mi + (1 - beta) * gi for mi, gi in zip(m, g)]   # what goes into sign()
        expect = ref_step([x.copy() for x in xs], g, state, t, lr=hp["lr"], **ref_hp)
        opt.step_arrays(xs, g)
        if _margin_ok(arg):
            checked += 1
            for a, b in zip(xs, expect):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
        xs = [np.array(e) for e in expect]           # identical state for the next step
    assert checked >= 30


@pytest.mark.parametrize("case", ["generic", "scale-invariant"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_adamp_one_step_at_a_time(case, nesterov):
    prob = Problem(MAT, seed=3)
    hp = dict(lr=1e-2, weight_decay=0.1, nesterov=nesterov)
    opt = gnp.AdamP(track_stats=True, **hp)
    xs, state = [x.copy() for x in prob.x0], {}
    flags = []
    for t in range(1, 21):
        g = prob.grad(xs)
        if case == "scale-invariant":                # remove each channel's radial part, as a BN layer would
            w = xs[0].reshape(4, -1)
            gm = g[0].reshape(4, -1)
            gm = gm - (np.sum(gm * w, axis=1) / np.sum(w * w, axis=1))[:, None] * w
            g = [gm.reshape(xs[0].shape), g[1]]
        expect = ref.adamp_step([x.copy() for x in xs], g, state, t, **hp)
        opt.step_arrays(xs, g)
        assert opt.stats["projected"] == state["flags"]
        flags.append(state["flags"][0])
        for a, b in zip(xs, expect):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
        xs = [np.array(e) for e in expect]
    assert all(flags) if case == "scale-invariant" else not any(flags)


FACE_CASES = [(c[0], c[1], c[2], c[5]) for c in CONTINUOUS] + [
    ("Lion", "Lion", dict(lr=1e-2, weight_decay=0.1), MAT),
    ("Signum", "SignSGD", dict(lr=1e-2, momentum=0.9, weight_decay=0.1), MAT),
    ("AdamP", "AdamP", dict(lr=1e-2, weight_decay=0.1), MAT),
]


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("name,rule,hp,shapes", FACE_CASES, ids=[c[0] for c in FACE_CASES])
def test_torch_face_equals_numpy_face(name, rule, hp, shapes, foreach):
    prob = Problem(shapes, seed=4)
    a = _run_numpy(rule, hp, prob, 30, name)[1:]
    b, _, _ = _run_torch(rule, hp, prob, 30, name, foreach=foreach)
    for t, (xa, xb) in enumerate(zip(a, b)):
        for u, v in zip(xa, xb):
            np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-13, err_msg=f"{name} step {t + 1}")


@pytest.mark.parametrize("name,rule,hp,shapes", FACE_CASES, ids=[c[0] for c in FACE_CASES])
def test_state_dict_round_trip(name, rule, hp, shapes):
    prob = Problem(shapes, seed=5)
    straight, _, _ = _run_torch(rule, hp, prob, 60, name)
    _, opt, params = _run_torch(rule, hp, prob, 30, name)
    sd = opt.state_dict()
    params2 = [p.detach().clone().requires_grad_(True) for p in params]
    opt2 = getattr(go, rule)(params2, **hp)
    opt2.load_state_dict(sd)
    resumed, _, _ = _run_torch(rule, hp, prob, 30, name, opt=opt2, params=params2, start=31)
    for u, v in zip(straight[-1], resumed[-1]):
        assert np.array_equal(u, v), f"{name}: 30 + 30 steps differ from 60"


ZERO = [("Lion", dict()), ("SignSGD", dict(momentum=0.9)), ("LAMB", dict(weight_decay=0.0)),
        ("LARS", dict(weight_decay=0.0)), ("AdamP", dict()), ("Sophia", dict(weight_decay=0.0)),
        ("Shampoo", dict()), ("SOAP", dict(weight_decay=0.0)), ("Muon", dict(weight_decay=0.0)), ("ScheduleFreeAdamW", dict())]


@pytest.mark.parametrize("rule,hp", ZERO, ids=[z[0] for z in ZERO])
def test_zero_gradient_leaves_parameters_unchanged(rule, hp):
    shapes = MUON if rule == "Muon" else TENSOR if rule != "SOAP" else SOAP_SHAPES
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal(s) for s in shapes]
    before = [x.copy() for x in xs]
    opt = gnp.make(rule, **hp)
    for _ in range(3):
        opt.step_arrays(xs, [np.zeros_like(x) for x in xs])
    for a, b in zip(xs, before):
        assert np.array_equal(a, b)
    # and a nonzero gradient does move them (the test above is not vacuous)
    opt.step_arrays(xs, [np.ones_like(x) for x in xs])
    assert any(not np.array_equal(a, b) for a, b in zip(xs, before))


SMOKE = [("Lion", dict(lr=1e-2)), ("SignSGD", dict(lr=1e-2, momentum=0.9)), ("LAMB", dict(lr=2e-2, weight_decay=0)),
         ("LARS", dict(lr=1.0, trust_coefficient=0.02, weight_decay=0)), ("AdamP", dict(lr=3e-2)),
         ("Sophia", dict(lr=3e-2, gamma=1.0, weight_decay=0)), ("Shampoo", dict(lr=0.5)),
         ("SOAP", dict(lr=3e-2, weight_decay=0)), ("Muon", dict(lr=2e-2, momentum=0.9, weight_decay=0.0)),
         ("ScheduleFreeAdamW", dict(lr=5e-2))]


@pytest.mark.parametrize("rule,hp", SMOKE, ids=[s[0] for s in SMOKE])
def test_converges_on_a_quadratic(rule, hp):
    shapes = MUON if rule == "Muon" else MAT
    prob = Problem(shapes, seed=7)
    prob.H = (prob.H + prob.H.T) / 2
    opt = gnp.make(rule, **hp)
    xs = [x.copy() for x in prob.x0]
    f0 = prob.f(xs)
    fmin = 0.5 * 0 + min(prob.f(prob.split(prob.star)), f0)
    for t in range(1, 401):
        e = prob.hess_diag(xs) if rule == "Sophia" and t % 10 == 1 else None
        opt.step_arrays(xs, prob.grad(xs), extras=None if e is None else {"hessian": e})
    if rule == "ScheduleFreeAdamW":
        z = [s["z"] for s in opt.states]
        xs = [schedule_free.averaged_point(y, zz, opt.group["betas"][0]) for y, zz in zip(xs, z)]
    assert np.all(np.isfinite(prob.flat(xs)))
    assert prob.f(xs) - fmin < 0.02 * (f0 - fmin), f"{rule}: {prob.f(xs)} vs f0 {f0}"


BAD = [
    ("Lion", dict(lr=-1.0), "lr"), ("Lion", dict(betas=(0.9, 1.5)), "betas"), ("Lion", dict(weight_decay=-1), "weight_decay"),
    ("SignSGD", dict(momentum=1.0), "momentum"), ("LAMB", dict(eps=-1e-6), "eps"),
    ("LAMB", dict(trust_clip=0.0), "trust_clip"), ("LARS", dict(trust_coefficient=-1.0), "trust_coefficient"),
    ("LARS", dict(momentum=-0.1), "momentum"), ("AdamP", dict(wd_ratio=2.0), "wd_ratio"),
    ("AdamP", dict(delta=-0.1), "delta"), ("Sophia", dict(gamma=0.0), "gamma"),
    ("Sophia", dict(update_period=0), "update_period"), ("Shampoo", dict(update_freq=0), "update_freq"),
    ("Shampoo", dict(exponent_override=-2), "exponent_override"), ("Shampoo", dict(eps=float("nan")), "eps"),
    ("SOAP", dict(precondition_frequency=0), "precondition_frequency"), ("SOAP", dict(shampoo_beta=1.0), "shampoo_beta"),
    ("Muon", dict(ns_steps=0), "ns_steps"), ("Muon", dict(momentum=1.0), "momentum"),
    ("ScheduleFreeAdamW", dict(warmup_steps=-1), "warmup_steps"), ("ScheduleFreeAdamW", dict(betas=(0.0, 0.9)), "betas"),
    ("ScheduleFreeAdamW", dict(weight_lr_power=-1.0), "weight_lr_power"),
]


@pytest.mark.parametrize("rule,hp,arg", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_invalid_hyperparameters_raise_naming_the_argument(rule, hp, arg):
    with pytest.raises(ValueError, match=arg):
        gnp.make(rule, **hp)
    with pytest.raises(ValueError, match=arg):
        getattr(go, rule)([torch.zeros(2, 2, requires_grad=True)], **hp)


def test_muon_rejects_non_matrix_parameters_with_a_pointer():
    # refused when the optimizer is built (not at its first step), with a pointer to a second optimizer
    b = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="second optimizer"):
        go.Muon([b])
    # the NumPy face sees its arrays only when it steps
    opt = gnp.Muon()
    with pytest.raises(ValueError, match="second optimizer"):
        opt.step_arrays([np.zeros(3)], [np.ones(3)])


@pytest.mark.parametrize("shape", [(8, 8), (16, 4), (4, 32), (64, 16)])
def test_newton_schulz_singular_values_near_one(shape):
    rng = np.random.default_rng(8)
    g = rng.standard_normal(shape) @ np.diag(np.logspace(0, 2, shape[1]))  # spread singular values
    o = matrix.newton_schulz(NumpyOps(), g)
    s = np.linalg.svd(o, compute_uv=False)
    assert 0.6 <= s.min() and s.max() <= 1.2, s
    # the singular vectors are those of g: o ≈ U Vᵀ means oᵀg is symmetric positive semi-definite
    m = o.T @ g if shape[0] >= shape[1] else g @ o.T
    np.testing.assert_allclose(m, m.T, atol=1e-8 * np.abs(m).max())
    np.testing.assert_allclose(o, ref.newton_schulz_ref(g), rtol=1e-10, atol=1e-12)
    ot = matrix.newton_schulz(TorchOps(), torch.tensor(g))
    np.testing.assert_allclose(ot.numpy(), o, rtol=1e-12, atol=1e-13)


def test_inverse_root_matches_scipy():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((5, 5))
    a = a @ a.T + 0.5 * np.eye(5)
    for p in (2, 4, 6):
        r = matrix.inverse_root(NumpyOps(), a, p)
        np.testing.assert_allclose(np.linalg.matrix_power(r, p) @ a, np.eye(5), atol=1e-10)
    with pytest.raises(ValueError, match="p="):
        matrix.inverse_root(NumpyOps(), a, 0)


def test_hutchinson_is_unbiased_for_the_hessian_diagonal():
    rng = np.random.default_rng(10)
    q = rng.standard_normal((6, 6))
    hess = torch.tensor(q @ q.T + np.diag(np.arange(1.0, 7.0)))
    theta = torch.tensor(rng.standard_normal(6), requires_grad=True)
    opt = go.Sophia([theta])
    gen = torch.Generator().manual_seed(0)
    for dist in ("gaussian", "rademacher"):
        samples = []
        for _ in range(2000):
            loss = 0.5 * theta @ hess @ theta
            samples.append(sophia.hutchinson(opt, loss, generator=gen, distribution=dist)[0].detach().numpy())
        samples = np.array(samples)
        mean, se = samples.mean(0), samples.std(0, ddof=1) / math.sqrt(len(samples))
        assert np.all(np.abs(mean - np.diag(hess.numpy())) < 4.5 * se), (dist, mean, np.diag(hess.numpy()))
        assert np.all(4.5 * se < 0.25 * np.diag(hess.numpy()))  # power: a 25% bias could not pass
    np.testing.assert_allclose(theta.grad.numpy(), (hess @ theta).detach().numpy(), rtol=1e-12)
    # the estimate is pending in the state and is folded into h by the next step
    opt.step()
    assert opt.state[theta].get("hessian_estimate") is None
    b2 = opt.defaults["betas"][1]
    np.testing.assert_allclose(opt.state[theta]["hessian"].numpy(), (1 - b2) * samples[-1], rtol=1e-12)


def test_gauss_newton_bartlett_estimate():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 4).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    opt = go.Sophia(lin.parameters())
    logits = lin(x)
    gen = torch.Generator().manual_seed(1)
    est = sophia.gauss_newton_bartlett(opt, logits, generator=gen)
    gen = torch.Generator().manual_seed(1)
    labels = torch.multinomial(torch.softmax(logits.detach(), -1), 1, generator=gen).squeeze(-1)
    g = torch.autograd.grad(torch.nn.functional.cross_entropy(lin(x), labels), list(lin.parameters()))
    for e, gi in zip(est, g):
        torch.testing.assert_close(e, 5 * gi * gi)
    logits.sum().backward()                           # the graph was retained for the caller


@pytest.mark.parametrize("rule,hp", [("LAMB", dict(eps=0.0, weight_decay=0.0)),
                                     ("LARS", dict(momentum=0.0, weight_decay=0.0))])
def test_layerwise_update_is_invariant_to_rescaling_one_layers_gradient(rule, hp):
    rng = np.random.default_rng(11)
    xs = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    gs = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    a, b = [x.copy() for x in xs], [x.copy() for x in xs]
    oa, ob = gnp.make(rule, lr=0.1, **hp), gnp.make(rule, lr=0.1, **hp)
    for _ in range(3):
        oa.step_arrays(a, gs)
        ob.step_arrays(b, [1e3 * gs[0], gs[1]])
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    # Adam without the trust ratio is invariant too, so also check the ratio itself scales with ‖θ‖
    c = [3.0 * xs[0], xs[1].copy()]
    oc = gnp.make(rule, lr=0.1, **hp)
    oc.step_arrays(c, gs)
    od = gnp.make(rule, lr=0.1, **hp)
    d = [x.copy() for x in xs]
    od.step_arrays(d, gs)
    np.testing.assert_allclose(c[0] - 3.0 * xs[0], 3.0 * (d[0] - xs[0]), rtol=1e-12, atol=1e-14)


# --- pytorch_optimizer, where it follows the same convention ----------------------------------
def _lib_run(lib_opt, ours_opt, prob, p_lib, p_ours, steps=30):
    for _ in range(steps):
        for plist in (p_lib, p_ours):
            for p, g in zip(plist, prob.grad([q.detach().numpy() for q in plist])):
                p.grad = torch.tensor(g)
        lib_opt.step()
        ours_opt.step()
        for u, v in zip(p_lib, p_ours):
            torch.testing.assert_close(v, u, rtol=1e-10, atol=1e-12)


LIB = [
    ("Lion", "Lion", dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1), dict(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)),
    ("AdamP", "AdamP", dict(lr=1e-2, eps=0.0, weight_decay=0.1), dict(lr=1e-2, eps=0.0, weight_decay=0.1)),
    # schedule-free: the averaging weights agree only when they do not depend on the learning rate
    ("ScheduleFreeAdamW", "ScheduleFreeAdamW", dict(lr=1e-2, eps=0.0, weight_lr_power=0.0, r=1.0, warmup_steps=4),
     dict(lr=1e-2, eps=0.0, weight_lr_power=0.0, r=1.0, warmup_steps=4)),
]


@pytest.mark.parametrize("lib_name,rule,lib_hp,hp", LIB, ids=[c[0] for c in LIB])
def test_agrees_with_pytorch_optimizer(lib_name, rule, lib_hp, hp):
    import pytorch_optimizer

    prob = Problem(MAT, seed=12)
    p_lib = [torch.tensor(x, requires_grad=True) for x in prob.x0]
    p_ours = [torch.tensor(x, requires_grad=True) for x in prob.x0]
    lib = getattr(pytorch_optimizer, lib_name)(p_lib, **lib_hp)
    _lib_run(lib, getattr(go, rule)(p_ours, **hp), prob, p_lib, p_ours)


def test_pytorch_optimizer_lamb_differs_by_the_first_moment_bias_correction():
    """pytorch_optimizer.Lamb computes the trust ratio on the uncorrected m, then multiplies the step by
    1/(1 − β₁ᵗ): with ε = 0, λ = 0 and ‖θ‖ clamped at 10, its step is ours divided by 1 − β₁ᵗ (checked one
    step at a time from identical parameters; the moments see the same gradients)."""
    import pytorch_optimizer

    prob = Problem(MAT, seed=12)
    p_lib = [torch.tensor(x, requires_grad=True) for x in prob.x0]
    p_ours = [torch.tensor(x, requires_grad=True) for x in prob.x0]
    lib = pytorch_optimizer.Lamb(p_lib, lr=1e-2, eps=0.0, weight_decay=0.0)
    ours = go.LAMB(p_ours, lr=1e-2, eps=0.0, weight_decay=0.0, trust_clip=10.0)
    for t in range(1, 21):
        g = prob.grad([q.detach().numpy() for q in p_ours])
        before = [q.detach().clone() for q in p_ours]
        for plist in (p_lib, p_ours):
            for p, gi in zip(plist, g):
                p.grad = torch.tensor(gi)
        lib.step()
        ours.step()
        for a, b, x in zip(p_lib, p_ours, before):
            torch.testing.assert_close(a - x, (b - x) / (1 - 0.9 ** t), rtol=1e-10, atol=1e-13)
        with torch.no_grad():
            for a, b in zip(p_lib, p_ours):
                a.copy_(b)


def test_newton_schulz_agrees_with_pytorch_optimizer_in_float64():
    from pytorch_optimizer.optimizer.utils.matrix import zero_power_via_newton_schulz_5

    g = torch.randn(6, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(13)) * 1e8
    theirs = zero_power_via_newton_schulz_5(g, dtype=torch.float64)  # norm ≫ 1e-7: ε form irrelevant
    ours = matrix.newton_schulz(TorchOps(), g)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


# --- schedule-free: eval/train switching ---------------------------------------------------
def test_schedule_free_eval_holds_x_and_train_restores_y():
    prob = Problem(MAT, seed=14)
    hp = dict(lr=1e-2, warmup_steps=3)
    traj, opt, params = _run_torch("ScheduleFreeAdamW", hp, prob, 10)
    ys, state = [x.copy() for x in prob.x0], {}
    for t in range(1, 11):
        ys = ref.schedule_free_step(ys, prob.grad(ys), state, t, lr=1e-2, warmup_steps=3)
    y_before = [p.detach().clone() for p in params]
    schedule_free.eval_mode(opt)
    for p, x in zip(params, state["x"]):
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.step()
    schedule_free.eval_mode(opt)                     # idempotent
    schedule_free.train_mode(opt)
    for p, y in zip(params, y_before):
        torch.testing.assert_close(p.detach(), y, rtol=1e-12, atol=1e-13)


# --- averaging -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["uniform", "ema"])
def test_averaged_optimizer(mode):
    prob = Problem(MAT, seed=15)
    params = [torch.tensor(x, requires_grad=True) for x in prob.x0]
    opt = averaging.AveragedOptimizer(go.SGD(params, lr=0.05), mode=mode, decay=0.9)
    seen = []
    for _ in range(20):
        for p, g in zip(params, prob.grad([q.detach().numpy() for q in params])):
            p.grad = torch.tensor(g)
        opt.step()
        seen.append([p.detach().numpy().copy() for p in params])
    if mode == "uniform":
        expect = [np.mean([s[i] for s in seen], axis=0) for i in range(len(params))]
    else:
        expect = [x.copy() for x in prob.x0]
        for s in seen:
            expect = [0.9 * e + 0.1 * x for e, x in zip(expect, s)]
    current = [p.detach().clone() for p in params]
    with opt.averaged():
        for p, e in zip(params, expect):
            np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-12, atol=1e-13)
        with pytest.raises(RuntimeError, match="swapped"):
            opt.step()
    for p, c in zip(params, current):
        assert torch.equal(p.detach(), c)
    sd = opt.state_dict()
    assert sd["count"] == 20 and sd["mode"] == mode


def test_averaged_numpy_method_and_validation():
    prob = Problem([(3,)], seed=16)
    method = averaging.Averaged(gnp.SGD(lr=0.05), mode="uniform")
    x = prob.x0[0].copy()
    xs = []
    for k in range(15):
        x = method(x, prob.grad([x])[0], k)
        xs.append(x)
    np.testing.assert_allclose(method.average, np.mean(xs, axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="mode"):
        averaging.Averaged(gnp.SGD(lr=0.1), mode="median")
    with pytest.raises(ValueError, match="decay"):
        averaging.AveragedOptimizer(go.SGD([torch.zeros(2, requires_grad=True)]), decay=1.0)


def test_lars_exclude_1d_gives_plain_momentum_for_vectors():
    rng = np.random.default_rng(17)
    w, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    opt = gnp.LARS(lr=0.1, momentum=0.9, weight_decay=1e-3, exclude_1d=True, track_stats=True)
    gs = [[rng.standard_normal((4, 3)), rng.standard_normal(3)] for _ in range(3)]
    xs, v = [w.copy(), b.copy()], np.zeros(3)
    for g in gs:
        b_before = xs[1].copy()
        opt.step_arrays(xs, g)
        v = 0.9 * v + 0.1 * g[1]                          # no trust ratio, no decay on the vector
        np.testing.assert_allclose(xs[1], b_before - v, rtol=1e-13, atol=1e-15)
        assert opt.stats["trust_ratio"][1] == 1.0 and opt.stats["trust_ratio"][0] < 0.01


def test_rules_bring_their_torch_methods():
    """Sophia's estimators and schedule-free's eval()/train() are methods of the torch classes."""
    import torch

    from gdlab import optim

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    opt = optim.Sophia(model.parameters(), lr=1e-3)
    assert isinstance(opt, torch.optim.Optimizer)
    est = opt.hutchinson((model(x) ** 2).mean())
    assert len(est) == 2 and model.weight.grad is not None
    opt.step()

    sf = optim.ScheduleFreeAdamW(model.parameters(), lr=1e-2)
    for _ in range(5):
        sf.zero_grad()
        (model(x) ** 2).mean().backward()
        sf.step()
    y = model.weight.detach().clone()
    sf.eval()
    x_avg = model.weight.detach().clone()
    sf.train()
    assert not torch.equal(x_avg, y)  # the averaged point differs from the iterate after a few steps
    torch.testing.assert_close(model.weight.detach(), y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("rule,hp,step,ref_hp", [
    ("LAMB", dict(lr=1e-2, weight_decay=0.01), ref.lamb_step, dict(weight_decay=0.01)),
    ("LARS", dict(lr=1.0, trust_coefficient=0.02, weight_decay=1e-3), ref.lars_step,
     dict(trust_coefficient=0.02, weight_decay=1e-3)),
])
def test_layerwise_ratio_is_one_on_a_tensor_of_norm_zero(rule, hp, step, ref_hp, compiled):
    """A tensor that starts at zero (a bias, say) has ‖θ‖ = 0: LAMB's trust ratio and LARS's local rate are then 1
    (You et al.; NVIDIA's LARC), so it moves at the first step; a ratio ‖θ‖/‖u‖ = 0 would freeze it for good."""
    rng = np.random.default_rng(3)
    x0 = [np.zeros((4, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(x.shape) for x in x0] for _ in range(3)]
    params = [torch.tensor(x, requires_grad=True) for x in x0]
    opt = getattr(go, rule)(params, compile=compiled, **hp)
    xs, state = [x.copy() for x in x0], {}
    for t, gs in enumerate(grads, start=1):
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g)
        opt.step()
        xs = step(xs, gs, state, t, hp["lr"], **ref_hp)
    assert np.abs(xs[0]).max() > 1e-4  # the zero tensor moved
    for p, x in zip(params, xs):
        np.testing.assert_allclose(p.detach().numpy(), x, rtol=0, atol=1e-12)
