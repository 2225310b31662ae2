"""Mutations of what sgd-langevin relies on: gdlab.noise's stationary covariances of SGD (discrete and continuous
Lyapunov equations), its additive-noise SGD, Langevin and SGLD simulators."""

from mutants import Mutation

NB = "book/stochastic/sgd-langevin.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/noise.py", "sigma = linalg.solve_discrete_lyapunov(J, lr ** 2 * Cm / S)",
             "sigma = linalg.solve_continuous_lyapunov(A, lr * Cm / S)",
             "the exact stationary covariance replaced by its first-order form: the discrete-time correction dropped"),
    Mutation(NB, "gdlab/noise.py", "sigma = linalg.solve_continuous_lyapunov(A, lr * Cm / S)",
             "sigma = linalg.solve_continuous_lyapunov(A, 2 * lr * Cm / S)",
             "the first-order covariance without its 1/2: eta sigma^2 / (B mu) instead of eta sigma^2 / (2 B mu)"),
    Mutation(NB, "gdlab/noise.py", "math.sqrt(2.0 * T * dt), n_chains=n_chains, **kw)",
             "math.sqrt(T * dt), n_chains=n_chains, **kw)",
             "Langevin's noise sqrt(T dt) instead of sqrt(2 T dt): half the temperature"),
    Mutation(NB, "gdlab/noise.py", "lambda t: math.sqrt(schedule(t))", "lambda t: schedule(t)",
             "SGLD's injected noise with standard deviation eta_t instead of variance eta_t"),
    Mutation(NB, "gdlab/noise.py", "lambda t: 0.5 * schedule(t)", "lambda t: schedule(t)",
             "SGLD's drift without its 1/2: the chains sample at temperature 1/2"),
    Mutation(NB, "gdlab/noise.py", "lr / math.sqrt(S), n_chains=n_chains", "lr / S, n_chains=n_chains",
             "additive SGD noise scaled by 1/B in standard deviation instead of in variance"),
]
