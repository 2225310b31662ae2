"""Other solutions of the code exercise of book/adaptive/adamw.ipynb: correct ones the check must accept, and
plausible wrong ones it must reject."""

VARIANTS = {
    "adamw_limit": {
        "correct": [
            # projected gradient descent on the box, run to convergence
            "def adamw_limit(problem, lam):\n"
            "    r, x = 1.0 / lam, np.zeros(problem.dim)\n"
            "    for _ in range(20000):\n"
            "        x = np.clip(x - problem.grad(x) / problem.L, -r, r)\n"
            "    return x",
            # bounded least squares: f = 1/2 |A^(1/2) (x - x*)|^2, solved exactly by BVLS
            "from scipy.optimize import lsq_linear\n"
            "def adamw_limit(problem, lam):\n"
            "    w, V = np.linalg.eigh(problem.A)\n"
            "    S = V @ np.diag(np.sqrt(w)) @ V.T\n"
            "    return lsq_linear(S, S @ problem.x_star, bounds=(-1 / lam, 1 / lam), method='bvls', tol=1e-14).x",
            # enumerate the active sets: each coordinate free, at -1/lam or at +1/lam; keep the best feasible point
            "import itertools\n"
            "def adamw_limit(problem, lam):\n"
            "    r, n, best = 1 / lam, problem.dim, None\n"
            "    for pattern in itertools.product((-1, 0, 1), repeat=n):\n"
            "        fixed = np.array(pattern) != 0\n"
            "        x = np.where(fixed, np.array(pattern) * r, 0.0)\n"
            "        free = ~fixed\n"
            "        if free.any():\n"
            "            A, b = problem.A, problem.A @ problem.x_star\n"
            "            x[free] = np.linalg.solve(A[np.ix_(free, free)], b[free] - A[np.ix_(free, fixed)] @ x[fixed])\n"
            "        if np.all(np.abs(x) <= r + 1e-12) and (best is None or problem.f(x) < problem.f(best)):\n"
            "            best = x\n"
            "    return best",
        ],
        "wrong": [
            # the ridge solution: what Adam + L2 converges to
            "def adamw_limit(problem, lam):\n"
            "    return np.linalg.solve(problem.A + lam * np.eye(problem.dim), problem.A @ problem.x_star)",
            # x* clipped to the box: right only when the Hessian is diagonal
            "def adamw_limit(problem, lam):\n"
            "    return np.clip(problem.x_star, -1 / lam, 1 / lam)",
            # the box of radius lam instead of 1/lam
            "def adamw_limit(problem, lam):\n"
            "    return minimize(problem.f, np.zeros(problem.dim), jac=problem.grad, method='L-BFGS-B',\n"
            "                    bounds=[(-lam, lam)] * problem.dim, options=dict(ftol=1e-15, gtol=1e-12)).x",
            # the end of a finite AdamW run: close to the limit, but not it
            "def adamw_limit(problem, lam):\n"
            "    return scheduled_run(problem, gnp.AdamW(lr=0.05, weight_decay=lam, betas=(0.9, 0.99)), K_box, lr_box).x",
        ],
    },
}
