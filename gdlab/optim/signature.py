r"""Every optimizer's signature, made from its rule's declared hyperparameters.

A rule declares its hyperparameters once, in `Rule.defaults`; where a default does not say the type (a string
option, a `None` that stands for "off", a pair holding a `None`), `Rule.hints` adds it. From that one declaration
this module makes, for both faces:

- `signature(rule, face)`: the `inspect.Signature` of `gdlab.optim.<Name>` (`face="torch"`) or
  `gdlab.optim.numpy.<Name>` (`face="numpy"`), with the hyperparameters, their defaults and their types, then
  gdlab's own options (`OPTIONS`); the faces set it as their `__init__.__signature__`, so that `help()`,
  `inspect.signature`, IPython and editors show it;
- `check(...)`: the type checks both faces run at construction, before the rule checks the values: a value of
  the wrong type raises `TypeError` naming the argument, the type it must have and the type it has
  (`lr must be a float or a tensor, got str '1e-3'`); a pair with the wrong number of values, or a string that
  is not one of its choices, raises `ValueError`;
- `stub(face)`: the stub files through which static type checkers (mypy, pyright) and editors see the classes
  that the faces create at import time (`gdlab/optim/torch_optim.pyi`, `gdlab/optim/_numpy_classes.pyi`).
  `python -m gdlab.optim.signature` writes them again; `tests/test_api_typing.py` fails when they are stale.

Nothing here imports torch: the torch face passes `torch.Tensor` and torch's type of `params` in.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

#: what `nonfinite` accepts (both faces)
NONFINITE = ("propagate", "raise", "skip")
#: how the torch face writes an update into bfloat16 parameters (`gdlab.optim.lowprec`)
BF16_UPDATES = ("nearest", "kahan", "stochastic")


@dataclass(frozen=True)
class Option:
    """One of gdlab's own constructor options (not a hyperparameter of the rule)."""

    name: str
    hint: Any
    default: Any
    doc: str  # Markdown, one paragraph


NONFINITE_DOC = ("what a NaN or infinite gradient entry does: `'propagate'` lets it into the update, as torch.optim "
                 "does; `'raise'` raises `FloatingPointError` naming the parameter; `'skip'` skips the whole step "
                 "(every group: parameters and state unchanged, as `torch.amp.GradScaler` does on overflow) and "
                 "counts it in `skipped_steps`.")
TRACK_STATS_DOC = ("after each step, `stats` holds the update norm $\\lVert\\Delta\\theta\\rVert$, the effective "
                   "per-coordinate rate $|\\Delta\\theta_i|/|g_i|$ (min, median, max), the count of non-finite "
                   "gradient entries and whatever the rule records (trust ratios, RAdam's rectification, ...).")

#: gdlab's own options, after the rule's hyperparameters in every signature, by face
OPTIONS: dict[str, tuple[Option, ...]] = {
    "torch": (
        Option("foreach", bool | None, None,
               "`True` runs the step through torch's multi-tensor kernels, `False` one tensor at a time; `None` "
               "chooses by size on the CPU (large tensors one at a time, where that is faster) and multi-tensor "
               "kernels elsewhere."),
        Option("fused", bool | None, None,
               "torch.optim's argument: `True` runs each group's step through `torch.compile` (as `compile=True`); "
               "it refuses, as torch does, `foreach=True` and `differentiable=True` with it, and parameters that "
               "are not floating point or are on a device torch has no fused kernels for; `None` and `False` run "
               "the step as `foreach` says."),
        Option("capturable", bool, False,
               "torch.optim's argument: `True` keeps `state['step']` on the parameter's device. The step still "
               "reads the step count on the host, so it cannot be captured in a CUDA graph: stepping inside a "
               "capture raises `NotImplementedError`."),
        Option("differentiable", bool, False,
               "torch.optim's argument: `True` runs the step with autograd on, one tensor at a time, so that the "
               "updated parameters and buffers are differentiable with respect to the parameters, gradients and "
               "buffers before the step (non-leaf parameters are then accepted, as in torch); a tensor "
               "hyperparameter enters the kernels by its value, so no gradient flows to it. Adafactor, LAMB, LARS, "
               "Muon, Shampoo and SOAP refuse it (`NotImplementedError`): their steps read norms on the host or "
               "rewrite saved statistics in place."),
        Option("nonfinite", Literal[NONFINITE], "propagate", NONFINITE_DOC),
        Option("track_stats", bool, False, "statistics of every step, one dict per param group: " + TRACK_STATS_DOC),
        Option("compile", bool, False, "runs the rule's step for a group through `torch.compile`."),
        Option("bf16_update", Literal[BF16_UPDATES], "nearest",
               "how the update is written into bfloat16 parameters: `'nearest'` rounds as torch does, `'kahan'` "
               "keeps a Kahan compensation buffer `kahan_comp` per parameter, `'stochastic'` rounds at random "
               "(see `gdlab.optim.lowprec`)."),
        Option("bf16_seed", int, 0, "seeds the random bits of `bf16_update='stochastic'`."),
    ),
    "numpy": (
        Option("track_stats", bool, False, "statistics of every step, as one dict: " + TRACK_STATS_DOC),
        Option("nonfinite", Literal[NONFINITE], "propagate", NONFINITE_DOC),
    ),
}

_POK = inspect.Parameter.POSITIONAL_OR_KEYWORD
_KW = inspect.Parameter.KEYWORD_ONLY


# --- the type of each hyperparameter -----------------------------------------------------------------------------
def hints(rule: type, tensor: type | None = None) -> dict[str, Any]:
    """The type of every hyperparameter of ``rule``, in the order of ``rule.defaults``.

    From ``rule.hints`` where the rule declares one, else from the default: a bool, an int, a float, or a tuple
    of floats of the default's length. On the torch face (``tensor`` given) the hyperparameters a rule names in
    ``tensor_hypers`` (the learning rate, and Adam's betas) may also be tensors, as in torch.optim.
    """
    out: dict[str, Any] = {}
    declared = getattr(rule, "hints", {})
    for name, default in rule.defaults.items():
        if name in declared:
            hint = declared[name]
        elif isinstance(default, bool):
            hint = bool
        elif isinstance(default, int):
            hint = int
        elif isinstance(default, float):
            hint = float
        elif isinstance(default, tuple) and default and all(isinstance(x, float) for x in default):
            hint = tuple[(float,) * len(default)]  # type: ignore[misc]
        else:
            raise TypeError(f"{rule.__name__}: the default {name}={default!r} does not say the argument's type; "
                            f"declare it in {rule.__name__}.hints")
        if tensor is not None and name in getattr(rule, "tensor_hypers", ("lr",)):
            # a hyperparameter torch.optim also takes as a 1-element tensor (lr everywhere, Adam's betas)
            origin, args = typing.get_origin(hint), typing.get_args(hint)
            hint = tuple[tuple(a | tensor for a in args)] if origin is tuple else hint | tensor  # type: ignore[misc]
        out[name] = hint
    return out


def positional(rule: type) -> tuple[str, ...]:
    """The hyperparameters of ``rule`` that may be passed by position, in order: ``rule.positional``, which must
    be the first names of ``rule.defaults`` (a rule copies torch.optim's order where torch has the optimizer)."""
    names = tuple(getattr(rule, "positional", ("lr",)))
    if names != tuple(rule.defaults)[: len(names)]:
        raise TypeError(f"{rule.__name__}.positional={names!r} must be the first names of {rule.__name__}.defaults "
                        f"({tuple(rule.defaults)!r})")
    return names


def signature(rule: type, face: str, tensor: type | None = None, params: Any = None) -> inspect.Signature:
    """The constructor's signature of ``gdlab.optim.<Name>`` (``face="torch"``) or ``gdlab.optim.numpy.<Name>``.

    ``params`` (torch face only) first, then the hyperparameters that may be passed by position
    (`positional`: those torch.optim's class of the same name takes by position, ``lr`` alone for the others),
    then the rule's other hyperparameters and gdlab's own options (`OPTIONS`), keyword-only.
    """
    if face not in OPTIONS:
        raise ValueError(f"Invalid face value: face={face!r} (expected 'torch' or 'numpy')")
    hs = hints(rule, tensor if face == "torch" else None)
    first = positional(rule)
    ps = []
    if face == "torch":
        ps.append(inspect.Parameter("params", _POK, annotation=params if params is not None else inspect.Parameter.empty))
    ps += [inspect.Parameter(k, _POK if k in first else _KW, default=rule.defaults[k], annotation=h)
           for k, h in hs.items()]
    ps += [inspect.Parameter(o.name, _KW, default=o.default, annotation=o.hint) for o in OPTIONS[face]]
    return inspect.Signature(ps, return_annotation=None)


def bind(sig: inspect.Signature, owner: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The arguments given, by name (defaults not filled in); a wrong call raises ``TypeError`` naming ``owner``."""
    try:
        return dict(sig.bind(*args, **kwargs).arguments)
    except TypeError as err:
        unknown = [k for k in kwargs if k not in sig.parameters]
        hint = ""
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(sig.parameters), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{owner}: {err}{hint}. The arguments are: {_listing(sig)}") from None


def _listing(sig: inspect.Signature) -> str:
    return ", ".join(sig.parameters)


# --- the checks --------------------------------------------------------------------------------------------------
def describe(hint: Any) -> str:
    """What a value of type ``hint`` is, in words: ``float | Tensor`` -> "a float or a tensor"."""
    if hint is float:
        return "a float"
    if hint is int:
        return "an int"
    if hint is bool:
        return "True or False"
    if hint is type(None) or hint is None:
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is tuple:
        if len(set(args)) == 1:
            return f"a tuple of {len(args)} {_plural(args[0])}"
        return "a tuple (" + ", ".join(describe(a).removeprefix("a ").removeprefix("an ") for a in args) + ")"
    if isinstance(hint, type):
        return "a tensor" if hint.__name__ == "Tensor" else f"a {hint.__name__}"
    return str(hint)


def _plural(hint: Any) -> str:
    return {float: "floats", int: "ints", bool: "bools"}.get(hint, describe(hint) + "s")


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_))


def _accepts(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the type ``hint`` says (a tuple's length and a Literal's choices are not looked at)."""
    if hint is float:
        return isinstance(value, numbers.Real) and not _is_bool(value)
    if hint is int:
        return isinstance(value, numbers.Integral) and not _is_bool(value)
    if hint is bool:
        return _is_bool(value)
    if hint is type(None) or hint is None:
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return isinstance(value, tuple({type(a) for a in args}))
    if origin in (Union, types.UnionType):
        return any(_accepts(value, a) for a in args)
    if origin is tuple:
        return isinstance(value, (tuple, list))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def check_value(name: str, value: Any, hint: Any, owner: str) -> None:
    """Raise if ``value`` is not a ``hint``: ``TypeError`` for the wrong type, ``ValueError`` for a pair of the wrong
    length or a string that is not one of the choices."""
    where = f"{owner}: " if owner else ""
    if not _accepts(value, hint):
        raise TypeError(f"{where}{name} must be {describe(hint)}, got {type(value).__name__} {value!r}")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for a in args:  # the first member the value has the type of says what else to check
            if _accepts(value, a):
                check_value(name, value, a, owner)
                return
    if origin is Literal and value not in args:
        raise ValueError(f"{where}Invalid {name} value: {name}={value!r} (expected one of {args})")
    if origin is tuple:
        if len(value) != len(args):
            raise ValueError(f"{where}Invalid {name} value: {name}={tuple(value)!r} has {len(value)} "
                             f"value{'s' if len(value) != 1 else ''}, expected {len(args)} ({describe(hint)})")
        for i, (v, a) in enumerate(zip(value, args)):
            check_value(f"{name}[{i}]", v, a, owner)


def check(rule: type, hp: dict, owner: str, tensor: type | None = None) -> None:
    """Check the type of every hyperparameter of ``rule`` present in ``hp``."""
    for name, hint in hints(rule, tensor).items():
        if name in hp:
            check_value(name, hp[name], hint, owner)


def check_options(face: str, given: dict, owner: str) -> None:
    """Check the types of gdlab's own options."""
    for o in OPTIONS[face]:
        if o.name in given:
            check_value(o.name, given[o.name], o.hint, owner)


# --- the stubs ---------------------------------------------------------------------------------------------------
STUBS = {"torch": "torch_optim.pyi", "numpy": "_numpy_classes.pyi"}


def source(hint: Any) -> str:
    """``hint`` as it is written in a stub file."""
    if hint is type(None) or hint is None:
        return "None"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin in (Union, types.UnionType):
        return " | ".join(source(a) for a in args)
    if origin is tuple:
        return "tuple[" + ", ".join(source(a) for a in args) + "]"
    if isinstance(hint, type) and origin is None:
        return hint.__name__
    raise TypeError(f"no stub spelling for the type {hint!r}")


def _def(sig: inspect.Signature) -> str:
    lines = ["    def __init__(", "        self,"]
    star = False
    for p in sig.parameters.values():
        if p.kind is _KW and not star:
            lines.append("        *,")
            star = True
        # torch's type of `params` (torch.optim.optimizer.ParamsT) is written by its name, imported in the header
        text = f"        {p.name}: {'ParamsT' if p.name == 'params' else source(p.annotation)}"
        if p.default is not inspect.Parameter.empty:
            text += f" = {p.default!r}"
        lines.append(text + ",")
    lines.append("    ) -> None: ...")
    return "\n".join(lines)


def stub(face: str) -> str:
    """The text of the stub file of ``face`` (what `STUBS` names), made from the rules."""
    from .rules import RULES

    header = [
        f"# The {'torch' if face == 'torch' else 'NumPy'} face's classes as type checkers and editors see them: "
        f"{'gdlab/optim/torch_optim.py' if face == 'torch' else 'gdlab/optim/numpy.py'}",
        "# makes them at import time from the rules (gdlab/optim/rules/). Written by `python -m gdlab.optim.signature`",
        "# from gdlab/optim/signature.py; tests/test_api_typing.py fails when it differs from what the rules give.",
        "",
        "from typing import Literal",
        "",
    ]
    bases: dict[str, str] = {}
    if face == "torch":
        header += ["from torch import Tensor", "from torch.optim.optimizer import ParamsT", "",
                   "from .torch_face import RuleOptimizer as RuleOptimizer"]
        for rule in RULES.values():
            mixin = getattr(rule, "torch_mixin", None)
            if mixin is not None:
                module = mixin.__module__.removeprefix("gdlab.optim")
                header.append(f"from {module} import {mixin.__name__}")
                bases[rule.name] = f"{mixin.__name__}, RuleOptimizer"
        base = "RuleOptimizer"
        names = ["RuleOptimizer", *RULES]
    else:
        header.append("from .numpy import NumpyOptimizer")
        base = "NumpyOptimizer"
        names = list(RULES)
    body = ["", f"__all__ = {names!r}".replace("'", '"')]
    for name, rule in RULES.items():
        sig = face_signature(rule, face)
        body += ["", "", f"class {name}({bases.get(name, base)}):", _def(sig)]
    return "\n".join(header + body) + "\n"


def face_signature(rule: type, face: str) -> inspect.Signature:
    """`signature` with the torch face's types (``torch.Tensor``, torch's ``ParamsT``); imports torch for ``"torch"``."""
    if face == "torch":
        import torch
        from torch.optim.optimizer import ParamsT

        return signature(rule, "torch", tensor=torch.Tensor, params=ParamsT)
    return signature(rule, "numpy")


def write_stubs(folder: Path | None = None) -> list[Path]:
    """Write both stub files into ``folder`` (``gdlab/optim`` by default); returns their paths."""
    folder = Path(__file__).parent if folder is None else Path(folder)
    out = []
    for face, fname in STUBS.items():
        path = folder / fname
        path.write_text(stub(face))
        out.append(path)
    return out


if __name__ == "__main__":  # python -m gdlab.optim.signature
    for written in write_stubs():
        print("wrote", written)
