"""Mutations of what beyond-adam relies on: the update rules of gdlab.optim beyond Adam (Lion, Adafactor, schedule-free
AdamW, LAMB, Muon, SOAP, Sophia, Shampoo, RAdam) and the schedule-free helpers."""

from mutants import Mutation

NB = "book/adaptive/beyond-adam.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/optim/rules/sign.py", 'b1, b2 = ctx.group["betas"]', 'b2, b1 = ctx.group["betas"]',
             "Lion with the roles of beta1 (direction) and beta2 (buffer) swapped"),
    Mutation(NB, "gdlab/optim/rules/adafactor.py", "rel = [min(lr, 1.0 / math.sqrt(t)) for t in ctx.steps]",
             "rel = [min(lr, 1.0 / t) for t in ctx.steps]", "Adafactor's relative step 1/t instead of 1/sqrt(t)"),
    Mutation(NB, "gdlab/optim/rules/adafactor.py", 'decay = [t ** hp["beta2_decay"] for t in ctx.steps]',
             'decay = [1.0 - t ** hp["beta2_decay"] for t in ctx.steps]',
             "Adafactor's decay beta2_hat and 1 - beta2_hat confused"),
    Mutation(NB, "gdlab/optim/rules/schedule_free.py", "return (y - (1.0 - beta1) * z) / beta1", "return y",
             "schedule-free: evaluating y instead of the average x (NumPy face)"),
    Mutation(NB, "gdlab/optim/rules/schedule_free.py", "(1.0 - b1) if to_train else (1.0 - 1.0 / b1)",
             "(1.0 - b1) if to_train else 0.0", "schedule-free: eval_mode leaves the parameters at y (torch face)"),
    Mutation(NB, "gdlab/optim/rules/layerwise.py",
             'for w, n in zip(ops.norms(ctx.params), ops.norms(u))]',
             'for w, n in zip(ops.norms(ctx.params), ops.norms(ctx.grads))]',
             "LAMB's trust ratio on the gradient's norm instead of the update's"),
    Mutation(NB, "gdlab/optim/matrix.py", "MUON_COEFFICIENTS = (3.4445, -4.7750, 2.0315)",
             "MUON_COEFFICIENTS = (1.5, -0.5, 0.0)", "Muon with the classical cubic Newton-Schulz coefficients"),
    Mutation(NB, "gdlab/optim/rules/muon.py", "return math.sqrt(max(1.0, m / n))",
             "return max(1.0, m / n)", "Muon's shape scale max(1, m/n) without the square root"),
    Mutation(NB, "gdlab/optim/rules/shampoo.py", 'if (t - 1) % hp["precondition_frequency"] == 0:',
             'if t % hp["precondition_frequency"] == 0:', "SOAP refreshing its basis at steps f, 2f, ... not 1, 1+f, ..."),
    Mutation(NB, "gdlab/optim/rules/shampoo.py", 'root = hp["exponent_override"] or 2 * k',
             'root = hp["exponent_override"] or k', "Shampoo's default exponent -1/2 instead of the paper's -1/4"),
    Mutation(NB, "gdlab/optim/rules/sophia.py", "ops.clamp_min_(r, -1.0)\n        ops.mul_(r, -1.0)\n        ops.clamp_min_(r, -1.0)",
             "ops.mul_(r, -1.0)\n        ops.clamp_min_(r, -1.0)", "Sophia's clip applied only from below"),
    Mutation(NB, "gdlab/optim/rules/sophia.py", 'den = ops.mul(ctx.buffer("hessian"), hp["gamma"])',
             'den = ops.clone(ctx.buffer("hessian"))', "Sophia dividing by h instead of gamma h"),
    Mutation(NB, "gdlab/optim/pieces.py", "rho_t = rho_inf - 2.0 * t * beta2**t / c2", "rho_t = rho_inf - t * beta2**t / c2",
             "RAdam's rho_t without the factor 2"),
]
