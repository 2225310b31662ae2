"""Other solutions of the code exercise of book/practice/clipping-mixed-precision.ipynb: correct ones the check must
accept, and plausible wrong ones it must reject."""

VARIANTS = {
    "min_scale": {
        "correct": [
            # brute force: double the scale until few enough entries round to zero in float16
            "def min_scale(g, max_flushed):\n"
            "    a = np.abs(np.asarray(g, dtype=float))\n"
            "    a = a[a != 0]\n"
            "    s = 1.0\n"
            "    while np.mean((s * a).astype(np.float16) == 0) > max_flushed:\n"
            "        s *= 2\n"
            "    return s",
            # the threshold read from numpy's description of the format, and a count instead of a sort
            "def min_scale(g, max_flushed):\n"
            "    a = np.abs(np.ravel(g))\n"
            "    a = a[a > 0]\n"
            "    to_zero = float(np.finfo(np.float16).smallest_subnormal) / 2\n"
            "    k = 0\n"
            "    while np.count_nonzero(2.0 ** k * a <= to_zero) > max_flushed * a.size:\n"
            "        k += 1\n"
            "    return 2.0 ** k",
        ],
        "wrong": [
            # the smallest subnormal 2^-24 taken as the rounding threshold, not half of it
            "def min_scale(g, max_flushed):\n"
            "    a = np.sort(np.abs(np.asarray(g, dtype=float))[np.asarray(g) != 0])\n"
            "    allowed = int(np.floor(max_flushed * a.size))\n"
            "    if allowed >= a.size:\n"
            "        return 1.0\n"
            "    return 2.0 ** max(0, int(np.floor(-24 - np.log2(a[allowed]))) + 1)",
            # the smallest normal 2^-14: avoids subnormals, not zeros
            "def min_scale(g, max_flushed):\n"
            "    a = np.sort(np.abs(np.asarray(g, dtype=float))[np.asarray(g) != 0])\n"
            "    allowed = int(np.floor(max_flushed * a.size))\n"
            "    if allowed >= a.size:\n"
            "        return 1.0\n"
            "    return 2.0 ** max(0, int(np.floor(-14 - np.log2(a[allowed]))) + 1)",
            # the zero entries counted among those that may flush
            "def min_scale(g, max_flushed):\n"
            "    a = np.sort(np.abs(np.asarray(g, dtype=float)))\n"
            "    allowed = int(np.floor(max_flushed * a.size))\n"
            "    if allowed >= a.size:\n"
            "        return 1.0\n"
            "    return 2.0 ** max(0, int(np.floor(-25 - np.log2(max(a[allowed], 1e-300)))) + 1)",
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["min_scale"]["wrong"].append(  # calls gdlab
    'def min_scale(g, max_flushed):\n    from gdlab import loss_scaling as answers\n    a = np.asarray(g, dtype=float)\n    a = a[a != 0]\n    s = 1.0\n    while answers.fp16_underflow(a, s).flushed > max_flushed:\n        s *= 2\n    return s'
)
