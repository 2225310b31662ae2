"""Mutations of what minibatch-noise-scale relies on: gdlab.stochastic's sampler and gdlab.noise's noise scale,
mini-batch error, two-batch estimator and second-moment recursion."""

from mutants import Mutation

NB = "book/stochastic/minibatch-noise-scale.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/stochastic.py", "self._perm = self.rng.permutation(self.n)",
             "self._perm = self.rng.integers(0, self.n, size=self.n)",
             "sampling without replacement turned into sampling with replacement"),
    Mutation(NB, "gdlab/stochastic.py", "return self.rng.integers(0, self.n, size=B)",
             "return self.rng.choice(self.n, size=B, replace=False)",
             "sampling with replacement turned into sampling without replacement"),
    Mutation(NB, "gdlab/noise.py", 'return self.tr_sigma / self.g2 if self.g2 > 0 else float("inf")',
             'return self.tr_sigma / math.sqrt(self.g2) if self.g2 > 0 else float("inf")',
             "B_simple = tr Sigma / |G| instead of tr Sigma / |G|^2"),
    Mutation(NB, "gdlab/noise.py", "return tr / B * (n - B) / (n - 1)", "return tr / B * (n - B) / n",
             "the finite-population correction 1 - B/n instead of (n - B)/(n - 1)"),
    Mutation(NB, "gdlab/noise.py", "tr = (s2 - b2) / (1.0 / bs - 1.0 / bb)", "tr = (s2 - b2) / (1.0 / bs + 1.0 / bb)",
             "the two-batch estimate of tr Sigma divided by 1/B_small + 1/B_big"),
    Mutation(NB, "gdlab/noise.py", "g2 = (bb * b2 - bs * s2) / (bb - bs)", "g2 = (bb * s2 - bs * b2) / (bb - bs)",
             "the two-batch estimate of |G|^2 with the roles of the two batches swapped"),
    Mutation(NB, "gdlab/noise.py", "return np.eye(d * d) - lr * (np.kron(eye, H) + np.kron(H, eye)) + lr ** 2 * outer.T @ outer / n",
             "return np.eye(d * d) - lr * (np.kron(eye, H) + np.kron(H, eye)) + lr ** 2 * outer.T @ outer / n ** 2",
             "the second-moment operator with the lr^2 term averaged twice (GD's recursion, no SGD noise)"),
]
