"""Other solutions of the code exercises of book/stochastic/sgd-robbins-monro.ipynb: correct ones the checks must
accept, and plausible wrong ones they must reject."""

VARIANTS = {
    "stationary_msd": {
        "correct": [
            # the fixed point of m = E(1 - alpha c)^2 m + alpha^2 sigma^2, written as such
            "def stationary_msd(alpha, mu, psi, sigma2):\n"
            "    return alpha ** 2 * sigma2 / (1 - ((1 - alpha * mu) ** 2 + alpha ** 2 * psi))",
            # the additive-noise value with the curvature noise subtracted from its denominator
            "def stationary_msd(alpha, mu, psi, sigma2):\n    return sigma2 * alpha / (mu * (2 - alpha * mu) - alpha * psi)",
        ],
        "wrong": [
            # gdlab's Lyapunov solution: right for additive noise only, blind to the curvature's variance
            "def stationary_msd(alpha, mu, psi, sigma2):\n"
            "    return float(noise.sgd_stationary_covariance([[mu]], sigma2, alpha)[0, 0])",
            # first order in alpha
            "def stationary_msd(alpha, mu, psi, sigma2):\n    return alpha * sigma2 / (2 * mu)",
            # the curvature's variance with the wrong sign
            "def stationary_msd(alpha, mu, psi, sigma2):\n    return alpha * sigma2 / (2 * mu - alpha * (mu ** 2 - psi))",
        ],
    },
    "robbins_monro_conditions": {
        "correct": [
            # lexicographic order: the sum diverges iff (p, q) <= (1, 1)
            "def robbins_monro_conditions(p, q):\n    return (p, q) <= (1, 1), (2 * p, 2 * q) > (1, 1)",
            # case by case
            "def robbins_monro_conditions(p, q):\n"
            "    diverges = p < 1 or (p == 1 and q <= 1)\n"
            "    squares = p > 0.5 or (p == 0.5 and q > 0.5)\n"
            "    return diverges, squares",
        ],
        "wrong": [
            # the rule for powers, ignoring the logarithm
            "def robbins_monro_conditions(p, q):\n    return p <= 1, p > 0.5",
            # gdlab's numerical estimate of the exponent, fooled by the logarithm
            "def robbins_monro_conditions(p, q):\n"
            "    c = schedules.robbins_monro(lambda k: 1.0 / ((k + 2.0) ** p * np.log(k + 2.0) ** q))\n"
            "    return c.sum_diverges, c.sum_sq_finite",
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["robbins_monro_conditions"]["wrong"].append(  # calls gdlab
    'def robbins_monro_conditions(p, q):\n    import math\n    from gdlab import schedules as answers\n    found = answers.robbins_monro(lambda k: 1 / ((k + 2) ** p * math.log(k + 2) ** q))\n    return found.sum_diverges, found.sum_sq_finite'
)
