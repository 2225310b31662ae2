"""gdlab.optim.conventions: the convention map of every optimizer, checked row by row against the code.

A row that says gdlab reproduces a source (``options`` given) must run the same update as the source's step to
rounding: 20 float64 steps of a smooth problem, a few roundings per step, so 64 eps per step relative to the
iterates' size (torch.optim itself for torch rows). A row that says gdlab differs must differ by far more than that
(a thousand times the bound), so that the stated difference is real, and, where the row names the hyperparameters
that remove it (``same_when``), agree to rounding once they are set, so that the difference is the one stated.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gdlab import checks
from gdlab.optim import RULES, conventions as C
from gdlab.optim import numpy as gnp

ROOT = Path(__file__).resolve().parents[1]
ROWS = [(rule, r) for rule, rows in C.MAP.items() for r in rows]
RUN = [(rule, r) for rule, r in ROWS if not r.verified_by]
STEPS = 20
ROUNDING = checks.rounding(64 * STEPS, why="20 steps of a few roundings each, compared whole").value
UNVERIFIED = {("Sophia", "optax"), ("SOAP", "optax")}  # rows no test compares yet (the page names them)


def test_every_optimizer_has_its_paper_and_torch_rows():
    assert set(C.MAP) == set(RULES)
    for rule, rows in C.MAP.items():
        sources = [r.source for r in rows]
        assert sources[0] == "paper" and len(set(sources)) == len(sources) and set(sources) <= set(C.SOURCES)
        assert ("torch" in sources) == hasattr(torch.optim, rule), rule


def test_rows_say_where_and_cite_the_book():
    bib = (ROOT / "references.bib").read_text()
    for rule, r in ROWS:
        assert r.where, (rule, r.source)
        if r.source == "paper":
            key = re.match(r"[a-z]+\d{4}\w*", r.where).group(0)
            assert re.search(r"@\w+\{" + re.escape(key) + ",", bib), f"{rule}: {key} not in references.bib"
        if r.options is None:
            assert r.differs, f"{rule} ({r.source}): a row gdlab cannot reproduce says what differs"


@pytest.mark.parametrize("rule, r", RUN, ids=[f"{rule}-{r.source}" for rule, r in RUN])
def test_each_row_is_what_the_code_does(rule, r):
    getattr(gnp, rule)(**C.hyperparameters(r), **(r.options or {}))  # the options are the class's own
    got = C.verify(rule, r.source, steps=STEPS)
    if r.options is None:
        assert got > 1e3 * ROUNDING, f"{rule} ({r.source}): gdlab's closest form is the source's ({got:.1e})"
        if r.same_when is not None:  # the difference is the one stated: remove its cause and it goes
            gone = C.verify(rule, r.source, steps=STEPS, overrides=r.same_when)
            assert gone <= ROUNDING, f"{rule} ({r.source}) with {r.same_when}: still {gone:.1e} apart"
    else:
        tol = r.tolerance[0] if r.tolerance else ROUNDING
        assert got <= tol, f"{rule} ({r.source}): {got:.2e} > {tol:.1e}"


@pytest.mark.parametrize("rule, r", [(rule, r) for rule, r in ROWS if r.source == "torch"],
                         ids=lambda v: v if isinstance(v, str) else v.source)
def test_torch_rows_give_torchs_own_defaults(rule, r):
    sig = inspect.signature(getattr(torch.optim, rule).__init__).parameters
    for key, value in r.defaults.items():
        default = sig[key].default
        assert (tuple(default) if isinstance(default, (tuple, list)) else default) == value, (rule, key)


def test_rows_checked_elsewhere_name_a_test_that_exercises_the_rule():
    for rule, r in ROWS:
        if not r.verified_by:
            continue
        if r.verified_by == C.NOT_YET:
            assert (rule, r.source) in UNVERIFIED, f"{rule} ({r.source}) is not compared with anything"
            continue
        text = (ROOT / r.verified_by).read_text()
        assert rule in text, f"{r.verified_by} never names {rule}"
    assert all(C.row(rule, s).verified_by == C.NOT_YET for rule, s in UNVERIFIED)


def test_a_wrong_row_is_caught():
    """Drop the option that makes gdlab's Adam Keras's (the ε-hat form), or give optax's Adagrad row an option it
    does not need: the first row's check fails, and verify of the second runs the wrong form."""
    keras = C.row("Adam", "Keras")
    wrong = dataclasses.replace(keras, options={})
    rows = C.MAP["Adam"]
    C.MAP["Adam"] = [wrong if x is keras else x for x in rows]
    try:
        assert C.verify("Adam", "Keras", steps=STEPS) > 1e3 * ROUNDING
    finally:
        C.MAP["Adam"] = rows
    with pytest.raises(KeyError, match="Keras"):
        C.row("RAdam", "Keras")
    with pytest.raises(ValueError, match="compared with gdlab in"):
        C.verify("Muon", "torch")
    assert np.isfinite(C.verify("Adam", "Keras", steps=3))
