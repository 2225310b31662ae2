"""Other solutions of the code exercise of book/practice/schedules.ipynb: correct ones the check must accept, and
plausible wrong ones it must reject."""

VARIANTS = {
    "steps_to_floor": {
        "correct": [
            # count up until the transient is below (ratio - 1) times the floor
            "def steps_to_floor(alpha, mu, sigma2, e0, ratio=2.0):\n"
            "    fl = alpha * sigma2 / (mu * (2 - alpha * mu))\n"
            "    k = 0\n"
            "    while (1 - alpha * mu) ** (2 * k) * e0 + fl > ratio * fl:\n"
            "        k += 1\n"
            "    return k",
            # the closed form with log1p and numpy, (q^2)^k instead of q^(2k)
            "import numpy as np\n"
            "def steps_to_floor(alpha, mu, sigma2, e0, ratio=2.0):\n"
            "    fl = alpha * sigma2 / (mu * (2 - alpha * mu))\n"
            "    k = np.log((ratio - 1) * fl / e0) / np.log((1 - alpha * mu) ** 2)\n"
            "    return int(max(0, np.ceil(k)))",
        ],
        "wrong": [
            # the transient's factor per step taken as (1 - alpha mu), not its square
            "import math\n"
            "def steps_to_floor(alpha, mu, sigma2, e0, ratio=2.0):\n"
            "    fl = alpha * sigma2 / (mu * (2 - alpha * mu))\n"
            "    return max(0, math.ceil(math.log((ratio - 1) * fl / e0) / math.log(1 - alpha * mu)))",
            # floor instead of ceiling: one step short
            "import math\n"
            "def steps_to_floor(alpha, mu, sigma2, e0, ratio=2.0):\n"
            "    fl = alpha * sigma2 / (mu * (2 - alpha * mu))\n"
            "    return max(0, math.floor(math.log((ratio - 1) * fl / e0) / (2 * math.log(1 - alpha * mu))))",
            # ratio ignored: always twice the floor
            "import math\n"
            "def steps_to_floor(alpha, mu, sigma2, e0, ratio=2.0):\n"
            "    fl = alpha * sigma2 / (mu * (2 - alpha * mu))\n"
            "    return max(0, math.ceil(math.log(fl / e0) / (2 * math.log(1 - alpha * mu))))",
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["steps_to_floor"]["wrong"].append(  # calls gdlab
    'def steps_to_floor(alpha, mu, sigma2, e0, ratio=2.0):\n    from gdlab import theory as answers\n    k, target = 0, ratio * answers.sgd_noise_ball(alpha, mu, sigma2)\n    while answers.sgd_constant_step_bound(k, alpha, mu, sigma2, e0) > target:\n        k += 1\n    return k'
)
