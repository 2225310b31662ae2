"""Mutations of what the linear-scaling lab relies on: labs/linear_scaling.py's schedule, scaling rules and noise-scale
estimator (the notebook checks them live), and the reading of the stored sweep."""

from mutants import Mutation

NB = "labs/linear-scaling.ipynb"
F = "labs/linear_scaling.py"

MUTATIONS = [
    Mutation(NB, F, "        return base + (step / warmup) * (peak - base) if kind == \"gradual\" else base",
             "        return base + ((step + 1) / warmup) * (peak - base) if kind == \"gradual\" else base",
             "the gradual warmup one step ahead"),
    Mutation(NB, F, "    return int(round(warmup_epochs * (n_train // batch)))",
             "    return int(round(warmup_epochs * (n_train // BASE_BATCH)))",
             "the warmup counted in base-batch steps instead of epochs at this batch size"),
    Mutation(NB, F, '    return peak * 0.1 ** sum(step >= m * total for m in milestones)',
             '    return peak * 0.1 ** sum(step > m * total for m in milestones)',
             "the rate divided by 10 one step after each milestone"),
    Mutation(NB, F, 'SCALINGS = {"linear": lambda k: k,', 'SCALINGS = {"linear": lambda k: k ** 0.5,',
             "the linear rule scaling with the square root"),
    Mutation(NB, F, "    tr = (s - bg) / (1.0 / b_small - 1.0 / b_big)", "    tr = (s - bg) / (1.0 / b_small + 1.0 / b_big)",
             "the two-batch trace estimate with 1/B_small + 1/B_big"),
    Mutation(NB, F, "    g2 = (b_big * bg - b_small * s) / (b_big - b_small)", "    g2 = (b_big * s - b_small * bg) / (b_big - b_small)",
             "the two-batch |G|^2 estimate with the two batches swapped"),
    Mutation(NB, F, 'def flat_region(results: dict, rule: str = "linear+gradual", z: float = 2.0) -> dict:',
             'def flat_region(results: dict, rule: str = "linear+gradual", z: float = 1.0) -> dict:',
             "the flat region's noise band at one standard error instead of two"),
]
