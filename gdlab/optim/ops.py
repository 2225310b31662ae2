"""List-of-tensors arithmetic shared by every update rule.

An update rule in :mod:`gdlab.optim.rules` is written once against the small vocabulary
below and runs on either backend:

* :class:`NumpyOps` -- plain NumPy arrays, one array at a time (the chapters' face);
* :class:`TorchOps` -- torch tensors, through ``torch._foreach_*`` kernels when
  ``foreach=True`` (the labs' face, as fast as torch.optim's own foreach path) or a
  per-tensor loop when ``foreach=False``.

Every method takes *lists* of arrays. Methods ending in ``_`` work in place on their
first argument and return it; the others return new lists. Wherever a scalar is
accepted, a list with one scalar per array is accepted too, so that per-parameter
quantities (bias corrections of parameters that have taken different numbers of
steps, per-tensor trust ratios) need no special casing.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

Scalars = float | Sequence[float]


def _per(s: Scalars, n: int) -> list[float]:
    """Broadcast a scalar or a list of scalars to ``n`` entries."""
    if isinstance(s, (list, tuple)):
        if len(s) != n:
            raise ValueError(f"expected {n} scalars, got {len(s)}")
        return list(s)
    return [s] * n


class NumpyOps:
    """The NumPy backend: a readable loop over arrays, in place where the name says so."""

    name = "numpy"

    # --- creation -------------------------------------------------------------------
    def zeros_like(self, x):
        return np.zeros_like(x)

    def full_like(self, x, value):
        return np.full_like(x, value)

    def zeros(self, shape, like):
        """Zeros of ``shape`` with ``like``'s dtype (and device)."""
        return np.zeros(tuple(shape), dtype=np.asarray(like).dtype)

    def clone(self, xs):
        return [np.array(x, copy=True) for x in xs]

    def scalar(self, value: float, like=None) -> float:
        """A scalar buffer (NAdam's running product): a Python float on this face."""
        return float(value)

    # --- in place ---------------------------------------------------------------------
    def copy_(self, xs, ys):
        for x, y in zip(xs, ys):
            x[...] = y
        return xs

    def mul_(self, xs, s):
        if _is_list_of_arrays(s):
            for x, y in zip(xs, s):
                np.multiply(x, y, out=x)
        else:
            for x, c in zip(xs, _per(s, len(xs))):
                np.multiply(x, c, out=x)
        return xs

    def div_(self, xs, s):
        if _is_list_of_arrays(s):
            for x, y in zip(xs, s):
                np.divide(x, y, out=x)
        else:
            for x, c in zip(xs, _per(s, len(xs))):
                np.divide(x, c, out=x)
        return xs

    def add_(self, xs, ys, alpha: Scalars = 1.0):
        """x += alpha * y, where y is a list of arrays or a (list of) scalar(s)."""
        if _is_list_of_arrays(ys):
            for x, y, a in zip(xs, ys, _per(alpha, len(xs))):
                if a == 1.0:
                    np.add(x, y, out=x)
                else:
                    np.add(x, a * y, out=x)
        else:
            for x, c in zip(xs, _per(ys, len(xs))):
                np.add(x, c, out=x)
        return xs

    def lerp_(self, xs, ys, w: Scalars):
        """x += w * (y - x): the exponential moving average m <- (1-w) m + w y."""
        for x, y, c in zip(xs, ys, _per(w, len(xs))):
            x += c * (y - x)
        return xs

    def lerp(self, xs, ys, w: Scalars):
        """A new list x + w * (y - x), e.g. Lion's interpolation c = β₁m + (1−β₁)g."""
        return [x + c * (y - x) for x, y, c in zip(xs, ys, _per(w, len(xs)))]

    def addcmul_(self, xs, ys, zs, value: Scalars = 1.0):
        """x += value * y * z."""
        for x, y, z, c in zip(xs, ys, zs, _per(value, len(xs))):
            x += c * (y * z)
        return xs

    def addcdiv_(self, xs, ys, zs, value: Scalars = 1.0):
        """x += value * y / z."""
        for x, y, z, c in zip(xs, ys, zs, _per(value, len(xs))):
            x += c * (y / z)
        return xs

    def maximum_(self, xs, ys):
        for x, y in zip(xs, ys):
            np.maximum(x, y, out=x)
        return xs

    def sqrt_(self, xs):
        for x in xs:
            np.sqrt(x, out=x)
        return xs

    def clamp_min_(self, xs, lo: Scalars):
        for x, c in zip(xs, _per(lo, len(xs))):
            np.maximum(x, c, out=x)
        return xs

    def sign_(self, xs):
        for x in xs:
            np.sign(x, out=x)
        return xs

    # --- new lists --------------------------------------------------------------------
    def sqrt(self, xs):
        return [np.sqrt(x) for x in xs]

    def abs(self, xs):
        return [np.abs(x) for x in xs]

    def sign(self, xs):
        return [np.sign(x) for x in xs]

    def mul(self, xs, ys):
        if _is_list_of_arrays(ys):
            return [x * y for x, y in zip(xs, ys)]
        return [x * c for x, c in zip(xs, _per(ys, len(xs)))]

    def div(self, xs, ys):
        if _is_list_of_arrays(ys):
            return [x / y for x, y in zip(xs, ys)]
        return [x / c for x, c in zip(xs, _per(ys, len(xs)))]

    def add(self, xs, ys, alpha: Scalars = 1.0):
        return self.add_(self.clone(xs), ys, alpha)

    # --- reductions (one Python float per array) --------------------------------------
    def norms(self, xs) -> list[float]:
        return [float(np.sqrt(np.sum(np.square(x)))) for x in xs]

    def dots(self, xs, ys) -> list[float]:
        return [float(np.sum(x * y)) for x, y in zip(xs, ys)]

    def nonfinite_counts(self, xs) -> list[int]:
        return [int(np.size(x) - np.count_nonzero(np.isfinite(x))) for x in xs]

    # --- per-array helpers (factored rules: Adafactor) ----------------------------------
    def mean_sq(self, x, dim: int):
        """Mean of x² along ``dim``, keeping the dimension (a row or column second moment)."""
        return np.mean(np.square(x), axis=dim, keepdims=True)

    def mean(self, x, dim: int):
        """Mean along ``dim``, keeping the dimension."""
        return np.mean(x, axis=dim, keepdims=True)

    def rms(self, xs) -> list[float]:
        """Root mean square of each array, ‖x‖/√numel (0 for an empty array)."""
        return [float(np.sqrt(np.mean(np.square(x)))) if np.size(x) else 0.0 for x in xs]

    def ndim(self, x) -> int:
        return int(np.ndim(x))

    def finfo_eps(self, x) -> float:
        """Machine epsilon of x's floating dtype."""
        return float(np.finfo(np.asarray(x).dtype).eps)

    # --- per-array linear algebra (matrix rules: Shampoo, SOAP, Muon) -----------------
    def matmul(self, a, b):
        return a @ b

    def transpose(self, a):
        return a.T

    def eigh(self, a):
        return np.linalg.eigh(a)

    def eye_like(self, n: int, like):
        return np.eye(n, dtype=like.dtype)

    def to_float(self, x) -> float:
        return float(x)


def _is_list_of_arrays(v: Any) -> bool:
    if not isinstance(v, (list, tuple)) or len(v) == 0:
        return False
    first = v[0]
    return hasattr(first, "shape") and getattr(first, "ndim", 0) >= 0 and not isinstance(first, (float, int))


class TorchOps:
    """The torch backend. ``foreach=True`` uses torch's multi-tensor kernels.

    Where a scalar is expected, a 0-dim tensor (a tensor learning rate, or a coefficient a rule computed from
    one) is accepted and enters the kernel by its value, as torch.optim's for-loop step passes it (a 1-element
    tensor converts to a Number exactly): the arithmetic that made the coefficient ran in the tensor's dtype,
    as in torch, and the update itself in the parameters' dtype.
    """

    name = "torch"

    def __init__(self, foreach: bool = True):
        import torch

        self.torch = torch
        self.foreach = foreach

    def zeros_like(self, x):
        return self.torch.zeros_like(x, memory_format=self.torch.preserve_format)

    def full_like(self, x, value):
        return self.torch.full_like(x, value, memory_format=self.torch.preserve_format)

    def zeros(self, shape, like):
        return self.torch.zeros(tuple(shape), dtype=like.dtype, device=like.device)

    def clone(self, xs):
        return [x.clone() for x in xs]

    def scalar(self, value: float, like=None):
        """A scalar buffer (NAdam's running product): a 0-dim tensor of torch's scalar dtype (float32 unless the
        default dtype is float64), on the CPU, as torch.optim keeps it."""
        from torch.optim.optimizer import _get_scalar_dtype

        return self.torch.tensor(float(value), dtype=_get_scalar_dtype())

    def _num(self, s):
        """A scalar argument, or a list of them, with 0-dim tensors replaced by their values."""
        T = self.torch.Tensor
        if isinstance(s, T):
            return s.item() if s.dim() == 0 or s.numel() == 1 else s
        if isinstance(s, (list, tuple)) and any(isinstance(c, T) for c in s):
            return [c.item() if isinstance(c, T) else c for c in s]
        return list(s) if isinstance(s, tuple) else s

    def copy_(self, xs, ys):
        if self.foreach and xs:
            self.torch._foreach_copy_(xs, ys)
        else:
            for x, y in zip(xs, ys):
                x.copy_(y)
        return xs

    def mul_(self, xs, s):
        if not xs:
            return xs
        if not _is_tensor_list(s):
            s = self._num(s)
        if self.foreach:
            self.torch._foreach_mul_(xs, s if not isinstance(s, tuple) else list(s))
        elif _is_tensor_list(s):
            for x, y in zip(xs, s):
                x.mul_(y)
        else:
            for x, c in zip(xs, _per(s, len(xs))):
                x.mul_(c)
        return xs

    def div_(self, xs, s):
        if not xs:
            return xs
        if not _is_tensor_list(s):
            s = self._num(s)
        if self.foreach:
            self.torch._foreach_div_(xs, s if not isinstance(s, tuple) else list(s))
        elif _is_tensor_list(s):
            for x, y in zip(xs, s):
                x.div_(y)
        else:
            for x, c in zip(xs, _per(s, len(xs))):
                x.div_(c)
        return xs

    def add_(self, xs, ys, alpha: Scalars = 1.0):
        if not xs:
            return xs
        alpha = self._num(alpha)
        if not _is_tensor_list(ys):
            ys = self._num(ys)
        if _is_tensor_list(ys):
            if isinstance(alpha, (list, tuple)):
                if self.foreach:
                    self.torch._foreach_add_(xs, self.torch._foreach_mul(ys, list(alpha)))
                else:
                    for x, y, a in zip(xs, ys, alpha):
                        x.add_(y, alpha=a)
            elif self.foreach:
                self.torch._foreach_add_(xs, ys, alpha=alpha)
            else:
                for x, y in zip(xs, ys):
                    x.add_(y, alpha=alpha)
        else:
            if self.foreach:
                self.torch._foreach_add_(xs, list(ys) if isinstance(ys, tuple) else ys)
            else:
                for x, c in zip(xs, _per(ys, len(xs))):
                    x.add_(c)
        return xs

    def lerp_(self, xs, ys, w: Scalars):
        if not xs:
            return xs
        w = self._num(w)
        if self.foreach and not isinstance(w, (list, tuple)):
            self.torch._foreach_lerp_(xs, ys, w)
        else:
            for x, y, c in zip(xs, ys, _per(w, len(xs))):
                x.lerp_(y, c)
        return xs

    def lerp(self, xs, ys, w: Scalars):
        if not xs:
            return []
        w = self._num(w)
        if self.foreach and not isinstance(w, (list, tuple)):
            return list(self.torch._foreach_lerp(xs, ys, w))
        return [self.torch.lerp(x, y, c) for x, y, c in zip(xs, ys, _per(w, len(xs)))]

    def addcmul_(self, xs, ys, zs, value: Scalars = 1.0):
        if not xs:
            return xs
        value = self._num(value)
        if self.foreach:
            self.torch._foreach_addcmul_(xs, ys, zs, list(value) if isinstance(value, tuple) else value)
        else:
            for x, y, z, c in zip(xs, ys, zs, _per(value, len(xs))):
                x.addcmul_(y, z, value=c)
        return xs

    def addcdiv_(self, xs, ys, zs, value: Scalars = 1.0):
        if not xs:
            return xs
        value = self._num(value)
        if self.foreach:
            self.torch._foreach_addcdiv_(xs, ys, zs, list(value) if isinstance(value, tuple) else value)
        else:
            for x, y, z, c in zip(xs, ys, zs, _per(value, len(xs))):
                x.addcdiv_(y, z, value=c)
        return xs

    def maximum_(self, xs, ys):
        if not xs:
            return xs
        if self.foreach:
            self.torch._foreach_maximum_(xs, ys)
        else:
            for x, y in zip(xs, ys):
                self.torch.maximum(x, y, out=x)
        return xs

    def sqrt_(self, xs):
        if self.foreach and xs:
            self.torch._foreach_sqrt_(xs)
        else:
            for x in xs:
                x.sqrt_()
        return xs

    def clamp_min_(self, xs, lo: Scalars):
        lo = self._num(lo)
        if self.foreach and xs and not isinstance(lo, (list, tuple)):
            self.torch._foreach_clamp_min_(xs, lo)
        else:
            for x, c in zip(xs, _per(lo, len(xs))):
                x.clamp_min_(c)
        return xs

    def sign_(self, xs):
        if self.foreach and xs:
            self.torch._foreach_sign_(xs)
        else:
            for x in xs:
                x.sign_()
        return xs

    def sqrt(self, xs):
        if self.foreach and xs:
            return list(self.torch._foreach_sqrt(xs))
        return [x.sqrt() for x in xs]

    def abs(self, xs):
        if self.foreach and xs:
            return list(self.torch._foreach_abs(xs))
        return [x.abs() for x in xs]

    def sign(self, xs):
        if self.foreach and xs:
            return list(self.torch._foreach_sign(xs))
        return [x.sign() for x in xs]

    def mul(self, xs, ys):
        if not xs:
            return []
        if not _is_tensor_list(ys):
            ys = self._num(ys)
        if self.foreach:
            return list(self.torch._foreach_mul(xs, list(ys) if isinstance(ys, tuple) else ys))
        if _is_tensor_list(ys):
            return [x * y for x, y in zip(xs, ys)]
        return [x * c for x, c in zip(xs, _per(ys, len(xs)))]

    def div(self, xs, ys):
        if not xs:
            return []
        if not _is_tensor_list(ys):
            ys = self._num(ys)
        if self.foreach:
            return list(self.torch._foreach_div(xs, list(ys) if isinstance(ys, tuple) else ys))
        if _is_tensor_list(ys):
            return [x / y for x, y in zip(xs, ys)]
        return [x / c for x, c in zip(xs, _per(ys, len(xs)))]

    def add(self, xs, ys, alpha: Scalars = 1.0):
        """A new list x + alpha * y in one pass (a clone followed by add_ would read x twice)."""
        alpha = self._num(alpha)
        if self.foreach and xs and _is_tensor_list(ys) and not isinstance(alpha, (list, tuple)):
            return list(self.torch._foreach_add(xs, ys, alpha=alpha))
        return self.add_(self.clone(xs), ys, alpha)

    def norms(self, xs) -> list[float]:
        if not xs:
            return []
        if self.foreach:
            return [float(n) for n in self.torch._foreach_norm(xs)]
        return [float(x.norm()) for x in xs]

    def dots(self, xs, ys) -> list[float]:
        return [float((x * y).sum()) for x, y in zip(xs, ys)]

    def nonfinite_counts(self, xs) -> list[int]:
        return [int(x.numel() - self.torch.isfinite(x).sum()) for x in xs]

    def mean_sq(self, x, dim: int):
        n = x.shape[dim]
        return self.torch.linalg.vector_norm(x, dim=dim, keepdim=True).square_().div_(n)

    def mean(self, x, dim: int):
        return x.mean(dim=dim, keepdim=True)

    def rms(self, xs) -> list[float]:
        return [float(x.norm(2)) / (x.numel() ** 0.5) if x.numel() else 0.0 for x in xs]

    def ndim(self, x) -> int:
        return x.dim()

    def finfo_eps(self, x) -> float:
        return float(self.torch.finfo(x.dtype).eps)

    def matmul(self, a, b):
        return a @ b

    def transpose(self, a):
        return a.T

    def eigh(self, a):
        return self.torch.linalg.eigh(a)

    def eye_like(self, n: int, like):
        return self.torch.eye(n, dtype=like.dtype, device=like.device)

    def to_float(self, x) -> float:
        return float(x)


def _is_tensor_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and hasattr(v[0], "shape")


def bias_correction(beta: float, steps: Sequence[int]) -> list[float]:
    """1 - beta**t for each parameter's step count t (Kingma & Ba 2015, Alg. 1)."""
    return [1.0 - beta**t for t in steps]


def sqrt_list(values: Sequence[float]) -> list[float]:
    return [math.sqrt(v) for v in values]


class DifferentiableTorchOps(TorchOps):
    """The torch backend of `differentiable=True`: the for-loop step, with autograd recording it.

    Every in-place operation writes its result with ``x.copy_(new)``, and ``new`` is computed from clones of its
    inputs, so that no tensor autograd saved for the backward pass (a buffer that the next step changes in
    place, the output of a square root) is modified after it was saved; 0-dim tensor scalars (a tensor lr or
    coefficients made from it) stay tensors, so the update is differentiable with respect to them too.
    """

    def __init__(self):
        super().__init__(foreach=False)

    def _num(self, s):
        return list(s) if isinstance(s, tuple) else s

    @staticmethod
    def _c(v):
        return v.clone() if hasattr(v, "clone") else v

    def _pairs(self, xs, s):
        return zip(xs, s) if _is_tensor_list(s) else zip(xs, _per(s, len(xs)))

    def copy_(self, xs, ys):
        for x, y in zip(xs, ys):
            x.copy_(y)
        return xs

    def mul_(self, xs, s):
        for x, c in self._pairs(xs, s):
            x.copy_(x.clone() * self._c(c))
        return xs

    def div_(self, xs, s):
        for x, c in self._pairs(xs, s):
            x.copy_(x.clone() / self._c(c))
        return xs

    def add_(self, xs, ys, alpha: Scalars = 1.0):
        if _is_tensor_list(ys):
            for x, y, a in zip(xs, ys, _per(alpha, len(xs))):
                x.copy_(x.clone() + a * y.clone())
        else:
            for x, c in zip(xs, _per(ys, len(xs))):
                x.copy_(x.clone() + self._c(c))
        return xs

    def lerp_(self, xs, ys, w: Scalars):
        for x, y, c in zip(xs, ys, _per(w, len(xs))):
            xc = x.clone()
            x.copy_(xc + c * (y.clone() - xc))
        return xs

    def lerp(self, xs, ys, w: Scalars):
        return [x.clone() + c * (y.clone() - x.clone()) for x, y, c in zip(xs, ys, _per(w, len(xs)))]

    def addcmul_(self, xs, ys, zs, value: Scalars = 1.0):
        for x, y, z, c in zip(xs, ys, zs, _per(value, len(xs))):
            x.copy_(x.clone() + c * (y.clone() * z.clone()))
        return xs

    def addcdiv_(self, xs, ys, zs, value: Scalars = 1.0):
        for x, y, z, c in zip(xs, ys, zs, _per(value, len(xs))):
            x.copy_(x.clone() + c * (y.clone() / z.clone()))
        return xs

    def maximum_(self, xs, ys):
        for x, y in zip(xs, ys):
            x.copy_(self.torch.maximum(x.clone(), y.clone()))
        return xs

    def sqrt_(self, xs):
        for x in xs:
            x.copy_(x.clone().sqrt())
        return xs

    def clamp_min_(self, xs, lo: Scalars):
        for x, c in zip(xs, _per(lo, len(xs))):
            x.copy_(x.clone().clamp_min(c))
        return xs

    def sign_(self, xs):
        for x in xs:
            x.copy_(x.sign())
        return xs

    def sqrt(self, xs):
        return [x.sqrt().clone() for x in xs]  # sqrt's backward keeps its output: hand out a copy

    def abs(self, xs):
        return [x.clone().abs() for x in xs]

    def mul(self, xs, ys):
        return [x.clone() * self._c(c) for x, c in self._pairs(xs, ys)]

    def div(self, xs, ys):
        return [x.clone() / self._c(c) for x, c in self._pairs(xs, ys)]

    def add(self, xs, ys, alpha: Scalars = 1.0):
        return self.add_(self.clone(xs), ys, alpha)
