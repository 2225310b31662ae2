"""gdlab.schedules against torch.optim.lr_scheduler, edge cases, errors, Robbins--Monro."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from gdlab import schedules as S

LRS = torch.optim.lr_scheduler


def _torch_run(make, n, optim="sgd"):
    """lr, momentum (or beta1) and torch's closed form at steps 0..n-1 of a torch scheduler."""
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = (torch.optim.SGD([p], lr=0.1, momentum=0.9) if optim == "sgd"
           else torch.optim.Adam([p], lr=0.1, betas=(0.9, 0.999)))
    sched = make(opt)
    lrs, moms, closed = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n):
            g = opt.param_groups[0]
            lrs.append(g["lr"])
            moms.append(g["momentum"] if optim == "sgd" else g["betas"][0])
            if hasattr(sched, "_get_closed_form_lr"):
                closed.append(sched._get_closed_form_lr()[0])
            opt.step()
            sched.step()
    return np.array(lrs), np.array(moms), (np.array(closed) if closed else None)


# (name, torch scheduler factory, gdlab schedule, steps of a full run)
TORCH_TABLE = [
    ("StepLR", lambda o: LRS.StepLR(o, 7, 0.5), S.StepDecay(0.1, 7, 0.5), 300),
    ("MultiStepLR", lambda o: LRS.MultiStepLR(o, [10, 25, 60], 0.3), S.MultiStep(0.1, [10, 25, 60], 0.3), 100),
    ("ExponentialLR", lambda o: LRS.ExponentialLR(o, 0.995), S.Exponential(0.1, 0.995), 3000),
    ("PolynomialLR", lambda o: LRS.PolynomialLR(o, 400, 0.5), S.Polynomial(0.1, 400, 0.5), 401),
    ("PolynomialLR-2", lambda o: LRS.PolynomialLR(o, 50, 2.0), S.Polynomial(0.1, 50, 2.0), 51),
    ("CosineAnnealingLR", lambda o: LRS.CosineAnnealingLR(o, 2000, 1e-4), S.Cosine(0.1, 2000, 1e-4), 2001),
    ("CosineAnnealingLR-0", lambda o: LRS.CosineAnnealingLR(o, 300), S.Cosine(0.1, 300), 301),
    ("SGDR-1", lambda o: LRS.CosineAnnealingWarmRestarts(o, 10, 1, 1e-3),
     S.CosineWarmRestarts(0.1, 10, 1, 1e-3), 200),
    ("SGDR-2", lambda o: LRS.CosineAnnealingWarmRestarts(o, 5, 2, 1e-3),
     S.CosineWarmRestarts(0.1, 5, 2, 1e-3), 700),
    ("SGDR-3", lambda o: LRS.CosineAnnealingWarmRestarts(o, 3, 3), S.CosineWarmRestarts(0.1, 3, 3), 1200),
    ("LinearLR+SequentialLR", lambda o: LRS.SequentialLR(
        o, [LRS.LinearLR(o, 0.1, total_iters=20), LRS.CosineAnnealingLR(o, 80)], [20]),
     S.warmup(S.Cosine(0.1, 80), 20, 0.1), 101),
    ("LinearLR+SequentialLR-exp", lambda o: LRS.SequentialLR(
        o, [LRS.LinearLR(o, 0.01, total_iters=500), LRS.ExponentialLR(o, 0.99)], [500]),
     S.warmup(S.Exponential(0.1, 0.99), 500, 0.01), 1500),
]


@pytest.mark.parametrize("name,make,ours,n", TORCH_TABLE, ids=[r[0] for r in TORCH_TABLE])
def test_matches_torch_over_a_full_run(name, make, ours, n):
    lr, _, closed = _torch_run(make, n)
    mine = ours(np.arange(n))
    # torch's chainable form (what a training loop sees) drifts by products of rounding
    # errors; over these runs it stays within 1e-12 relative (measured <= 3e-14).
    np.testing.assert_allclose(mine, lr, rtol=1e-12, atol=1e-15)
    if closed is not None:  # the closed form, where torch has one, agrees to rounding
        np.testing.assert_allclose(mine, closed, rtol=1e-13, atol=1e-16)
    # and one step at a time gives the same values as the vectorised call
    assert all(ours(k) == mine[k] for k in (0, 1, n // 2, n - 1))


ONECYCLE = [dict(), dict(anneal_strategy="linear"), dict(three_phase=True),
            dict(three_phase=True, anneal_strategy="linear", pct_start=0.25),
            dict(pct_start=0.1, div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.99)]


@pytest.mark.parametrize("kw", ONECYCLE)
@pytest.mark.parametrize("optim", ["sgd", "adam"])
def test_onecycle_lr_and_momentum_match_torch(kw, optim):
    n = 97
    lr, mom, _ = _torch_run(lambda o: LRS.OneCycleLR(o, 0.5, total_steps=n, **kw), n, optim)
    s = S.OneCycle(0.5, n, **kw)
    np.testing.assert_allclose(s(np.arange(n)), lr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s.momentum(np.arange(n)), mom, rtol=1e-12, atol=1e-15)
    # past the end (torch raises there) the final values hold
    assert s(n) == s(n + 50) == pytest.approx(s.min_lr, rel=1e-12)
    assert s.momentum(n + 5) == pytest.approx(s.max_momentum)


CYCLIC = [dict(), dict(mode="triangular2"), dict(mode="exp_range", gamma=0.99), dict(step_size_down=7),
          dict(mode="triangular2", step_size_down=3)]


@pytest.mark.parametrize("kw", CYCLIC)
def test_cyclic_matches_torch(kw):
    n = 300
    lr, mom, _ = _torch_run(lambda o: LRS.CyclicLR(o, 0.01, 0.1, 5, **kw), n)
    s = S.Cyclic(0.01, 0.1, 5, **kw)
    np.testing.assert_allclose(s(np.arange(n)), lr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s.momentum(np.arange(n)), mom, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optim", ["sgd", "adam"])
def test_driver_reproduces_torch_scheduler_on_an_optimizer(optim):
    n = 60
    lr, mom, _ = _torch_run(lambda o: LRS.OneCycleLR(o, 0.3, total_steps=n, three_phase=True), n, optim)
    s = S.OneCycle(0.3, n, three_phase=True)
    got_lr, got_mom = _torch_run(lambda o: S.ScheduleDriver(o, lr=s, momentum=s.momentum), n, optim)[:2]
    np.testing.assert_allclose(got_lr, lr, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got_mom, mom, rtol=1e-12, atol=1e-15)


def test_driver_state_dict_resumes_and_groups():
    w1, w2 = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([{"params": [w1]}, {"params": [w2]}], lr=1.0)
    sa, sb = S.Cosine(0.2, 30), S.StepDecay(0.05, 4, 0.5)
    drv = S.ScheduleDriver(opt, lr=[sa, sb])
    assert isinstance(drv, LRS.LRScheduler)
    for _ in range(11):
        opt.step()
        drv.step()
    assert [g["lr"] for g in opt.param_groups] == [sa(11), sb(11)]
    state = drv.state_dict()
    assert "lr_schedules" not in state and state["last_epoch"] == 11
    opt2 = torch.optim.SGD([{"params": [w1]}, {"params": [w2]}], lr=1.0)
    drv2 = S.ScheduleDriver(opt2, lr=[sa, sb])
    drv2.load_state_dict(state)
    opt2.step()
    drv2.step()
    assert [g["lr"] for g in opt2.param_groups] == [sa(12), sb(12)]
    with pytest.raises(ValueError, match="one schedule per parameter group"):
        S.ScheduleDriver(opt, lr=[sa])
    with pytest.raises(ValueError, match="momentum"):
        S.ScheduleDriver(torch.optim.Adagrad([w1]), lr=sa, momentum=S.Constant(0.9))


def test_module_does_not_import_torch():
    code = "import sys, gdlab.schedules as s; s.Cosine(0.1, 10)(3); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- schedules torch lacks, and edge cases ---------------------------------------------
def test_warmup_stable_decay_shapes():
    T, w, D = 100, 10, 20
    for decay, mid in [("linear", 0.5), ("cosine", 0.5), ("sqrt", 1 - math.sqrt(0.5))]:
        s = S.WarmupStableDecay(1.0, T, w, D, decay=decay, final_lr=0.0)
        v = s(np.arange(T + 10))
        np.testing.assert_allclose(v[:w], np.arange(w) / w, rtol=0, atol=1e-15)
        assert np.all(v[w:T - D] == 1.0)
        assert v[T - D + D // 2] == pytest.approx(mid, abs=1e-15)
        assert np.all(np.diff(v[T - D:T + 1]) < 0) and v[T] == 0.0 and np.all(v[T:] == 0.0)


def test_inverse_sqrt_is_the_transformer_schedule():
    s = S.InverseSqrt(d_model=512, warmup_steps=4000)
    n = np.arange(1, 20001)
    ref = 512 ** -0.5 * np.minimum(n ** -0.5, n * 4000 ** -1.5)
    np.testing.assert_allclose(s(n - 1), ref, rtol=1e-14)
    assert int(np.argmax(s(n - 1))) + 1 == 4000
    assert s(3999) == pytest.approx((512 * 4000) ** -0.5, rel=1e-14)


def test_edges_step_zero_past_end_and_restarts():
    assert S.Cosine(0.1, 10)(0) == 0.1 and S.Cosine(0.1, 10, 0.01)(10) == S.Cosine(0.1, 10, 0.01)(500) == 0.01
    assert S.Polynomial(0.1, 10)(10) == 0.0 == S.Polynomial(0.1, 10)(11)
    sgdr = S.CosineWarmRestarts(1.0, T_0=4, T_mult=2, eta_min=0.0)
    restarts = [0, 4, 12, 28, 60]  # T_0 (2^n - 1)
    assert all(sgdr(k) == 1.0 for k in restarts)
    assert all(sgdr(k - 1) < 0.2 for k in restarts[1:])  # the step before a restart is near eta_min
    n, tcur, ti = sgdr.cycle(np.array([27.0, 28.0, 59.0]))
    assert list(n) == [2, 3, 3] and list(tcur) == [15, 0, 31] and list(ti) == [16, 32, 32]
    w = S.warmup(S.Constant(0.2), steps=5)
    assert w(0) == 0.0 and w(5) == 0.2 and w(4) == pytest.approx(0.16)
    assert S.warmup(S.Constant(0.2), steps=0)(0) == 0.2
    assert S.RobbinsMonro(2.0, 1.0)(0) == 2.0 and S.RobbinsMonro(2.0, 0.5)(3) == 1.0


ERRORS = [
    (lambda: S.Cosine(0.1, 10)(-1), "step"),
    (lambda: S.Cosine(0.1, 10)(1.5), "step"),
    (lambda: S.Cosine(0.1, 10)(np.array([0, 2, -3])), "step"),
    (lambda: S.Cosine(0.1, 0), "total_steps"),
    (lambda: S.Cosine(0.1, 10, eta_min=0.2), "eta_min"),
    (lambda: S.StepDecay(0.1, 0), "step_size"),
    (lambda: S.StepDecay(-0.1, 3), "lr"),
    (lambda: S.MultiStep(0.1, [5, 3]), "milestones"),
    (lambda: S.Exponential(0.1, 1.5), "gamma"),
    (lambda: S.CosineWarmRestarts(0.1, 10, T_mult=0.5), "T_mult"),
    (lambda: S.CosineWarmRestarts(0.1, 0), "T_0"),
    (lambda: S.warmup(S.Constant(0.1), -2), "steps"),
    (lambda: S.warmup(S.Constant(0.1), 5, start_factor=1.5), "start_factor"),
    (lambda: S.WarmupStableDecay(0.1, 100, warmup_steps=120, decay_steps=0), "warmup_steps"),
    (lambda: S.WarmupStableDecay(0.1, 100, warmup_steps=50, decay_steps=60), "decay_steps"),
    (lambda: S.WarmupStableDecay(0.1, 100, 10, 10, decay="exp"), "decay"),
    (lambda: S.WarmupStableDecay(0.1, 100, 10, 10, final_lr=0.5), "final_lr"),
    (lambda: S.OneCycle(0.1, 100, pct_start=1.2), "pct_start"),
    (lambda: S.OneCycle(0.1, 100, pct_start=0.6, three_phase=True), "pct_start"),
    (lambda: S.OneCycle(0.1, 100, anneal_strategy="sin"), "anneal_strategy"),
    (lambda: S.OneCycle(0.1, 100, base_momentum=0.99, max_momentum=0.9), "base_momentum"),
    (lambda: S.Cyclic(0.2, 0.1), "base_lr"),
    (lambda: S.Cyclic(0.01, 0.1, mode="sawtooth"), "mode"),
    (lambda: S.InverseSqrt(512, 0), "warmup_steps"),
    (lambda: S.RobbinsMonro(1.0, p=0.0), "p"),
    (lambda: S.Polynomial(0.1, 10, end_lr=1.0), "end_lr"),
]


@pytest.mark.parametrize("make,arg", ERRORS, ids=[f"{i}-{e[1]}" for i, e in enumerate(ERRORS)])
def test_invalid_arguments_raise_naming_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# --- Robbins--Monro ------------------------------------------------------------------------
@pytest.mark.parametrize("p,div,fin", [(0.4, True, False), (0.5, True, False), (0.75, True, True),
                                       (1.0, True, True), (1.5, False, True)])
def test_robbins_monro_power_schedules(p, div, fin):
    s = S.RobbinsMonro(1.0, p)
    chk = S.robbins_monro(s, horizon=10**5)
    assert chk.analytic and (chk.sum_diverges, chk.sum_sq_finite) == (div, fin)
    assert chk.satisfied == (div and fin)

    # the estimate from values alone (a plain function, no known tail) agrees
    est = S.robbins_monro(lambda k: 1.0 / (np.asarray(k, dtype=float) + 1) ** p, horizon=10**5)
    assert not est.analytic and est.exponent == pytest.approx(p, abs=1e-3)
    assert (est.sum_diverges, est.sum_sq_finite) == (div, fin)
    # the partial sums show it: the harmonic sum grows by about log(10) per decade
    if p == 1.0:
        np.testing.assert_allclose(np.diff(chk.partial_sums)[1:], math.log(10), rtol=3e-3)


def test_robbins_monro_other_schedules():
    assert not S.robbins_monro(S.Constant(0.1), horizon=10**4).satisfied
    assert S.robbins_monro(S.Constant(0.1), horizon=10**4).sum_diverges
    assert not S.robbins_monro(S.Exponential(0.1, 0.99), horizon=10**4).sum_diverges
    assert not S.robbins_monro(S.Cosine(0.1, 100), horizon=10**4).sum_diverges
    inv = S.robbins_monro(S.InverseSqrt(64, 100), horizon=10**5)
    assert inv.sum_diverges and not inv.sum_sq_finite
    assert S.robbins_monro(S.warmup(S.RobbinsMonro(1.0, 0.8), 100), horizon=10**4).satisfied
