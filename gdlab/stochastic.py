r"""Stochastic gradient oracles: where SGD's gradients come from.

An *oracle* draws a random, unbiased estimate of the gradient at a point:

* :class:`MinibatchOracle` samples a mini-batch :math:`\mathcal B` of a finite sum
  :math:`f(x) = \frac1n\sum_{i=1}^n f_i(x)` and returns
  :math:`\tilde g(x) = \frac1B\sum_{i\in\mathcal B}\nabla f_i(x)`, either with replacement
  (each index uniform and independent) or without replacement (the indices run through a
  fresh random permutation each epoch, so every example is visited once per epoch);
* :class:`GaussianOracle` adds Gaussian noise to the exact gradient of any problem,
  :math:`\tilde g(x) = \nabla f(x) + \xi`, :math:`\xi\sim\mathcal N(0, C/B)`, the model
  under which constant-step SGD on a quadratic has a closed-form stationary law
  (:mod:`gdlab.noise`);
* :class:`AccumulatedOracle` averages several draws of another oracle: gradient
  accumulation, which turns ``steps`` micro-batches of size :math:`b` into one batch of
  size :math:`b\cdot` ``steps``.

Every oracle is seeded (a :class:`numpy.random.Generator`), is called as ``oracle(x) -> g``
and counts the gradients of single examples it has spent (``examples_seen``). An oracle is
also a valid ``oracle`` argument of :func:`gdlab.runner.run`, which then feeds its draws to
any method: ``run(problem, gdlab.optim.numpy.SGD(lr=0.1), oracle=MinibatchOracle(problem, 8))``.

:func:`sgd` turns an oracle and a step size (a number or a schedule ``t -> alpha_t``) into a
method for :func:`gdlab.runner.run`: ``method(x, g, k)`` ignores the exact gradient ``g``
the runner passes and takes the step :math:`x_{t} = x_{t-1} - \alpha_t\,\tilde g(x_{t-1})`
with a fresh draw. :func:`with_oracle` does the same for any other method (a
``gdlab.optim.numpy`` optimizer, for instance), and :func:`polyak_average` averages iterates.
:func:`sample_mean` draws many stochastic gradients at one point and returns their mean with its standard
error (a test of unbiasedness).

:func:`sgd_chains` runs many independent chains of mini-batch SGD on a finite sum at once (one
row per chain), for statistics over chains; :func:`hutchinson_diagonal` is Hutchinson's
stochastic estimate of a Hessian's diagonal from Hessian-vector products (the estimate Sophia
consumes on the NumPy face). :func:`noise_streams` runs an optimizer on many independent streams of Gaussian
gradients that do not depend on the iterate, and returns the mean over streams, with its standard error, of the
iterate and of the optimizer's buffers at every step (:class:`StreamStats`): the Monte Carlo behind statements about
expectations, such as Adam's bias correction.

The statistics that the chapter *Beyond Adam* checks over many seeds live here too, so that its unit tests rerun
them: :func:`mean_zscores` (standardised errors of a Monte Carlo mean), :func:`inverse_second_moment_tail` (how much
of the variance of :math:`1/\hat v_t` one draw holds), :func:`schedule_free_gaps` (schedule-free AdamW's three points
on noisy gradients), :func:`sophia_hutchinson_run` and :func:`kronecker_steps` (Shampoo's and SOAP's statistics on a
Kronecker-factored quadratic).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = [
    "Oracle",
    "MinibatchOracle",
    "GaussianOracle",
    "AccumulatedOracle",
    "SGDMethod",
    "StochasticMethod",
    "sgd",
    "with_oracle",
    "polyak_average",
    "SampleMean",
    "sample_mean",
    "sgd_chains",
    "hutchinson_diagonal",
    "mean_zscores",
    "inverse_second_moment_tail",
    "schedule_free_gaps",
    "sophia_hutchinson_run",
    "kronecker_steps",
    "StreamStats",
    "noise_streams",
]


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Invalid {name}: {name}={value!r} (expected an integer >= 1)")
    return int(value)


def _report_nonfinite(where: str, g: np.ndarray) -> None:
    if not np.all(np.isfinite(g)):
        warnings.warn(f"{where}: the stochastic gradient has non-finite entries "
                      f"({int(np.sum(~np.isfinite(g)))} of {g.size})", RuntimeWarning, stacklevel=3)


class Oracle:
    """Base class: ``oracle(x)`` returns one stochastic gradient at ``x`` (a float array)."""

    #: gradients of single examples spent so far (one per draw for noise models)
    examples_seen: int
    #: number of calls so far
    calls: int

    def __init__(self, seed: int | None = 0):
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Restart the random stream and the counters (the same draws come out again)."""
        self.rng = np.random.default_rng(self.seed)
        self.examples_seen = 0
        self.calls = 0

    def draw(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x, k: int | None = None) -> np.ndarray:
        """One draw at ``x``; ``k`` (the runner's step index) is accepted and ignored."""
        x = np.asarray(x, dtype=float)
        g = self.draw(x)
        self.calls += 1
        _report_nonfinite(type(self).__name__, g)
        return g


class MinibatchOracle(Oracle):
    r"""Mini-batch gradients of a finite sum.

    .. math::
        \tilde g(x) = \frac1B\sum_{i\in\mathcal B}\nabla f_i(x),\qquad
        \mathbb E\,\tilde g(x) = \nabla f(x).

    Parameters
    ----------
    problem
        A finite-sum problem (``n`` and ``grad_batch(x, idx)``, the mean gradient over ``idx``).
    batch_size
        :math:`B \ge 1`. Without replacement, :math:`B \le n`.
    replace
        ``True``: the :math:`B` indices are independent and uniform on :math:`\{0,\dots,n-1\}`.
        ``False``: the indices are read in order from a stream of random permutations of
        :math:`\{0,\dots,n-1\}`, a new one per epoch (reshuffling); a batch that straddles the
        end of an epoch takes its remaining indices from the next permutation. Every block of
        :math:`n` consecutive indices that starts at an epoch boundary visits each example once.
    seed
        Seed of the :class:`numpy.random.Generator`.

    Attributes ``last_indices`` (the indices of the latest batch) and ``epoch`` (completed
    passes, without replacement) are kept for inspection.
    """

    def __init__(self, problem, batch_size: int = 1, replace: bool = True, seed: int | None = 0):
        n = getattr(problem, "n", None)
        if n is None or not hasattr(problem, "grad_batch"):
            raise ValueError(f"MinibatchOracle needs a finite-sum problem with n and grad_batch; "
                             f"got problem={problem!r}")
        self.problem = problem
        self.n = int(n)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        if not replace and self.batch_size > self.n:
            raise ValueError(f"Invalid batch_size: batch_size={batch_size} exceeds n={self.n} "
                             "when sampling without replacement")
        self.replace = bool(replace)
        super().__init__(seed)

    def reset(self) -> None:
        super().reset()
        self.epoch = 0
        self._perm = np.empty(0, dtype=np.int64)
        self._pos = 0
        self.last_indices = np.empty(0, dtype=np.int64)

    def sample_indices(self) -> np.ndarray:
        """The indices of the next mini-batch (advances the random stream)."""
        B = self.batch_size
        if self.replace:
            return self.rng.integers(0, self.n, size=B)
        out = []
        need = B
        while need > 0:
            if self._pos >= self._perm.size:
                if self._perm.size:
                    self.epoch += 1
                self._perm = self.rng.permutation(self.n)
                self._pos = 0
            take = self._perm[self._pos:self._pos + need]
            out.append(take)
            self._pos += take.size
            need -= take.size
        return np.concatenate(out)

    def draw(self, x: np.ndarray) -> np.ndarray:
        idx = self.sample_indices()
        self.last_indices = idx
        self.examples_seen += idx.size
        return np.asarray(self.problem.grad_batch(x, idx), dtype=float)

    def __repr__(self) -> str:
        return (f"MinibatchOracle(problem={getattr(self.problem, 'name', type(self.problem).__name__)}, "
                f"batch_size={self.batch_size}, replace={self.replace}, seed={self.seed})")


class GaussianOracle(Oracle):
    r"""The exact gradient plus Gaussian noise: :math:`\tilde g(x) = \nabla f(x) + \xi`,
    :math:`\xi \sim \mathcal N(0, C/B)`, independent across calls.

    Parameters
    ----------
    problem
        Any problem with ``grad(x)`` and ``dim``.
    cov
        :math:`C`, the covariance of the noise of a single example: a number :math:`\sigma^2`
        (:math:`C = \sigma^2 I`), a vector (a diagonal :math:`C`) or a symmetric positive
        semi-definite ``dim x dim`` matrix.
    batch_size
        :math:`B \ge 1`; the noise covariance is :math:`C/B`, as for a mini-batch of
        :math:`B` independent examples.
    """

    def __init__(self, problem, cov, batch_size: int = 1, seed: int | None = 0):
        if not hasattr(problem, "grad"):
            raise ValueError(f"GaussianOracle needs a problem with grad(x); got problem={problem!r}")
        self.problem = problem
        self.batch_size = _check_positive_int("batch_size", batch_size)
        dim = int(problem.dim)
        self.cov = covariance_matrix(cov, dim)
        self._factor = psd_factor(self.cov)
        super().__init__(seed)

    def draw(self, x: np.ndarray) -> np.ndarray:
        z = self.rng.standard_normal(self._factor.shape[1])
        self.examples_seen += self.batch_size
        return np.asarray(self.problem.grad(x), dtype=float) + (self._factor @ z) / math.sqrt(self.batch_size)


def covariance_matrix(cov, dim: int) -> np.ndarray:
    """``cov`` (a number, a diagonal or a matrix) as a validated ``dim x dim`` PSD matrix."""
    c = np.asarray(cov, dtype=float)
    if c.ndim == 0:
        if not math.isfinite(float(c)) or c < 0:
            raise ValueError(f"Invalid noise covariance: cov={cov!r} (a variance must be finite and >= 0)")
        return float(c) * np.eye(dim)
    if c.ndim == 1:
        if c.shape != (dim,) or not np.all(np.isfinite(c)) or np.any(c < 0):
            raise ValueError(f"Invalid noise covariance: diagonal cov of shape {c.shape} must have {dim} "
                             f"finite entries >= 0, got {cov!r}")
        return np.diag(c)
    if c.shape != (dim, dim) or not np.all(np.isfinite(c)):
        raise ValueError(f"Invalid noise covariance: cov must be {dim}x{dim} and finite, got shape {c.shape}")
    if not np.allclose(c, c.T, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(c).max())):
        raise ValueError("Invalid noise covariance: cov is not symmetric")
    lo = np.linalg.eigvalsh(c).min()
    if lo < -1e-10 * max(1.0, np.abs(c).max()):
        raise ValueError(f"Invalid noise covariance: cov is not positive semi-definite "
                         f"(smallest eigenvalue {lo:.3g})")
    return c


def psd_factor(c: np.ndarray) -> np.ndarray:
    """A matrix :math:`M` with :math:`MM^\\top = C` for a PSD :math:`C` (Cholesky when possible)."""
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(c)
        return v * np.sqrt(np.clip(w, 0.0, None))


class AccumulatedOracle(Oracle):
    r"""Gradient accumulation: the mean of ``steps`` consecutive draws of ``oracle``.

    .. math:: \tilde g(x) = \frac{1}{s}\sum_{j=1}^{s} \tilde g_j(x)

    With mini-batches of size :math:`b` this is a gradient over :math:`s\,b` examples; without
    replacement it equals, to rounding, the gradient of the batch formed by the :math:`s`
    micro-batches' indices (``last_indices``).
    """

    def __init__(self, oracle: Oracle, steps: int):
        if not isinstance(oracle, Oracle):
            raise ValueError(f"AccumulatedOracle needs an Oracle; got oracle={oracle!r}")
        self.oracle = oracle
        self.steps = _check_positive_int("steps", steps)
        self.seed = oracle.seed
        self.examples_seen = 0
        self.calls = 0
        self.last_indices = np.empty(0, dtype=np.int64)

    def reset(self) -> None:
        self.oracle.reset()
        self.examples_seen = 0
        self.calls = 0
        self.last_indices = np.empty(0, dtype=np.int64)

    def draw(self, x: np.ndarray) -> np.ndarray:
        total = None
        idx = []
        before = self.oracle.examples_seen
        for _ in range(self.steps):
            g = self.oracle(x)
            total = g.copy() if total is None else total + g
            if hasattr(self.oracle, "last_indices"):
                idx.append(self.oracle.last_indices)
        if idx:
            self.last_indices = np.concatenate(idx)
        self.examples_seen += self.oracle.examples_seen - before
        return total / self.steps


# --- methods for gdlab.runner.run -------------------------------------------------------
def _lr_value(lr, t: int) -> float:
    a = float(lr(t)) if callable(lr) else float(lr)
    if not math.isfinite(a) or a < 0:
        raise ValueError(f"Invalid learning rate: lr={a} at step t={t}")
    return a


class StochasticMethod:
    """Any method ``method(x, g, k)`` fed with an oracle's draw instead of the exact gradient.

    Call counts: ``t`` is the number of steps taken (the first step has ``t = 1``).
    """

    def __init__(self, method: Callable, oracle: Oracle):
        if not callable(method):
            raise ValueError(f"with_oracle needs a callable method(x, g, k); got method={method!r}")
        if not isinstance(oracle, Oracle):
            raise ValueError(f"with_oracle needs an Oracle; got oracle={oracle!r}")
        self.method = method
        self.oracle = oracle
        self.t = 0

    @property
    def lr(self):
        return getattr(self.method, "lr", float("nan"))

    def reset(self) -> None:
        """Restart the oracle's stream and the method's state (when it has a ``reset``)."""
        self.oracle.reset()
        if hasattr(self.method, "reset"):
            self.method.reset()
        self.t = 0

    def __call__(self, x, g=None, k: int | None = None):
        self.t += 1
        return self.method(x, self.oracle(x), k if k is not None else self.t - 1)


class SGDMethod:
    r"""Plain SGD from an oracle: :math:`x_t = x_{t-1} - \alpha_t\,\tilde g(x_{t-1})`, :math:`t = 1, 2, \dots`

    ``lr`` is a number or a schedule ``t -> alpha_t`` evaluated at the method's own step count
    ``t`` (1 at the first step), so that :math:`\alpha_t = \alpha_0/t` is ``lambda t: a0 / t``.
    ``lr`` is the step size the next call will use (the runner reads it before each step to fill
    ``Trace.lrs``); ``reset()`` restarts the count and the oracle.
    """

    def __init__(self, oracle: Oracle, lr):
        if not isinstance(oracle, Oracle):
            raise ValueError(f"sgd needs an Oracle; got oracle={oracle!r}")
        _lr_value(lr, 1)  # a number, or a schedule whose first step is valid
        self.oracle = oracle
        self.schedule = lr
        self.t = 0

    @property
    def lr(self) -> float:
        return _lr_value(self.schedule, self.t + 1)

    def reset(self) -> None:
        self.oracle.reset()
        self.t = 0

    def __call__(self, x, g=None, k: int | None = None):
        alpha = _lr_value(self.schedule, self.t + 1)
        self.t += 1
        x = np.asarray(x, dtype=float)
        return x - alpha * self.oracle(x)

    def __repr__(self) -> str:
        return f"SGDMethod(oracle={self.oracle!r}, lr={self.schedule!r})"


def sgd(oracle: Oracle, lr) -> SGDMethod:
    """SGD driven by ``oracle`` with step size ``lr`` (number or schedule ``t -> alpha_t``); see :class:`SGDMethod`."""
    return SGDMethod(oracle, lr)


def with_oracle(method: Callable, oracle: Oracle) -> StochasticMethod:
    """Run ``method(x, g, k)`` (e.g. ``gdlab.optim.numpy.Adam(lr=0.1)``) on draws of ``oracle``."""
    return StochasticMethod(method, oracle)


def polyak_average(xs, burn_in: int = 0) -> np.ndarray:
    r"""Running Polyak–Ruppert averages of iterates ``xs`` (shape ``(T+1, dim)``).

    .. math:: \bar x_k = \frac{1}{k - b + 1}\sum_{j=b}^{k} x_j \quad (k \ge b),

    with burn-in :math:`b` = ``burn_in``; rows before ``burn_in`` are the iterates themselves.
    """
    xs = np.asarray(xs, dtype=float)
    if xs.ndim == 1:
        xs = xs[:, None]
    if isinstance(burn_in, bool) or not isinstance(burn_in, (int, np.integer)) or not 0 <= burn_in < len(xs):
        raise ValueError(f"Invalid burn_in: burn_in={burn_in!r} (expected 0 <= burn_in < {len(xs)})")
    out = xs.copy()
    tail = xs[burn_in:]
    out[burn_in:] = np.cumsum(tail, axis=0) / np.arange(1, len(tail) + 1)[:, None]
    return out


class SampleMean(NamedTuple):
    """The mean of ``draws`` oracle calls at one point, its standard error per coordinate, and the draws."""

    mean: np.ndarray
    stderr: np.ndarray
    draws: np.ndarray

    def z(self, expected) -> np.ndarray:
        r""":math:`|\bar g - \text{expected}|/\mathrm{se}` per coordinate: how many standard errors separate the
        sample mean from ``expected`` (``inf`` where the draws are all equal and differ from it)."""
        diff = np.abs(self.mean - np.asarray(expected, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.stderr > 0, diff / np.where(self.stderr > 0, self.stderr, 1.0),
                            np.where(diff == 0, 0.0, np.inf))


def sample_mean(oracle: Oracle, x, draws: int) -> SampleMean:
    r"""Call ``oracle`` ``draws`` times at ``x``: the sample mean :math:`\bar g` of the draws, its standard error
    :math:`s/\sqrt N` per coordinate (:math:`s` the sample standard deviation, ``ddof=1``), and the draws themselves
    (shape ``(draws, dim)``). An unbiased oracle has :math:`\mathbb E\bar g = \nabla f(x)`, so
    ``sample_mean(...).z(problem.grad(x))`` is approximately standard normal in every coordinate. A
    :class:`MinibatchOracle` (or a subclass with its own ``sample_indices``) is not called ``draws`` times: its
    batches are drawn from its stream as its calls would draw them, and the per-example gradients are evaluated
    in one ``grad_examples`` call, which gives the same draws (to rounding) much faster.
    """
    draws = _check_positive_int("draws", draws)
    if draws < 2:
        raise ValueError(f"Invalid draws: draws={draws} (a standard error needs at least 2 draws)")
    x = np.asarray(x, dtype=float)
    if isinstance(oracle, MinibatchOracle) and hasattr(oracle.problem, "grad_examples"):
        # the same draws as oracle(x): the batches come from the oracle's own stream, the gradients in one call
        idx = np.stack([oracle.sample_indices() for _ in range(draws)])           # (draws, B)
        rows = np.asarray(oracle.problem.grad_examples(x, idx.ravel()), dtype=float)
        G = rows.reshape(draws, idx.shape[1], -1).mean(axis=1)
        oracle.last_indices = idx[-1]
        oracle.examples_seen += idx.size
        oracle.calls += draws
        _report_nonfinite(type(oracle).__name__, G)
    else:
        G = np.array([np.asarray(oracle(x), dtype=float) for _ in range(draws)])
    return SampleMean(G.mean(axis=0), G.std(axis=0, ddof=1) / math.sqrt(draws), G)


# --- many chains at once ------------------------------------------------------------------
def _chain_lrs(lr, m: int):
    """A function k -> step size (a number or an (m, 1) column), validated at k = 1."""
    if callable(lr):
        def at(t):
            a = np.asarray(lr(t), dtype=float)
            if a.ndim > 0:
                a = a.reshape(m, 1)
            if not (np.all(np.isfinite(a)) and np.all(a >= 0)):
                raise ValueError(f"Invalid learning rate: lr({t})={lr(t)!r} (expected finite values >= 0)")
            return a if a.ndim else float(a)
        at(1)
        return at
    a = np.asarray(lr, dtype=float)
    if a.ndim > 0:
        if a.size != m:
            raise ValueError(f"Invalid learning rate: lr has {a.size} entries for {m} chains")
        a = a.reshape(m, 1)
    if not (np.all(np.isfinite(a)) and np.all(a >= 0)):
        raise ValueError(f"Invalid learning rate: lr={lr!r} (expected finite values >= 0)")
    value = a if a.ndim else float(a)
    return lambda t: value


def _batch_grads(problem, W: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Row c: the mean gradient of chain c's mini-batch idx[c] at W[c]."""
    from .problems import LeastSquares, LogisticRegression

    B = idx.shape[1]
    if isinstance(problem, LeastSquares):
        Xb = problem.X[idx]                                         # (m, B, d)
        resid = np.einsum("mbd,md->mb", Xb, W) - problem.y[idx]     # x_i^T w - y_i
        return np.einsum("mb,mbd->md", resid, Xb) / B
    if isinstance(problem, LogisticRegression):
        from scipy.special import expit

        Xb = problem.X[idx]
        s = expit(np.einsum("mbd,md->mb", Xb, W)) - problem.y[idx]  # sigma(x_i^T w) - y_i
        return np.einsum("mb,mbd->md", s, Xb) / B + problem.lam * W
    return np.stack([np.asarray(problem.grad_batch(w, i), dtype=float) for w, i in zip(W, idx)])


def sgd_chains(problem, W0, lr, steps: int, batch_size: int = 1, seed: int | None = 0, thin: int = 1) -> np.ndarray:
    r"""Mini-batch SGD on a finite sum for many independent chains at once (the rows of ``W0``).

    Chain :math:`c` takes the steps

    .. math::
        w^{(c)}_t = w^{(c)}_{t-1} - \alpha_t\,\frac1B\sum_{i\in\mathcal B^{(c)}_t}\nabla f_i\big(w^{(c)}_{t-1}\big),
        \qquad t = 1, \dots, \text{steps},

    with :math:`B` indices drawn uniformly with replacement, independently for every chain and
    step (one draw ``rng.integers(0, n, size=(chains, B))`` per step, so a single chain follows
    the stream of ``MinibatchOracle(problem, B, seed=seed)``). ``lr`` is a number, a column of
    one step size per chain (shape ``(chains,)`` or ``(chains, 1)``), or a schedule
    ``t -> alpha_t`` (:math:`t = 1, 2, \dots`, as :func:`sgd` counts) returning either.
    Least squares and logistic regression are vectorised over chains; any other finite sum
    (``n``, ``grad_batch``) is evaluated chain by chain.

    Returns the iterates of every ``thin``-th step, shape ``(steps // thin + 1, chains, dim)``
    (the start included). Chains with non-finite values at the end are reported with a
    ``RuntimeWarning``.
    """
    n = getattr(problem, "n", None)
    if n is None or not hasattr(problem, "grad_batch"):
        raise ValueError(f"sgd_chains needs a finite-sum problem with n and grad_batch; got problem={problem!r}")
    W = np.array(W0, dtype=float)
    dim = getattr(problem, "dim", W.shape[-1] if W.ndim else 0)
    if W.ndim != 2 or W.shape[0] == 0 or W.shape[1] != dim:
        raise ValueError(f"Invalid W0: expected an array (chains, {dim}), got shape {np.shape(W0)}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"Invalid steps: steps={steps!r} (expected an integer >= 0)")
    B = _check_positive_int("batch_size", batch_size)
    thin = _check_positive_int("thin", thin)
    m = W.shape[0]
    step_size = _chain_lrs(lr, m)
    rng = np.random.default_rng(seed)
    out = [W]
    for k in range(int(steps)):
        idx = rng.integers(0, int(n), size=(m, B))
        W = W - step_size(k + 1) * _batch_grads(problem, W, idx)
        if (k + 1) % thin == 0:
            out.append(W)
    bad = int(np.sum(~np.all(np.isfinite(W), axis=1)))
    if bad:
        warnings.warn(f"sgd_chains: {bad} of {m} chains ended with non-finite values (step too large?)",
                      RuntimeWarning, stacklevel=2)
    return np.array(out)


# --- Hutchinson's estimator -----------------------------------------------------------------
def hutchinson_diagonal(hvp: Callable[[np.ndarray], np.ndarray], dim: int, rng=None, samples: int | None = None,
                        distribution: str = "gaussian") -> np.ndarray:
    r"""Hutchinson's estimate of :math:`\operatorname{diag} H` from a Hessian-vector product ``hvp(u) = H u``.

    .. math::  \hat h = u \odot (H u),\qquad \mathbb E[\hat h] = \operatorname{diag} H,

    for :math:`u \sim \mathcal N(0, I)` (``distribution="gaussian"``, Sophia's choice) or
    Rademacher :math:`u_i = \pm 1` (``"rademacher"``, Hutchinson's; then :math:`u_i^2 = 1` and
    the estimate's variance is smaller). ``rng`` is a :class:`numpy.random.Generator` or a seed;
    the Gaussian draw is ``rng.standard_normal(dim)``. With ``samples=None`` one estimate of
    shape ``(dim,)`` is returned; with ``samples=s``, ``s`` independent estimates, one per row
    (their mean is the averaged estimate). The torch face's estimator is
    :func:`gdlab.optim.hutchinson`.
    """
    if not callable(hvp):
        raise ValueError(f"Invalid hvp: hvp={hvp!r} is not callable")
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"Invalid dim: dim={dim!r} (expected an integer >= 1)")
    if distribution not in ("gaussian", "rademacher"):
        raise ValueError(f"Invalid distribution value: distribution={distribution!r} "
                         "(expected 'gaussian' or 'rademacher')")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    shape = (int(dim),) if samples is None else (_check_positive_int("samples", samples), int(dim))
    if distribution == "gaussian":
        U = rng.standard_normal(shape)
    else:
        U = rng.integers(0, 2, size=shape) * 2.0 - 1.0
    rows = U[None, :] if samples is None else U
    est = np.empty_like(rows)
    for j, u in enumerate(rows):
        hu = np.asarray(hvp(u), dtype=float)
        if hu.shape != u.shape:
            raise ValueError(f"Invalid hvp: returned shape {hu.shape}, expected {u.shape}")
        est[j] = u * hu
    _report_nonfinite("hutchinson_diagonal", est)
    return est[0] if samples is None else est


# --- statistics of adaptive methods (the checks of the chapter "Beyond Adam") ----------------------
def mean_zscores(samples, expected) -> np.ndarray:
    r"""Standardised errors of a Monte Carlo mean, one per coordinate:
    :math:`z_j = (\bar s_j - e_j)/(\hat\sigma_j/\sqrt n)`, with :math:`\bar s` the mean and :math:`\hat\sigma` the
    sample standard deviation (``ddof=1``) of the ``n`` rows of ``samples``.

    For an unbiased estimator and many independent rows each :math:`z_j` is close to standard normal, so the
    mean of :math:`z_j^2` is near 1 and no :math:`|z_j|` is much above 4; a bias of :math:`b` shifts
    :math:`z_j` by :math:`b\sqrt n/\hat\sigma_j`.
    """
    s = np.asarray(samples, dtype=float)
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError(f"Invalid samples: expected an array (n, d) with n >= 2 rows, got shape {s.shape}")
    e = np.broadcast_to(np.asarray(expected, dtype=float), s.shape[1:])
    se = s.std(axis=0, ddof=1) / math.sqrt(s.shape[0])
    if np.any(se <= 0):
        raise ValueError("Invalid samples: a coordinate has zero sample variance (no standard error)")
    return (s.mean(axis=0) - e) / se


def inverse_second_moment_tail(steps: int, beta2: float = 0.999, streams: int = 20_000, seed: int | None = 0,
                               ) -> np.ndarray:
    r"""How heavy the tail of :math:`1/\hat v_t` is in the first steps of an adaptive method: for
    :math:`t = 1, \dots,` ``steps``, the share of the sample variance of :math:`1/\hat v_t` over ``streams``
    independent streams that the single largest draw holds.

    Each stream feeds standard normal gradients :math:`g_t` to gdlab's NumPy ``RAdam`` (one coordinate per
    stream, drawn as ``rng.standard_normal(streams)`` at each step from ``np.random.default_rng(seed)``);
    :math:`v_t` is read from its ``exp_avg_sq`` buffer and :math:`\hat v_t = v_t/(1-\beta_2^t)`. With
    :math:`w_i = 1/\hat v_{t,i}`, the share is :math:`\max_i (w_i-\bar w)^2/\sum_i (w_i-\bar w)^2`.
    RAdam's model (Liu et al. 2020) makes :math:`1/\hat v_t` a scaled inverse :math:`\chi^2` variable with
    :math:`\rho_t \approx t` degrees of freedom, whose variance is infinite for :math:`\rho_t \le 4`: there one draw
    holds a share of the sample variance that does not shrink as ``streams`` grows; for large :math:`\rho_t`
    the share is of order 1/``streams``.
    """
    from .optim.numpy import RAdam  # no cycle: gdlab.optim does not import gdlab.stochastic

    steps = _check_positive_int("steps", steps)
    n = _check_positive_int("streams", streams)
    if n < 2:
        raise ValueError(f"Invalid streams: streams={streams!r} (a sample variance needs at least 2 streams)")
    if not 0.0 < beta2 < 1.0:
        raise ValueError(f"Invalid beta2: beta2={beta2!r} (expected 0 < beta2 < 1)")
    rng = np.random.default_rng(seed)
    opt, x, out = RAdam(lr=0.0, betas=(0.9, beta2)), np.zeros(n), []
    for t in range(1, steps + 1):
        opt.step_arrays([x], [rng.standard_normal(n)])
        w = (1.0 - beta2**t) / opt.states[0]["exp_avg_sq"]
        dev = (w - w.mean()) ** 2
        out.append(float(dev.max() / dev.sum()))
    return np.array(out)


def schedule_free_gaps(problem, cov, lr: float, steps: int, seed: int | None = 0, **hyper) -> dict[str, float]:
    r"""The three points of schedule-free AdamW after a run on noisy gradients, and how good each is.

    Runs gdlab's NumPy ``ScheduleFreeAdamW(lr=lr, **hyper)`` for ``steps`` steps from ``problem.x0`` with the
    gradients of ``GaussianOracle(problem, cov, seed=seed)``, taken where the method takes them, at
    :math:`y_t`. Returns :math:`f - f^\star` at the three sequences of Defazio et al. (2024): ``"z"`` (the base
    iterate, a constant-rate AdamW step), ``"x"`` (the weighted average of the :math:`z`'s that the method
    evaluates, recovered with :func:`gdlab.optim.averaged_point`) and ``"y"`` (the interpolation
    :math:`(1-\beta_1)z + \beta_1x` the parameters hold during training).
    """
    from .optim import averaged_point
    from .optim.numpy import ScheduleFreeAdamW

    steps = _check_positive_int("steps", steps)
    opt = ScheduleFreeAdamW(lr=lr, **hyper)
    oracle = GaussianOracle(problem, cov, seed=seed)
    y = np.array(problem.x0, dtype=float, copy=True)
    for _ in range(steps):
        y = opt(y, oracle(y))
    z = opt.states[0]["z"]
    x = averaged_point(y, z, opt.group["betas"][0])
    f_star = problem.f_star
    return {"x": float(problem.f(x) - f_star), "y": float(problem.f(y) - f_star), "z": float(problem.f(z) - f_star)}


def sophia_hutchinson_run(problem, steps: int, seed: int | None = 0, update_period: int = 10, **hyper) -> dict:
    r"""gdlab's NumPy ``Sophia(**hyper)`` on ``problem`` from ``problem.x0``, with exact gradients and, at steps
    :math:`0, k, 2k, \dots` (:math:`k` = ``update_period``), one Hutchinson estimate :math:`u\odot(\nabla^2 f\,u)`
    of the Hessian's diagonal (:func:`hutchinson_diagonal`, Gaussian :math:`u`, generator
    ``np.random.default_rng(seed)``), as in Liu et al. (2023, Alg. 3).

    Returns a dict: ``"xs"``, the iterates (``steps + 1`` rows); ``"before"``, for every step, the tuple
    ``(x, g, state, estimate)`` the step started from (a copy of the optimizer's state, ``None`` before the first
    step; the estimate or ``None``), so that another implementation can be compared with it one step at a time;
    ``"moves"``, the per-coordinate :math:`|x_{k+1} - x_k|`.
    """
    import copy

    from .optim.numpy import Sophia

    steps = _check_positive_int("steps", steps)
    k = _check_positive_int("update_period", update_period)
    rng = np.random.default_rng(seed)
    opt = Sophia(**hyper)
    x = np.array(problem.x0, dtype=float, copy=True)
    xs, before = [x], []
    for i in range(steps):
        g = np.asarray(problem.grad(x), dtype=float)
        est = hutchinson_diagonal(lambda v, x=x: problem.hess(x) @ v, x.size, rng) if i % k == 0 else None
        before.append((x, g, copy.deepcopy(opt.states[0]) if opt.states else None, est))
        x = opt(x, g, i, **({"hessian": est} if est is not None else {}))
        xs.append(x)
    xs = np.array(xs)
    return {"xs": xs, "before": before, "moves": np.abs(np.diff(xs, axis=0))}


def kronecker_steps(methods: dict, A, B, W_star, W_test, samples: int = 300, seed: int | None = 1) -> dict:
    r"""What each optimizer's statistics learn on a Kronecker-factored quadratic.

    On :math:`f(W) = \frac12\operatorname{tr}\big((W-W^\star)^\top A(W-W^\star)B\big)`, whose gradient is
    :math:`G = A(W-W^\star)B` and whose Hessian is :math:`B\otimes A`, every NumPy optimizer of ``methods`` (a dict
    name -> fresh optimizer) is fed the gradients at the same ``samples`` points :math:`W^\star + E`, with
    :math:`E` of independent standard normal entries (``rng.standard_normal(W_star.shape)``, generator
    ``np.random.default_rng(seed)``), and then takes one step from ``W_test``. Returns ``{name: step}``, the steps
    :math:`W_{\text{new}} - W_{\text{test}}`.
    """
    A, B, W_star, W_test = (np.asarray(a, dtype=float) for a in (A, B, W_star, W_test))
    samples = _check_positive_int("samples", samples)
    rng = np.random.default_rng(seed)
    points = [W_star + rng.standard_normal(W_star.shape) for _ in range(samples)]
    out = {}
    for name, opt in methods.items():
        for W in points:
            opt(W, A @ (W - W_star) @ B)
        out[name] = opt(W_test, A @ (W_test - W_star) @ B) - W_test
    return out


# --- an optimizer on streams of pure noise -------------------------------------------------------
class StreamStats:
    r"""What :func:`noise_streams` records: for the iterate (``"x"``) and each requested buffer, the mean over
    the streams and its standard error, at every step.

    ``mean[name]`` and ``se[name]`` have shape ``(steps + 1, d)`` for ``"x"`` (row 0 is the start) and
    ``(steps, d)`` for a buffer (row :math:`t-1` is the buffer after step :math:`t`); ``n_streams`` is the
    number of independent streams averaged.
    """

    def __init__(self, mean: dict, se: dict, n_streams: int):
        self.mean, self.se, self.n_streams = mean, se, int(n_streams)

    def z(self, name: str, expected) -> np.ndarray:
        r""":math:`|\bar X - \text{expected}|/\mathrm{se}(\bar X)` for the record ``name``, element by element:
        how many standard errors separate the mean over streams from a prediction (``expected`` broadcasts
        against ``mean[name]``). Where the standard error is 0 the entry is 0 if the mean equals the
        prediction and ``inf`` otherwise."""
        if name not in self.mean:
            raise ValueError(f"Invalid name: {name!r} was not recorded (recorded: {sorted(self.mean)})")
        m, s = self.mean[name], self.se[name]
        diff = np.abs(m - np.asarray(expected, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(s > 0, diff / np.where(s > 0, s, 1.0), np.where(diff == 0, 0.0, np.inf))

    def __repr__(self) -> str:
        return f"StreamStats(records={sorted(self.mean)}, n_streams={self.n_streams})"


def noise_streams(method, n_streams: int, steps: int, *, mean=0.0, std=1.0, x0=0.0, seed: int | None = 0,
                  buffers=()) -> StreamStats:
    r"""Run an optimizer on ``n_streams`` independent streams of Gaussian gradients that do not depend on the
    iterate; return the mean over streams, and its standard error, of the iterate and of the optimizer's buffers
    at every step.

    The iterate is an array of shape ``(n_streams, d)``, ``d`` the common length of ``mean``, ``std`` and ``x0``
    (numbers broadcast), every row starting at ``x0``. At step :math:`t = 1, \dots, \text{steps}` entry
    :math:`(i, j)` receives the gradient :math:`g_{t,ij} = \text{mean}_j + \text{std}_j\,\xi_{t,ij}`, with
    :math:`\xi_t` drawn as ``rng.standard_normal((n_streams, d))`` from ``np.random.default_rng(seed)``.
    ``method`` is a fresh ``gdlab.optim.numpy`` optimizer (it must hold no state yet) whose update acts on each
    entry separately (SGD, Adam, AdamW, RMSprop, Adagrad, ...): the rows are then independent copies of one
    ``d``-coordinate run, and the standard error of a mean is the sample standard deviation over rows divided by
    :math:`\sqrt n`. ``buffers`` names entries of the optimizer's state to record after every step
    (``"exp_avg"`` and ``"exp_avg_sq"``, Adam's :math:`m_t` and :math:`v_t`).

    .. code-block:: python

        st = noise_streams(gnp.Adam(lr=1e-3), 20_000, 40, mean=0.5, buffers=("exp_avg",))
        st.z("exp_avg", (1 - 0.9 ** np.arange(1, 41))[:, None] * 0.5)   # Kingma & Ba: E[m_t] = (1 - beta1^t) mu
    """
    n = _check_positive_int("n_streams", n_streams)
    if n < 2:
        raise ValueError(f"Invalid n_streams: n_streams={n_streams!r} (a standard error needs at least 2 streams)")
    steps = _check_positive_int("steps", steps)
    if not (hasattr(method, "step_arrays") and hasattr(method, "states")):
        raise ValueError(f"Invalid method: {method!r} (expected a gdlab.optim.numpy optimizer)")
    if method.states:
        raise ValueError(f"Invalid method: {method!r} already holds state; pass a fresh optimizer (or reset() it)")
    try:
        mu, sd, start = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=float)) for a in (mean, std, x0)))
    except ValueError:
        raise ValueError(f"Invalid mean, std, x0: shapes {np.shape(mean)}, {np.shape(std)}, {np.shape(x0)} "
                         "do not broadcast to one length d") from None
    if mu.ndim != 1 or not (np.all(np.isfinite(mu)) and np.all(np.isfinite(start)) and np.all(sd >= 0)
                            and np.all(np.isfinite(sd))):
        raise ValueError("Invalid mean, std, x0: expected finite numbers or 1-D arrays, std >= 0")
    buffers = tuple(buffers)
    rng = np.random.default_rng(seed)
    x = np.tile(start, (n, 1))
    means: dict = {name: [] for name in ("x",) + buffers}
    ses: dict = {name: [] for name in ("x",) + buffers}

    def record(name, a):
        means[name].append(a.mean(axis=0))
        ses[name].append(a.std(axis=0, ddof=1) / math.sqrt(n))

    record("x", x)
    for _ in range(steps):
        g = mu + sd * rng.standard_normal((n, mu.size))
        method.step_arrays([x], [g])
        record("x", x)
        for name in buffers:
            state = method.states[0]
            if name not in state:
                raise ValueError(f"Invalid buffers: {type(method).__name__} has no buffer {name!r} "
                                 f"(it has {sorted(k for k in state if k != 'step')})")
            record(name, np.asarray(state[name], dtype=float))
    if not np.all(np.isfinite(x)):
        warnings.warn(f"noise_streams: {int(np.sum(~np.all(np.isfinite(x), axis=1)))} of {n} streams ended with "
                      "non-finite iterates", RuntimeWarning, stacklevel=2)
    return StreamStats({k: np.array(v) for k, v in means.items()}, {k: np.array(v) for k, v in ses.items()}, n)
