"""Other solutions of the code exercise of book/adaptive/adam.ipynb: correct ones the check must accept, and
plausible wrong ones it must reject."""

VARIANTS = {
    "cycle_drift": {
        "correct": [
            # the periodic solution in closed form: v_a = (1 - b2)(C^2 + b2 + b2^2)/(1 - b2^3), then the recursion
            "def cycle_drift(C, amsgrad=False):\n"
            "    b2 = 1.0 / (1.0 + C * C)\n"
            "    va = (1 - b2) * (C * C + b2 + b2 * b2) / (1 - b2 ** 3)\n"
            "    vb = b2 * va + (1 - b2)\n"
            "    vc = b2 * vb + (1 - b2)\n"
            "    if amsgrad:\n"
            "        return (2.0 - C) / va ** 0.5\n"
            "    return -C / va ** 0.5 + 1 / vb ** 0.5 + 1 / vc ** 0.5",
            # iterate the recursion of v for many cycles until it has settled, then sum the three steps
            "def cycle_drift(C, amsgrad=False):\n"
            "    b2, v = 1 / (1 + C**2), 0.0\n"
            "    for _ in range(200):\n"
            "        va = v = b2 * v + (1 - b2) * C**2\n"
            "        vb = v = b2 * v + (1 - b2)\n"
            "        vc = v = b2 * v + (1 - b2)\n"
            "    if amsgrad:\n"
            "        return float(np.sum([-C, 1.0, 1.0]) / np.sqrt(max(va, vb, vc)))\n"
            "    return float(-C / np.sqrt(va) + 1 / np.sqrt(vb) + 1 / np.sqrt(vc))",
        ],
        "wrong": [
            # the stationary mean of g^2, (C^2 + 2)/3, for every round: ignores which round v has just seen
            "def cycle_drift(C, amsgrad=False):\n"
            "    v = (C**2 + 2) / 3\n"
            "    return float((2 - C) / np.sqrt(v))",
            # AMSGrad computed like Adam, without the maximum
            "def cycle_drift(C, amsgrad=False):\n"
            "    b2 = 1 / (1 + C**2)\n"
            "    M = np.array([[1.0, 0.0, -b2], [-b2, 1.0, 0.0], [0.0, -b2, 1.0]])\n"
            "    v = np.linalg.solve(M, (1 - b2) * np.array([C**2, 1.0, 1.0]))\n"
            "    return float(-np.sum(np.array([C, -1.0, -1.0]) / np.sqrt(v)))",
            # the step's sign: x moves along +g / sqrt(v)
            "def cycle_drift(C, amsgrad=False):\n"
            "    b2 = 1 / (1 + C**2)\n"
            "    M = np.array([[1.0, 0.0, -b2], [-b2, 1.0, 0.0], [0.0, -b2, 1.0]])\n"
            "    v = np.linalg.solve(M, (1 - b2) * np.array([C**2, 1.0, 1.0]))\n"
            "    g = np.array([C, -1.0, -1.0])\n"
            "    return float(np.sum(g) / np.sqrt(v.max())) if amsgrad else float(np.sum(g / np.sqrt(v)))",
        ],
    },
}
