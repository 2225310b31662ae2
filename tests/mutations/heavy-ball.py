"""Mutations of what heavy-ball relies on: gdlab.theory's heavy-ball functions and the SGD rule's momentum."""

from mutants import Mutation

NB = "book/deterministic/heavy-ball.ipynb"
TH = "gdlab/theory.py"
TUNED = "return HeavyBallTuning((2.0 / (sL + sm)) ** 2, rate * rate, rate)"

MUTATIONS = [
    Mutation(NB, TH, TUNED, "return HeavyBallTuning((2.0 / (sL + sm)) ** 2, rate, rate)",
             "the optimal momentum without its square, (sqrt(kappa)-1)/(sqrt(kappa)+1)"),
    Mutation(NB, TH, TUNED, "return HeavyBallTuning(4.0 / (sL + sm), rate * rate, rate)",
             "the optimal step 4/(sqrt(L)+sqrt(mu)), the square of the sum forgotten"),
    Mutation(NB, TH, TUNED, "return HeavyBallTuning((2.0 / (sL + sm)) ** 2, rate * rate, rate * rate)",
             "the rate beta instead of sqrt(beta)"),
    Mutation(NB, TH, 'return _out((2.0 + 2.0 * b) / _pos("L", L))', 'return _out((2.0 + b) / _pos("L", L))',
             "the stability edge 2 + beta instead of 2 + 2 beta"),
    Mutation(NB, TH, "c = 1.0 + b - a * lm", "c = 1.0 - b - a * lm",
             "the characteristic polynomial with 1 - beta - h for 1 + beta - h"),
    Mutation(NB, "gdlab/optim/rules/sgd.py", 's["prev_param"] = ops.clone([p])[0]', 's["prev_param"] = ops.zeros_like(p)',
             "the Polyak form started from x_{-1} = 0 instead of x_{-1} = x_0"),
]
