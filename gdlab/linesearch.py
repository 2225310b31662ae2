r"""Step sizes chosen along a direction: line searches and adaptive step rules (NumPy).

Along a direction :math:`d` from :math:`x`, write :math:`\phi(\alpha) = f(x + \alpha d)`, so
:math:`\phi'(0) = g^\top d` with :math:`g = \nabla f(x)`. Every search here requires a
*descent* direction, :math:`g^\top d < 0`, and raises ``ValueError`` otherwise.

* :func:`armijo` -- backtracking: the first :math:`\alpha = \alpha_0\rho^i` (the factor :math:`\rho` is the argument
  ``beta``) with
  :math:`\phi(\alpha) \le \phi(0) + c\,\alpha\,\phi'(0)` (sufficient decrease) {cite}`armijo1966minimization`;
* :func:`wolfe` -- a step satisfying the Wolfe conditions {cite}`wolfe1969convergence`, sufficient
  decrease and :math:`\phi'(\alpha) \ge c_2\phi'(0)` (weak) or :math:`|\phi'(\alpha)| \le c_2|\phi'(0)|`
  (strong), by bracketing and zoom, Algorithms 3.5 and 3.6 of {cite}`nocedal2006numerical`;
* :func:`exact_quadratic` -- the minimiser along :math:`d` of a quadratic with Hessian :math:`A`,
  :math:`\alpha^\star = -g^\top d/d^\top A d` (:math:`g^\top g/g^\top A g` for :math:`d = -g`);
* :func:`polyak` -- Polyak's step :math:`\alpha = \gamma\,(f(x) - f^\star)/\lVert g\rVert^2` {cite}`polyak1987introduction`;
* :class:`BarzilaiBorwein` -- the two-point steps :math:`s^\top s/s^\top y` (BB1) and
  :math:`s^\top y/y^\top y` (BB2), with :math:`s = x_k - x_{k-1}`, :math:`y = g_k - g_{k-1}` {cite}`barzilai1988two`.

Each returns a :class:`LineSearchResult`: the step, and how many function (``nfev``) and
gradient (``ngev``) evaluations it spent beyond the :math:`f(x)` and :math:`g` it was given.
:func:`gd_with` turns any of them into a gradient-descent method for :func:`gdlab.runner.run`; it
reuses what a search evaluated at the accepted point (:math:`f`, and :math:`\nabla f` after a Wolfe
search) and can warm-start Armijo from a multiple of the previous step (``growth``).

What the searches guarantee on an :math:`L`-smooth (and :math:`\mu`-strongly convex) function, the constants of the
step-size chapter: :func:`armijo_floor` and :func:`armijo_max_trials` (backtracking), :func:`wolfe_floor` (the
curvature condition), :func:`exact_search_rate` (exact line search on a quadratic), :func:`polyak_step_floor` and
:func:`polyak_contraction` (Polyak's step).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["LineSearchResult", "armijo", "wolfe", "exact_quadratic", "polyak", "BarzilaiBorwein",
           "GDWithSearch", "gd_with", "armijo_floor", "armijo_max_trials", "wolfe_floor", "exact_search_rate",
           "polyak_step_floor", "polyak_contraction"]


@dataclass(frozen=True)
class LineSearchResult:
    """A step size and its cost.

    ``step`` is the step :math:`\\alpha` (``x_next = x + step * d``); ``nfev`` and ``ngev`` count the
    evaluations of :math:`f` and :math:`\\nabla f` the search made; ``f_new`` and ``g_new`` are
    :math:`f` and :math:`\\nabla f` at the new point when the search computed them (else ``None``);
    ``success`` is False when the search stopped without meeting its conditions (then ``step``
    is the best it found and a ``RuntimeWarning`` says so).
    """

    step: float
    nfev: int = 0
    ngev: int = 0
    f_new: float | None = None
    g_new: np.ndarray | None = None
    success: bool = True


def _pos(name, v, high=None, open_high=True):
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    if ok and high is not None:
        ok = v < high if open_high else v <= high
    if not ok:
        rng = "> 0" if high is None else f"in (0, {high}{')' if open_high else ']'}"
        raise ValueError(f"{name} must be a finite number {rng}, got {name}={v!r}")
    return float(v)


def _slope(g, d) -> float:
    s = float(np.dot(np.ravel(g), np.ravel(d)))
    if not math.isfinite(s):
        raise ValueError(f"the directional derivative g·d is not finite (g·d = {s})")
    if s >= 0:
        raise ValueError(f"d is not a descent direction: g·d = {s} >= 0")
    return s


class _Counted:
    """phi(alpha) and phi'(alpha) with evaluation counts."""

    def __init__(self, f, grad, x, d):
        self.f, self.grad, self.x, self.d = f, grad, np.asarray(x, dtype=float), np.asarray(d, dtype=float)
        self.nfev = self.ngev = 0
        self.last_g: tuple[float, np.ndarray] | None = None

    def phi(self, a: float) -> float:
        self.nfev += 1
        return float(self.f(self.x + a * self.d))

    def dphi(self, a: float) -> float:
        self.ngev += 1
        g = np.asarray(self.grad(self.x + a * self.d), dtype=float)
        self.last_g = (a, g)
        return float(np.dot(g.ravel(), self.d.ravel()))

    def g_at(self, a):
        return self.last_g[1] if self.last_g is not None and self.last_g[0] == a else None


def armijo(f: Callable, x, d, g, f0: float | None = None, alpha0: float = 1.0, c: float = 1e-4,
           beta: float = 0.5, max_iter: int = 60) -> LineSearchResult:
    r"""Backtracking line search: the first :math:`\alpha\in\{\alpha_0, \alpha_0\rho, \alpha_0\rho^2, \dots\}` with

    .. math:: f(x + \alpha d) \le f(x) + c\,\alpha\, g^\top d.

    The backtracking factor :math:`\rho\in(0,1)` is the argument ``beta``. On an :math:`L`-smooth function with
    :math:`d = -g` every :math:`\alpha \le 2(1-c)/L` passes, so the accepted step is at least
    :math:`\min(\alpha_0, 2\rho(1-c)/L)` (:func:`armijo_floor`). A non-finite trial value
    counts as a failure (the search backtracks). ``f0`` is :math:`f(x)` (evaluated, and counted,
    when not given).
    """
    _pos("alpha0", alpha0)
    _pos("c", c, 1.0)
    _pos("beta", beta, 1.0)
    slope = _slope(g, d)
    ev = _Counted(f, None, x, d)
    phi0 = ev.phi(0.0) if f0 is None else float(f0)
    if not math.isfinite(phi0):
        raise ValueError(f"f(x) is not finite (f(x) = {phi0})")
    a = float(alpha0)
    for _ in range(max_iter):
        fa = ev.phi(a)
        if fa <= phi0 + c * a * slope:  # False for nan
            return LineSearchResult(a, ev.nfev, 0, fa)
        a *= beta
    warnings.warn(f"armijo: no step passed the sufficient-decrease test in {max_iter} trials", RuntimeWarning,
                  stacklevel=2)
    return LineSearchResult(a, ev.nfev, 0, None, None, False)


# --- Wolfe: bracketing (N&W Alg. 3.5) and zoom (Alg. 3.6) -------------------------------------
def _quad_min(a, fa, dfa, b, fb):
    """Stationary point of the quadratic with value fa and slope dfa at a, value fb at b
    (a point outside the bracket, e.g. a maximum, is rejected by the caller's range test)."""
    h = b - a
    if h == 0:
        return None
    curv = (fb - fa - dfa * h) / (h * h)
    if curv == 0 or not math.isfinite(curv):
        return None
    t = a - dfa / (2.0 * curv)
    return t if math.isfinite(t) else None


def _cubic_min(a, fa, dfa, b, fb, c, fc):
    """Minimiser of the cubic with value fa, slope dfa at a, through (b, fb) and (c, fc)."""
    hb, hc = b - a, c - a
    if hb == 0 or hc == 0 or hb == hc:
        return None
    rb = (fb - fa - dfa * hb) / (hb * hb)  # = B + A hb
    rc = (fc - fa - dfa * hc) / (hc * hc)  # = B + A hc
    A = (rb - rc) / (hb - hc)
    B = rb - A * hb
    disc = B * B - 3.0 * A * dfa
    if A == 0 or not math.isfinite(A) or not math.isfinite(disc) or disc < 0:
        return None
    t = a + (-B + math.sqrt(disc)) / (3.0 * A)
    return t if math.isfinite(t) else None


def wolfe(f: Callable, grad: Callable, x, d, g, f0: float | None = None, alpha0: float = 1.0,
          c1: float = 1e-4, c2: float = 0.9, strong: bool = True, alpha_max: float | None = None,
          expand: float = 2.0, max_iter: int = 60, zoom_iter: int = 30) -> LineSearchResult:
    r"""A step satisfying the (strong, by default) Wolfe conditions, :math:`0 < c_1 < c_2 < 1`:

    .. math:: \phi(\alpha) \le \phi(0) + c_1\alpha\,\phi'(0), \qquad
              |\phi'(\alpha)| \le c_2|\phi'(0)| \ \text{(strong)}\quad\text{or}\quad \phi'(\alpha) \ge c_2\phi'(0)\ \text{(weak)}.

    Bracketing (N&W Alg. 3.5) tries :math:`\alpha_0, 2\alpha_0, 4\alpha_0,\dots` (factor ``expand``,
    capped at ``alpha_max``; at most ``max_iter`` trials, so by default a first trial far too short,
    :math:`10^{-3}/L` say, can still grow by :math:`2^{59}`) until an interval must contain an
    acceptable step; zoom (Alg. 3.6) shrinks it, choosing trial points by quadratic then cubic
    interpolation, safeguarded by bisection (trial points closer than 10 % / 20 % of the interval to
    its ends are rejected), the choices ``scipy.optimize.line_search`` makes. The result carries :math:`\nabla f` at the
    new point (``g_new``), which quasi-Newton methods reuse.
    """
    _pos("alpha0", alpha0)
    _pos("c1", c1, 1.0)
    _pos("c2", c2, 1.0)
    if not c1 < c2:
        raise ValueError(f"the Wolfe conditions need c1 < c2, got c1={c1}, c2={c2}")
    _pos("expand", expand)
    if expand <= 1:
        raise ValueError(f"expand must exceed 1, got expand={expand}")
    if alpha_max is not None:
        _pos("alpha_max", alpha_max)
    d0 = _slope(g, d)
    ev = _Counted(f, grad, x, d)
    phi0 = ev.phi(0.0) if f0 is None else float(f0)
    if not math.isfinite(phi0):
        raise ValueError(f"f(x) is not finite (f(x) = {phi0})")

    def curvature_ok(dp):
        return abs(dp) <= -c2 * d0 if strong else dp >= c2 * d0

    def armijo_fails(a, pa):
        return not (pa <= phi0 + c1 * a * d0)  # nan fails

    def done(a, pa, success=True):
        g_new = ev.g_at(a)
        if not success:
            warnings.warn("wolfe: no step met the Wolfe conditions; returning the best step found",
                          RuntimeWarning, stacklevel=3)
        return LineSearchResult(a, ev.nfev, ev.ngev, pa, g_new, success)

    def zoom(lo, hi, p_lo, p_hi, dp_lo):
        rec, p_rec = 0.0, phi0
        for i in range(zoom_iter):
            width = hi - lo
            left, right = (hi, lo) if width < 0 else (lo, hi)
            a = None
            if i > 0:
                a = _cubic_min(lo, p_lo, dp_lo, hi, p_hi, rec, p_rec)
                margin = 0.2 * abs(width)
                if a is not None and not (left + margin <= a <= right - margin):
                    a = None
            if a is None:
                a = _quad_min(lo, p_lo, dp_lo, hi, p_hi)
                margin = 0.1 * abs(width)
                if a is None or not (left + margin <= a <= right - margin):
                    a = lo + 0.5 * width
            pa = ev.phi(a)
            if armijo_fails(a, pa) or pa >= p_lo:
                rec, p_rec = hi, p_hi
                hi, p_hi = a, pa
            else:
                dpa = ev.dphi(a)
                if curvature_ok(dpa):
                    return done(a, pa)
                if dpa * (hi - lo) >= 0:
                    rec, p_rec = hi, p_hi
                    hi, p_hi = lo, p_lo
                else:
                    rec, p_rec = lo, p_lo
                lo, p_lo, dp_lo = a, pa, dpa
        return done(lo, p_lo, success=False)

    a_prev, p_prev, dp_prev = 0.0, phi0, d0
    a = float(alpha0) if alpha_max is None else min(float(alpha0), alpha_max)
    for i in range(max_iter):
        pa = ev.phi(a)
        if armijo_fails(a, pa) or (i > 0 and pa >= p_prev):
            return zoom(a_prev, a, p_prev, pa, dp_prev)
        dpa = ev.dphi(a)
        if curvature_ok(dpa):
            return done(a, pa)
        if dpa >= 0:
            return zoom(a, a_prev, pa, p_prev, dpa)
        if alpha_max is not None and a >= alpha_max:
            break
        a_prev, p_prev, dp_prev = a, pa, dpa
        a = expand * a if alpha_max is None else min(expand * a, alpha_max)
    return done(a, pa, success=False)


def exact_quadratic(A, g, d=None) -> LineSearchResult:
    r"""The exact minimiser along :math:`d` of a quadratic with Hessian :math:`A`:

    .. math:: \alpha^\star = \arg\min_\alpha f(x + \alpha d) = -\frac{g^\top d}{d^\top A d},\qquad
              \alpha^\star = \frac{g^\top g}{g^\top A g}\ \text{ for } d = -g.

    ``A`` is a matrix or a function :math:`v \mapsto Av`; no evaluation of :math:`f` or
    :math:`\nabla f` is spent (one product with :math:`A`). Raises ``ValueError`` when :math:`d` is
    not a descent direction or the curvature :math:`d^\top A d` is not positive (no minimiser).
    """
    g = np.asarray(g, dtype=float)
    d = -g if d is None else np.asarray(d, dtype=float)
    slope = _slope(g, d)
    Ad = A(d) if callable(A) else np.asarray(A, dtype=float) @ d
    curv = float(np.dot(d.ravel(), np.ravel(Ad)))
    if not (curv > 0 and math.isfinite(curv)):
        raise ValueError(f"the curvature along d must be positive for an exact step, got d·Ad = {curv}")
    return LineSearchResult(-slope / curv)


def polyak(f_x: float, g, f_star: float, gamma: float = 1.0, max_step: float | None = None) -> LineSearchResult:
    r"""Polyak's step for :math:`d = -g`, :math:`\alpha = \gamma\,(f(x) - f^\star)/\lVert g\rVert^2`
    (optionally capped at ``max_step``). It needs :math:`f^\star`; :math:`f(x) < f^\star` means the
    value given for :math:`f^\star` is wrong and raises ``ValueError``, as does a zero gradient."""
    _pos("gamma", gamma)
    if max_step is not None:
        _pos("max_step", max_step)
    gap = float(f_x) - float(f_star)
    if not math.isfinite(gap):
        raise ValueError(f"f(x) - f_star is not finite (f(x) = {f_x}, f_star = {f_star})")
    # f(x) may round a few ulps below f*: that is the optimum reached, not a wrong f*
    rounding = 16 * np.finfo(float).eps * max(1.0, abs(float(f_x)), abs(float(f_star)))
    if gap < -rounding:
        raise ValueError(f"f_star must not exceed f(x): f_star={f_star} > f(x)={f_x}")
    gap = max(gap, 0.0)
    ga = np.ravel(np.asarray(g, dtype=float))
    gg = float(np.dot(ga, ga))  # the same reduction as the slope g·d of the other searches
    if gg == 0:
        raise ValueError("Polyak's step is undefined at a zero gradient")
    step = gamma * gap / gg
    if max_step is not None:
        step = min(step, max_step)
    return LineSearchResult(step)


class BarzilaiBorwein:
    r"""The Barzilai--Borwein step, a stateful rule: with :math:`s = x_k - x_{k-1}` and
    :math:`y = g_k - g_{k-1}`,

    .. math:: \alpha_k^{\mathrm{BB1}} = \frac{s^\top s}{s^\top y}, \qquad
              \alpha_k^{\mathrm{BB2}} = \frac{s^\top y}{y^\top y},

    clipped to ``[alpha_min, alpha_max]``; the first call returns ``alpha0``. On a quadratic,
    :math:`y = As` and both are inverse Rayleigh quotients, so they lie in :math:`[1/L, 1/\mu]`.
    When :math:`s^\top y \le 0` (negative curvature) the previous step is kept and the result has
    ``success=False``. Call :meth:`reset` before a new run.
    """

    def __init__(self, variant: str = "BB1", alpha0: float = 1e-3, alpha_min: float = 1e-12,
                 alpha_max: float = 1e12):
        if variant not in ("BB1", "BB2"):
            raise ValueError(f"variant must be 'BB1' or 'BB2', got variant={variant!r}")
        self.variant = variant
        self.alpha0 = _pos("alpha0", alpha0)
        self.alpha_min = _pos("alpha_min", alpha_min)
        self.alpha_max = _pos("alpha_max", alpha_max)
        if self.alpha_min > self.alpha_max:
            raise ValueError(f"alpha_min must not exceed alpha_max, got alpha_min={alpha_min} > alpha_max={alpha_max}")
        self.reset()

    def reset(self) -> None:
        self._x = self._g = None
        self._step = self.alpha0

    def __call__(self, x, g) -> LineSearchResult:
        x, g = np.array(x, dtype=float), np.array(g, dtype=float)
        ok = True
        if self._x is not None:
            s, y = (x - self._x).ravel(), (g - self._g).ravel()
            sy = float(s @ y)
            if sy > 0 and math.isfinite(sy):
                raw = float(s @ s) / sy if self.variant == "BB1" else sy / float(y @ y)
                self._step = min(max(raw, self.alpha_min), self.alpha_max)
            else:
                ok = False
        self._x, self._g = x, g
        return LineSearchResult(self._step, success=ok)


class GDWithSearch:
    """Gradient descent :math:`x_{k+1} = x_k - \\alpha_k g_k` with :math:`\\alpha_k` chosen by a search.

    A method for :func:`gdlab.runner.run`: ``method(x, g, k) -> x_next``. It records, per step,
    ``steps`` (:math:`\\alpha_k`), ``nfev`` and ``ngev`` (evaluations the search spent; Polyak's step
    counts its one :math:`f(x_k)`), ``success``, and ``reused_f`` / ``reused_g``: whether
    :math:`f(x_k)` / :math:`g_k` were already known from the previous search, which evaluated them
    at its accepted point. :meth:`evaluations` adds these up into the work done per step. At
    ``k == 0`` the records and any state (Barzilai--Borwein, a warm start) are cleared, so one
    method can serve several runs. At an exactly zero gradient it stays put (step 0).

    **Reuse.** Armijo's accepted trial is :math:`f(x_{k+1})`, and a Wolfe search also evaluates
    :math:`\\nabla f(x_{k+1})`. The next search starts from that :math:`f` instead of evaluating it
    again, and :meth:`values_at` hands both to :func:`gdlab.runner.run`, which then does not
    evaluate :math:`f` or :math:`\\nabla f` at the new iterate itself.

    **Warm start (Armijo).** With ``growth=γ`` (γ ≥ 1) the search at step :math:`k\\ge 1` starts from
    :math:`\\alpha_0^{(k)} = \\gamma\\,\\alpha_{k-1}` instead of the fixed ``alpha0`` (which is used at
    :math:`k = 0`): the step can grow by at most γ per iteration and otherwise backtracks as usual,
    so a search usually costs one or two trials once the step has adapted to the local curvature.
    The floor of the accepted step becomes :math:`\\min(\\alpha_0^{(k)}, 2\\rho(1-c)/L)`, with :math:`\\rho` the
    backtracking factor (``beta``).
    """

    NAMES = ("armijo", "wolfe", "strong_wolfe", "exact", "polyak", "bb1", "bb2")

    def __init__(self, problem, search: str | Callable = "armijo", **options):
        if isinstance(search, str) and search not in self.NAMES:
            raise ValueError(f"search must be one of {self.NAMES} or a callable, got search={search!r}")
        if search == "exact" and not (hasattr(problem, "A") or hasattr(problem, "hess")):
            raise ValueError("search='exact' needs a quadratic problem with a Hessian (problem.A or problem.hess)")
        if search == "polyak" and getattr(problem, "f_star", None) is None:
            raise ValueError("search='polyak' needs problem.f_star")
        options = dict(options)
        growth = options.pop("growth", None)
        if growth is not None:
            if search != "armijo":
                raise ValueError(f"growth (a warm start) applies to search='armijo' only, got search={search!r}")
            ok = isinstance(growth, numbers.Real) and not isinstance(growth, bool) and math.isfinite(growth)
            if not (ok and growth >= 1):
                raise ValueError(f"growth must be a finite number >= 1, got growth={growth!r}")
            growth = float(growth)
            _pos("alpha0", options.get("alpha0", 1.0))
        self.problem, self.search, self.options, self.growth = problem, search, options, growth
        self._bb = BarzilaiBorwein(search.upper(), **options) if search in ("bb1", "bb2") else None
        self._clear()

    @property
    def last_lr(self) -> float:
        """The step taken by the latest call (read by :func:`gdlab.runner.run` into ``Trace.lrs``)."""
        if not self.steps:
            raise AttributeError("no step has been taken yet")
        return self.steps[-1]

    def _clear(self):
        self.steps: list[float] = []
        self.nfev: list[int] = []
        self.ngev: list[int] = []
        self.success: list[bool] = []
        self.reused_f: list[bool] = []
        self.reused_g: list[bool] = []
        self._known: tuple[np.ndarray, float | None, np.ndarray | None] | None = None
        self._handed = False
        if self._bb is not None:
            self._bb.reset()

    def values_at(self, x):
        """``(f(x), grad f(x))`` when the latest search evaluated both at exactly ``x``, else ``None``.

        :func:`gdlab.runner.run` asks before evaluating the problem at a new iterate; a hit is
        recorded in ``reused_g`` of the next step.
        """
        kn = self._known
        if kn is None or kn[1] is None or kn[2] is None or not np.array_equal(kn[0], np.asarray(x, dtype=float)):
            return None
        self._handed = True
        return kn[1], kn[2].copy()

    def evaluations(self) -> np.ndarray:
        """Evaluations of :math:`f` and :math:`\\nabla f` spent per step: ``nfev + ngev``, plus one
        for :math:`g_k` unless it was reused. (The runner's own record of :math:`f(x_0)` is not counted.)"""
        return np.array(self.nfev, dtype=int) + np.array(self.ngev, dtype=int) + 1 - np.array(self.reused_g, dtype=int)

    def _result(self, x, g, f0) -> LineSearchResult:
        p, s, o = self.problem, self.search, self.options
        d = -g
        if s == "armijo":
            if self.growth is not None and self.steps and self.steps[-1] > 0:
                o = {**o, "alpha0": self.growth * self.steps[-1]}
            return armijo(p.f, x, d, g, f0=f0, **o)
        if s in ("wolfe", "strong_wolfe"):
            return wolfe(p.f, p.grad, x, d, g, f0=f0, strong=(s == "strong_wolfe"), **o)
        if s == "exact":
            A = p.A if hasattr(p, "A") else p.hess(x)
            return exact_quadratic(A, g)
        if s == "polyak":
            r = polyak(p.f(x), g, p.f_star, **o)
            return LineSearchResult(r.step, nfev=1)
        if self._bb is not None:
            return self._bb(x, g)
        return s(p, x, d, g)

    def __call__(self, x, g, k):
        if k == 0:
            self._clear()
        x, g = np.asarray(x, dtype=float), np.asarray(g, dtype=float)
        kn = self._known
        same = kn is not None and np.array_equal(kn[0], x)
        f0 = kn[1] if same else None
        reused_g = same and self._handed
        self._handed = False
        if not np.any(g):
            r = LineSearchResult(0.0)
            if self._bb is not None:  # keep the BB state in step with the iterates
                self._bb(x, g)
        else:
            r = self._result(x, g, f0)
        self.steps.append(float(r.step))
        self.nfev.append(r.nfev)
        self.ngev.append(r.ngev)
        self.success.append(r.success)
        self.reused_f.append(f0 is not None and self.search in ("armijo", "wolfe", "strong_wolfe"))
        self.reused_g.append(reused_g)
        x_next = x - r.step * g
        if r.success and r.f_new is not None:
            self._known = (x_next, float(r.f_new), None if r.g_new is None else np.array(r.g_new, dtype=float))
        else:
            self._known = None
        return x_next


def gd_with(problem, search: str | Callable = "armijo", **options) -> GDWithSearch:
    """Gradient descent whose step is chosen by ``search`` on ``problem`` (see :class:`GDWithSearch`).

    ``search`` is one of ``"armijo"``, ``"wolfe"``, ``"strong_wolfe"``, ``"exact"`` (quadratics),
    ``"polyak"`` (needs ``problem.f_star``), ``"bb1"``, ``"bb2"``, or a callable
    ``search(problem, x, d, g) -> LineSearchResult``; ``options`` go to the search
    (e.g. ``c=0.3, beta=0.7`` for Armijo; ``growth=2.0`` starts each Armijo search from twice the
    previous step). ``problem`` needs ``f`` and ``grad`` (and ``A`` or ``hess`` for ``"exact"``).
    """
    return GDWithSearch(problem, search, **options)


# --- what the searches guarantee ----------------------------------------------------------------
def _sc(L, mu=None):
    L = _pos("L", L)
    if mu is None:
        return L
    mu = _pos("mu", mu)
    if mu > L:
        raise ValueError(f"mu must not exceed L, got mu={mu}, L={L}")
    return L, mu


def armijo_floor(L: float, c: float = 1e-4, beta: float = 0.5, alpha0: float = 1.0) -> float:
    r"""The smallest step Armijo backtracking accepts along :math:`d = -g` on an :math:`L`-smooth function,

    .. math:: \alpha \ge \min\Big(\alpha_0, \frac{2\rho(1-c)}{L}\Big),

    with :math:`\rho` the backtracking factor (``beta``): every :math:`\alpha \le 2(1-c)/L` passes, so the accepted
    step is :math:`\alpha_0` or was preceded by a failed :math:`\alpha/\rho > 2(1-c)/L`. Attained in the limit on
    :math:`f(x) = \frac L2 x^2` from :math:`\alpha_0` just above :math:`2(1-c)/L`.
    """
    L, c, beta, alpha0 = _sc(L), _pos("c", c, 1.0), _pos("beta", beta, 1.0), _pos("alpha0", alpha0)
    return min(alpha0, 2.0 * beta * (1.0 - c) / L)


def armijo_max_trials(L: float, c: float = 1e-4, beta: float = 0.5, alpha0: float = 1.0) -> int:
    r"""The most trial points Armijo backtracking evaluates on an :math:`L`-smooth function along :math:`d = -g`,

    .. math:: 1 + \max\Big(0, \Big\lceil \log_{1/\rho}\frac{\alpha_0 L}{2(1-c)} \Big\rceil\Big),

    the accepted trial included (:math:`\rho` is ``beta``); attained on :math:`f(x) = \frac L2 x^2`, where the
    steps that pass are exactly :math:`(0, 2(1-c)/L]`.
    """
    L, c, beta, alpha0 = _sc(L), _pos("c", c, 1.0), _pos("beta", beta, 1.0), _pos("alpha0", alpha0)
    return 1 + max(0, math.ceil(math.log(alpha0 * L / (2.0 * (1.0 - c))) / math.log(1.0 / beta)))


def wolfe_floor(L: float, c2: float = 0.9, slope: float | None = None, d_sq: float | None = None) -> float:
    r"""The shortest step that can satisfy the curvature condition :math:`\phi'(\alpha) \ge c_2\phi'(0)` on an
    :math:`L`-smooth function,

    .. math:: \alpha \ge \frac{(1-c_2)\,|\nabla f(x)^\top d|}{L\,\|d\|^2},

    which is :math:`(1-c_2)/L` along :math:`d = -\nabla f(x)` (the default, when ``slope`` :math:`= g^\top d` and
    ``d_sq`` :math:`= \|d\|^2` are not given). Attained on :math:`f(x) = \frac L2 x^2`.
    """
    L, c2 = _sc(L), _pos("c2", c2, 1.0)
    ratio = 1.0
    if slope is not None or d_sq is not None:
        if slope is None or d_sq is None:
            raise ValueError("give both slope (g·d) and d_sq (||d||^2), or neither")
        ratio = abs(float(slope)) / _pos("d_sq", d_sq)
    return (1.0 - c2) * ratio / L


def exact_search_rate(L: float, mu: float) -> float:
    r"""The factor per step on :math:`f(x_k) - f^\star` of steepest descent with exact line search on a quadratic
    with eigenvalues in :math:`[\mu, L]`, :math:`\big(\frac{\kappa-1}{\kappa+1}\big)^2` (Kantorovich; Nocedal &
    Wright, Theorem 3.3); attained at every step from an error :math:`(1/\mu, 1/L)` in the extreme eigenvectors.
    """
    L, mu = _sc(L, mu)
    return ((L - mu) / (L + mu)) ** 2


def polyak_step_floor(L: float) -> float:
    r"""Polyak's step :math:`(f(x)-f^\star)/\|\nabla f(x)\|^2` is at least :math:`1/(2L)` on an :math:`L`-smooth
    function (as :math:`\|\nabla f(x)\|^2 \le 2L(f(x)-f^\star)`); equal to it on :math:`f(x) = \frac L2 x^2`."""
    return 1.0 / (2.0 * _sc(L))


def polyak_contraction(L: float, mu: float) -> float:
    r"""The contraction :math:`\|x_{k+1}-x^\star\|^2 \le (1 - \frac{1}{4\kappa})\|x_k-x^\star\|^2` of Polyak's step
    on a :math:`\mu`-strongly convex, :math:`L`-smooth function, :math:`\kappa = L/\mu`.

    The proof's constant, not a tight one: on a quadratic the worst single step contracts by exactly
    :math:`1 - 3\kappa/(\kappa+1)^2 \approx 1 - 3/\kappa` (from the error with weights :math:`\kappa/(\kappa+1)` and
    :math:`1/(\kappa+1)` on the extreme eigenvectors, by Kantorovich's inequality), so no smaller factor holds on the
    class; the theorem does not say which factor in between holds on every smooth strongly convex function.
    """
    L, mu = _sc(L, mu)
    return 1.0 - mu / (4.0 * L)
