"""gdlab.checks: each check passes when its claim holds, fails with expected and got when it does not, and refuses a
tolerance too loose to tell the theory from a wrong formula."""

import math

import numpy as np
import pytest

from gdlab import checks


def test_eps_of_each_dtype():
    assert checks.eps() == np.finfo(np.float64).eps == 2.0**-52
    assert checks.eps(np.float32) == checks.eps("float32") == 2.0**-23
    assert checks.eps("torch.float16") == 2.0**-10 and checks.eps("torch.bfloat16") == 2.0**-7


def test_rounding_tolerance_carries_its_reason():
    t = checks.rounding(8, 3, why="two sums")
    assert t.value == 24 * 2.0**-52 and "8 eps x growth 3: two sums" in str(t)
    with pytest.raises(ValueError, match="growth"):
        checks.rounding(1, 0.5)
    with pytest.raises(ValueError, match="reason"):
        checks.measured(1e-3, "")
    with pytest.raises(TypeError, match="Tolerance"):
        checks.close(1.0, 1.0, 1e-3, what="x")


def test_close_passes_within_rounding_and_fails_beyond(capsys):
    a = np.array([1.0, 2.0, 3.0])
    err = checks.close(a * (1 + 2 * checks.eps()), a, checks.rounding(4), what="scaled")
    assert 0 < err <= 4 * checks.eps() * 3 and "check  scaled" in capsys.readouterr().out
    with pytest.raises(checks.CheckFailed, match=r"(?s)scaled: relative difference.*expected.*got"):
        checks.close(a * (1 + 1e-10), a, checks.rounding(4), what="scaled")
    with pytest.raises(checks.CheckFailed, match="shape"):
        checks.close(a[:2], a, checks.rounding(4), what="shape")
    with pytest.raises(checks.CheckFailed, match="non-finite"):
        checks.close([np.nan, 1, 1], a, checks.rounding(4), what="nan")
    # a result near zero is compared on the scale of what was combined
    checks.close(1e-17, 0.0, checks.rounding(4), what="cancelled", scale=1.0)


def test_same_steps_compares_one_step_at_a_time():
    xs = [np.array([1.0, -2.0])]
    for _ in range(50):
        xs.append(xs[-1] - 0.1 * xs[-1])
    # one implementation multiplies by 0.9, the other subtracts 0.1 x: one rounding apart per step
    err = checks.same_steps(lambda x: 0.9 * x, xs[:-1], xs[1:], checks.rounding(4), what="steps")
    assert err <= 4 * checks.eps()
    with pytest.raises(checks.CheckFailed, match=r"at step \d+ the two updates differ by 1.000e-02"):
        checks.same_steps(lambda x: 0.91 * x, xs[:-1], xs[1:], checks.rounding(4), what="steps")


def test_rate_is_on_the_log_scale_and_rejects_loose_tolerances():
    kappa = 100.0
    q = (kappa - 1) / (kappa + 1)
    tol = checks.measured(1e-3, "a long run")
    err = checks.rate(q * (1 + 1e-9), q, tol, what="r", alternatives={"1 - 1/kappa": 1 - 1 / kappa})
    assert err < 1e-6
    with pytest.raises(checks.CheckFailed, match="expected a factor per step of 0.99"):
        checks.rate(q, 1 - 1 / kappa, tol, what="r")
    # a 1% tolerance on the factor itself would admit 1 - 1/kappa; on the log scale it cannot be mistaken
    with pytest.raises(ValueError, match="cannot tell"):
        checks.rate(q, q, checks.measured(1.0, "far too loose"), what="r", alternatives={"1 - 1/kappa": 0.99})
    # growth factors above 1 work the same way, and q = 1 never passes
    checks.rate(1.1 * (1 + 1e-12), 1.1, tol, what="growth")
    with pytest.raises(checks.CheckFailed):
        checks.rate(1.0, 0.99, tol, what="stalled")


def test_at_most_and_attainment():
    k = np.arange(1, 11)
    bound = 1.0 / k
    assert math.isclose(checks.at_most(0.5 / k, bound, rtol=checks.rounding(1), what="half"), 0.5)
    checks.at_most(0.5 / k, bound, rtol=checks.rounding(1), at_least=0.49, what="half, nearly attained")
    with pytest.raises(checks.CheckFailed, match="not attained"):
        checks.at_most(0.1 / k, bound, rtol=checks.rounding(1), at_least=0.49, what="loose")
    with pytest.raises(checks.CheckFailed, match="at index 3 the value"):
        checks.at_most(np.where(k == 4, 0.3, 0.1), bound, rtol=checks.rounding(1), what="violated")
    # an infinite bound (k = 0) constrains nothing
    checks.at_most([5.0, 0.5], [np.inf, 1.0], rtol=checks.rounding(1), what="inf")


def test_between_and_budget():
    checks.between(0.5, 0.0, 1.0, what="in", why="a statistical interval")
    with pytest.raises(checks.CheckFailed, match=r"expected a value in \[0, 1\]"):
        checks.between(1.5, 0.0, 1.0, what="out")
    with pytest.raises(checks.CheckFailed):
        checks.between(float("nan"), 0.0, 1.0, what="nan")
    assert checks.budget(100, 200, what="b") == 100
    with pytest.raises(checks.CheckFailed, match="headroom"):
        checks.budget(150, 200, what="b")
    with pytest.raises(checks.CheckFailed, match="not reached"):
        checks.budget(None, 200, what="b")


def test_quiet_suppresses_only_the_printing(capsys):
    with checks.quiet():
        checks.between(0.5, 0, 1, what="silent")
        with pytest.raises(checks.CheckFailed):
            checks.between(2, 0, 1, what="still fails")
    checks.between(0.5, 0, 1, what="loud")
    out = capsys.readouterr().out
    assert "silent" not in out and "loud" in out
