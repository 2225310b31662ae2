"""Other solutions of the code exercise of book/adaptive/beyond-adam.ipynb: correct ones the check must accept, and
plausible wrong ones it must reject."""

VARIANTS = {
    "lamb_step": {
        "correct": [
            # squared norms, and the zero case handled first
            "def lamb_step(theta, u, lr):\n"
            "    w2, n2 = np.sum(theta * theta), np.sum(u * u)\n"
            "    if w2 == 0 or n2 == 0:\n"
            "        return theta - lr * u\n"
            "    return theta - lr * np.sqrt(w2 / n2) * u",
            # norms of the flattened tensors, the product taken in another order
            "def lamb_step(theta, u, lr):\n"
            "    w, n = np.linalg.norm(theta.ravel()), np.linalg.norm(u.ravel())\n"
            "    ratio = w / n if min(w, n) > 0 else 1.0\n"
            "    return theta - u * (ratio * lr)",
        ],
        "wrong": [
            # no trust ratio: plain SGD along u
            "def lamb_step(theta, u, lr):\n    return theta - lr * u",
            # the ratio upside down
            "def lamb_step(theta, u, lr):\n"
            "    w, n = np.linalg.norm(theta), np.linalg.norm(u)\n"
            "    return theta - lr * (n / w if w > 0 and n > 0 else 1.0) * u",
            # the spectral norm of the matrix instead of the Frobenius norm of the tensor
            "def lamb_step(theta, u, lr):\n"
            "    w, n = np.linalg.norm(theta, 2), np.linalg.norm(u, 2)\n"
            "    return theta - lr * (w / n if w > 0 and n > 0 else 1.0) * u",
            # no convention for zero norms
            "def lamb_step(theta, u, lr):\n"
            "    return theta - lr * np.linalg.norm(theta) / np.linalg.norm(u) * u",
        ],
    },
}
