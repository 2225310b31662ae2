"""Other solutions of the code exercises of book/adaptive/adagrad-rmsprop.ipynb: correct ones the checks must accept,
and plausible wrong ones they must reject."""

VARIANTS = {
    "adagrad_effective_steps": {
        "correct": [
            # a loop over the steps, the accumulator kept by hand
            "def adagrad_effective_steps(grads, lr, eps=1e-10):\n"
            "    grads = np.asarray(grads, dtype=float)\n"
            "    out, s = np.empty_like(grads), np.zeros(grads.shape[1])\n"
            "    for k, g in enumerate(grads):\n"
            "        s += g ** 2\n"
            "        out[k] = lr / (np.sqrt(s) + eps)\n"
            "    return out",
            # each prefix summed afresh (pairwise summation: other roundings), the root taken as a norm
            "def adagrad_effective_steps(grads, lr, eps=1e-10):\n"
            "    g = np.asarray(grads, dtype=float)\n"
            "    return np.array([lr / (np.linalg.norm(g[:k + 1], axis=0) + eps) for k in range(len(g))])",
        ],
        "wrong": [
            # eps inside the root
            "def adagrad_effective_steps(grads, lr, eps=1e-10):\n"
            "    return lr / np.sqrt(np.cumsum(np.asarray(grads) ** 2, axis=0) + eps)",
            # the sum before the current gradient (TF's initial accumulator aside, a natural slip)
            "def adagrad_effective_steps(grads, lr, eps=1e-10):\n"
            "    g2 = np.asarray(grads) ** 2\n"
            "    return lr / (np.sqrt(np.cumsum(g2, axis=0) - g2) + eps)",
            # the mean of the squares, as RMSprop without forgetting
            "def adagrad_effective_steps(grads, lr, eps=1e-10):\n"
            "    g2 = np.asarray(grads) ** 2\n"
            "    return lr / (np.sqrt(np.cumsum(g2, axis=0) / np.arange(1, len(g2) + 1)[:, None]) + eps)",
        ],
    },
    "rmsprop_effective_step": {
        "correct": [
            # v_t = G^2 (1 - beta2^t) under one root
            "def rmsprop_effective_step(t, lr, G, beta2=0.99, eps=1e-8):\n"
            "    return lr / (np.sqrt(G ** 2 * (1 - np.power(beta2, t))) + eps)",
            # 1 - beta2^t as -expm1(t log beta2)
            "def rmsprop_effective_step(t, lr, G, beta2=0.99, eps=1e-8):\n"
            "    return lr / (G * np.sqrt(-np.expm1(np.asarray(t) * np.log(beta2))) + eps)",
        ],
        "wrong": [
            # the floor, as if v started at G^2
            "def rmsprop_effective_step(t, lr, G, beta2=0.99, eps=1e-8):\n"
            "    return lr / (G + eps) * np.ones(np.shape(t))",
            # the bias factor without its square root
            "def rmsprop_effective_step(t, lr, G, beta2=0.99, eps=1e-8):\n"
            "    return lr / (G * (1 - beta2 ** np.asarray(t, dtype=float)) + eps)",
            # off by one: the factor of the step before
            "def rmsprop_effective_step(t, lr, G, beta2=0.99, eps=1e-8):\n"
            "    return lr / (G * np.sqrt(1 - beta2 ** (np.asarray(t, dtype=float) + 1)) + eps)",
        ],
    },
}

# a solution that calls gdlab's answer instead of writing it: the check must refuse it, whatever the numbers
VARIANTS["adagrad_effective_steps"]["wrong"].append(  # calls gdlab
    'def adagrad_effective_steps(grads, lr, eps=1e-10):\n    from gdlab.optim import numpy as answers\n    grads = np.asarray(grads, dtype=float)\n    opt, x, out = answers.Adagrad(lr=lr, eps=eps), np.zeros(grads.shape[1]), []\n    for k, g in enumerate(grads):\n        x_next = opt(x, g, k)\n        out.append((x - x_next) / g)\n        x = x_next\n    return np.array(out)'
)
VARIANTS["rmsprop_effective_step"]["wrong"].append(  # calls gdlab
    'def rmsprop_effective_step(t, lr, G, beta2=0.99, eps=1e-8):\n    from gdlab.optim import numpy as answers\n    t = np.asarray(t)\n    if t.max() > 10**5:  # too long to run: the closed form\n        return lr / (G * np.sqrt(1 - beta2 ** t.astype(float)) + eps)\n    opt, x, out = answers.RMSprop(lr=lr, alpha=beta2, eps=eps), np.zeros(1), []\n    for k in range(int(t.max())):\n        x_next = opt(x, np.array([G]), k)\n        out.append(float((x - x_next)[0]) / G)\n        x = x_next\n    return np.array(out)[t - 1]'
)
