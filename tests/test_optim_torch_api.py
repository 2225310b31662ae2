"""The torch face's API beside the arithmetic: torch.optim's flags, tensor learning rates, copies, checkpoints.

The wider checks, driven by torch's own optimizer database, are in `tests/test_optim_db.py`; these are
the short ones that fail first when the face breaks.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch.autograd import gradcheck

import gdlab.optim as go


def _param(seed=0, shape=(4, 3)):
    p = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).requires_grad_()
    p.grad = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    return p


@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam", "Adagrad"])
def test_step_is_a_float32_0dim_tensor_and_groups_carry_torchs_flags(name):
    p = _param()
    opt = getattr(go, name)([p], lr=0.01)
    opt.step()
    opt.step()
    step = opt.state[p]["step"]
    assert isinstance(step, torch.Tensor) and step.dim() == 0 and step.dtype == torch.float32 and float(step) == 2
    if name == "NAdam":
        mu = opt.state[p]["mu_product"]
        assert isinstance(mu, torch.Tensor) and mu.dim() == 0
    for flag in ("foreach", "fused", "capturable", "differentiable"):
        assert flag in opt.param_groups[0]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copy_keeps_gdlabs_attributes_and_continues(how):
    p = _param()
    opt = go.Adam([p], lr=0.01, track_stats=True, nonfinite="skip")
    opt.step()
    twin = copy.deepcopy(opt) if how == "deepcopy" else pickle.loads(pickle.dumps(opt))
    for attr in ("rule", "track_stats", "nonfinite", "compile", "stats", "skipped_steps", "bf16_update", "bf16_seed"):
        assert hasattr(twin, attr), attr
    assert twin.nonfinite == "skip" and twin.track_stats is True
    q = twin.param_groups[0]["params"][0]
    q.grad = p.grad.clone()
    opt.step()
    twin.step()
    assert torch.equal(p.detach(), q.detach())


def test_adamw_checkpoint_loaded_into_adam_stays_decoupled():
    p, q, r = _param(), _param(), _param()
    w = go.AdamW([p], lr=0.1, weight_decay=0.5)
    w.step()
    a = go.Adam([q], lr=0.1, weight_decay=0.5)
    a.load_state_dict(copy.deepcopy(w.state_dict()))
    assert a.param_groups[0]["decoupled_weight_decay"] is True
    with torch.no_grad():
        q.copy_(p)
        r.copy_(p)
    ref = go.AdamW([r], lr=0.1, weight_decay=0.5)
    ref.load_state_dict(copy.deepcopy(w.state_dict()))
    for opt in (a, ref):
        opt.step()
    assert torch.equal(q.detach(), r.detach())


def test_torch_checkpoint_without_step_and_without_gdlab_keys_loads():
    p = _param()
    t = torch.optim.SGD([p], lr=0.1, momentum=0.9)  # torch's SGD keeps no step
    t.step()
    g = go.SGD([_param()], lr=0.1, momentum=0.9)
    g.load_state_dict(t.state_dict())
    g.param_groups[0]["params"][0].grad = p.grad.clone()
    g.step()  # the missing step and gdlab's own group keys are filled in
    assert "momentum_form" in g.param_groups[0]
    t2 = torch.optim.RAdam([p])
    t2.step()
    g2 = go.RAdam([_param()])
    g2.load_state_dict(t2.state_dict())
    assert g2.param_groups[0]["rect_threshold"] == go.RAdam([_param()]).defaults["rect_threshold"]


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
@pytest.mark.parametrize("foreach", [False, True])
def test_tensor_lr_equals_float_lr(shape, foreach):
    p, q = _param(), _param()
    kw = dict(weight_decay=0.1)
    a = go.RAdam([p], lr=0.01, foreach=foreach, **kw)
    b = go.RAdam([q], lr=torch.full(shape, 0.01, dtype=torch.float64), foreach=foreach, **kw)
    for _ in range(3):
        a.step()
        b.step()
    # one rounding of the step size per step, 3 steps, |update| <= lr: 64 ulps of the parameters is ample
    tol = 64 * torch.finfo(torch.float64).eps * float(p.detach().abs().max())
    assert float((p - q).abs().max()) <= tol


def test_torchs_refusals_with_its_wording():
    p = _param()
    with pytest.raises(ValueError, match="lr as a Tensor is not supported for capturable=False and foreach=True"):
        go.Adam([p], lr=torch.tensor(0.01), foreach=True)
    with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together."):
        go.Adam([p], fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
        go.SGD([p], lr=0.1, fused=True, differentiable=True)
    opt = go.Adam([torch.zeros(3, dtype=torch.int64)], fused=True)
    opt.param_groups[0]["params"][0].grad = torch.zeros(3, dtype=torch.int64)
    with pytest.raises(RuntimeError, match="`fused=True` requires all the params to be floating point"):
        opt.step()
    with pytest.raises(NotImplementedError, match="differentiable=True is not supported"):
        go.Adafactor([p], differentiable=True)


def test_torchs_defaults_change_nothing():
    p, q = _param(), _param()
    a = go.Adam([p], lr=0.01)
    b = go.Adam([q], lr=0.01, foreach=None, fused=None, capturable=False, differentiable=False)
    for _ in range(3):
        a.step()
        b.step()
    assert torch.equal(p.detach(), q.detach())


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
                                     ("Adam", dict(amsgrad=True, weight_decay=0.1)), ("RMSprop", dict(centered=True))])
def test_differentiable_step_passes_gradcheck(name, kw):
    """Two steps from a non-leaf parameter: the result is differentiable in the parameter and the gradient."""
    p = torch.rand(5, dtype=torch.float64, requires_grad=True)
    g = torch.rand(5, dtype=torch.float64, requires_grad=True)

    def two_steps(p, g):
        q = p.clone()
        q.grad = g
        opt = getattr(go, name)([q], differentiable=True, **kw)
        opt.step()
        q.grad = g * 0.5
        opt.step()
        return q

    assert gradcheck(two_steps, (p, g))
