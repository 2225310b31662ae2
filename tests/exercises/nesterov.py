"""Other solutions of the code exercises of book/deterministic/nesterov.ipynb: correct ones the checks must accept, and
plausible wrong ones they must reject."""

VARIANTS = {
    "largest_nesterov_step": {
        "correct": [
            # 1 + 1/(1 + 2 beta), written out
            "def largest_nesterov_step(beta, L):\n    return (1 + 1 / (1 + 2 * beta)) / L",
            # the edge found numerically: bisection on the roots of z^2 - (1+b)(1-h) z + b(1-h)
            "def largest_nesterov_step(beta, L):\n"
            "    lo, hi = 1.0, 2.0\n"
            "    for _ in range(60):\n"
            "        h = (lo + hi) / 2\n"
            "        r = max(abs(np.roots([1.0, -(1 + beta) * (1 - h), beta * (1 - h)])))\n"
            "        lo, hi = (h, hi) if r < 1 else (lo, h)\n"
            "    return lo / L",
        ],
        "wrong": [
            # the heavy ball's edge
            "def largest_nesterov_step(beta, L):\n    return (2 + 2 * beta) / L",
            # the limit beta -> 1, for every beta
            "def largest_nesterov_step(beta, L):\n    return 4 / (3 * L)",
            # gradient descent's edge
            "def largest_nesterov_step(beta, L):\n    return 2 / L",
        ],
    },
    "k_gd,k_nag": {
        "correct": [
            # a loop instead of argmax
            "k_nag = next(j + 1 for j, g in enumerate(norm_gap['Nesterov']) if g < 1e-3 * L_w)\n"
            "k_gd = next(j + 1 for j, g in enumerate(norm_gap['gradient descent']) if g < 1e-3 * L_w)",
            # np.flatnonzero on the condition
            "k_nag, k_gd = (int(np.flatnonzero(norm_gap[n] < 1e-3 * L_w)[0]) + 1 for n in ('Nesterov', 'gradient descent'))",
        ],
        "wrong": [
            # forgets that k starts at 1
            "k_nag = int(np.argmax(norm_gap['Nesterov'] < 1e-3 * L_w))\n"
            "k_gd = int(np.argmax(norm_gap['gradient descent'] < 1e-3 * L_w))",
            # the last k above the threshold instead of the first below
            "k_nag = int(np.flatnonzero(norm_gap['Nesterov'] >= 1e-3 * L_w)[-1]) + 1\n"
            "k_gd = int(np.flatnonzero(norm_gap['gradient descent'] >= 1e-3 * L_w)[-1]) + 1",
        ],
    },
}
