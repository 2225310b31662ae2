"""Other solutions of the code exercises of book/foundations/gd-three-rates.ipynb: correct ones the checks must accept,
and plausible wrong ones they must reject."""

VARIANTS = {
    "k_needed": {
        "correct": [
            # count up until the bound is met, instead of the closed form
            "eps = 1e-6\nk_needed = 0\nwhile (1 - quad20.mu / quad20.L) ** k_needed > eps:\n    k_needed += 1",
            # logs of the condition number, with numpy
            "eps = 1e-6\nk_needed = int(np.ceil(np.log(1 / eps) / -np.log1p(-1 / quad20.kappa)))",
        ],
        "wrong": [
            # the sufficient count kappa log(1/eps) of the exercise above, not the smallest k
            "import math\nk_needed = math.ceil(quad20.kappa * math.log(1e6))",
            # floor instead of ceiling
            "import math\nk_needed = math.floor(math.log(1e-6) / math.log(1 - quad20.mu / quad20.L))",
        ],
    },
    "largest_stable_step": {
        "correct": [
            "def largest_stable_step(A):\n    return 2.0 / np.max(np.abs(np.linalg.eigvals(A)))",
            # the spectral norm is the top eigenvalue of a symmetric positive definite matrix
            "def largest_stable_step(A):\n    return 2 / np.linalg.norm(A, 2)",
        ],
        "wrong": [
            "def largest_stable_step(A):\n    return 1.0 / np.linalg.eigvalsh(A)[-1]",
            "def largest_stable_step(A):\n    return 2.0 / np.linalg.eigvalsh(A)[0]",
        ],
    },
}
