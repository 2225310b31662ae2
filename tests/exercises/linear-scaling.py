"""Other solutions of the code exercises of labs/linear-scaling.ipynb: correct ones the checks must accept, and
plausible wrong ones they must reject."""

VARIANTS = {
    "linear_rule": {
        "correct": [
            # the rate as B / 640, the steps of an epoch counted with a range
            "def linear_rule(batch, n_train):\n"
            "    steps_per_epoch = len(range(0, n_train - batch + 1, batch))\n"
            "    return batch / 640, steps_per_epoch * 5",
            # k = B / B_0 first; floor of a true division
            "import math\n"
            "def linear_rule(batch, n_train):\n"
            "    k = batch / 64\n"
            "    return k * 0.1, int(5 * math.floor(n_train / batch))",
        ],
        "wrong": [
            # five epochs of base-batch steps
            "def linear_rule(batch, n_train):\n    return 0.1 * batch / 64, 5 * (n_train // 64)",
            # the precedence slip 5 * n // B: the incomplete batch of each epoch counted in
            "def linear_rule(batch, n_train):\n    return 0.1 * batch / 64, 5 * n_train // batch",
            # square-root scaling
            "def linear_rule(batch, n_train):\n    return 0.1 * (batch / 64) ** 0.5, 5 * (n_train // batch)",
            # the lab's training set size written in instead of n_train: right on the sweep, wrong elsewhere
            # (only the hidden tests catch it)
            "def linear_rule(batch, n_train):\n    return 0.1 * batch / 64, 5 * (32_000 // batch)",
        ],
    },
    "two_batch": {
        "correct": [
            # the trace first, then |G|^2 from the big batch
            "def two_batch(b_small, g2_small, b_big, g2_big):\n"
            "    trace = (g2_small - g2_big) * b_small * b_big / (b_big - b_small)\n"
            "    g2 = g2_big - trace / b_big\n"
            "    return g2, trace, trace / g2",
            # solved as a 2x2 linear system in (|G|^2, tr Sigma)
            "def two_batch(b_small, g2_small, b_big, g2_big):\n"
            "    a = np.array([[1.0, 1.0 / b_small], [1.0, 1.0 / b_big]])\n"
            "    g2, trace = np.linalg.solve(a, np.array([g2_small, g2_big]))\n"
            "    return [float(g2), float(trace), float(trace / g2)]",
        ],
        "wrong": [
            # 1/B_small + 1/B_big in the trace's denominator
            "def two_batch(b_small, g2_small, b_big, g2_big):\n"
            "    g2 = (b_big * g2_big - b_small * g2_small) / (b_big - b_small)\n"
            "    trace = (g2_small - g2_big) / (1 / b_small + 1 / b_big)\n"
            "    return g2, trace, trace / g2",
            # the two batches swapped in |G|^2
            "def two_batch(b_small, g2_small, b_big, g2_big):\n"
            "    g2 = (b_big * g2_small - b_small * g2_big) / (b_big - b_small)\n"
            "    trace = (g2_small - g2_big) / (1 / b_small - 1 / b_big)\n"
            "    return g2, trace, trace / g2",
            # the noise scale upside down
            "def two_batch(b_small, g2_small, b_big, g2_big):\n"
            "    g2 = (b_big * g2_big - b_small * g2_small) / (b_big - b_small)\n"
            "    trace = (g2_small - g2_big) / (1 / b_small - 1 / b_big)\n"
            "    return g2, trace, g2 / trace",
        ],
    },
}

# a solution that calls the lab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["linear_rule"]["wrong"].append(  # calls the lab
    "def linear_rule(batch, n_train):\n"
    "    from linear_scaling import peak_lr, warmup_steps\n"
    "    return peak_lr('linear+gradual', batch), warmup_steps(5, n_train, batch)"
)
