"""Mutations of what nesterov relies on: gdlab.theory's schedule, tuning, iteration matrix and the two bounds."""

from mutants import Mutation

NB = "book/deterministic/nesterov.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/theory.py", "beta = np.where(ka > 0, (t[ka] - 1.0) / t[ka + 1], 0.0)",
             "beta = np.where(ka > 0, (t[ka] - 1.0) / t[ka], 0.0)",
             "the momentum (t_k - 1)/t_k instead of (t_k - 1)/t_{k+1}"),
    Mutation(NB, "gdlab/theory.py", "beta = np.where(ka > 0, (t[ka] - 1.0) / t[ka + 1], 0.0)",
             "beta = np.where(ka > 0, (t[ka + 1] - 1.0) / t[ka + 2], 0.0)",
             "the schedule one step ahead: beta_{k+1} used at step k"),
    Mutation(NB, "gdlab/theory.py", "return _out(2.0 * L * r0_sq / (ka + 1.0) ** 2)",
             "return _out(L * r0_sq / (2.0 * (ka + 1.0) ** 2))",
             "the upper bound four times too strong, L r0^2/(2(k+1)^2)"),
    Mutation(NB, "gdlab/theory.py", "return _out(2.0 * L * r0_sq / (ka + 1.0) ** 2)",
             "return _out(4.0 * L * r0_sq / (ka + 1.0) ** 2)",
             "the upper bound twice too weak, 4 L r0^2/(k+1)^2"),
    Mutation(NB, "gdlab/theory.py", "return _out(3.0 * L * r0_sq / (32.0 * (ka + 1.0) ** 2))",
             "return _out(3.0 * L * r0_sq / (16.0 * (ka + 1.0) ** 2))",
             "the lower bound twice too strong, 3/16 instead of 3/32"),
    Mutation(NB, "gdlab/theory.py", "return _out(3.0 * L * r0_sq / (32.0 * (ka + 1.0) ** 2))",
             "return _out(3.0 * L * r0_sq / (64.0 * (ka + 1.0) ** 2))",
             "the lower bound twice too weak, 3/64 instead of 3/32"),
    Mutation(NB, "gdlab/theory.py", "disc = np.sqrt((c * c - 4.0 * b * one_h).astype(complex))",
             "disc = np.sqrt((c * c - 4.0 * b).astype(complex))",
             "the product of the roots beta (the heavy ball's) instead of beta (1 - h)"),
    Mutation(NB, "gdlab/theory.py", "return NesterovTuning(1.0 / L, (s - 1.0) / (s + 1.0), 1.0 - 1.0 / s)",
             "return NesterovTuning(1.0 / L, (s - 1.0) / (s + 1.0), (s - 1.0) / (s + 1.0))",
             "the rate taken to be the heavy ball's (sqrt(kappa)-1)/(sqrt(kappa)+1)"),
    Mutation(NB, "gdlab/theory.py", "return NesterovTuning(1.0 / L, (s - 1.0) / (s + 1.0), 1.0 - 1.0 / s)",
             "return NesterovTuning(1.0 / L, ((s - 1.0) / (s + 1.0)) ** 2, 1.0 - 1.0 / s)",
             "the heavy ball's momentum ((sqrt(kappa)-1)/(sqrt(kappa)+1))^2"),
]
