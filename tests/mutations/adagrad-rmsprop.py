"""Mutations of what adagrad-rmsprop relies on: gdlab's Adagrad and RMSprop rules, and gdlab.online's best point in
hindsight, regret and AdaGrad regret bound."""

from mutants import Mutation

NB = "book/adaptive/adagrad-rmsprop.ipynb"
RULES = "gdlab/optim/rules/adaptive.py"

MUTATIONS = [
    Mutation(NB, RULES, "s = accumulate_square(ctx, g)", 's = ctx.ops.add_(ctx.buffer("sum"), ctx.ops.abs(g))',
             "Adagrad's accumulator without the square: s <- s + |g|"),
    Mutation(NB, RULES, 'den = root_plus_eps(ctx, s, hp["eps"])', 'den = ctx.ops.add(s, hp["eps"])',
             "Adagrad without the square root: steps g/(s + eps), decaying like 1/t"),
    Mutation(NB, RULES, 'den = root_plus_eps(ctx, s, hp["eps"])', 'den = root_plus_eps(ctx, s, hp["eps"], True)',
             "Adagrad with eps inside the root, sqrt(s + eps)"),
    Mutation(NB, RULES, 'v = ema_square(ctx, g, alpha, "square_avg")',
             'v = ema_square(ctx, g, 1.0 - alpha, "square_avg")',
             "RMSprop's decay roles swapped: v <- (1 - alpha) v + alpha g^2"),
    Mutation(NB, RULES, "den = root_plus_eps(ctx, v, eps, inside)", "den = root_plus_eps(ctx, v, eps, True)",
             "RMSprop with eps inside the root, sqrt(v + eps), the form of some TF versions"),
    Mutation(NB, "gdlab/online.py", "x = np.linalg.solve(AtA + T * self.lam * np.eye(d), Atb)",
             "x = np.linalg.solve(AtA + self.lam * np.eye(d), Atb)",
             "the best point in hindsight with the ridge term of one round, not of T rounds"),
    Mutation(NB, "gdlab/online.py", "losses[j] = 0.5 * (res @ res) + 0.5 * self.lam * T * (x @ x)",
             "losses[j] = 0.5 * (res @ res) + 0.5 * self.lam * (x @ x)",
             "the best point's cumulative loss with the regulariser counted once"),
    Mutation(NB, "gdlab/online.py", "regret = np.cumsum(losses)[r - 1] - best_losses",
             "regret = (np.cumsum(losses) - losses)[r - 1] - best_losses",
             "the regret off by one round: the learner's losses before round T only"),
    Mutation(NB, "gdlab/online.py",
             "bound = D ** 2 / (2.0 * eta) * (sqrt_s + g.shape[1] * eps) + eta * sqrt_s",
             "bound = D ** 2 / (2.0 * eta) * (sqrt_s + g.shape[1] * eps) + 0.5 * eta * sqrt_s",
             "AdaGrad's regret bound without the lemma's factor 2"),
    Mutation(NB, "gdlab/online.py", "return points, np.sum(np.minimum(self.lower * C, self.upper * C), axis=1)",
             "return points, np.sum(np.maximum(self.lower * C, self.upper * C), axis=1)",
             "linear losses' cumulative loss in hindsight at the worst vertex, not the best"),
]
