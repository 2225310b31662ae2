"""Mutations the Optimizer reference page must catch: a wrong card (gdlab/optim/cards.py, the equations the page
prints) or a wrong rule makes the page's check of every card against its rule fail."""

from mutants import Mutation

NB = "book/reference/optimizers.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/optim/cards.py", 'c = Let("c_t", b1 * prev("m_{t-1}", "exp_avg") + (1 - b1) * g)',
             'c = Let("c_t", b2 * prev("m_{t-1}", "exp_avg") + (1 - b2) * g)',
             "Lion's card with beta2 in the direction"),
    Mutation(NB, "gdlab/optim/cards.py", "return slash(m, 1 - b1**t) / (Sqrt(slash(v, 1 - b2**t)) + eps)",
             "return slash(m, 1 - b1**t) / Sqrt(slash(v, 1 - b2**t) + eps)",
             "Adam's card with epsilon inside the square root"),
    Mutation(NB, "gdlab/optim/cards.py", "MUON_NS = (3.4445, -4.7750, 2.0315)", "MUON_NS = (3.4445, -4.7750, 2.0)",
             "Muon's card with a rounded Newton-Schulz coefficient"),
    Mutation(NB, "gdlab/optim/rules/sign.py", 'b1, b2 = ctx.group["betas"]', 'b2, b1 = ctx.group["betas"]',
             "Lion's rule with beta1 and beta2 swapped"),
    Mutation(NB, "gdlab/optim/rules/adaptive.py", 'lrs = [hp["lr"] / (1.0 + (t - 1) * hp["lr_decay"]) for t in ctx.steps]',
             'lrs = [hp["lr"] / (1.0 + t * hp["lr_decay"]) for t in ctx.steps]',
             "Adagrad's rule decaying the rate from the first step"),
    Mutation(NB, "gdlab/optim/rules/schedule_free.py", 'lr = hp["lr"] * warm * math.sqrt(1.0 - b2 ** t)',
             'lr = hp["lr"] * warm * (1.0 - b2 ** t)', "schedule-free's rule without the square root in gamma_t"),
    Mutation(NB, "gdlab/optim/rules/layerwise.py", "den = g + beta * w", "den = g",
             "LARS's rule without the weight decay in the local rate"),
]
