"""Mutations of what sgd-robbins-monro relies on: the Robbins-Monro checker, gdlab.theory's SGD constants and exact
recursion, and iterate averaging."""

from mutants import Mutation

NB = "book/stochastic/sgd-robbins-monro.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/schedules.py", "diverges, finite_sq = p <= 1, p > 0.5", "diverges, finite_sq = p <= 1, p > 1",
             "Robbins-Monro checker: sum of squares finite only for p > 1 (confused with the sum), analytic tails"),
    Mutation(NB, "gdlab/schedules.py", "finite_sq = p > 0.5 + tol", "finite_sq = p > 1 + tol",
             "Robbins-Monro checker: sum of squares finite only for p > 1, estimated tails"),
    Mutation(NB, "gdlab/theory.py", "return _out(a * sigma2 / (mu * (2.0 - a * mu)))", "return _out(a * sigma2 / mu)",
             "the noise ball alpha sigma^2/mu of the weaker contraction 1 - alpha mu"),
    Mutation(NB, "gdlab/theory.py", "return _out(a * sigma2 / (mu * (2.0 - a * mu)))", "return _out(a * sigma2 / (2.0 * mu))",
             "the noise ball to first order, alpha sigma^2/(2 mu)"),
    Mutation(NB, "gdlab/theory.py", "return _out(a * a * sigma2 / (2.0 * a * m - 1.0))",
             "return _out(a * a * sigma2 / (a * m - 1.0))",
             "the 1/k constant a^2 sigma^2/(a mu - 1) instead of a^2 sigma^2/(2 a mu - 1)"),
    Mutation(NB, "gdlab/theory.py", "v = (1.0 - ak * lam) ** 2 * v + ak * ak * s2", "v = (1.0 - ak * lam) * v + ak * ak * s2",
             "the exact recursion with the factor 1 - alpha lambda instead of its square"),
    Mutation(NB, "gdlab/optim/averaging.py", 'return 1.0 / count if mode == "uniform" else 1.0 - decay',
             'return 1.0 / (count + 1) if mode == "uniform" else 1.0 - decay',
             "the uniform average weighs the newest iterate 1/(t+1) instead of 1/t"),
    Mutation(NB, "gdlab/stochastic.py", "out[burn_in:] = np.cumsum(tail, axis=0) / np.arange(1, len(tail) + 1)[:, None]",
             "out[burn_in:] = np.cumsum(tail, axis=0) / np.arange(2, len(tail) + 2)[:, None]",
             "Polyak-Ruppert average divided by one iterate too many"),
]
