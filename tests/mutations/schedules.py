"""Mutations of what schedules relies on: the formulas of gdlab.schedules, its Robbins--Monro test, the torch driver,
and the exact second moment of gdlab.noise."""

from mutants import Mutation

NB = "book/practice/schedules.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/schedules.py", "np.cos(np.pi * np.minimum(t, T) / T)",
             "np.cos(np.pi * np.minimum(t, T) / (2 * T))",
             "the cosine with a quarter period instead of a half period over the run (it ends at lr/2, not 0)"),
    Mutation(NB, "gdlab/schedules.py",
             "ramp = peak * (self.start_factor + (1.0 - self.start_factor) * np.minimum(t, w) / max(w, 1))",
             "ramp = peak * (self.start_factor + (1.0 - self.start_factor) * np.minimum(t + 1, w) / max(w, 1))",
             "linear warmup off by one: step k at (k+1)/w of the peak, as if steps counted from 1"),
    Mutation(NB, "gdlab/schedules.py", "phi = 1.0 - u", "phi = (1.0 - u) ** 2",
             "WSD's linear cooldown replaced by a quadratic one"),
    Mutation(NB, "gdlab/schedules.py", "u = np.clip((t - (T - D)) / max(D, 1), 0.0, 1.0)",
             "u = np.clip((t - (T - D) + 1) / max(D, 1), 0.0, 1.0)",
             "WSD's decay starting one step early, at K - D - 1"),
    Mutation(NB, "gdlab/schedules.py", "np.minimum(n ** -0.5, n * self.warmup_steps ** -1.5)",
             "np.minimum(n ** -1.0, n * self.warmup_steps ** -2.0)",
             "the inverse-square-root schedule decaying like 1/n (exponent -1 instead of -1/2)"),
    Mutation(NB, "gdlab/schedules.py", "diverges, finite_sq = p <= 1, p > 0.5", "diverges, finite_sq = p < 1, p > 0.5",
             "Robbins-Monro: the borderline 1/k counted as summable"),
    Mutation(NB, "gdlab/schedules.py", "t = self.last_epoch", "t = self.last_epoch + 1",
             "ScheduleDriver one step ahead of the schedule"),
    Mutation(NB, "gdlab/noise.py",
             "z = (1.0 - step * lam) ** 2 * z + step ** 2 * sigma ** 2 / A.shape[0]",
             "z = (1.0 - step * lam) ** 2 * z + step ** 2 * sigma ** 2",
             "the exact second moment with noise sigma^2 per coordinate instead of sigma^2 in total"),
]
