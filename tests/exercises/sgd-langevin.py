"""Other solutions of the code exercise of book/stochastic/sgd-langevin.ipynb: correct ones the check must accept,
and plausible wrong ones it must reject."""

VARIANTS = {
    "effective_temperature": {
        "correct": [
            # the stationary covariance of (x_t, x_{t-1}) by vectorising the Lyapunov equation
            "def effective_temperature(a, c, eta, B, beta=0.0):\n"
            "    J = np.array([[1 + beta - eta * a, -beta], [1.0, 0.0]])\n"
            "    N = np.zeros((2, 2))\n"
            "    N[0, 0] = eta**2 * c / B\n"
            "    P = np.linalg.solve(np.eye(4) - np.kron(J, J), N.ravel()).reshape(2, 2)\n"
            "    return a * P[0, 0]",
            # the variance of an AR(2) process x_{t+1} = phi1 x_t + phi2 x_{t-1} + e_t
            "def effective_temperature(a, c, eta, B, beta=0.0):\n"
            "    phi1, phi2, s2 = 1 + beta - eta * a, -beta, eta**2 * c / B\n"
            "    return a * s2 * (1 - phi2) / ((1 + phi2) * ((1 - phi2) ** 2 - phi1**2))",
        ],
        "wrong": [
            # plain SGD: the momentum ignored
            "def effective_temperature(a, c, eta, B, beta=0.0):\n    return eta * c / (B * (2 - eta * a))",
            # the small-step limit, not the exact stationary law
            "def effective_temperature(a, c, eta, B, beta=0.0):\n    return eta * c / (2 * B * (1 - beta))",
            # Smith et al.'s 1/(1 - beta) pasted onto the exact law of plain SGD
            "def effective_temperature(a, c, eta, B, beta=0.0):\n"
            "    return eta * c / (B * (1 - beta) * (2 - eta * a))",
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["effective_temperature"]["wrong"].append(  # calls gdlab
    'def effective_temperature(a, c, eta, B, beta=0.0):\n    from gdlab import noise as answers\n    if beta == 0:\n        return a * float(answers.sgd_stationary_covariance(np.array([[a]]), np.array([[c]]), eta, B)[0, 0])\n    return (1 + beta) * eta * c / (B * (1 - beta) * (2 * (1 + beta) - eta * a))'
)
