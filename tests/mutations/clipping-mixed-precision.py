"""Mutations of what clipping-mixed-precision relies on: gdlab.clipping's norm and adaptive clipping, and
gdlab.loss_scaling's dynamic scale and float16 simulation."""

from mutants import Mutation

NB = "book/practice/clipping-mixed-precision.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/clipping.py", "total = global_norm(arrs, norm_type)", "total = global_norm(arrs, 1.0)",
             "clipping by the L1 norm of the gradient instead of its L2 norm"),
    Mutation(NB, "gdlab/clipping.py", "coef = torch.clamp(max_norm / (total + _EPS), max=1.0)",
             "coef = torch.clamp(max_norm / total, max=1.0)",
             "the torch face's clip coefficient without torch's +1e-6"),
    Mutation(NB, "gdlab/clipping.py", "coef = min(1.0, max_norm / (total + eps)) if total + eps > 0 else 1.0",
             "coef = max_norm / (total + eps) if total + eps > 0 else 1.0",
             "the clip coefficient not clamped to 1: small gradients scaled up to the threshold"),
    Mutation(NB, "gdlab/clipping.py",
             "return np.sqrt(np.sum(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))",
             "return np.sqrt(np.sum(x * x, keepdims=True))",
             "adaptive clipping per tensor instead of per unit (row)"),
    Mutation(NB, "gdlab/loss_scaling.py",
             "self.growth_factor = float(growth_factor)\n        self.backoff_factor = float(backoff_factor)",
             "self.growth_factor = float(backoff_factor)\n        self.backoff_factor = float(growth_factor)",
             "the dynamic scale's growth and backoff factors swapped"),
    Mutation(NB, "gdlab/loss_scaling.py", "if good == self.growth_interval:", "if good == self.growth_interval + 1:",
             "the growth interval off by one: the scale grows after N + 1 good steps"),
    Mutation(NB, "gdlab/loss_scaling.py", "return (g * scale).astype(np.float16).astype(np.float64) / scale",
             "return (g * scale).astype(np.float16).astype(np.float64)",
             "the float16 gradient not divided back by the loss scale"),
    Mutation(NB, "gdlab/loss_scaling.py", "tiny = float(np.finfo(np.float16).tiny)  # smallest normal, 2^-14",
             "tiny = float(np.finfo(np.float16).smallest_subnormal)  # smallest normal, 2^-14",
             "subnormals counted below the smallest subnormal instead of below the smallest normal"),
]
