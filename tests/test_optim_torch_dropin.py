"""gdlab's torch face where torch.optim has a convention: complex parameters, sparse gradients, torch's error
messages, torch.optim.Muon's arguments, and the numerical robustness the drop-in needs (Shampoo in float32,
checkpoints of the 8-bit and Sophia states).

Tolerances. Gradients never depend on the parameters here, so two implementations that each round every
operation stay within k times one step's rounding after k steps: an elementwise rule rounds about 30 times per
element and step, so ``k * 64 * eps64 * scale`` (scale = max(1, max |p|)) bounds it with 2x headroom. Where the
same code runs on the same numbers (a complex parameter against its real view, a checkpoint reloaded) the runs
must be bitwise equal.
"""

from __future__ import annotations

import copy
import inspect
import io
import warnings

import pytest
import torch
from torch.testing._internal import common_optimizers as co

import gdlab.optim as go
from gdlab.optim.rules import shampoo as shampoo_rule

EPS64 = torch.finfo(torch.float64).eps
STEPS = 4


def _grads(shapes, k, dtype=torch.float64):
    gen = torch.Generator().manual_seed(100 + k)
    return [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]


def _tol(k, params):
    scale = max(1.0, max(float(p.detach().abs().max()) for p in params))
    return k * 64 * EPS64 * scale


# --- complex parameters ----------------------------------------------------------------------------------------
#: configurations of the rules torch has, against torch.optim's complex path
TORCH_COMPLEX = [
    ("Adam", dict(lr=0.05)), ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("AdamW", dict(lr=0.05, amsgrad=True)), ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.3, lr_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)), ("RMSprop", dict(lr=0.01)),
    ("NAdam", dict(lr=0.02, decoupled_weight_decay=True, weight_decay=0.1)), ("RAdam", dict(lr=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
]


@pytest.mark.parametrize("name,kw", TORCH_COMPLEX, ids=[f"{n}-{i}" for i, (n, _) in enumerate(TORCH_COMPLEX)])
def test_a_complex_parameter_steps_as_torch_optim_steps_it(name, kw):
    shapes = [(5, 4), (5,), (3,)]
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(s, generator=gen, dtype=torch.complex128) for s in shapes[:2]]
    start.append(torch.randn(shapes[2], generator=gen, dtype=torch.float64))
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    opt_g = getattr(go, name)(ours, foreach=False, **kw)
    opt_t = getattr(torch.optim, name)(theirs, foreach=False, **kw)
    for k in range(1, STEPS + 1):
        gs = [torch.view_as_complex(g) if p.is_complex() else g
              for g, p in zip(_grads([(5, 4, 2), (5, 2), (3,)], k), start)]
        for a, b, g in zip(ours, theirs, gs):
            a.grad, b.grad = g.clone(), g.clone()
        opt_g.step()
        opt_t.step()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            err = float((a.detach() - b.detach()).abs().max())
            assert err <= _tol(k, theirs), f"{name}: step {k}, parameter {i}: {err:.3g} from torch.optim.{name}"
    for a in ours[:2]:  # the buffers stay complex, as torch's do, so that checkpoints move between the two
        for key, v in opt_g.state[a].items():
            if isinstance(v, torch.Tensor) and v.shape == a.shape:
                assert v.is_complex(), f"{name}: state {key!r} of a complex parameter is {v.dtype}"


REFUSE_COMPLEX = {"Muon": "Muon does not support complex parameters",
                  "Adafactor": "Adafactor does not support complex parameters"}


@pytest.mark.parametrize("name", sorted(set(go.RULES) - set(REFUSE_COMPLEX)))
def test_a_complex_parameter_is_updated_as_its_real_view(name):
    """Every rule: a complex parameter takes exactly the step its real view (the tensor of (re, im) pairs) would,
    buffers included, with a real parameter beside it in the group."""
    gen = torch.Generator().manual_seed(1)
    c = [torch.randn(5, 4, generator=gen, dtype=torch.complex128).requires_grad_(),
         torch.randn(5, generator=gen, dtype=torch.complex128).requires_grad_(),
         torch.randn(3, generator=gen, dtype=torch.float64).requires_grad_()]
    r = [(torch.view_as_real(p) if p.is_complex() else p).detach().clone().requires_grad_() for p in c]
    opt_c = getattr(go, name)(c, foreach=False)
    opt_r = getattr(go, name)(r, foreach=False)
    for k in range(1, STEPS + 1):
        for pc, pr, g in zip(c, r, _grads([tuple(p.shape) for p in r], k)):
            pr.grad = g.clone()
            pc.grad = torch.view_as_complex(g.clone()) if pc.is_complex() else g.clone()
        opt_c.step()
        opt_r.step()
        for i, (pc, pr) in enumerate(zip(c, r)):
            got = torch.view_as_real(pc.detach()) if pc.is_complex() else pc.detach()
            assert torch.equal(got, pr.detach()), f"{name}: step {k}, parameter {i} is not its real view's step"
    assert all(torch.isfinite(torch.view_as_real(p.detach())).all() for p in c[:2])


@pytest.mark.parametrize("name", ["SignSGD", "Lion"])
def test_the_sign_of_a_complex_gradient_is_taken_part_by_part(name):
    """The sign rules move the real and the imaginary part of every entry by exactly lr (not torch.sgn's z/|z|,
    which would move a diagonal entry by lr/sqrt(2) in each part)."""
    z = torch.zeros(6, dtype=torch.complex128, requires_grad=True)
    opt = getattr(go, name)([z], lr=0.25)
    z.grad = torch.tensor([1 + 1j, -2 + 0.5j, 3 - 4j, -1e-3 - 1e3j, 0.5 + 0j, 1j], dtype=torch.complex128)
    opt.step()
    moved = torch.view_as_real(z.detach())
    want = -0.25 * torch.sign(torch.view_as_real(z.grad))
    assert torch.equal(moved, want)


@pytest.mark.parametrize("name", sorted(REFUSE_COMPLEX))
def test_muon_and_adafactor_refuse_complex_parameters_at_the_step_as_torch_does(name):
    shape = (4, 3)
    for cls in (getattr(torch.optim, name), getattr(go, name)):
        p = torch.zeros(shape, dtype=torch.complex64, requires_grad=True)
        opt = cls([p])  # accepted when built
        p.grad = torch.ones_like(p)
        with pytest.raises(RuntimeError, match=REFUSE_COMPLEX[name]):
            opt.step()


def test_adagrad_starts_a_complex_accumulator_at_v_plus_vi_and_checkpoints_move_both_ways():
    p = torch.randn(4, 3, dtype=torch.complex128, generator=torch.Generator().manual_seed(2)).requires_grad_()
    q = p.detach().clone().requires_grad_()
    ours = go.Adagrad([p], lr=0.1, initial_accumulator_value=0.5)
    theirs = torch.optim.Adagrad([q], lr=0.1, initial_accumulator_value=0.5)
    for k in (1, 2):
        g = torch.view_as_complex(_grads([(4, 3, 2)], k)[0])
        p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    assert ours.state[p]["sum"].dtype == torch.complex128
    # gdlab's checkpoint continued by torch, and torch's by gdlab, against the run that was not interrupted
    a, b = p.detach().clone().requires_grad_(), q.detach().clone().requires_grad_()
    t_from_g = torch.optim.Adagrad([a], lr=0.1, initial_accumulator_value=0.5)
    t_from_g.load_state_dict(copy.deepcopy(ours.state_dict()))
    g_from_t = go.Adagrad([b], lr=0.1, initial_accumulator_value=0.5)
    g_from_t.load_state_dict(copy.deepcopy(theirs.state_dict()))
    g = torch.view_as_complex(_grads([(4, 3, 2)], 3)[0])
    for x in (p, q, a, b):
        x.grad = g.clone()
    for o in (ours, theirs, t_from_g, g_from_t):
        o.step()
    for x in (p, a, b):
        err = float((x.detach() - q.detach()).abs().max())
        assert err <= _tol(3, [q]), f"{err:.3g} from the uninterrupted torch run"


# --- sparse gradients --------------------------------------------------------------------------------------------
SPARSE = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)),
          ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
          ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
          ("Adagrad", dict(lr=0.1)), ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.2)),
          ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-3))]


def _sparse_run(cls, kw, sparse, steps=5, foreach=None):
    gen = torch.Generator().manual_seed(3)
    emb = torch.randn(6, 3, generator=gen, dtype=torch.float64).requires_grad_()
    bias = torch.randn(4, generator=gen, dtype=torch.float64).requires_grad_()
    opt = cls([emb, bias], **kw, **({} if foreach is None else {"foreach": foreach}))
    for k in range(steps):
        g = torch.zeros(6, 3, dtype=torch.float64)
        g[k % 6] = 1.0 + k  # the rows an embedding lookup touched
        g[(k + 2) % 6] = -0.5
        emb.grad = g.to_sparse() if sparse else g
        bias.grad = torch.full((4,), 0.3 * (k + 1), dtype=torch.float64)  # a dense gradient in the same group
        opt.step()
    return opt, [emb.detach(), bias.detach()]


@pytest.mark.parametrize("name,kw", SPARSE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPARSE)])
@pytest.mark.parametrize("foreach", [None, True, False])
def test_sparse_gradients_step_as_torch_optim_and_as_the_dense_gradient(name, kw, foreach):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "sparse invariant checks are implicitly disabled"
        opt, ours = _sparse_run(getattr(go, name), kw, True, foreach=foreach)
        _, theirs = _sparse_run(getattr(torch.optim, name), kw, True, foreach=foreach)
    _, dense = _sparse_run(getattr(go, name), kw, False, foreach=foreach)
    for a, b, c in zip(ours, theirs, dense):
        assert float((a - b).abs().max()) <= _tol(5, theirs), "against torch.optim with the sparse gradient"
        assert float((a - c).abs().max()) <= _tol(5, dense), "against gdlab with the same gradient dense"
    buf = opt.state[opt.param_groups[0]["params"][0]].get("momentum_buffer")
    if buf is not None:
        assert buf.is_sparse, "torch.optim.SGD keeps a sparse momentum buffer for a sparse gradient"


@pytest.mark.parametrize("name", ["SGD", "Adagrad"])
def test_coupled_weight_decay_with_sparse_gradients_is_refused(name):
    p = torch.zeros(4, 2, requires_grad=True)
    opt = getattr(go, name)([p], lr=0.1, weight_decay=0.1)
    p.grad = torch.eye(4, 2).to_sparse()
    with pytest.raises(RuntimeError, match="weight_decay option is not compatible with sparse gradients"):
        opt.step()


def test_sgd_takes_decoupled_weight_decay_with_sparse_gradients():
    kw = dict(lr=0.1, momentum=0.9, weight_decay=0.1, decoupled_weight_decay=True)
    _, sparse = _sparse_run(go.SGD, kw, True)
    _, dense = _sparse_run(go.SGD, kw, False)
    for a, b in zip(sparse, dense):
        assert float((a - b).abs().max()) <= _tol(5, dense)


@pytest.mark.parametrize("name", ["Adam", "RMSprop", "Lion"])
def test_rules_without_a_sparse_path_refuse_sparse_gradients(name):
    p = torch.zeros(4, 2, requires_grad=True)
    opt = getattr(go, name)([p])
    p.grad = torch.eye(4, 2).to_sparse()
    with pytest.raises(RuntimeError, match=f"{name} does not support sparse gradients"):
        opt.step()


# --- torch's error checks ---------------------------------------------------------------------------------------
def _torch_error_inputs():
    out = []
    for info in co.optim_db:
        if info.name in go.RULES and info.optim_error_inputs_func is not None:
            for j, ei in enumerate(info.optim_error_inputs_func(device="cpu", dtype=torch.float32)):
                out.append(pytest.param(info.name, j, id=f"{info.name}-{j}"))
    return out


@pytest.mark.parametrize("name,j", _torch_error_inputs())
def test_bad_input_is_refused_as_torch_refuses_it(name, j):
    """Each error case of torch's optimizer database: the same exception (or warning) type, a message torch's regular
    expression matches, raised at construction or at the step as torch raises it."""
    info = next(i for i in co.optim_db if i.name == name)
    ei = info.optim_error_inputs_func(device="cpu", dtype=torch.float32)[j]
    oi = ei.optimizer_error_input
    check = pytest.warns if issubclass(ei.error_type, Warning) else pytest.raises
    if ei.error_on == co.OptimizerErrorEnum.CONSTRUCTION_ERROR:
        with check(ei.error_type, match=ei.error_regex):
            getattr(go, name)(oi.params, **oi.kwargs)
    else:
        opt = getattr(go, name)(oi.params, **oi.kwargs)
        with check(ei.error_type, match=ei.error_regex):
            opt.step()


@pytest.mark.parametrize("name,kw,text", [
    ("SGD", dict(momentum=-0.5), "Invalid momentum value: -0.5 (momentum=-0.5)"),
    ("Adam", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5 (betas[1]=1.5)"),
    ("Adafactor", dict(eps=(None, -1e-3)), "epsilon2 should be >= 0 but is: -0.001 (eps[1]=-0.001)"),
    ("Muon", dict(weight_decay=-1.0), "weight decay should be >= 0 but is: -1.0 (weight_decay=-1.0)"),
])
def test_messages_are_torchs_words_then_the_argument_as_given(name, kw, text):
    with pytest.raises(ValueError) as err:
        getattr(go, name)([torch.zeros(2, 2, requires_grad=True)], **kw)
    assert str(err.value) == text


# --- Muon as torch.optim.Muon --------------------------------------------------------------------------------------
def test_muon_takes_torch_optim_muons_arguments_in_its_order_with_its_defaults():
    theirs = list(inspect.signature(torch.optim.Muon.__init__).parameters.values())[1:]
    ours = list(inspect.signature(go.Muon.__init__).parameters.values())[1:]
    assert [p.name for p in ours[:len(theirs)]] == [p.name for p in theirs]
    for a, b in zip(ours, theirs):
        assert a.default == b.default, f"{a.name}: {a.default!r} vs torch's {b.default!r}"
        assert a.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, f"{a.name} is not positional, as in torch"


@pytest.mark.parametrize("kw", [dict(), dict(lr=0.02, weight_decay=0.0, nesterov=False),
                                dict(adjust_lr_fn="match_rms_adamw", momentum=0.9),
                                dict(ns_steps=3, ns_coefficients=(3.0, -3.2, 1.2), eps=1e-5)])
def test_muon_with_ns_form_torch_steps_as_torch_optim_muon(kw):
    """ns_form="torch": the same bfloat16 iteration on the same float64 momentum, so the runs agree to float64
    rounding (k 64 eps64 scale), where a wrong scale (sqrt(m/n) = 1.5 or 0.2 sqrt(9) = 0.6) is off by ~0.1 lr."""
    shapes = [(9, 4), (3, 7)]
    gen = torch.Generator().manual_seed(4)
    start = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    opt_g, opt_t = go.Muon(ours, ns_form="torch", **kw), torch.optim.Muon(theirs, **kw)
    for k in range(1, STEPS + 1):
        for a, b, g in zip(ours, theirs, _grads(shapes, k)):
            a.grad, b.grad = g.clone(), g.clone()
        opt_g.step()
        opt_t.step()
        for i, (a, b) in enumerate(zip(ours, theirs)):
            err = float((a.detach() - b.detach()).abs().max())
            assert err <= _tol(k, theirs), f"step {k}, parameter {i}: {err:.3g} > {_tol(k, theirs):.3g}"


def test_muon_full_form_is_the_float64_iteration_and_torchs_is_not():
    """The default ns_form="full" iterates in float64: its output is the quintic applied to the singular values
    (to float64 rounding); torch's bfloat16 iterate (8 significant bits) is visibly off that, by more than 1e-3."""
    from gdlab.optim.matrix import MUON_COEFFICIENTS, newton_schulz, newton_schulz_bf16
    from gdlab.optim.ops import TorchOps

    g = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    x = s / (s.norm() + 1e-7)  # the singular values of G / (||G||_F + eps)
    a, b, c = MUON_COEFFICIENTS
    for _ in range(5):
        x = a * x + b * x**3 + c * x**5
    exact = u @ torch.diag(x) @ vh
    full = newton_schulz(TorchOps(), g, 5, MUON_COEFFICIENTS, 1e-7)
    bf16 = newton_schulz_bf16(TorchOps(), g, 5, MUON_COEFFICIENTS, 1e-7)
    assert float((full - exact).abs().max()) <= 1e3 * EPS64  # 5 iterations x ~30 roundings x gain <= 3.5
    assert float((bf16 - exact).abs().max()) > 1e-3


def test_newton_schulz_bf16_is_torchs_on_the_torch_face_and_nearly_so_on_numpys():
    """The torch face runs torch's operations in torch's order: bitwise torch.optim.Muon's iterate. The NumPy
    face rounds float32 results to bfloat16; float32 sums of <= 20 terms in another order differ by <= 20 2^-24
    relative, which crosses a bfloat16 rounding boundary with probability ~20 2^-24 / 2^-8 ~ 3e-4 per entry: most
    iterates are bitwise torch's (at most 10 of 100 differ) and a crossing moves an entry by a few bfloat16 units
    (at most 5 2^-8 ~ 0.02)."""
    import numpy as np
    from torch.optim._muon import _zeropower_via_newtonschulz

    from gdlab.optim.matrix import MUON_COEFFICIENTS, newton_schulz_bf16, round_bf16
    from gdlab.optim.ops import NumpyOps, TorchOps

    v = torch.randn(10000, dtype=torch.float32) * 10.0 ** torch.randint(-30, 30, (10000,))
    assert np.array_equal(round_bf16(v.numpy()), v.bfloat16().float().numpy())
    differ, worst = 0, 0.0
    for seed, shape in enumerate([(4, 3), (5, 4), (9, 4), (3, 7), (20, 10)] * 20):
        g = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        ref = _zeropower_via_newtonschulz(g, MUON_COEFFICIENTS, 5, 1e-7).double()
        assert torch.equal(newton_schulz_bf16(TorchOps(), g, 5, MUON_COEFFICIENTS, 1e-7), ref)
        out = newton_schulz_bf16(NumpyOps(), g.numpy(), 5, MUON_COEFFICIENTS, 1e-7)
        differ += not np.array_equal(out, ref.numpy())
        worst = max(worst, float(np.abs(out - ref.numpy()).max()))
    assert differ <= 10 and worst <= 5 * 2.0**-8, (differ, worst)


def test_muon_refuses_an_unknown_ns_form():
    with pytest.raises(ValueError, match="ns_form"):
        go.Muon([torch.zeros(3, 2, requires_grad=True)], ns_form="bfloat16")


def test_muon_refuses_what_torch_refuses_in_its_words():
    w = torch.zeros(3, 2, requires_grad=True)
    with pytest.raises(ValueError, match="Adjust learning rate function arbitrary is not supported"):
        go.Muon([w], adjust_lr_fn="arbitrary")
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        go.Muon([w, torch.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="Learning rate should be >= 0 but is: -1.0"):
        go.Muon([w], lr=-1.0)


# --- robustness the drop-in needs -----------------------------------------------------------------------------------
def _online_least_squares(dtype, seed=0, steps=20):
    """A 10x5 least-squares layer fed one example per step: every gradient x r^T has rank one."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(steps, 5, generator=gen)
    Y = X @ torch.randn(10, 5, generator=gen).T
    W = torch.zeros(10, 5, dtype=dtype, requires_grad=True)
    opt = go.Shampoo([W], lr=0.1)
    X, Y = X.to(dtype), Y.to(dtype)
    f0 = float(((X @ W.detach().T - Y) ** 2).sum())
    for k in range(steps):
        opt.zero_grad()
        ((X[k:k + 1] @ W.T - Y[k:k + 1]) ** 2).sum().backward()
        opt.step()
    return W.detach(), float(((X @ W.detach().T - Y) ** 2).sum()) / f0


@pytest.mark.parametrize("seed", range(3))
def test_shampoo_in_float32_survives_rank_one_statistics(seed):
    """In float32 the statistic eps I + sum g g^T, with entries near |g|^2 rounded to 2^-24 |g|^2 >> eps, has
    eigenvalues below eps and below zero; the root clamps them at eps (a no-op in exact arithmetic)."""
    w32, ratio32 = _online_least_squares(torch.float32, seed)
    w64, ratio64 = _online_least_squares(torch.float64, seed)
    assert torch.isfinite(w32).all()
    assert ratio32 < 0.95 and ratio64 < 0.95, (ratio32, ratio64)  # the loss falls (to about 0.83 in 20 steps)
    # the float32 run is the float64 run up to float32 rounding amplified by the roots of the noise directions:
    # at most 1% of the weights' size here (measured 1e-4 to 1e-3), against a 17% fall of the loss
    assert float((w32.double() - w64).abs().max()) <= 0.01 * float(w64.abs().max())


def test_shampoo_without_the_clamp_fails_on_the_same_run(monkeypatch):
    """The check above can fail: with the eigenvalues unclamped, the float32 run gives NaN and eigh then fails."""
    root = shampoo_rule.inverse_root
    monkeypatch.setattr(shampoo_rule, "inverse_root", lambda ops, a, p, floor=0.0: root(ops, a, p))
    try:
        w, _ = _online_least_squares(torch.float32, 0)
    except torch.linalg.LinAlgError:
        return  # eigh failed on the NaN statistic, as measured before the clamp
    assert not torch.isfinite(w).all(), "unclamped, the float32 run stayed finite: the test above proves nothing"


@pytest.mark.parametrize("kw", [dict(), dict(min_8bit_size=1, block_size=8),
                                dict(min_8bit_size=1, block_size=8, decoupled_weight_decay=True, weight_decay=0.1)])
def test_adam8bit_continues_identically_after_torch_save_and_load(kw):
    """torch's load_state_dict casts floating state to the parameters' float64; the block scales were float32
    values, so the rule casts them back exactly and the run continues bit for bit."""
    shapes = [(5, 4), (5,)]
    p = [torch.randn(s, dtype=torch.float64, generator=torch.Generator().manual_seed(5)).requires_grad_()
         for s in shapes]
    opt = go.Adam8bit(p, lr=0.01, **kw)
    for k in range(3):
        for x, g in zip(p, _grads(shapes, k)):
            x.grad = g
        opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    q = [x.detach().clone().requires_grad_() for x in p]
    fresh = go.Adam8bit(q, lr=0.01, **kw)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    for k in range(3, 6):
        for x, y, g in zip(p, q, _grads(shapes, k)):
            x.grad, y.grad = g.clone(), g.clone()
        opt.step()
        fresh.step()
        for x, y in zip(p, q):
            assert torch.equal(x.detach(), y.detach()), f"step {k}"
    for st in fresh.state.values():
        for key in ("exp_avg_absmax", "exp_avg_sq_absmax"):
            if key in st:
                assert st[key].dtype == torch.float32  # 4 bytes per block again


def test_sophia_keeps_only_tensors_in_its_state():
    p = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    opt = go.Sophia([p], foreach=True)
    p.grad = torch.ones_like(p)
    opt.step()
    p.grad = None
    opt.step()  # a step where no parameter has a gradient
    assert all(isinstance(v, torch.Tensor) for v in opt.state[p].values()), opt.state[p]
