"""Mutations of what step-size relies on: the searches of gdlab.linesearch and the constants of their theorems."""

from mutants import Mutation

NB = "book/deterministic/step-size.ipynb"
LS = "gdlab/linesearch.py"

MUTATIONS = [
    # the constants the chapter's theorems state
    Mutation(NB, LS, "return min(alpha0, 2.0 * beta * (1.0 - c) / L)", "return min(alpha0, 2.0 * (1.0 - c) / L)",
             "Armijo's floor 2(1-c)/L, without the backtracking factor rho"),
    Mutation(NB, LS, "return min(alpha0, 2.0 * beta * (1.0 - c) / L)", "return min(alpha0, beta * (1.0 - c) / L)",
             "Armijo's floor rho(1-c)/L, half the true one"),
    Mutation(NB, LS, "return 1 + max(0, math.ceil(", "return max(0, math.ceil(",
             "Armijo's trial count without the accepted trial"),
    Mutation(NB, LS, "return (1.0 - c2) * ratio / L", "return 2.0 * (1.0 - c2) * ratio / L",
             "Wolfe's floor doubled, 2(1-c2)/L"),
    Mutation(NB, LS, "return ((L - mu) / (L + mu)) ** 2", "return (L - mu) / (L + mu)",
             "exact line search's rate (kappa-1)/(kappa+1) on the gap, the square dropped"),
    Mutation(NB, LS, "return 1.0 / (2.0 * _sc(L))", "return 1.0 / _sc(L)",
             "Polyak's step floor 1/L instead of 1/(2L)"),
    Mutation(NB, LS, "return 1.0 - mu / (4.0 * L)", "return 1.0 - 4.0 * mu / L",
             "Polyak's contraction 1 - 4/kappa for 1 - 1/(4 kappa)"),
    # the gdlab paths the chapter exercises
    Mutation(NB, LS, "step = gamma * gap / gg", "step = gamma * gap / (2.0 * gg)",
             "Polyak's step halved"),
    Mutation(NB, LS, 'raw = float(s @ s) / sy if self.variant == "BB1" else sy / float(y @ y)',
             'raw = sy / float(y @ y) if self.variant == "BB1" else float(s @ s) / sy',
             "BB1 and BB2 swapped"),
    Mutation(NB, LS, "if fa <= phi0 + c * a * slope:  # False for nan", "if fa <= phi0 + c * slope:  # False for nan",
             "Armijo's test without the step in the sufficient decrease"),
    Mutation(NB, LS, "return LineSearchResult(-slope / curv)", "return LineSearchResult(-0.5 * slope / curv)",
             "the exact step halved"),
]
