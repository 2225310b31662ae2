"""Mutations of what sharp-flat-saddles relies on: gdlab.noise's Kramers law and its correction, the first-passage
simulation and the exact escape time, and perturbed gradient descent."""

from mutants import Mutation

NB = "book/stochastic/sharp-flat-saddles.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/noise.py", "return 2.0 * math.pi / math.sqrt(cm * cb) * math.exp(barrier / T)",
             "return math.pi / math.sqrt(cm * cb) * math.exp(barrier / T)",
             "Kramers' prefactor halved, pi/sqrt(k_a k_b) (the time to the barrier top, not beyond it)"),
    Mutation(NB, "gdlab/noise.py", "return 2.0 * math.pi / math.sqrt(cm * cb) * math.exp(barrier / T)",
             "return 2.0 * math.pi / math.sqrt(cm * cb) * math.exp(barrier / (2.0 * T))",
             "the exponent dU/(2T), the noise variance 2T taken for the temperature"),
    Mutation(NB, "gdlab/noise.py", "return 8.0 * self.height / self.width ** 2",
             "return 4.0 * self.height / self.width ** 2",
             "the curvature at the minimum 4H, the barrier's |U''| in its place"),
    Mutation(NB, "gdlab/noise.py", "+ 5.0 * u3b ** 2 / (24.0 * kb ** 3) + u4b / (8.0 * kb ** 2))",
             "+ 5.0 * u3b ** 2 / (24.0 * kb ** 3) - u4b / (8.0 * kb ** 2))",
             "the barrier's term of the first correction with the sign of a minimum (Laplace on U, not -U)"),
    Mutation(NB, "gdlab/noise.py", "s = np.sqrt(2.0 * T_v * dt)[:, None]", "s = np.sqrt(T_v * dt)[:, None]",
             "first-passage noise sqrt(T dt): dX = -U' dt + sqrt(T) dW, the temperature convention confused"),
    Mutation(NB, "gdlab/noise.py", "c = 4.0 * self.height / self.width ** 2",
             "c = 8.0 * self.height / self.width ** 2",
             "the double well's in-place Langevin drift with the curvature 8H in place of U'/x(x^2-1) = 4H"),
    Mutation(NB, "gdlab/noise.py",
             "integrand = np.where(inner > 0, np.exp((u - u0) / T + log_inner), 0.0) / T",
             "integrand = np.where(inner > 0, np.exp((u - u0) / T + log_inner), 0.0)",
             "the exact mean escape time without its factor 1/T"),
    Mutation(NB, "gdlab/noise.py",
             "u *= radius * rng.uniform(size=(m, 1)) ** (1 / dim) / np.linalg.norm(u, axis=1, keepdims=True)",
             "u *= radius * rng.uniform(size=(m, 1)) / np.linalg.norm(u, axis=1, keepdims=True)",
             "perturbed GD's kick with a uniform radius, not uniform in the ball"),
    Mutation(NB, "gdlab/noise.py", "- f_tilde[idx] > -f_thres", "- f_tilde[idx] < -f_thres",
             "perturbed GD's termination test reversed: stop when f has fallen"),
]
