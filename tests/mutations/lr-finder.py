"""Mutations of what lr-finder relies on: gdlab.lr_finder's sweep, smoothing, suggestions and restore."""

from mutants import Mutation

NB = "book/practice/lr-finder.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/lr_finder.py",
             "sweep = min_lr * (max_lr / min_lr) ** (np.arange(num_steps) / (num_steps - 1))",
             "sweep = np.linspace(min_lr, max_lr, num_steps)",
             "the exponential (geometric) sweep spaced linearly"),
    Mutation(NB, "gdlab/lr_finder.py", "hat = avg / (1 - smoothing ** (i + 1))", "hat = avg",
             "the smoothed loss without its bias correction 1/(1 - beta^(i+1))"),
    Mutation(NB, "gdlab/lr_finder.py", "if restore:", "if False:",
             "the model and the optimizer not restored after the test"),
    Mutation(NB, "gdlab/lr_finder.py", "return float(lrs[lo + int(np.argmin(slope))]), min10",
             "return float(lrs[int(np.argmin(slope))]), min10",
             "the steepest-descent suggestion indexed from the start of the sweep, not of the segment"),
    Mutation(NB, "gdlab/lr_finder.py", "min10 = float(lrs[i_min] / 10)", "min10 = float(lrs[i_min + 1] / 10)",
             "min/10 read one step after the minimum of the smoothed loss"),
]
