"""Other solutions of the code exercises of book/deterministic/heavy-ball.ipynb: correct ones the checks must accept,
and plausible wrong ones they must reject."""

VARIANTS = {
    "hb_pair": {
        "correct": [
            # the formulas of thm-hb-optimal with kappa
            "def hb_pair(eigenvalues):\n"
            "    L, mu = max(eigenvalues), min(eigenvalues)\n"
            "    k = np.sqrt(L / mu)\n"
            "    return 4 / (np.sqrt(L) + np.sqrt(mu)) ** 2, ((k - 1) / (k + 1)) ** 2",
            # solved from the two conditions (1 - sqrt(beta))^2 = alpha mu and (1 + sqrt(beta))^2 = alpha L
            "def hb_pair(eigenvalues):\n"
            "    import math\n"
            "    L, mu = max(eigenvalues), min(eigenvalues)\n"
            "    r = (math.sqrt(L) - math.sqrt(mu)) / (math.sqrt(L) + math.sqrt(mu))\n"
            "    return (1 + r) ** 2 / L, r * r",
        ],
        "wrong": [
            # the momentum without its square: the rate sqrt(beta*) taken for beta*
            "def hb_pair(eigenvalues):\n"
            "    sL, sm = np.sqrt(max(eigenvalues)), np.sqrt(min(eigenvalues))\n"
            "    return (2 / (sL + sm)) ** 2, (sL - sm) / (sL + sm)",
            # gradient descent's best step with Polyak's momentum
            "def hb_pair(eigenvalues):\n"
            "    L, mu = max(eigenvalues), min(eigenvalues)\n"
            "    sL, sm = np.sqrt(L), np.sqrt(mu)\n"
            "    return 2 / (L + mu), ((sL - sm) / (sL + sm)) ** 2",
            # the step 2/(sqrt(L) + sqrt(mu)), its square forgotten
            "def hb_pair(eigenvalues):\n"
            "    sL, sm = np.sqrt(max(eigenvalues)), np.sqrt(min(eigenvalues))\n"
            "    return 2 / (sL + sm), ((sL - sm) / (sL + sm)) ** 2",
        ],
    },
    "critical_beta": {
        "correct": [
            "def critical_beta(alpha, lam):\n    import math\n    return (1 - math.sqrt(alpha * lam)) ** 2",
            # the square expanded
            "def critical_beta(alpha, lam):\n    h = alpha * lam\n    return 1 - 2 * np.sqrt(h) + h",
        ],
        "wrong": [
            # the critical rate 1 - sqrt(h) taken for the momentum
            "def critical_beta(alpha, lam):\n    return 1 - np.sqrt(alpha * lam)",
            # gradient descent's factor squared
            "def critical_beta(alpha, lam):\n    return (1 - alpha * lam) ** 2",
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["hb_pair"]["wrong"].append(  # calls gdlab
    'def hb_pair(eigenvalues):\n    from gdlab import theory as answers\n    tuned = answers.heavy_ball_tuning(max(eigenvalues), min(eigenvalues))\n    return tuned.alpha, tuned.beta'
)
