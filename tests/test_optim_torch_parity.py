"""gdlab's optimizers against torch.optim, and gdlab's NumPy face against its torch face.

Every case of ``optim_cases.TORCH_CASES`` runs 100 steps on a small MLP with two parameter
groups (different learning rates), a frozen parameter, a 3-D parameter and one step where one
parameter has no gradient. The whole trajectory must agree with torch.optim's, in float64 to
1e-10 against torch's foreach and per-tensor implementations, in both of gdlab's modes, and in
float32 to 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gdlab.optim as go
from gdlab.optim import numpy as gnp
from optim_cases import CASES, TORCH_CASES, Case

STEPS = 100
NONE_STEP = 10  # at this step the second layer's bias has no gradient


class Net(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.l1 = torch.nn.Linear(5, 6, dtype=dtype)
        self.l2 = torch.nn.Linear(6, 2, dtype=dtype)
        with torch.no_grad():
            for p in (*self.l1.parameters(), *self.l2.parameters()):
                p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.5)
        self.cube = torch.nn.Parameter(torch.randn(2, 3, 4, generator=gen, dtype=dtype) * 0.5)
        self.frozen = torch.nn.Parameter(torch.randn(2, generator=gen, dtype=dtype), requires_grad=False)

    def forward(self, x):
        return self.l2(torch.tanh(self.l1(x))) + self.frozen

    def groups(self, lr: float) -> list[dict]:
        return [{"params": list(self.l1.parameters())},
                {"params": [self.l2.weight, self.l2.bias, self.cube, self.frozen], "lr": lr * 0.5}]


def _data(dtype):
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(16, 5, generator=gen, dtype=torch.float64)
    Y = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    return X.to(dtype), Y.to(dtype)


def trajectory(case: Case, cls, dtype, foreach) -> torch.Tensor:
    """All parameters after each of STEPS steps, one row per step."""
    model = Net(dtype)
    X, Y = _data(dtype)
    sign = -1.0 if case.kwargs.get("maximize") else 1.0  # maximize −loss: the same descent, bounded
    opt = cls(model.groups(case.kwargs["lr"]), foreach=foreach, **case.kwargs)
    rows = []
    for k in range(STEPS):
        opt.zero_grad()
        loss = ((model(X) - Y) ** 2).mean() + 0.1 * torch.tanh(model.cube).pow(2).mean()
        (sign * loss).backward()
        if k == NONE_STEP:
            model.l2.bias.grad = None
        opt.step()
        rows.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    return torch.stack(rows)


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_float64_matches_torch_foreach_and_loop(case, float64_default):
    ref = {fe: trajectory(case, getattr(torch.optim, case.torch_name), torch.float64, fe) for fe in (True, False)}
    ours = {fe: trajectory(case, getattr(go, case.name), torch.float64, fe) for fe in (True, False)}
    moved = (ref[False][-1] - ref[False][0]).abs().max()
    assert moved > 1e-3, "the trajectory must move for the comparison to mean anything"
    for a in (True, False):
        assert torch.isfinite(ours[a]).all()
        for b in (True, False):
            diff = float((ours[a] - ref[b]).abs().max())
            assert diff <= 1e-10, f"gdlab foreach={a} vs torch foreach={b}: max |Δ| = {diff:.3e}"


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.id)
def test_float32_matches_torch(case):
    ref = trajectory(case, getattr(torch.optim, case.torch_name), torch.float32, None)
    ours = trajectory(case, getattr(go, case.name), torch.float32, None)
    assert ours.dtype == torch.float32
    diff = float((ours - ref).abs().max())
    assert diff <= 1e-5, f"max |Δ| = {diff:.3e}"


# --- the NumPy face and the torch face run the same rule ----------------------------------------
def _problem():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((3, 3))
    A = M @ M.T / 3 + 0.5 * np.eye(3)
    C = rng.standard_normal((3, 4))
    D = np.array([0.5, 1.0, 2.0, 4.0])
    e = rng.standard_normal(4)
    W0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(4)
    return A, C, D, e, W0, b0


def _grads(W, b, prob, sign):
    A, C, D, e, *_ = prob
    return [sign * (A @ W - C), sign * (D * b - e)]   # ∇ of ½tr(WᵀAW) − tr(CᵀW) + ½bᵀDb − eᵀb


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_numpy_face_equals_torch_face(case, float64_default):
    prob = _problem()
    sign = -1.0 if case.kwargs.get("maximize") else 1.0
    opt_np = getattr(gnp, case.name)(**case.kwargs)
    xs = [prob[4].copy(), prob[5].copy()]
    W = torch.tensor(prob[4], requires_grad=True)
    b = torch.tensor(prob[5], requires_grad=True)
    opt_t = getattr(go, case.name)([W, b], **case.kwargs)
    for _ in range(50):
        opt_np.step_arrays(xs, _grads(*xs, prob, sign))
        gW, gb = _grads(W.detach().numpy(), b.detach().numpy(), prob, sign)
        W.grad, b.grad = torch.tensor(gW), torch.tensor(gb)
        opt_t.step()
    assert np.abs(xs[0] - prob[4]).max() > 1e-3
    diff = max(np.abs(xs[0] - W.detach().numpy()).max(), np.abs(xs[1] - b.detach().numpy()).max())
    assert diff <= 1e-12, f"max |Δ| = {diff:.3e}"
