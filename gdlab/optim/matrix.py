r"""Matrix functions used by the matrix-shaped update rules (Shampoo, SOAP, Muon).

Each function takes the backend's ``ops`` (:mod:`gdlab.optim.ops`) and one array, so the
same code serves NumPy arrays and torch tensors:

* :func:`inverse_root` -- :math:`A^{-1/p}` of a symmetric positive semi-definite matrix by
  eigendecomposition, :math:`A = Q\,\mathrm{diag}(\lambda)\,Q^\top \Rightarrow
  A^{-1/p} = Q\,\mathrm{diag}(\lambda^{-1/p})\,Q^\top`;
* :func:`newton_schulz` -- the quintic Newton–Schulz iteration of Muon (Jordan et al. 2024),
  which maps :math:`G = U\Sigma V^\top` to approximately :math:`U V^\top`, and
  :func:`newton_schulz_bf16`, the same iteration in bfloat16 as torch.optim.Muon runs it;
* :func:`unfold` / :func:`mode_product` -- the mode-:math:`i` matricisation of a tensor and the
  product of a tensor with a matrix along mode :math:`i` (Shampoo for order-:math:`k` tensors).
"""

from __future__ import annotations

#: Muon's Newton–Schulz coefficients (a, b, c) (Jordan et al. 2024)
MUON_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def _movedim(ops, x, src: int, dst: int):
    if ops.name == "torch":
        return x.movedim(src, dst)
    import numpy as np

    return np.moveaxis(x, src, dst)


def unfold(ops, x, mode: int):
    r"""Mode-``mode`` matricisation :math:`X_{(i)}`, of shape :math:`(d_i, \prod_{j\ne i} d_j)`."""
    y = _movedim(ops, x, mode, 0)
    return y.reshape(y.shape[0], -1)


def mode_product(ops, x, m, mode: int):
    r"""The tensor–matrix product :math:`X \times_i M`: :math:`M` acts on mode ``mode`` of ``x``.

    For a matrix :math:`X`, :math:`X\times_0 M = MX` and :math:`X\times_1 M = XM^\top`.
    """
    y = _movedim(ops, x, mode, 0)
    shape = y.shape
    z = ops.matmul(m, y.reshape(shape[0], -1)).reshape(shape)
    return _movedim(ops, z, 0, mode)


def inverse_root(ops, a, p: float, floor: float = 0.0):
    r"""Symmetric inverse :math:`p`-th root :math:`A^{-1/p}` by eigendecomposition.

    Eigenvalues are clamped below at ``floor`` (0 by default) before the power, so a
    matrix that is only positive semi-definite by rounding gives no NaN; an eigenvalue
    that is exactly zero then gives an infinite entry, which the callers avoid by starting
    their statistics at :math:`\epsilon I`.
    """
    if p <= 0:
        raise ValueError(f"Invalid root: p={p} (expected p > 0)")
    w, q = ops.eigh(a)
    if floor > 0.0:
        w = w.clip(floor) if ops.name == "numpy" else w.clamp_min(floor)
    return ops.matmul(q * (w ** (-1.0 / p)), ops.transpose(q))


def eigenbasis(ops, a):
    r"""Orthonormal eigenvectors :math:`Q` of the symmetric matrix :math:`A` (columns, ascending eigenvalues)."""
    return ops.eigh(a)[1]


def newton_schulz(ops, g, steps: int = 5, coefficients=MUON_COEFFICIENTS, eps: float = 1e-7):
    r"""Approximate orthogonalisation of a matrix by Muon's quintic Newton–Schulz iteration.

    .. math::
        X_0 = G/(\lVert G\rVert_F + \epsilon),\qquad
        A_j = X_j X_j^\top,\qquad
        X_{j+1} = aX_j + (bA_j + cA_j^2)X_j,

    with :math:`(a, b, c) = (3.4445, -4.7750, 2.0315)`, working on the wide orientation
    (a tall :math:`G` is transposed first and back at the end, so :math:`A_j` is the smaller Gram
    matrix). Each step applies the odd polynomial :math:`\sigma\mapsto a\sigma + b\sigma^3 + c\sigma^5` to every
    singular value and leaves the singular vectors alone. The coefficients are tuned for speed
    rather than for a fixed point at 1: after five steps every singular value between 1% and 100% of
    :math:`\lVert G\rVert_F` lies in [0.68, 1.14], near 1 but not at 1, which is all Muon needs. Jordan et al.
    run it in bfloat16; here it runs in the dtype of ``g``.
    """
    if getattr(g, "ndim", None) != 2:
        raise ValueError(f"newton_schulz expects a 2-D matrix, got shape {tuple(g.shape)}")
    a, b, c = coefficients
    tall = g.shape[0] > g.shape[1]
    x = ops.transpose(g) if tall else g
    x = x / (ops.norms([x])[0] + eps)
    for _ in range(steps):
        gram = ops.matmul(x, ops.transpose(x))
        poly = b * gram + c * ops.matmul(gram, gram)
        x = a * x + ops.matmul(poly, x)
    return ops.transpose(x) if tall else x


def round_bf16(x):
    """NumPy float32 values rounded to the nearest bfloat16 (ties to even), kept as float32.

    bfloat16 is float32 with the low 16 bits of the significand dropped (8 significant bits): adding
    ``0x7FFF`` plus the lowest kept bit, then clearing the low half, rounds to nearest with ties to even.
    Infinities stay; a NaN stays a NaN (its payload may change).
    """
    import numpy as np

    a = np.ascontiguousarray(x, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    out = u.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(a), a, out)


def newton_schulz_bf16(ops, g, steps: int = 5, coefficients=MUON_COEFFICIENTS, eps: float = 1e-7):
    r"""Muon's Newton–Schulz iteration as torch.optim.Muon (torch 2.13) computes it: in bfloat16.

    :math:`X_0 = G/\max(\lVert GVert_F, \epsilon)` (the norm clamped below at ε, where
    :func:`newton_schulz` adds ε), then ``steps`` times :math:`A = XX^	op`, :math:`B = bA + cA^2`,
    :math:`X \leftarrow aX + BX`, every result rounded to bfloat16 (8 significant bits), the matrix products
    accumulated in float32. The result is returned in ``g``'s dtype (bfloat16 converts to it exactly).

    On the torch face these are torch's own operations on a bfloat16 tensor, in torch's order (``addmm`` with
    ``beta`` and ``alpha``), so the result is torch's bit for bit. The NumPy face, which has no bfloat16,
    computes each operation in float32 and rounds its result with :func:`round_bf16`: the same numbers up to
    the order of float32 accumulation inside a product, which can move a result across a bfloat16 rounding
    boundary (one unit in the 8th bit) now and then.
    """
    if getattr(g, "ndim", None) != 2:
        raise ValueError(f"newton_schulz_bf16 expects a 2-D matrix, got shape {tuple(g.shape)}")
    a, b, c = coefficients
    tall = g.shape[0] > g.shape[1]
    if ops.name == "torch":
        import torch

        x = g.bfloat16()
        if tall:
            x = x.T
        x = x / x.norm().clamp(min=eps)
        for _ in range(steps):
            gram = x @ x.T
            poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)
            x = torch.addmm(x, poly, x, beta=a)
        return (x.T if tall else x).to(g.dtype)
    import numpy as np

    r = round_bf16
    x = r(np.asarray(g, dtype=np.float32))
    if tall:
        x = x.T
    norm = r(np.float32(np.sqrt(np.sum(x * x, dtype=np.float32))))
    x = r(x / np.maximum(norm, np.float32(eps)))
    for _ in range(steps):
        gram = r(x @ x.T)
        poly = r(np.float32(b) * gram + np.float32(c) * (gram @ gram))
        x = r(np.float32(a) * x + poly @ x)
    return (x.T if tall else x).astype(np.asarray(g).dtype)
