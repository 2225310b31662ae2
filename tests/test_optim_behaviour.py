"""How gdlab's optimizers behave as torch optimizers: validation, state_dict, statistics,
non-finite gradients, learning-rate schedulers, GradScaler, and the options torch lacks."""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pytest
import torch

import gdlab.optim as go
from gdlab.optim import RULES
from gdlab.optim import numpy as gnp
from optim_cases import CASES, INVALID, RICH_CASES, Case


def _mlp(seed: int = 0, dtype=torch.float64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).to(dtype)


def _batch(dtype=torch.float64):
    gen = torch.Generator().manual_seed(7)
    return torch.randn(12, 4, generator=gen).to(dtype), torch.randn(12, 2, generator=gen).to(dtype)


def _train(model, opt, steps, sched=None, start=0):
    X, Y = _batch(next(model.parameters()).dtype)
    for _ in range(start, start + steps):
        opt.zero_grad()
        ((model(X) - Y) ** 2).mean().backward()
        opt.step()
        if sched is not None:
            sched.step()


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("name,kwargs,text", INVALID, ids=[f"{n}-{t}" for n, _, t in INVALID])
def test_invalid_hyperparameters_raise_naming_argument_and_value(name, kwargs, text):
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError) as err:
        getattr(go, name)([p], **kwargs)
    assert text in str(err.value)
    with pytest.raises(ValueError) as err:
        getattr(gnp, name)(**kwargs)
    assert text in str(err.value)


def test_invalid_group_override_and_unknown_argument():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="lr=-1"):
        go.Adam([{"params": [a]}, {"params": [b], "lr": -1}])
    with pytest.raises(TypeError, match="momentom"):
        go.SGD([a], momentom=0.9)
    with pytest.raises(ValueError, match="nonfinite='ignore'"):
        go.SGD([a], nonfinite="ignore")


def test_empty_parameter_list_and_duplicate_parameter_raise():
    with pytest.raises(ValueError, match="empty parameter list"):
        go.Adam([])
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        go.SGD([{"params": [p]}, {"params": [p], "lr": 0.1}])


def test_lookahead_nesterov_is_numpy_only():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="nesterov_form='lookahead'"):
        go.SGD([p], lr=0.1, momentum=0.9, nesterov=True, nesterov_form="lookahead")
    gnp.SGD(lr=0.1, momentum=0.9, nesterov=True, nesterov_form="lookahead")  # accepted there


def test_lr_may_be_positional_as_in_torch():
    p = torch.nn.Parameter(torch.zeros(2))
    assert go.SGD([p], 0.25).param_groups[0]["lr"] == 0.25


# --- state_dict -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", RICH_CASES, ids=lambda c: c.id)
def test_state_dict_round_trip_continues_exactly(case, float64_default):
    cls = getattr(go, case.name)
    full = _mlp()
    opt_full = cls(full.parameters(), **case.kwargs)
    _train(full, opt_full, 60)

    first = _mlp()
    opt_first = cls(first.parameters(), **case.kwargs)
    _train(first, opt_first, 30)
    buf = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt_first.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=False)

    second = _mlp(seed=123)  # a fresh copy with other weights, overwritten by the checkpoint
    second.load_state_dict(saved["model"])
    opt_second = cls(second.parameters(), **case.kwargs)
    opt_second.load_state_dict(saved["opt"])
    _train(second, opt_second, 30)
    assert torch.equal(_flat(second), _flat(full))
    assert not torch.equal(_flat(first), _flat(full))


# --- convergence smoke and zero gradients ------------------------------------------------------
SMOKE = [c for c in CASES if c.smoke_lr is not None and c.rosenbrock_lr is not None]


def _run_tensor(case, f, x0, steps, lr):
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    kwargs = dict(case.kwargs, lr=lr)
    opt = getattr(go, case.name)([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        opt.step()
    return float(f(x.detach()))


@pytest.mark.parametrize("case", SMOKE, ids=lambda c: c.id)
def test_converges_on_a_quadratic_and_rosenbrock(case, float64_default):
    scales = torch.tensor([1.0, 3.0, 10.0])
    quad = lambda x: 0.5 * (scales * x**2).sum()  # noqa: E731  minimum 0 at 0
    rosen = lambda x: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2  # noqa: E731
    q0 = float(quad(torch.tensor([1.0, -1.0, 1.0])))
    q = _run_tensor(case, quad, [1.0, -1.0, 1.0], 300, case.smoke_lr)
    tol = 0.05 if case.decays else 1e-3  # decay pulls towards 0, which is also the minimum here
    assert q < tol * q0, f"quadratic: f = {q:.3e} from {q0:.3e}"
    r0 = float(rosen(torch.tensor([-1.0, 1.5])))
    r = _run_tensor(case, rosen, [-1.0, 1.5], 400, case.rosenbrock_lr)
    assert r < 0.2 * r0, f"Rosenbrock: f = {r:.3e} from {r0:.3e}"  # into the valley


@pytest.mark.parametrize("case", [c for c in CASES if not c.decays], ids=lambda c: c.id)
def test_zero_gradient_leaves_parameters_unchanged(case):
    p = torch.nn.Parameter(torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.3]], dtype=torch.float64))
    start = p.detach().clone()
    opt = getattr(go, case.name)([p], **case.kwargs)
    for _ in range(5):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert torch.equal(p.detach(), start)
    x = gnp.make(case.name, **case.kwargs)(start.numpy(), np.zeros((2, 3)))
    assert np.array_equal(x, start.numpy())


# --- non-finite gradients ------------------------------------------------------------------------
def _poisoned_step(opt, model, value=float("nan")):
    X, Y = _batch()
    opt.zero_grad()
    ((model(X) - Y) ** 2).mean().backward()
    model[2].weight.grad[0, 1] = value
    opt.step()


def test_nonfinite_raise_names_the_parameter():
    model = _mlp()
    opt = go.Adam(model.parameters(), lr=0.01, nonfinite="raise")
    opt.set_param_names(model.named_parameters())
    with pytest.raises(FloatingPointError, match=r"'2\.weight' has 1 non-finite"):
        _poisoned_step(opt, model)


def test_nonfinite_skip_leaves_parameters_and_state_unchanged():
    model = _mlp()
    opt = go.Adam(model.parameters(), lr=0.01, nonfinite="skip")
    _poisoned_step(opt, model)  # first step: no state may be created
    assert len(opt.state) == 0 and opt.skipped_steps == 1
    _train(model, opt, 3)
    before, state = _flat(model), copy.deepcopy(opt.state_dict()["state"])
    _poisoned_step(opt, model, float("inf"))
    assert torch.equal(_flat(model), before)
    after = opt.state_dict()["state"]
    for k in state:
        for name, v in state[k].items():
            assert (torch.equal(v, after[k][name]) if torch.is_tensor(v) else v == after[k][name])
    assert opt.skipped_steps == 2


def test_nonfinite_propagates_by_default_like_torch():
    ours, ref = _mlp(), _mlp()
    o1, o2 = go.Adam(ours.parameters(), lr=0.01), torch.optim.Adam(ref.parameters(), lr=0.01)
    _poisoned_step(o1, ours)
    _poisoned_step(o2, ref)
    a, b = _flat(ours), _flat(ref)
    assert torch.isnan(a).any()
    assert torch.equal(torch.isnan(a), torch.isnan(b))
    assert torch.allclose(a[~torch.isnan(a)], b[~torch.isnan(b)], rtol=0, atol=1e-12)


def test_numpy_face_nonfinite_options():
    with pytest.raises(FloatingPointError, match="non-finite"):
        gnp.SGD(lr=0.1, nonfinite="raise")(np.ones(2), np.array([1.0, np.nan]))
    opt = gnp.Adam(lr=0.1, nonfinite="skip", track_stats=True)
    x = opt(np.ones(2), np.array([np.inf, 1.0]))
    assert np.array_equal(x, np.ones(2)) and opt.stats["skipped"] and not opt.states


# --- schedulers and GradScaler --------------------------------------------------------------------
SCHEDULES = {
    "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    "LambdaLR": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda k: 1.0 / (1.0 + 0.1 * k)),
    "OneCycleLR": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.05, total_steps=40,
                                                                cycle_momentum=True),
}


_SCHED_OPTS = [("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.01)),
               ("RAdam", dict(lr=0.01)), ("Adafactor", dict(lr=0.01))]
# OneCycleLR's cycle_momentum needs a momentum or betas: not Adafactor
_SCHED_RUNS = [(s, n, kw) for s in SCHEDULES for n, kw in _SCHED_OPTS
               if not (s == "OneCycleLR" and n == "Adafactor")]


@pytest.mark.parametrize("sched,name,kwargs", _SCHED_RUNS, ids=[f"{s}-{n}" for s, n, _ in _SCHED_RUNS])
def test_lr_schedulers_drive_gdlab_like_torch(sched, name, kwargs, float64_default):
    runs = []
    for cls in (getattr(torch.optim, name), getattr(go, name)):
        model = _mlp()
        opt = cls(model.parameters(), **kwargs)
        s = SCHEDULES[sched](opt)
        lrs, moms = [], []
        X, Y = _batch()
        for _ in range(40):
            opt.zero_grad()
            ((model(X) - Y) ** 2).mean().backward()
            opt.step()
            s.step()
            g = opt.param_groups[0]
            lrs.append(g["lr"])
            moms.append(g.get("momentum", g.get("betas", (0,))[0]))
        runs.append((_flat(model), lrs, moms))
    (a, lr_a, m_a), (b, lr_b, m_b) = runs
    assert lr_a == lr_b and m_a == m_b
    assert len(set(lr_a)) > 1
    if sched == "OneCycleLR":
        assert len(set(m_a)) > 1  # the momentum (SGD) or β₁ (Adam) was cycled
    assert float((a - b).abs().max()) <= 1e-10


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                         ("NAdam", dict(lr=0.01))])
def test_grad_scaler_skips_the_overflowing_step_like_torch(name, kwargs):
    results = []
    for cls in (getattr(torch.optim, name), getattr(go, name)):
        model = _mlp(dtype=torch.float32)
        opt = cls(model.parameters(), **kwargs)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
        X, Y = _batch(torch.float32)
        scales, skipped = [], None
        for k in range(12):
            opt.zero_grad()
            scaler.scale(((model(X) - Y) ** 2).mean()).backward()
            if k == 5:
                model[0].weight.grad[0, 0] = float("inf")  # overflow: this step must be skipped
                before = _flat(model)
            scaler.step(opt)
            scaler.update()
            if k == 5:
                skipped = torch.equal(_flat(model), before)
            scales.append(scaler.get_scale())
        results.append((_flat(model), scales, skipped))
    (a, sa, ka), (b, sb, kb) = results
    assert ka and kb
    assert sa == sb and sa[5] == sa[4] / 2
    assert float((a - b).abs().max()) <= 1e-5


# --- introspection --------------------------------------------------------------------------------
def test_effective_lr_of_sgd_is_lr():
    model = _mlp()
    opt = go.SGD(model.parameters(), lr=0.03, track_stats=True)
    _train(model, opt, 2)
    s = opt.stats[0]
    for key in ("lr_eff_min", "lr_eff_median", "lr_eff_max"):
        assert math.isclose(s[key], 0.03, rel_tol=1e-9), (key, s[key])
    assert s["nonfinite"] == 0 and s["update_norm"] > 0


def test_effective_lr_of_adam_at_step_one():
    # step 1: m̂ = g, v̂ = g², so Δθ = −η g/(|g| + ε) and |Δθ|/|g| = η/(|g| + ε)
    p = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    g = torch.tensor([1e-3, -0.2, 3.0, 1e-9], dtype=torch.float64)
    lr, eps = 0.1, 1e-8
    opt = go.Adam([p], lr=lr, eps=eps, track_stats=True)
    p.grad = g.clone()
    opt.step()
    expected = lr / (g.abs() + eps)
    s = opt.stats[0]
    assert math.isclose(s["lr_eff_min"], float(expected.min()), rel_tol=1e-9)
    assert math.isclose(s["lr_eff_max"], float(expected.max()), rel_tol=1e-9)
    assert math.isclose(s["lr_eff_median"], float(expected.median()), rel_tol=1e-9)
    assert math.isclose(s["update_norm"], float((lr * g / (g.abs() + eps)).norm()), rel_tol=1e-12)
    npo = gnp.Adam(lr=lr, eps=eps, track_stats=True)
    npo(np.zeros(4), g.numpy())
    assert math.isclose(npo.stats["lr_eff_median"], s["lr_eff_median"], rel_tol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_rule_reports_statistics(case):
    model = _mlp()
    opt = getattr(go, case.name)(model.parameters(), track_stats=True, **case.kwargs)
    _train(model, opt, 2)
    s = opt.stats[0]
    assert {"update_norm", "lr_eff_min", "lr_eff_median", "lr_eff_max", "nonfinite", "lr"} <= set(s)
    assert s["lr_eff_min"] <= s["lr_eff_median"] <= s["lr_eff_max"] and s["update_norm"] > 0


def test_radam_records_rectification():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    recs = {}
    for thr in (5.0, 4.0):
        opt = go.RAdam([p], lr=1e-3, rect_threshold=thr, track_stats=True)
        rows = []
        for _ in range(8):
            p.grad = torch.ones_like(p)
            opt.step()
            rows.append((opt.stats[0]["rho_t"], opt.stats[0]["rect"]))
        recs[thr] = rows
    rho = [r for r, _ in recs[5.0]]
    assert math.isclose(rho[0], 1.0, rel_tol=1e-9)  # ρ₁ = 1 for every β₂
    assert all(b > a for a, b in zip(rho, rho[1:]))
    first = {thr: next(t for t, (_, r) in enumerate(rows, 1) if r is not None) for thr, rows in recs.items()}
    assert first[5.0] == 6  # torch: first rectified step for β₂ = 0.999
    assert first[4.0] == min(t for t, r in enumerate(rho, 1) if r > 4.0) < 6
    rho_t, r_t = recs[5.0][5]
    rho_inf = 2 / (1 - 0.999) - 1
    assert math.isclose(r_t, math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)))


def test_adafactor_records_relative_step():
    model = _mlp()
    opt = go.Adafactor(model.parameters(), lr=0.5, track_stats=True)
    _train(model, opt, 9)
    assert math.isclose(opt.stats[0]["rel_step"], 1 / 3)  # min(0.5, 1/√9)
    assert all(c >= 1.0 for c in opt.stats[0]["clip"])


# --- options torch lacks --------------------------------------------------------------------------
def _quad():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((4, 4))
    A = M @ M.T / 4 + 0.2 * np.eye(4)
    return A, (lambda x: A @ x), rng.standard_normal(4)


def _sgd_path(steps=40, drop_at=None, **kw):
    _, grad, x0 = _quad()
    opt = gnp.SGD(**kw)
    x, xs = x0.copy(), []
    for k in range(steps):
        if k == drop_at:
            opt.lr = opt.lr / 4
        x = opt(x, grad(opt.lookahead_point(x)))
        xs.append(x)
    return np.array(xs)


def test_momentum_forms_agree_at_constant_lr_and_differ_after_a_change():
    base = dict(lr=0.05, momentum=0.9)
    torch_form = _sgd_path(**base)
    for form in ("polyak", "sutskever"):
        assert np.abs(_sgd_path(momentum_form=form, **base) - torch_form).max() <= 1e-12
    t_drop = _sgd_path(drop_at=20, **base)
    p_drop = _sgd_path(drop_at=20, momentum_form="polyak", **base)
    s_drop = _sgd_path(drop_at=20, momentum_form="sutskever", **base)
    assert np.abs(p_drop - s_drop).max() <= 1e-12
    assert np.abs(p_drop - t_drop).max() > 1e-3
    # by hand, the step after the drop: torch rescales the whole buffer, Sutskever only the new gradient
    A, grad, _ = _quad()
    x19, x20 = s_drop[18], s_drop[19]
    assert np.allclose(s_drop[20], x20 - 0.0125 * grad(x20) + 0.9 * (x20 - x19), rtol=0, atol=1e-13)


def test_nesterov_lookahead_is_the_torch_form_reparametrised():
    # torch's form iterates φ = θ + μv, the look-ahead point of Sutskever's form
    mu = 0.9
    phi = _sgd_path(lr=0.05, momentum=mu, nesterov=True)
    _, grad, x0 = _quad()
    opt = gnp.SGD(lr=0.05, momentum=mu, nesterov=True, nesterov_form="lookahead", momentum_form="sutskever")
    x, pts = x0.copy(), []
    for _ in range(40):
        x = opt(x, grad(opt.lookahead_point(x)))
        pts.append(x + mu * opt.states[0]["velocity"])
    assert np.abs(np.array(pts) - phi).max() <= 1e-12
    for form in ("torch", "polyak"):  # the look-ahead form with the other storages: same iterates
        other = _sgd_path(lr=0.05, momentum=mu, nesterov=True, nesterov_form="lookahead", momentum_form=form)
        sut = _sgd_path(lr=0.05, momentum=mu, nesterov=True, nesterov_form="lookahead", momentum_form="sutskever")
        assert np.abs(other - sut).max() <= 1e-12
    assert np.abs(sut - phi).max() > 1e-3  # θ and φ are different sequences


def test_amsgrad_optax_form_matches_its_definition_and_differs_from_torch():
    A, grad, x0 = _quad()
    lr, b1, b2, eps = 0.05, 0.9, 0.99, 1e-8
    x, m, v, vmax = x0.copy(), 0 * x0, 0 * x0, 0 * x0
    ours = gnp.Adam(lr=lr, betas=(b1, b2), amsgrad=True, amsgrad_form="optax")
    torch_form = gnp.Adam(lr=lr, betas=(b1, b2), amsgrad=True)
    y, z = x0.copy(), x0.copy()
    for t in range(1, 60):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v / (1 - b2**t))
        x = x - lr * (m / (1 - b1**t)) / (np.sqrt(vmax) + eps)
        y = ours(y, grad(y))
        z = torch_form(z, grad(z))
    assert np.abs(x - y).max() <= 1e-12
    assert np.abs(y - z).max() > 1e-6


@pytest.mark.parametrize("form", ["sutskever", "polyak"])
def test_paper_momentum_forms_follow_a_schedule_that_starts_at_zero(form):
    """Nesterov's convex schedule has mu_1 = 0; the paper forms must keep their buffer through it."""
    import numpy as np

    from gdlab.optim import numpy as gnp

    A = np.diag([1.0, 10.0])
    grad = lambda x: A @ x  # noqa: E731
    lr, mus = 0.05, [0.0, 0.3, 0.5, 0.6, 0.7]
    opt = gnp.SGD(lr=lr, momentum=0.0, momentum_form=form)
    x = np.array([1.0, 1.0])
    # reference: v_t = mu_t v_{t-1} - lr g_t, x_t = x_{t-1} + v_t (both forms coincide at a fixed lr)
    xr, v = x.copy(), np.zeros(2)
    for mu in mus:
        opt.group["momentum"] = mu
        x = opt(x, grad(x))
        v = mu * v - lr * grad(xr)
        xr = xr + v
    np.testing.assert_allclose(x, xr, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------ SGD's decoupled weight decay
def _sgd_iterates(make, grad, x0, lrs):
    opt, x, xs = make(), np.array(x0, dtype=float), [np.array(x0, dtype=float)]
    for lr in lrs:
        opt.lr = lr
        x = opt(x, grad(opt.lookahead_point(x)))
        xs.append(x)
    return np.array(xs)


_A = np.diag([0.5, 2.0, 7.0])
_GRAD = lambda x: _A @ (x - 1.0)  # noqa: E731
_X0 = np.array([3.0, -2.0, 0.5])


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_decoupled_sgd_without_momentum_is_coupled_l2_at_the_same_lambda(schedule):
    # (1 - eta lam) x - eta g = x - eta (g + lam x): the lr-scaled decoupled form is L2, step by step
    K = 80
    lrs = np.full(K, 0.1) if schedule == "constant" else 0.1 * 0.5 * (1 + np.cos(np.pi * np.arange(K) / K))
    coupled = _sgd_iterates(lambda: gnp.SGD(lr=0.1, weight_decay=0.3), _GRAD, _X0, lrs)
    decoupled = _sgd_iterates(lambda: gnp.SGD(lr=0.1, weight_decay=0.3, decoupled_weight_decay=True), _GRAD, _X0, lrs)
    np.testing.assert_allclose(decoupled, coupled, rtol=1e-13, atol=1e-15)
    plain = _sgd_iterates(lambda: gnp.SGD(lr=0.1), _GRAD, _X0, lrs)
    assert np.abs(plain - coupled).max() > 0.1                           # and the decay does something


def test_decoupled_sgd_with_momentum_decays_before_the_step():
    eta, lam, mu, K = 0.05, 0.2, 0.9, 60
    x, b, ref = _X0.copy(), None, [_X0.copy()]
    for _ in range(K):                                                   # θ ← θ(1 − ηλ); b ← μb + g; θ ← θ − ηb
        g = _GRAD(x)
        x = x * (1 - eta * lam)
        b = g.copy() if b is None else mu * b + g
        x = x - eta * b
        ref.append(x)
    ref = np.array(ref)
    lrs = np.full(K, eta)
    for form in ("torch", "polyak", "sutskever"):                       # the three forms agree at a fixed rate
        ours = _sgd_iterates(lambda: gnp.SGD(lr=eta, momentum=mu, weight_decay=lam, decoupled_weight_decay=True,
                                             momentum_form=form), _GRAD, _X0, lrs)
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14, err_msg=form)
    coupled = _sgd_iterates(lambda: gnp.SGD(lr=eta, momentum=mu, weight_decay=lam), _GRAD, _X0, lrs)
    assert np.abs(coupled - ref).max() > 1e-2                            # with momentum it is not L2


def test_decoupled_sgd_torch_face_matches_numpy_face_and_default_keeps_torch_parity(float64_default):
    model = _mlp()
    ref = copy.deepcopy(model)
    opt = go.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.05, decoupled_weight_decay=True)
    np_params = [p.detach().numpy().copy() for p in model.parameters()]
    np_opt = gnp.SGD(lr=0.1, momentum=0.9, weight_decay=0.05, decoupled_weight_decay=True)
    X, Y = _batch()
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(X), Y).backward()
        np_opt.step_arrays(np_params, [p.grad.numpy().copy() for p in model.parameters()])
        opt.step()
    for p, q in zip(model.parameters(), np_params):
        np.testing.assert_allclose(p.detach().numpy(), q, rtol=1e-12, atol=1e-14)
    assert go.SGD([torch.zeros(1, requires_grad=True)]).defaults["decoupled_weight_decay"] is False
    ours, theirs = copy.deepcopy(ref), copy.deepcopy(ref)
    o1 = go.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=0.05)
    o2 = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=0.05)
    _train(ours, o1, 5)
    _train(theirs, o2, 5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_decoupled_weight_decay_must_be_a_bool():
    # a value of the wrong type is a TypeError naming the argument, the type it must have and the type it has
    with pytest.raises(TypeError, match="decoupled_weight_decay must be True or False, got str 'yes'"):
        gnp.SGD(lr=0.1, decoupled_weight_decay="yes")


# ------------------------------------------------------------------ re-exported helpers
def test_helpers_are_re_exported_from_gdlab_optim_without_importing_torch():
    import subprocess
    import sys

    from gdlab.optim.rules import schedule_free, sophia

    for name, owner in [("averaged_point", schedule_free), ("eval_mode", schedule_free),
                        ("train_mode", schedule_free), ("hutchinson", sophia), ("gauss_newton_bartlett", sophia)]:
        assert getattr(go, name) is getattr(owner, name) and name in go.__all__, name
    code = ("import sys, gdlab.optim as g; g.averaged_point, g.hutchinson, g.eval_mode; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    y, z = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(go.averaged_point(y, z, 0.9), (y - 0.1 * z) / 0.9)


@pytest.mark.parametrize("name", sorted(RULES))
def test_large_cpu_tensors_updated_one_at_a_time_match_the_whole_group(name, float64_default):
    """With foreach=None, large CPU tensors are updated one at a time; the result equals the foreach path."""
    from gdlab.optim.torch_face import PER_TENSOR_NUMEL

    shapes = [(272, 256), (256, 264)]  # every tensor above PER_TENSOR_NUMEL elements, 2-D for Muon
    assert all(r * c >= PER_TENSOR_NUMEL for r, c in shapes)
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(*s, generator=gen) * 0.1 for s in shapes]
    grads = [[torch.randn(*s, generator=gen) for s in shapes] for _ in range(4)]
    results = {}
    for foreach in (None, True):
        params = [torch.nn.Parameter(t.clone()) for t in start]
        opt = getattr(go, name)(params, lr=1e-2, foreach=foreach)
        if foreach is None:
            assert opt._per_tensor(opt.param_groups[0], params)
        for g in grads:
            for p, gi in zip(params, g):
                p.grad = gi.clone()
            opt.step()
        results[foreach] = [p.detach().clone() for p in params]
    for a, b, s in zip(results[None], results[True], start):
        assert not torch.equal(a, s), f"{name}: the parameters did not move"
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
