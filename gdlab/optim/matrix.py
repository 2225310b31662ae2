r"""Matrix functions used by the matrix-shaped update rules (Shampoo, SOAP, Muon).

Each function takes the backend's ``ops`` (:mod:`gdlab.optim.ops`) and one array, so the
same code serves NumPy arrays and torch tensors:

* :func:`inverse_root` -- :math:`A^{-1/p}` of a symmetric positive semi-definite matrix by
  eigendecomposition, :math:`A = Q\,\mathrm{diag}(\lambda)\,Q^\top \Rightarrow
  A^{-1/p} = Q\,\mathrm{diag}(\lambda^{-1/p})\,Q^\top`;
* :func:`newton_schulz` -- the quintic Newton–Schulz iteration of Muon (Jordan et al. 2024),
  which maps :math:`G = U\Sigma V^\top` to approximately :math:`U V^\top`;
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
