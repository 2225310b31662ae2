"""Other solutions of the code exercises of book/deterministic/step-size.ipynb: correct ones the checks must accept,
and plausible wrong ones they must reject."""

_BB2 = '''
def bb2_gd(grad, x0, alpha0, steps):
    xs, g_prev, alpha = [np.array(x0, dtype=float)], None, alpha0
    for _ in range(steps):
        x, g = xs[-1], grad(xs[-1])
        if g_prev is not None:
            s, y = x - xs[-2], g - g_prev
            alpha = {step}
        xs.append(x - alpha * g)
        g_prev = g
    return np.array(xs)
'''

VARIANTS = {
    "largest_armijo_step": {
        "correct": [
            # the same closed form with explicit dot products
            "def largest_armijo_step(A, g, c):\n    return 2 * (1 - c) * np.dot(g, g) / np.dot(g, A.dot(g))",
            # 2(1 - c) times the exact step g'g / g'Ag, written as a quotient of Rayleigh quotients
            "def largest_armijo_step(A, g, c):\n"
            "    rayleigh = (g @ A @ g) / (g @ g)\n"
            "    return 2 * (1 - c) / rayleigh",
        ],
        "wrong": [
            # the guaranteed floor 2(1 - c)/L of part 1, not the largest step along this g
            "def largest_armijo_step(A, g, c):\n    return 2 * (1 - c) / np.linalg.eigvalsh(A)[-1]",
            # the factor 2 of the quadratic term forgotten
            "def largest_armijo_step(A, g, c):\n    return (1 - c) * (g @ g) / (g @ A @ g)",
            # the exact step, which passes only for c <= 1/2 and is not the largest one
            "def largest_armijo_step(A, g, c):\n    return (g @ g) / (g @ A @ g)",
        ],
    },
    "bb2_gd": {
        "correct": [
            # the sums written out instead of dot products
            _BB2.format(step="np.sum(s * y) / np.sum(y * y)"),
            # y'y as a squared norm
            _BB2.format(step="(s @ y) / np.linalg.norm(y) ** 2"),
            # the iterates preallocated, the differences kept from the previous step
            '''
def bb2_gd(grad, x0, alpha0, steps):
    x0 = np.asarray(x0, dtype=float)
    xs = np.empty((steps + 1, x0.size))
    xs[0] = x0
    g_old = grad(x0)
    xs[1] = x0 - alpha0 * g_old
    for k in range(1, steps):
        g = grad(xs[k])
        s, y = xs[k] - xs[k - 1], g - g_old
        xs[k + 1] = xs[k] - (y @ s) / (y @ y) * g
        g_old = g
    return xs
''',
        ],
        "wrong": [
            # BB1 instead of BB2
            _BB2.format(step="(s @ s) / (s @ y)"),
            # the reciprocal: a curvature, not a step
            _BB2.format(step="(y @ y) / (s @ y)"),
            # s'y / s's, the inverse of BB1: a curvature estimate taken for a step
            _BB2.format(step="(s @ y) / (s @ s)"),
            # the first step kept for ever: gradient descent at alpha0
            _BB2.format(step="alpha0"),
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["bb2_gd"]["wrong"].append(  # calls gdlab
    'def bb2_gd(grad, x0, alpha0, steps):\n    from gdlab import linesearch as answers\n    rule = answers.BarzilaiBorwein("BB2", alpha0=alpha0)\n    xs = [np.array(x0, dtype=float)]\n    for _ in range(steps):\n        g = grad(xs[-1])\n        xs.append(xs[-1] - rule(xs[-1], g).alpha * g)\n    return np.array(xs)'
)
