r"""A small language in which an optimizer's update is written once, and both printed and run.

A :class:`Card` is a list of assignments (:class:`Let`) whose right-hand sides are expressions built from symbols
(:class:`Sym`), numbers and a few operators. The same objects render to LaTeX (:meth:`Card.tex`, what the
Optimizer reference page prints) and evaluate on NumPy arrays (:meth:`Card.run`), so the equation a reader sees is
the one a test can execute: ``tests/test_reference_cards.py`` runs every card from a rule's state and compares the
result with one step of the rule. A wrong symbol in a card, or a wrong formula in a rule, fails that test.

.. code-block:: python

    m = Let("m_t", b1 * m_prev + (1 - b1) * g, out="state:exp_avg")
    Card(m, Let(r"\theta_t", theta - eta * m, out="param"))

A symbol names where its value comes from: ``"param"`` (the parameter before the step), ``"grad"``, ``"t"`` (the
step count, 1 at the first step), ``"hp:lr"`` or ``"hp:betas.0"`` (a hyperparameter, or one entry of it),
``"state:exp_avg"`` (a buffer before the step), ``"extra:hessian"`` (an extra input of the step), or any function
of the :class:`Inputs`. A :class:`Let` with ``out="param"`` or ``out="state:<buffer>"`` is a value the rule must
reproduce. Arithmetic on arrays is element by element, as everywhere in the book; matrix products are written
with ``@`` and print as juxtaposition, element-wise products of matrices print as :math:`\odot`.

This module imports NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5


@dataclass
class Inputs:
    """What a card can read: one parameter before a step, its gradient, the rule's state, the step count t."""

    param: Any
    grad: Any
    state: dict
    hp: dict
    t: int
    extras: dict = field(default_factory=dict)


def _lift(x) -> "Expr":
    if isinstance(x, Expr):
        return x
    if isinstance(x, (int, float, np.floating, np.integer)):
        return Num(float(x))
    raise TypeError(f"cannot use {x!r} in a card expression")


def _paren(tex: str) -> str:
    big = any(s in tex for s in (r"\frac", r"\sqrt", r"\sum", r"\max", r"\min", r"\lVert"))
    return rf"\left({tex}\right)" if big else f"({tex})"


class Expr:
    """An expression: renders with :meth:`tex`, evaluates with :meth:`ev` on a dict of values."""

    prec = ATOM

    def tex(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def ev(self, env: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def wrap(self, prec: int) -> str:
        """The LaTeX of this expression, in parentheses if it binds less tightly than ``prec``."""
        return _paren(self.tex()) if self.prec < prec else self.tex()

    def __add__(self, o):
        return Add(self, _lift(o))

    def __radd__(self, o):
        return Add(_lift(o), self)

    def __sub__(self, o):
        return Sub(self, _lift(o))

    def __rsub__(self, o):
        return Sub(_lift(o), self)

    def __mul__(self, o):
        return Mul(self, _lift(o))

    def __rmul__(self, o):
        return Mul(_lift(o), self)

    def __truediv__(self, o):
        return Frac(self, _lift(o))

    def __rtruediv__(self, o):
        return Frac(_lift(o), self)

    def __neg__(self):
        return Neg(self)

    def __pow__(self, p):
        return Pow(self, _lift(p))

    def __matmul__(self, o):
        return MatMul(self, _lift(o))


class Sym(Expr):
    """A named input: ``Sym(r"\\beta_1", "hp:betas.0")``; ``source`` may also be a function of :class:`Inputs`."""

    def __init__(self, tex: str, source: str | Callable[[Inputs], Any]):
        self._tex, self.source = tex, source

    def tex(self) -> str:
        return self._tex

    def ev(self, env: dict):
        return env[id(self)]

    def fetch(self, inp: Inputs):
        """The value of this symbol for one step's inputs."""
        s = self.source
        if callable(s):
            return s(inp)
        kind, _, rest = s.partition(":")
        if s == "param":
            return np.array(inp.param, dtype=float, copy=True)
        if s == "grad":
            return np.array(inp.grad, dtype=float, copy=True)
        if s == "t":
            return float(inp.t)
        if kind == "hp":
            name, _, index = rest.partition(".")
            value = inp.hp[name]
            return value[int(index)] if index else value
        if kind == "state":   # a buffer not created yet reads as zeros
            value = inp.state.get(rest)
            if value is None:
                return np.zeros_like(np.asarray(inp.param, dtype=float))
            return np.array(value, dtype=float, copy=True) if isinstance(value, np.ndarray) else value
        if kind == "extra":
            return inp.extras.get(rest)
        raise ValueError(f"unknown source {s!r} for the symbol {self._tex}")


class Num(Expr):
    """A number, printed as ``tex`` (default: the shortest form of the value)."""

    def __init__(self, value: float, tex: str | None = None):
        self.value, self._tex = value, tex

    @property
    def prec(self):
        return UNARY if self.value < 0 else ATOM

    def tex(self) -> str:
        if self._tex is not None:
            return self._tex
        v = self.value
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    def ev(self, env: dict):
        return self.value


class Add(Expr):
    prec = ADD

    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b

    def tex(self) -> str:
        if isinstance(self.b, Neg):
            return f"{self.a.tex()} - {self.b.a.wrap(MUL)}"
        return f"{self.a.tex()} + {self.b.tex()}"

    def ev(self, env):
        return self.a.ev(env) + self.b.ev(env)


class Sub(Expr):
    prec = ADD

    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b

    def tex(self) -> str:
        return f"{self.a.tex()} - {self.b.wrap(MUL)}"

    def ev(self, env):
        return self.a.ev(env) - self.b.ev(env)


class Neg(Expr):
    prec = UNARY

    def __init__(self, a: Expr):
        self.a = a

    def tex(self) -> str:
        return f"-{self.a.wrap(MUL)}"

    def ev(self, env):
        return -self.a.ev(env)


def _juxtapose(left: str, right: str) -> str:
    return rf"{left}\cdot {right}" if right[:1].isdigit() else rf"{left}\,{right}"


class Mul(Expr):
    """A product, element by element (or a number times an array); printed by juxtaposition."""

    prec = MUL

    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b

    def tex(self) -> str:
        return _juxtapose(self.a.wrap(MUL), self.b.wrap(POW if isinstance(self.b, Neg) else MUL))

    def ev(self, env):
        return self.a.ev(env) * self.b.ev(env)


class Hadamard(Mul):
    """The element-wise product of two matrices, printed :math:`a\\odot b`."""

    def tex(self) -> str:
        return rf"{self.a.wrap(MUL)}\odot {self.b.wrap(POW)}"


class MatMul(Expr):
    """A matrix product, printed by juxtaposition."""

    prec = MUL

    def __init__(self, a: Expr, b: Expr):
        self.a, self.b = a, b

    def tex(self) -> str:
        return _juxtapose(self.a.wrap(MUL), self.b.wrap(POW))

    def ev(self, env):
        return self.a.ev(env) @ self.b.ev(env)


class Frac(Expr):
    """A quotient, printed :math:`\\frac{a}{b}` (or ``a/b`` with ``inline=True``)."""

    def __init__(self, a: Expr, b: Expr, inline: bool = False):
        self.a, self.b, self.inline = a, b, inline

    @property
    def prec(self):
        return MUL if self.inline else ATOM

    def tex(self) -> str:
        if self.inline:
            return f"{self.a.wrap(MUL)}/{self.b.wrap(POW)}"
        return rf"\frac{{{self.a.tex()}}}{{{self.b.tex()}}}"

    def ev(self, env):
        with np.errstate(divide="ignore"):
            return np.divide(self.a.ev(env), self.b.ev(env))


def slash(a, b) -> Frac:
    """``a/b`` printed inline."""
    return Frac(_lift(a), _lift(b), inline=True)


class Pow(Expr):
    prec = POW

    def __init__(self, a: Expr, p: Expr):
        self.a, self.p = a, p

    def tex(self) -> str:
        base = self.a.wrap(ATOM) if not isinstance(self.a, Sym) else self.a.tex()
        return f"{base}^{{{self.p.tex()}}}"

    def ev(self, env):
        return np.power(self.a.ev(env), self.p.ev(env))


class Sqrt(Expr):
    def __init__(self, a):
        self.a = _lift(a)

    def tex(self) -> str:
        return rf"\sqrt{{{self.a.tex()}}}"

    def ev(self, env):
        with np.errstate(invalid="ignore"):   # a root that a branch not taken would need (RAdam's r_t at rho_t <= 4)
            return np.sqrt(self.a.ev(env))


class Fn(Expr):
    """A named function of its arguments: ``Fn(r"\\max", np.maximum, a, b)`` prints :math:`\\max(a, b)`."""

    def __init__(self, name: str, f: Callable, *args, sub: str = ""):
        self.name, self.f, self.args, self.sub = name, f, [_lift(a) for a in args], sub

    def tex(self) -> str:
        inner = ", ".join(a.tex() for a in self.args)
        return f"{self.name}{self.sub}{_paren(inner)}"

    def ev(self, env):
        return self.f(*(a.ev(env) for a in self.args))


def maximum(a, b) -> Fn:
    return Fn(r"\max", np.maximum, a, b)


def minimum(a, b) -> Fn:
    return Fn(r"\min", np.minimum, a, b)


def sign(a) -> Fn:
    return Fn(r"\operatorname{sign}", np.sign, a)


def clip(a, c) -> Fn:
    return Fn(r"\operatorname{clip}", lambda x, b: np.clip(x, -b, b), a, c)


def rms(a) -> Fn:
    return Fn(r"\mathrm{RMS}", lambda x: float(np.sqrt(np.mean(np.square(x)))), a)


class Norm(Expr):
    """The Euclidean (for a matrix: Frobenius) norm of the whole tensor, :math:`\\lVert a\\rVert`."""

    def __init__(self, a):
        self.a = _lift(a)

    def tex(self) -> str:
        return rf"\lVert {self.a.tex()}\rVert"

    def ev(self, env):
        return float(np.linalg.norm(np.ravel(self.a.ev(env))))


class T(Expr):
    """A transpose, :math:`a^\\top`."""

    def __init__(self, a):
        self.a = _lift(a)

    def tex(self) -> str:
        return rf"{self.a.wrap(ATOM)}^\top"

    def ev(self, env):
        return np.swapaxes(self.a.ev(env), -1, -2)


def _sym_power(a, p):
    w, q = np.linalg.eigh(a)
    return (q * w**p) @ q.T


class MatPow(Expr):
    """A power of a symmetric positive definite matrix, by eigendecomposition: :math:`A^{p}`."""

    prec = POW

    def __init__(self, a, p: float, tex: str):
        self.a, self.p, self._ptex = _lift(a), p, tex

    def tex(self) -> str:
        return f"{self.a.wrap(ATOM)}^{{{self._ptex}}}"

    def ev(self, env):
        return _sym_power(self.a.ev(env), self.p)


class Cases(Expr):
    """``Cases((value, condition), ..., otherwise=value)``: the first branch whose condition holds.

    A condition is an :class:`Expr` evaluating to a truth value (e.g. :class:`Gt`) or ``(tex, function of the
    values)``. Only the branch taken is evaluated.
    """

    def __init__(self, *branches, otherwise):
        self.branches = [(_lift(v), c) for v, c in branches]
        self.otherwise = _lift(otherwise)

    def tex(self) -> str:
        rows = [rf"{v.tex()} & \text{{if }} {c.tex()}" for v, c in self.branches]
        rows.append(rf"{self.otherwise.tex()} & \text{{otherwise}}")
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    def ev(self, env):
        for v, c in self.branches:
            if bool(c.ev(env)):
                return v.ev(env)
        return self.otherwise.ev(env)


class Gt(Expr):
    prec = ADD

    def __init__(self, a, b):
        self.a, self.b = _lift(a), _lift(b)

    def tex(self) -> str:
        return f"{self.a.tex()} > {self.b.tex()}"

    def ev(self, env):
        return self.a.ev(env) > self.b.ev(env)


class Eq(Gt):
    def tex(self) -> str:
        return f"{self.a.tex()} = {self.b.tex()}"

    def ev(self, env):
        return self.a.ev(env) == self.b.ev(env)


class Divides(Gt):
    """:math:`b \\mid a`: ``a`` is a multiple of ``b``."""

    def tex(self) -> str:
        return rf"{self.b.tex()} \mid {self.a.tex()}"

    def ev(self, env):
        return float(self.a.ev(env)) % float(self.b.ev(env)) == 0


class Flag(Expr):
    """A yes/no hyperparameter, printed as words: ``Flag("Nesterov", "hp:nesterov")``."""

    def __init__(self, words: str, source: str):
        self.words, self.sym = words, Sym(words, source)

    def tex(self) -> str:
        return rf"\text{{{self.words}}}"

    def ev(self, env):
        return bool(self.sym.ev(env))


class Op(Expr):
    """A named operator defined in words beside the card (``where``), evaluated by ``f``: :math:`\\mathrm{NS}_5(U)`."""

    def __init__(self, name: str, f: Callable, *args):
        self.name, self.f, self.args = name, f, [_lift(a) for a in args]

    def tex(self) -> str:
        inner = ", ".join(a.tex() for a in self.args)
        return rf"{self.name}\bigl({inner}\bigr)"

    def ev(self, env):
        return self.f(*(a.ev(env) for a in self.args))


class Let(Expr):
    """``target = expr``. Used later in other expressions, it prints as its target and evaluates to its value.

    ``out="param"`` or ``out="state:<buffer>"`` marks a value the rule must reproduce after its step.
    """

    def __init__(self, target: str, expr, out: str | None = None):
        self.target, self.expr, self.out = target, _lift(expr), out

    def tex(self) -> str:
        return self.target

    def ev(self, env):
        return env[id(self)]

    def line(self) -> str:
        return rf"{self.target} &= {self.expr.tex()}"


def _walk(e, seen=None):
    """Every node of an expression, without descending into earlier lines (a :class:`Let` used as a value)."""
    seen = set() if seen is None else seen
    if id(e) in seen:
        return
    seen.add(id(e))
    yield e
    if isinstance(e, Let):
        return
    for name in ("a", "b", "p", "otherwise", "sym"):
        child = getattr(e, name, None)
        if isinstance(child, Expr):
            yield from _walk(child, seen)
    for child in getattr(e, "args", []):
        yield from _walk(child, seen)
    for v, c in getattr(e, "branches", []):
        yield from _walk(v, seen)
        yield from _walk(c, seen)


class Card:
    """An optimizer's update as a sequence of :class:`Let` lines, with the words that define its operators.

    ``where`` is Markdown printed under the equation (what an operator such as :math:`\\mathrm{NS}_5` means, or
    which case of the rule the card covers); ``cases`` are the hyperparameter settings and parameter shapes the
    test runs the card at, each a dict with ``hp`` (overrides of the defaults), ``shape`` and optionally
    ``extras`` (a function of the step count returning the extra inputs of that step) and ``tol`` (a relative
    tolerance in machine epsilons).
    """

    def __init__(self, *lines: Let, where: str = "", cases: list | None = None):
        self.lines = list(lines)
        self.where = where
        self.cases = cases or [dict(hp={}, shape=(5, 3))]

    def tex(self) -> str:
        """The update, as one LaTeX ``aligned`` block (no surrounding ``$$``)."""
        return r"\begin{aligned} " + r" \\ ".join(line.line() for line in self.lines) + r" \end{aligned}"

    def symbols(self) -> list[Sym]:
        found, seen = [], set()
        for line in self.lines:
            for e in _walk(line.expr):
                if isinstance(e, Sym) and id(e) not in seen:
                    seen.add(id(e))
                    found.append(e)
        return found

    def hyperparameters(self) -> dict[str, str]:
        """Each hyperparameter the card reads, with the symbol it is printed as: ``{"betas": r"\\beta_1, \\beta_2"}``."""
        out: dict[str, list[str]] = {}
        for s in self.symbols():
            if isinstance(s.source, str) and s.source.startswith("hp:"):
                name = s.source[3:].partition(".")[0]
                out.setdefault(name, [])
                if s.tex() not in out[name]:
                    out[name].append(s.tex())
        return {k: ", ".join(v) for k, v in out.items()}

    def run(self, inp: Inputs) -> dict:
        """Evaluate every line from one step's inputs; returns ``{out: value}`` for the lines marked ``out``."""
        env: dict = {}
        for s in self.symbols():
            env[id(s)] = s.fetch(inp)
        result = {}
        for line in self.lines:
            value = line.expr.ev(env)
            env[id(line)] = value
            if line.out is not None:
                result[line.out] = value
        return result
