"""The equations of the Optimizer reference page (book/reference/optimizers.ipynb) are the rules' own.

Every rule's card (gdlab/optim/cards.py) is printed on the page and run here: from a random parameter, random
gradients and the rule's state before each step, the card's values must equal those of one step of the rule
(gdlab.optim.cards.verify). A card with a wrong formula fails, and so does a rule with one; the second half of the
file shows the first on plausible wrong cards.
"""

from __future__ import annotations

import numpy as np
import pytest

from gdlab import checks
from gdlab.optim import RULES, cards
from gdlab.optim.card import Card, Cases, Gt, Let, Num, Op, Sqrt, Sym, maximum, minimum, sign, slash


def test_every_rule_has_a_card_and_prints_it():
    assert set(RULES) == set(cards.CARDS), set(RULES) ^ set(cards.CARDS)
    for name, rule in RULES.items():
        assert rule.equation == cards.card_for(name).tex(), name


@pytest.mark.parametrize("name", sorted(RULES))
def test_card_reads_only_hyperparameters_the_rule_has(name):
    card = cards.card_for(name)
    assert set(card.hyperparameters()) <= set(RULES[name].defaults), (name, card.hyperparameters())
    assert any(line.out == "param" for line in card.lines), f"{name}: no line gives the new parameter"
    tex = card.tex()
    assert tex.count("{") == tex.count("}") and "$" not in tex, name


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(RULES))
def test_card_equals_one_step_of_the_rule(name, seed):
    worst = cards.verify(name, seed=seed)
    assert worst <= 1e-10, (name, worst)


# --- a wrong card fails --------------------------------------------------------------------------------------
th, g, t = cards.theta, cards.g, cards.t
eta, lam, eps, b1, b2 = cards.eta, cards.lam, cards.eps, cards.b1, cards.b2


def _lion_swapped():
    c = Let("c_t", b2 * cards.prev("m_{t-1}", "exp_avg") + (1 - b2) * g)
    step = Let(r"\theta_t", th - eta * (sign(c) + lam * th), out="param")
    return Card(c, step, Let("m_t", b1 * cards.prev("m_{t-1}", "exp_avg") + (1 - b1) * g, out="state:exp_avg"))


def _adam_eps_inside():
    gt = cards.coupled_l2()
    m, v = cards.adam_moments(gt)
    return Card(gt, m, v, Let(r"\theta_t", th - eta * slash(m, 1 - b1**t) / Sqrt(slash(v, 1 - b2**t) + eps),
                              out="param"), cases=[dict(hp=dict(eps=1e-3))])


def _adamw_decay_without_lr():
    m, v = cards.adam_moments(g)
    return Card(m, v, Let(r"\theta_t", th * (1 - lam) - eta * cards.adam_direction(m, v), out="param"),
                cases=[dict(hp=dict(weight_decay=0.1))])


def _radam_paper_threshold_for_torch_default():
    card = cards._radam()
    rho = next(line for line in card.lines if line.target == r"\rho_t")
    m_hat = next(line for line in card.lines if line.target == r"\hat m_t")
    r = next(line for line in card.lines if line.target == "r_t")
    v = next(line for line in card.lines if line.target == "v_t")
    step = Cases((th - eta * r * m_hat * (Sqrt(1 - b2**t) / (Sqrt(v) + eps)), Gt(rho, Num(4))),
                 otherwise=th - eta * m_hat)
    return Card(*card.lines[:-1], Let(r"\theta_t", step, out="param"), cases=[dict(hp={}, steps=8)])


def _adafactor_one_over_t():
    card = cards._adafactor()
    rel = card.lines[0]
    rel.expr = minimum(eta, 1 / t)
    return Card(*card.lines, cases=[dict(hp=dict(lr=1.0), shape=(4, 6))])


def _muon_without_the_root():
    card = cards._muon()
    m = Sym("m", lambda inp: float(inp.param.shape[0]))
    n = Sym("n", lambda inp: float(inp.param.shape[1]))
    U = card.lines[1]
    step = th * (1 - eta * lam) - eta * maximum(1, m / n) * Op(r"\mathrm{NS}_5", cards._ns5, U)
    return Card(card.lines[0], U, Let(r"\theta_t", step, out="param"), cases=[dict(hp={}, shape=(8, 5))])


def _schedule_free_keeps_z_in_the_parameters():
    card = cards._schedule_free()
    z = next(line for line in card.lines if line.target == "z_t")
    return Card(*card.lines[:-1], Let("y_t", z, out="param"), cases=[dict(hp={})])


WRONG = {
    "Lion": _lion_swapped,
    "Adam": _adam_eps_inside,
    "AdamW": _adamw_decay_without_lr,
    "RAdam": _radam_paper_threshold_for_torch_default,
    "Adafactor": _adafactor_one_over_t,
    "Muon": _muon_without_the_root,
    "ScheduleFreeAdamW": _schedule_free_keeps_z_in_the_parameters,
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_card_fails(name, monkeypatch):
    monkeypatch.setitem(cards.CARDS, name, WRONG[name]())
    with pytest.raises(checks.CheckFailed):
        cards.verify(name)


def test_the_card_language_prints_and_evaluates_the_same_expression():
    x = Sym("x", "param")
    e = (1 - Num(0.5)) * x**2 / (Sqrt(x) + 1)
    assert e.tex() == r"\frac{(1 - 0.5)\,x^{2}}{\sqrt{x} + 1}"
    from gdlab.optim.card import Inputs

    card = Card(Let("y", e, out="param"))
    out = card.run(Inputs(param=np.array([4.0]), grad=np.zeros(1), state={}, hp={}, t=1))
    np.testing.assert_allclose(out["param"], [0.5 * 16 / 3])
