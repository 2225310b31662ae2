"""Other solutions of the code exercises of book/stochastic/minibatch-noise-scale.ipynb: correct ones the checks must
accept, and plausible wrong ones they must reject."""

VARIANTS = {
    "B_double,E_min": {
        "correct": [
            # logs, and a root of S(B) = 2 S_min found numerically
            "from scipy.optimize import brentq\n"
            "E_min = float(np.exp(np.log(S_min) + np.log(B_crit)))\n"
            "B_double = brentq(lambda B: S_min * (1 + B_crit / B) - 2 * S_min, 1e-6, 1e9, xtol=1e-14)",
            # E_min / S_min is B_crit (McCandlish's definition), and S = 2 S_min where B_crit / B = 1
            "E_min = B_crit * S_min\nB_double = E_min / S_min",
        ],
        "wrong": [
            # the examples measured at the smallest batch, not the limit E_min = S_min B_crit
            "E_min = S[0] * Bs[0]\nB_double = B_crit",
            # twice the critical batch: S(2 B_crit) = 1.5 S_min
            "E_min = S_min * B_crit\nB_double = 2 * B_crit",
        ],
    },
    "fpc_covariance": {
        "correct": [
            # np.cov divides by n - 1: (Sigma n/(n-1)) (1/B - 1/n) = (Sigma / B)(n - B)/(n - 1)
            "def fpc_covariance(g_rows, B):\n    return np.cov(g_rows, rowvar=False) * (1 / B - 1 / len(g_rows))",
            # one fraction, centred rows by einsum
            "def fpc_covariance(g_rows, B):\n"
            "    n_rows = g_rows.shape[0]\n"
            "    D = g_rows - np.mean(g_rows, axis=0, keepdims=True)\n"
            "    return np.einsum('ij,ik->jk', D, D) * (n_rows - B) / (B * n_rows * (n_rows - 1))",
        ],
        "wrong": [
            # with replacement: the correction forgotten
            "def fpc_covariance(g_rows, B):\n"
            "    D = g_rows - g_rows.mean(axis=0)\n"
            "    return D.T @ D / len(g_rows) / B",
            # np.cov's n - 1 and the correction's n - 1 both: too large by n/(n-1)
            "def fpc_covariance(g_rows, B):\n"
            "    n_rows = len(g_rows)\n"
            "    return np.cov(g_rows, rowvar=False) / B * (n_rows - B) / (n_rows - 1)",
            # the correction 1 - B/n instead of (n - B)/(n - 1)
            "def fpc_covariance(g_rows, B):\n"
            "    D = g_rows - g_rows.mean(axis=0)\n"
            "    return D.T @ D / len(g_rows) / B * (1 - B / len(g_rows))",
        ],
    },
}
