"""Other solutions of the code exercise of book/practice/lr-finder.ipynb: correct ones the check must accept, and
plausible wrong ones it must reject."""

VARIANTS = {
    "stable_limit": {
        "correct": [
            # the spectral norm of X: lambda_max(X^T X / n) = sigma_max(X)^2 / n
            "def stable_limit(model, X):\n"
            "    return 2.0 * X.shape[0] / torch.linalg.matrix_norm(X, ord=2).item() ** 2",
            # power iteration on X^T X / n
            "def stable_limit(model, X):\n"
            "    A = (X.T @ X / X.shape[0]).numpy()\n"
            "    v = np.ones(A.shape[0])\n"
            "    for _ in range(2000):\n"
            "        v = A @ v\n"
            "        v /= np.linalg.norm(v)\n"
            "    return 2.0 / float(v @ A @ v)",
        ],
        "wrong": [
            # 1/L, the step of the descent lemma, not the stability limit
            "def stable_limit(model, X):\n"
            "    return 1.0 / torch.linalg.eigvalsh(X.T @ X / X.shape[0]).max().item()",
            # without the 1/n of the mean
            "def stable_limit(model, X):\n"
            "    return 2.0 / torch.linalg.eigvalsh(X.T @ X).max().item()",
            # gdlab's constant of the least-squares problem above, whatever X is
            "def stable_limit(model, X):\n"
            "    return 2.0 / ls.L",
        ],
    },
}
