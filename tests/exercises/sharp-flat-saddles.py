"""Other solutions of the code exercises of book/stochastic/sharp-flat-saddles.ipynb: correct ones the checks must
accept, and plausible wrong ones they must reject."""

VARIANTS = {
    "occupancy_ratio": {
        "correct": [
            # adaptive quadrature instead of a grid
            "from scipy import integrate\n"
            "def occupancy_ratio(U, T, b, lo, hi, n=200_001):\n"
            "    m = U(np.linspace(lo, hi, 20001)).min()\n"
            "    w = lambda x: np.exp(-(U(x) - m) / T)\n"
            "    left = integrate.quad(w, lo, b, limit=400, epsabs=0, epsrel=1e-11)[0]\n"
            "    right = integrate.quad(w, b, hi, limit=400, epsabs=0, epsrel=1e-11)[0]\n"
            "    return left / right",
            # Simpson's rule on two grids that meet at b
            "from scipy import integrate\n"
            "def occupancy_ratio(U, T, b, lo, hi, n=200_001):\n"
            "    xl, xr = np.linspace(lo, b, n // 2), np.linspace(b, hi, n // 2)\n"
            "    m = min(U(xl).min(), U(xr).min())\n"
            "    return (integrate.simpson(np.exp(-(U(xl) - m) / T), x=xl)\n"
            "            / integrate.simpson(np.exp(-(U(xr) - m) / T), x=xr))",
        ],
        "wrong": [
            # the sharp well over the flat one
            "def occupancy_ratio(U, T, b, lo, hi, n=200_001):\n"
            "    x = np.linspace(lo, hi, n)\n"
            "    w = np.exp(-(U(x) - U(x).min()) / T)\n"
            "    return np.trapezoid(w[x >= b], x[x >= b]) / np.trapezoid(w[x < b], x[x < b])",
            # Laplace's limit, whatever the temperature
            "def occupancy_ratio(U, T, b, lo, hi, n=200_001):\n"
            "    k = lambda x, h=1e-4: (U(x + h) - 2 * U(x) + U(x - h)) / h ** 2\n"
            "    return np.sqrt(k(1.0) / k(-1.0))",
            # the ratio of the densities at the two minima (equal depths: 1)
            "def occupancy_ratio(U, T, b, lo, hi, n=200_001):\n"
            "    return float(np.exp(-(U(-1.0) - U(1.0)) / T))",
        ],
    },
    "escape_steps": {
        "correct": [
            # the same map written as y + alpha (y - y^3), counted with a for loop
            "def escape_steps(y0, alpha):\n"
            "    y = float(y0)\n"
            "    for k in range(1, 100_000):\n"
            "        y = y + alpha * (y - y ** 3)\n"
            "        if abs(y) >= 0.5:\n"
            "            return k\n",
            # gradient descent on the function itself, both coordinates, through gdlab's runner
            "def escape_steps(y0, alpha):\n"
            "    tr = runner.run(saddle, gnp.SGD(lr=alpha), x0=[0.0, y0], steps=2000)\n"
            "    return int(np.argmax(np.abs(tr.xs[:, 1]) >= 0.5))",
        ],
        "wrong": [
            # the lower bound of part 3, as if |y| grew by exactly 1 + alpha per step
            "import math\n"
            "def escape_steps(y0, alpha):\n"
            "    return math.ceil(math.log(1 / (2 * abs(y0))) / math.log(1 + alpha))",
            # one step too many: counting the start as a step
            "def escape_steps(y0, alpha):\n"
            "    y, k = float(y0), 1\n"
            "    while abs(y) < 0.5:\n"
            "        y, k = y * (1 + alpha - alpha * y * y), k + 1\n"
            "    return k",
        ],
    },
}
