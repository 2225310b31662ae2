"""gdlab.memory: measured optimizer state equals the prediction; ZeRO and activation formulas."""

from __future__ import annotations

import math

import pytest
import torch

from gdlab import memory
from gdlab import optim as gopt

# hyperparameters that switch on a rule's optional buffers (a rule not listed runs with its defaults)
VARIANTS = {
    "SGD": [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, nesterov=True)],
    "Adam": [dict(lr=1e-3), dict(lr=1e-3, amsgrad=True)],
    "AdamW": [dict(lr=1e-3), dict(lr=1e-3, amsgrad=True)],
    "RMSprop": [{}, dict(centered=True), dict(momentum=0.9), dict(centered=True, momentum=0.9)],
    "SignSGD": [{}, dict(momentum=0.9)],
}


def _params_for(name, model, hp):
    """All parameters, or only the matrices for a rule that rejects other shapes (Muon)."""
    try:
        memory.predict(model, name, **hp)
        return list(model.parameters())
    except ValueError:
        return [p for p in model.parameters() if p.ndim == 2]


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(12, 10), torch.nn.Tanh(), torch.nn.Linear(10, 6),
                               torch.nn.Tanh(), torch.nn.Linear(6, 3))


def _one_step(opt, model):
    x = torch.randn(16, 12, generator=torch.Generator().manual_seed(1))

    def closure():
        opt.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        return loss

    closure()
    opt.step(closure)


def _gdlab_cases():
    return [(name, hp) for name in gopt.RULES for hp in VARIANTS.get(name, [{}])]


@pytest.mark.parametrize("name,hp", _gdlab_cases(), ids=lambda v: str(v))
def test_every_gdlab_rule_measured_equals_predicted(name, hp):
    model = _model()
    params = _params_for(name, model, hp)
    opt = getattr(gopt, name)(params, **hp)
    _one_step(opt, model)
    measured = memory.state_bytes(opt)
    predicted = memory.predict(params, name, **hp)
    assert measured == {k: int(v) for k, v in predicted.state.items()}
    # the instance carries its own hyperparameters
    assert memory.predict(params, opt).state == predicted.state


GDLAB_HAND = [  # (rule, hyper, state bytes of one fp32 r x c matrix), derived from each paper's buffers
    ("SGD", {}, lambda r, c: 0),
    ("SGD", dict(momentum=0.9), lambda r, c: 4 * r * c),
    ("Adam", {}, lambda r, c: 8 * r * c),
    ("AdamW", {}, lambda r, c: 8 * r * c),
    ("Adam", dict(amsgrad=True), lambda r, c: 12 * r * c),
    ("Adagrad", {}, lambda r, c: 4 * r * c),
    ("RMSprop", {}, lambda r, c: 4 * r * c),
    ("RMSprop", dict(centered=True), lambda r, c: 8 * r * c),
    ("RMSprop", dict(centered=True, momentum=0.9), lambda r, c: 12 * r * c),
    ("NAdam", {}, lambda r, c: 8 * r * c),
    ("RAdam", {}, lambda r, c: 8 * r * c),
    ("LAMB", {}, lambda r, c: 8 * r * c),
    ("LARS", {}, lambda r, c: 4 * r * c),
    ("AdamP", {}, lambda r, c: 8 * r * c),
    ("Muon", {}, lambda r, c: 4 * r * c),
    ("ScheduleFreeAdamW", {}, lambda r, c: 8 * r * c),
    ("SignSGD", {}, lambda r, c: 0),
    ("SignSGD", dict(momentum=0.9), lambda r, c: 4 * r * c),
    ("Lion", {}, lambda r, c: 4 * r * c),
    ("Sophia", {}, lambda r, c: 8 * r * c),
    ("Adafactor", {}, lambda r, c: 4 * (r + c)),                       # row and column statistics
    ("Shampoo", {}, lambda r, c: 8 * (r * r + c * c)),                 # L, R and their roots
    ("SOAP", {}, lambda r, c: 8 * r * c + 8 * (r * r + c * c)),        # Adam moments + L, R, Q_L, Q_R
]


@pytest.mark.parametrize("name,hp,expect", GDLAB_HAND, ids=lambda v: str(v) if not callable(v) else "")
def test_gdlab_rules_hand_formula(name, hp, expect):
    r, c = 24, 10
    state = dict(memory.predict([(r, c)], name, **hp).state)
    # the step count of the parameter tensor, a 0-dim float32 tensor as torch.optim keeps it (NAdam's running
    # product beside it), then the paper's buffers
    assert state.pop("step") == 4
    if name == "NAdam":
        assert state.pop("mu_product") == 4
    assert sum(state.values()) == expect(r, c)


TORCH_CASES = [  # (class, hyper, expected state bytes for one r x c fp32 matrix)
    (torch.optim.SGD, dict(lr=0.1), lambda r, c: 0),
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9), lambda r, c: 4 * r * c),
    (torch.optim.Adam, dict(), lambda r, c: 4 + 8 * r * c),
    (torch.optim.AdamW, dict(), lambda r, c: 4 + 8 * r * c),
    (torch.optim.Adam, dict(amsgrad=True), lambda r, c: 4 + 12 * r * c),
    (torch.optim.NAdam, dict(), lambda r, c: 8 + 8 * r * c),  # step and mu_product scalars
    (torch.optim.RAdam, dict(), lambda r, c: 4 + 8 * r * c),
    (torch.optim.Adamax, dict(), lambda r, c: 4 + 8 * r * c),
    (torch.optim.Adagrad, dict(), lambda r, c: 4 + 4 * r * c),
    (torch.optim.RMSprop, dict(), lambda r, c: 4 + 4 * r * c),
    (torch.optim.RMSprop, dict(centered=True), lambda r, c: 4 + 8 * r * c),
    (torch.optim.RMSprop, dict(momentum=0.9), lambda r, c: 4 + 8 * r * c),
    (torch.optim.RMSprop, dict(centered=True, momentum=0.9), lambda r, c: 4 + 12 * r * c),
    (torch.optim.Adadelta, dict(), lambda r, c: 4 + 8 * r * c),
    (torch.optim.Rprop, dict(), lambda r, c: 4 + 8 * r * c),
    (torch.optim.Adafactor, dict(), lambda r, c: 4 + 4 * (r + c)),  # factored second moment only
]


@pytest.mark.parametrize("cls,hp,expect", TORCH_CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_torch_optimizers_hand_formula_measured_and_predicted(cls, hp, expect):
    r, c = 24, 10
    p = torch.nn.Parameter(torch.randn(r, c, generator=torch.Generator().manual_seed(0)))
    opt = cls([p], lr=0.01, **{k: v for k, v in hp.items() if k != "lr"})
    before = sum(memory.state_bytes(opt).values())
    # state is created lazily at the first step, except Adagrad's accumulator (made in __init__)
    assert before == (expect(r, c) if cls is torch.optim.Adagrad else 0)
    p.grad = torch.randn(r, c, generator=torch.Generator().manual_seed(1))
    opt.step()
    measured = memory.state_bytes(opt)
    assert sum(measured.values()) == expect(r, c)
    assert memory.predict([p], opt).state == {k: float(v) for k, v in measured.items()}


def test_adam_state_appears_at_first_step_only():
    model = _model()
    n = sum(p.numel() for p in model.parameters())
    k = len(list(model.parameters()))
    opt = gopt.Adam(model.parameters(), lr=1e-3)
    assert memory.state_bytes(opt) == {}
    _one_step(opt, model)
    assert memory.state_bytes(opt) == {"step": 4 * k, "exp_avg": 4 * n, "exp_avg_sq": 4 * n}
    assert memory.state_bytes(opt, counters=False) == {"exp_avg": 4 * n, "exp_avg_sq": 4 * n}
    _one_step(opt, model)
    assert memory.state_bytes(opt) == {"step": 4 * k, "exp_avg": 4 * n, "exp_avg_sq": 4 * n}


def test_gdlab_hand_table_bytes_per_parameter():
    m = _model()
    n, k = sum(p.numel() for p in m.parameters()), len(list(m.parameters()))
    step = 4 * k / n  # a 4-byte step count per parameter tensor, as torch.optim keeps it
    assert memory.predict(m, "SGD").state_per_param == step
    assert memory.predict(m, "SGD", momentum=0.9).state_per_param == 4 + step
    assert memory.predict(m, "Adam").state_per_param == 8 + step
    assert memory.predict(m, "AdamW").state_per_param == 8 + step
    assert memory.predict(m, "Adam", amsgrad=True).state_per_param == 12 + step
    # bf16 state halves the buffers (the step count stays float32, as in torch)
    assert memory.predict(m, "Adam", precision="bf16").state_per_param == 4 + step


def test_shared_storage_counted_once():
    p = torch.nn.Parameter(torch.zeros(8))
    opt = torch.optim.SGD([p], lr=0.1)
    buf = torch.zeros(8)
    opt.state[p] = {"a": buf, "b": buf[:4]}
    assert sum(memory.state_bytes(opt).values()) == 32


def test_zero_figure_1():
    psi, nd = 7.5e9, 64
    expected = [120.0, 31.4, 16.6, 1.9]
    for stage, gb in enumerate(expected):
        assert round(memory.zero_bytes(psi, stage, nd) / 1e9, 1) == gb
        pred = memory.predict(psi, "Adam", precision="fp16-mixed", zero_stage=stage, n_devices=nd)
        # the figure counts no per-tensor counters: the step count (4 bytes, sharded with the state) is left out
        assert pred.total - pred.state["step"] == pytest.approx(memory.zero_bytes(psi, stage, nd), rel=1e-12)
    # K = 12 is derived from the rule: 4 bytes of master weights + Adam's two fp32 moments
    full = memory.predict(psi, "Adam", precision="bf16-mixed")
    assert (full.master + full.state_total - full.state["step"]) / psi == 12


def test_seed_8b_bf16_example():
    pred = memory.predict(8e9, "Adam", precision="bf16-mixed", state_dtype="bf16")
    step = pred.state["step"]  # the 4-byte step count of the one tensor
    assert step == 4
    assert (pred.weights, pred.grads, pred.state_total - step, pred.master) == (16e9, 16e9, 32e9, 32e9)
    assert pred.total - step == 96e9


def test_zero_stage_sharding_of_predict():
    # the model states are divided by N_d; the 4-byte step count of each tensor is not (every device holds a slice
    # of every tensor, and a counter for it)
    base = memory.predict(1000, "Adam")
    assert base.state["step"] == 4
    s3 = memory.predict(1000, "Adam", zero_stage=3, n_devices=4)
    assert s3.total - 4 == (base.total - 4) / 4 and s3.state["step"] == 4
    s1 = memory.predict(1000, "Adam", zero_stage=1, n_devices=4)
    assert s1.weights == base.weights and s1.grads == base.grads
    assert s1.state_total - 4 == (base.state_total - 4) / 4
    two = memory.predict([(10, 10), (7,)], "Adam", zero_stage=2, n_devices=2)
    assert two.state["step"] == 8 and two.state["exp_avg"] == 107 * 4 / 2


@pytest.mark.parametrize("cfg,batch", [
    (dict(vocab=64, d_model=32, n_heads=4, n_layers=1, d_ff=64, seq=16), 2),
    (dict(vocab=96, d_model=48, n_heads=3, n_layers=2, d_ff=80, seq=24), 3),
])
def test_activation_formula_matches_saved_tensors(cfg, batch):
    torch.manual_seed(0)
    model = memory.TinyTransformer(**cfg)
    idx = torch.randint(0, cfg["vocab"], (batch, cfg["seq"]))
    tgt = torch.randint(0, cfg["vocab"], (batch, cfg["seq"]))
    exclude = list(model.parameters()) + list(model.buffers())
    loss, measured = memory.saved_activation_bytes(lambda: model.loss(idx, tgt), exclude)
    assert math.isfinite(loss.item())
    assert measured == model.activation_bytes(batch)


@pytest.mark.parametrize("kwargs,word", [
    (dict(precision="fp8"), "precision"),
    (dict(state_dtype="int4"), "state_dtype"),
    (dict(zero_stage=4), "zero_stage"),
    (dict(n_devices=0), "n_devices"),
    (dict(activations=-1.0), "activations"),
    (dict(steps=0), "steps"),
    (dict(optimizer="NoSuchOptimizer"), "optimizer"),
])
def test_predict_validation(kwargs, word):
    kw = dict(kwargs)
    opt = kw.pop("optimizer", "Adam")
    with pytest.raises(ValueError, match=word):
        memory.predict(100, opt, **kw)


@pytest.mark.parametrize("params", [0, -5, 2.5, float("nan"), []])
def test_predict_rejects_bad_params(params):
    with pytest.raises(ValueError, match="params"):
        memory.predict(params, "Adam")


def test_zero_bytes_and_activation_validation():
    with pytest.raises(ValueError, match="stage"):
        memory.zero_bytes(1e9, 5, 8)
    with pytest.raises(ValueError, match="n_devices"):
        memory.zero_bytes(1e9, 1, 0)
    with pytest.raises(ValueError, match="psi"):
        memory.zero_bytes(-1.0, 1, 8)
    with pytest.raises(ValueError, match="n_heads"):
        memory.transformer_activation_bytes(2, 8, 30, 4, 1, 64, 10)
    with pytest.raises(ValueError, match="batch"):
        memory.transformer_activation_bytes(0, 8, 32, 4, 1, 64, 10)
