"""Mutations of what gd-three-rates relies on: gdlab.theory's rates and bounds of gradient descent."""

from mutants import Mutation

NB = "book/foundations/gd-three-rates.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/theory.py", "return (kappa - 1.0) / (kappa + 1.0)", "return 1.0 - 1.0 / kappa",
             "the optimal rate 1 - 1/kappa instead of (kappa-1)/(kappa+1)"),
    Mutation(NB, "gdlab/theory.py", "return max(abs(1.0 - alpha * mu), abs(1.0 - alpha * L))",
             "return max(abs(1.0 - alpha * mu / 2), abs(1.0 - alpha * L))",
             "the contraction with mu/2 on the flat branch"),
    Mutation(NB, "gdlab/theory.py", "return max(abs(1.0 - alpha * mu), abs(1.0 - alpha * L))",
             "return max(abs(1.0 - alpha * mu), abs(1.0 - alpha * L / 2))",
             "the contraction with L/2 on the steep branch"),
    Mutation(NB, "gdlab/theory.py", "return _over_k(L * r0_sq / 2.0, ka)", "return _over_k(L * r0_sq / 8.0, ka)",
             "the convex bound four times too strong, L R^2/(8k)"),
    Mutation(NB, "gdlab/theory.py", "return _over_k(2.0 * L * gap0, ka)", "return _over_k(L * gap0, ka)",
             "the non-convex bound without its factor 2"),
    Mutation(NB, "gdlab/theory.py", "return _out(r0_sq * (1.0 - mu / L) ** ka)",
             "return _out(r0_sq * (1.0 - 2.0 * mu / L) ** ka)",
             "the strongly convex bound with 1 - 2 mu/L per step"),
]
