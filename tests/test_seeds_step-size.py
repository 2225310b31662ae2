"""The iteration budgets of book/deterministic/step-size.ipynb hold with 2x headroom from perturbed starts.

Polyak's and Barzilai-Borwein's steps are not monotone, and on the kappa = 1000 quadratic a change of one unit in the
last place of one coordinate of x0 changes how many steps they need (another machine's rounding does the same). The
chapter checks its budgets from x0 and twelve such starts; this test sweeps 40 more (seeded), and the start of the BB2
exercise's check, whose budget a correct answer must meet from any rounding.
"""

import numpy as np
import pytest

from gdlab import linesearch, problems, runner

QUAD50 = problems.Quadratic(np.geomspace(1e-3, 1.0, 50), seed=0)  # the chapter's kappa = 1000 quadratic
# (method, options, budget in the chapter, target relative gap)
CASES = {
    "polyak": ("polyak", {}, 1500, 1e-8),
    "bb1": ("bb1", {"alpha0": 1e-3}, 500, 1e-8),
    "bb2 exercise": ("bb2", {"alpha0": 1 / QUAD50.L}, 500, 1e-6),
}


def perturbed_starts(n, seed=12):
    rng = np.random.default_rng(seed)
    starts = []
    for j in range(n):
        x0 = QUAD50.x0.copy()
        i = rng.integers(QUAD50.dim)
        x0[i] = np.nextafter(x0[i], np.inf if j % 2 else -np.inf)
        starts.append(x0)
    return starts


def need(search, options, budget, target, x0):
    tr = runner.run(QUAD50, linesearch.gd_with(QUAD50, search, **options), x0=x0, steps=budget)
    hit = np.flatnonzero(tr.f_gap <= target * tr.f_gap[0])
    return int(hit[0]) if hit.size else None


@pytest.mark.parametrize("name", list(CASES))
def test_budget_has_2x_headroom_from_40_perturbed_starts(name):
    search, options, budget, target = CASES[name]
    needs = [need(search, options, budget, target, x0) for x0 in perturbed_starts(40)]
    assert None not in needs, f"{name}: a run missed the target within {budget} steps"
    assert 2 * max(needs) <= budget, f"{name}: needs {min(needs)}..{max(needs)} leave less than 2x of {budget}"
