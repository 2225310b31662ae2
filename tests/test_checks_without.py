"""gdlab.checks.without: an exercise's check fails when the answer was called instead of written."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from gdlab import checks, theory
from gdlab.optim import numpy as gnp


def _renamed():
    from gdlab.theory import (
        heavy_ball_tuning as tuning,  # imported under another name
    )

    return tuning(4.0, 0.05)


def _through_a_lambda():
    def inner():
        return theory.heavy_ball_tuning(4.0, 0.05)

    def outer():
        return inner()

    return outer()


def _face_of_the_rule():
    opt = gnp.Adagrad(lr=0.1)
    return opt(np.ones(3), np.ones(3), 0)


CAUGHT = [
    ("a direct call", lambda: theory.heavy_ball_tuning(4.0, 0.05), [theory.heavy_ball_tuning]),
    ("a renamed import", _renamed, [theory.heavy_ball_tuning]),
    ("a call two frames down", _through_a_lambda, [theory.heavy_ball_tuning]),
    ("one of two forbidden", lambda: theory.gd_rate(10.0), [theory.heavy_ball_tuning, theory.gd_rate]),
    ("an optimizer's NumPy face", _face_of_the_rule, [gnp.Adagrad]),
]


@pytest.mark.parametrize("name, run, forbidden", CAUGHT, ids=[c[0] for c in CAUGHT])
def test_a_call_of_a_forbidden_function_fails(name, run, forbidden):
    with pytest.raises(checks.CheckFailed, match="written, not called; got a call of gdlab"), \
            checks.without(*forbidden, what="exercise"):
        run()


ALLOWED = [
    ("arithmetic", lambda: (2 / (4**0.5 + 0.05**0.5)) ** 2, [theory.heavy_ball_tuning]),
    ("another gdlab function", lambda: theory.gd_rate(10.0), [theory.heavy_ball_tuning]),
    ("another optimizer sharing the face's code", lambda: gnp.Adam(lr=0.1)(np.ones(3), np.ones(3), 0), [gnp.Adagrad]),
]


@pytest.mark.parametrize("name, run, forbidden", ALLOWED, ids=[c[0] for c in ALLOWED])
def test_code_that_does_not_call_the_answer_passes(name, run, forbidden):
    with checks.without(*forbidden):
        run()


def test_the_profiler_before_is_restored_and_still_sees_calls():
    import sys

    seen = []

    def outer(frame, event, arg):
        if event == "call":
            seen.append(frame.f_code.co_name)

    sys.setprofile(outer)
    try:
        with checks.without(theory.heavy_ball_tuning):
            theory.gd_rate(10.0)
        assert sys.getprofile() is outer
    finally:
        sys.setprofile(None)
    assert "gd_rate" in seen


def test_a_wrapped_function_is_forbidden_through_its_wrapper():
    @functools.lru_cache
    def cached(x):
        return x + 1

    with pytest.raises(checks.CheckFailed, match="cached"), checks.without(cached):
        cached(1)


@pytest.mark.parametrize("bad", [42, np.sqrt, object()])
def test_what_cannot_be_watched_is_refused(bad):
    with pytest.raises(TypeError, match="without: answers must be Python functions"):
        checks.without(bad)


def test_nothing_to_forbid_is_refused():
    with pytest.raises(TypeError, match="at least one function"):
        checks.without()


def test_an_error_inside_the_block_propagates_unchanged():
    with pytest.raises(ZeroDivisionError), checks.without(theory.heavy_ball_tuning):
        _ = 1 / 0
