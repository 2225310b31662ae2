r"""Checks a reader can trust: each assertion states its tolerance, where the tolerance comes from, and what it saw.

A chapter proves a claim with an ``assert``; this module is how the chapters write those asserts so that they hold on
every IEEE machine when the claim is true and fail when it is false. Every check prints one line,

.. code-block:: text

    check  rate at alpha = 2/(mu+L): measured 0.980198, theory 0.980198 | |log ratio - 1| = 2.1e-07 <= 1e-03
           (rejects 1 - 1/kappa = 0.990000: 0.98)

and raises :class:`CheckFailed` (an ``AssertionError``) naming what was expected and what was got.

Tolerances are of two kinds, and a :class:`Tolerance` carries its reason so the page can print it:

* **rounding** (:func:`rounding`): a multiple of the machine epsilon :math:`\varepsilon` of the dtype times a growth
  factor, :math:`c\,n\,\varepsilon\,G`. Two implementations that sum in different orders (``g @ g`` against
  ``np.sum(g**2)``, a BLAS kernel against another) differ by about :math:`n\varepsilon` relative per reduction of
  length :math:`n`, and a recursion amplifies that by its growth factor :math:`G` per step. Compare two
  implementations one step at a time from the same state (:func:`same_steps`), where :math:`G = 1`, rather than over
  a long cancelling recursion;
* **measured** (:func:`measured`): a tolerance set from the accuracy of an estimate (a rate read off a finite run, a
  Monte Carlo mean), with the argument written in its ``reason``.

Rates are compared on the log scale, :math:`|\log\hat q/\log q - 1|`, which is the relative error of the number of
steps per decade; :func:`rate` also takes the natural wrong formulas and refuses a tolerance too loose to tell them
from the right one, so a passing check shows that it could have failed.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

__all__ = ["CheckFailed", "Tolerance", "rounding", "measured", "eps", "close", "same_steps", "rate", "at_most",
           "between", "budget", "quiet", "without"]

_VERBOSE = [True]


class CheckFailed(AssertionError):
    """A check whose claim did not hold; the message says what was expected and what was got."""


@dataclass(frozen=True)
class Tolerance:
    """A tolerance and the argument for it (printed beside every check that uses it)."""

    value: float
    reason: str

    def __post_init__(self):
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ValueError(f"Invalid tolerance: value={self.value!r} (expected a finite number >= 0)")

    def __float__(self) -> float:
        return float(self.value)

    def __str__(self) -> str:
        return f"{self.value:.1e} ({self.reason})"


def eps(dtype=np.float64) -> float:
    """The machine epsilon of ``dtype`` (a NumPy or torch floating dtype, or its name)."""
    name = str(dtype)
    if name.startswith("torch."):  # a torch dtype, without importing torch
        name = name[len("torch."):]
        if name == "bfloat16":
            return 2.0**-7
        return float(np.finfo(np.dtype(name)).eps)
    if name == "bfloat16":
        return 2.0**-7
    return float(np.finfo(dtype).eps)


def rounding(ops: float = 1, growth: float = 1.0, dtype=np.float64, *, why: str = "") -> Tolerance:
    r"""The rounding tolerance :math:`\text{ops}\cdot\varepsilon\cdot\text{growth}` of ``dtype``.

    ``ops`` counts the roundings that can accumulate (the length of a sum, the operations of one step), ``growth``
    bounds how much later steps amplify an early difference (1 for a single step from a common state).
    """
    if not (ops > 0 and growth >= 1):
        raise ValueError(f"Invalid rounding tolerance: ops={ops!r}, growth={growth!r} (expected ops > 0, growth >= 1)")
    e = eps(dtype)
    reason = f"{ops:g} eps x growth {growth:g}" + (f": {why}" if why else "")
    return Tolerance(ops * e * growth, reason)


def measured(value: float, why: str) -> Tolerance:
    """A tolerance set by the accuracy of a measurement; ``why`` states the argument."""
    if not why:
        raise ValueError("a measured tolerance needs its reason: why=...")
    return Tolerance(float(value), why)


def _tol(tol) -> Tolerance:
    if isinstance(tol, Tolerance):
        return tol
    raise TypeError(f"tol must be a gdlab.checks.Tolerance (rounding(...) or measured(...)), got {type(tol).__name__}")


def _report(ok: bool, line: str, failure: str) -> None:
    if ok:
        if _VERBOSE[0]:
            print(f"check  {line}")
        return
    raise CheckFailed(failure)


class quiet:
    """``with checks.quiet():`` runs checks without printing their lines (failures still raise)."""

    def __enter__(self):
        self._old = _VERBOSE[0]
        _VERBOSE[0] = False

    def __exit__(self, *exc):
        _VERBOSE[0] = self._old
        return False


def _fmt(v) -> str:
    a = np.asarray(v)
    if a.size == 1:
        return f"{float(a.reshape(())):.6g}"
    return np.array2string(a.ravel()[:6], precision=6, separator=", ") + ("..." if a.size > 6 else "")


def close(got, expected, tol: Tolerance, *, what: str, scale=None) -> float:
    r"""Assert :math:`\max|{\rm got}-{\rm expected}| \le \text{tol}\cdot\text{scale}` and return the relative error.

    ``scale`` defaults to :math:`\max(|{\rm expected}|)`; pass the size of the quantities that were combined when the
    result itself may be near zero (a gradient at the optimum, a cancelled sum).
    """
    t = _tol(tol)
    g = np.asarray(got, dtype=float)
    e = np.asarray(expected, dtype=float)
    if g.shape != e.shape:
        raise CheckFailed(f"{what}: expected shape {e.shape}, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise CheckFailed(f"{what}: got non-finite values: {_fmt(g)}")
    s = float(np.max(np.abs(e))) if scale is None else float(scale)
    s = s if s > 0 else 1.0
    err = float(np.max(np.abs(g - e))) / s if g.size else 0.0
    _report(err <= t.value, f"{what}: largest relative difference {err:.1e} <= {t}",
            f"{what}: relative difference {err:.3e} > tolerance {t}\nexpected {_fmt(e)}\ngot      {_fmt(g)}")
    return err


def same_steps(step: Callable, inputs: Iterable, outputs: Iterable, tol: Tolerance, *, what: str,
               scale: Callable | None = None) -> float:
    r"""Assert that ``step(inputs[k])`` equals ``outputs[k]`` for every k, within ``tol``: two implementations of one
    update compared one step at a time from the same state, so that no difference can grow along the run.

    ``scale(inputs[k], outputs[k])`` gives the size of the step's quantities (default: the larger of
    :math:`\max|{\rm input}|` and :math:`\max|{\rm output}|` when both are arrays). Returns the largest relative
    difference.
    """
    t = _tol(tol)
    worst, where, n = 0.0, -1, 0
    worst_pair = (None, None)
    for k, (x, y) in enumerate(zip(inputs, outputs)):
        got = np.asarray(step(x), dtype=float)
        ref = np.asarray(y, dtype=float)
        if got.shape != ref.shape:
            raise CheckFailed(f"{what}: step {k}: expected shape {ref.shape}, got shape {got.shape}")
        if scale is not None:
            s = float(scale(x, y))
        else:
            s = max(float(np.max(np.abs(ref))), float(np.max(np.abs(np.asarray(x, dtype=float)))))
        s = s if s > 0 else 1.0
        err = float(np.max(np.abs(got - ref))) / s if np.all(np.isfinite(got)) else math.inf
        if err > worst or where < 0:
            worst, where, worst_pair = err, k, (ref, got)
        n += 1
    if n == 0:
        raise CheckFailed(f"{what}: no steps to compare")
    _report(worst <= t.value, f"{what}: {n} steps from the same state, largest relative difference {worst:.1e} <= {t}",
            f"{what}: at step {where} the two updates differ by {worst:.3e} relative, above the tolerance {t}"
            + (f"\nexpected {_fmt(worst_pair[0])}\ngot      {_fmt(worst_pair[1])}" if where >= 0 else ""))
    return worst


def _log_err(q_hat: float, q: float) -> float:
    if not (0 < q_hat and 0 < q and q != 1 and q_hat != 1):
        return math.inf
    return abs(math.log(q_hat) / math.log(q) - 1)


def rate(measured_q: float, predicted: float, tol: Tolerance, *, what: str,
         alternatives: Mapping[str, float] | None = None) -> float:
    r"""Assert :math:`|\log\hat q/\log q - 1| \le \text{tol}` for a measured factor per step :math:`\hat q` and the
    predicted :math:`q`; return the error.

    Each entry of ``alternatives`` (a wrong formula's name and value) must be rejected by the same tolerance: if one
    is not, the check raises ``ValueError``, since it could not tell the theory from that formula.
    """
    t = _tol(tol)
    q_hat, q = float(measured_q), float(predicted)
    err = _log_err(q_hat, q)
    rejected = []
    for name, alt in (alternatives or {}).items():
        e_alt = _log_err(q_hat, float(alt))
        if e_alt <= t.value:
            raise ValueError(f"{what}: the tolerance {t.value:.1e} cannot tell the theory {q:.6g} from {name} = "
                             f"{float(alt):.6g} (|log ratio - 1| = {e_alt:.2e}); tighten it or measure more accurately")
        rejected.append(f"{name} = {float(alt):.6g}: {e_alt:.2g}")
    tail = f" (rejects {'; '.join(rejected)})" if rejected else ""
    _report(err <= t.value,
            f"{what}: measured {q_hat:.6g}, theory {q:.6g} | |log ratio - 1| = {err:.1e} <= {t}{tail}",
            f"{what}: expected a factor per step of {q:.6g}, got {q_hat:.6g}: |log ratio - 1| = {err:.3e} > {t}")
    return err


def at_most(values, bounds, *, what: str, rtol: Tolerance, at_least: float | None = None) -> float:
    r"""Assert ``values <= bounds * (1 + rtol)`` everywhere and return :math:`\max(\text{values}/\text{bounds})`.

    With ``at_least``, also assert that the largest ratio reaches it: the bound is then shown to be nearly attained,
    so a bound stronger by a factor of more than ``1/at_least`` would have failed.
    """
    t = _tol(rtol)
    v = np.asarray(values, dtype=float)
    b = np.asarray(bounds, dtype=float)
    v, b = np.broadcast_arrays(v, b)
    if not np.all(np.isfinite(v)):
        raise CheckFailed(f"{what}: got non-finite values")
    finite = np.isfinite(b)
    ratio = np.where(finite & (b > 0), v / np.where(b > 0, b, 1.0), np.where(v <= 0, 0.0, np.inf))
    ratio = np.where(finite, ratio, 0.0)
    worst = float(np.max(ratio)) if ratio.size else 0.0
    k = int(np.argmax(ratio)) if ratio.size else -1
    ok = worst <= 1 + t.value
    tail, ok_tight = "", True
    if at_least is not None:
        tail = f", and reaches {at_least:.6g} (the bound is nearly attained)"
        ok_tight = worst >= at_least
    if not ok:
        failure = (f"{what}: at index {k} the value {v.ravel()[k]:.6g} exceeds the bound {b.ravel()[k]:.6g} "
                   f"(ratio {worst:.6g} > 1 + {t}): expected at most {b.ravel()[k]:.6g}, got {v.ravel()[k]:.6g}")
    elif not ok_tight:
        failure = (f"{what}: the largest value/bound is {worst:.6g}, below {at_least:.6g}: the bound is not attained "
                   f"(expected a ratio of at least {at_least:.6g}, got {worst:.6g})")
    else:
        failure = ""
    _report(ok and ok_tight, f"{what}: largest value/bound {worst:.6g} <= 1 + {t}{tail}", failure)
    return worst


def between(value: float, lo: float, hi: float, *, what: str, why: str = "") -> float:
    """Assert ``lo <= value <= hi`` and return ``value``; ``why`` says where the interval comes from."""
    v = float(value)
    ok = math.isfinite(v) and lo <= v <= hi
    reason = f" ({why})" if why else ""
    _report(ok, f"{what}: {v:.6g} in [{lo:.6g}, {hi:.6g}]{reason}",
            f"{what}: expected a value in [{lo:.6g}, {hi:.6g}]{reason}, got {v:.6g}")
    return v


def budget(needed: int | None, steps: int, *, what: str, headroom: float = 2.0) -> int:
    """Assert that a run which needed ``needed`` steps had a budget ``steps`` at least ``headroom`` times larger.

    A budget with headroom does not fail when another machine's rounding changes the need by a few steps.
    """
    if needed is None:
        raise CheckFailed(f"{what}: the target was not reached within {steps} steps (expected a step count, got None)")
    ok = steps >= headroom * needed
    _report(ok, f"{what}: needed {needed} steps, budget {steps} ({steps / max(needed, 1):.1f}x >= {headroom:g}x headroom)",
            f"{what}: a budget of {steps} steps leaves less than {headroom:g}x headroom over the {needed} needed "
            f"(expected at least {headroom:g}x, got {steps / max(needed, 1):.2f}x)")
    return int(needed)


def _codes(answer) -> list:
    """The code objects whose running means that ``answer`` was called: a function's own, a method's, or, for a
    class, those of the methods written in its own body."""
    seen = answer
    while hasattr(seen, "__wrapped__"):  # functools.wraps, lru_cache
        seen = seen.__wrapped__
    seen = getattr(seen, "__func__", seen)  # a bound or class method
    if hasattr(seen, "__code__"):
        return [seen.__code__]
    if isinstance(seen, type):  # the methods written in the class's own body (not ones it shares with others)
        codes = []
        for value in vars(seen).values():
            fn = getattr(value, "__func__", value)
            code = getattr(fn, "__code__", None)
            if code is not None and getattr(code, "co_qualname", fn.__qualname__).startswith(seen.__qualname__ + "."):
                codes.append(code)
        rule = getattr(seen, "rule_class", None)  # an optimizer's face (gdlab.optim.numpy.Adam): its update rule
        if isinstance(rule, type) and rule is not seen:
            codes += _codes(rule)
        if codes:
            return codes
    raise TypeError(f"without: answers must be Python functions, methods or classes defining their own methods, "
                    f"got {answer!r}")


def _name(answer) -> str:
    module = getattr(answer, "__module__", None) or ""
    return f"{module}.{getattr(answer, '__qualname__', repr(answer))}".lstrip(".")


class without:
    """``with checks.without(fn, ...):`` runs an exercise's code and fails if it called any of the given functions.

    An exercise asks for a computation to be written; when gdlab already has the answer, the check runs the student's
    function inside this block with the answering functions forbidden. The calls are caught however the function
    was imported or renamed (``sys.setprofile`` watches for their code objects being entered), and the block fails
    with :class:`CheckFailed` naming what was called. A class is forbidden through the methods it defines itself.
    """

    def __init__(self, *answers, what: str = "your solution"):
        if not answers:
            raise TypeError("without() needs at least one function to forbid")
        self.what = what
        self._forbidden = {code: _name(fn) for fn in answers for code in _codes(fn)}
        self.called: list[str] = []

    def _watch(self, frame, event, arg):
        if event == "call" and frame.f_code in self._forbidden:
            name = self._forbidden[frame.f_code]
            if name not in self.called:
                self.called.append(name)
        if self._previous is not None:
            self._previous(frame, event, arg)

    def __enter__(self):
        self.called = []
        self._previous = sys.getprofile()
        sys.setprofile(self._watch)
        return self

    def __exit__(self, kind, value, tb):
        sys.setprofile(self._previous)
        if self.called:
            raise CheckFailed(f"{self.what}: the exercise asks for this to be written, not called; got a call of "
                              f"{', '.join(self.called)}")
        return False
