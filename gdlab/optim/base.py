"""The contract every update rule follows.

A :class:`Rule` is the single definition of an optimizer. It holds no arrays: it says
which hyperparameters it takes (``defaults``), how to check them (``validate``), which
buffers each parameter needs (``init_state``) and how one step changes the parameters
(``update``). ``update`` receives a :class:`Context` holding *lists* of parameters,
gradients and buffers and does all its arithmetic through ``ctx.ops``
(:mod:`gdlab.optim.ops`), so the same code runs on NumPy arrays (chapters) and torch
tensors (labs).

Rules never modify ``ctx.grads`` in place (the gradients belong to the caller); they
modify ``ctx.params`` and their own buffers in place.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Context:
    """Everything one step of one parameter group can see."""

    ops: Any
    params: list
    grads: list
    states: list[dict]  # one dict of buffers per parameter (persisted between steps)
    # per-parameter step count t as a Python int, already incremented (first step: t = 1); the torch face keeps
    # it in `state["step"]` as a 0-dim float32 tensor, as torch.optim does, and hands the rule its value
    steps: list[int]
    group: dict  # hyperparameters of this group (lr, betas, ...), read at every step
    stats: dict | None = None  # filled when the optimizer tracks statistics
    extras: dict = field(default_factory=dict)  # extra inputs (e.g. Hessian estimates)

    def buffer(self, name: str) -> list:
        """The list of one named buffer across the group's parameters."""
        return [s[name] for s in self.states]

    def record(self, key: str, value) -> None:
        """Store a statistic of this step (kept only when the optimizer tracks statistics)."""
        if self.stats is not None:
            self.stats[key] = value

    def record_per_param(self, key: str, values: list) -> None:
        """Store one value per parameter: a single float when they all agree, else the list.

        Parameters of a group share a step count unless some skipped a step (gradient ``None``),
        so step-dependent quantities (RAdam's ρ_t, Adafactor's relative step) are usually one number.
        """
        if self.stats is None:
            return
        vals = list(values)
        if vals and all(v == vals[0] for v in vals):
            self.stats[key] = vals[0]
        else:
            self.stats[key] = vals


#: every concrete rule, by name (filled as rule classes are defined)
REGISTRY: dict[str, type["Rule"]] = {}


class Rule:
    """Base class of an update rule. Subclasses set ``name``, ``defaults`` and ``update``.

    A subclass that sets its own ``name`` is registered in :data:`REGISTRY`, which gives it
    a torch class (``gdlab.optim.<name>``) and a NumPy class (``gdlab.optim.numpy.<name>``).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and not cls.__dict__.get("abstract", False):
            REGISTRY[cls.name] = cls

    name: ClassVar[str] = "rule"
    defaults: ClassVar[dict] = {}
    #: the type of a hyperparameter whose default does not say it (a string option, a `None` for "off"); the
    #: others are read from `defaults` (`gdlab.optim.signature` makes both faces' signatures from the two)
    hints: ClassVar[dict[str, Any]] = {}
    #: the hyperparameters that may be passed by position, the first names of `defaults` (torch.optim's
    #: positional arguments where torch has the optimizer; the learning rate alone otherwise)
    positional: ClassVar[tuple[str, ...]] = ("lr",)
    #: buffer names created by :meth:`init_state`, for documentation and memory accounting
    buffers: ClassVar[tuple[str, ...]] = ()
    #: the convention followed, in one sentence (shown on the Optimizer reference page)
    convention: ClassVar[str] = ""
    #: LaTeX of the update, shown on the Optimizer reference page: printed from the rule's card
    #: (:mod:`gdlab.optim.cards`) when the rules are registered, not written by hand
    equation: ClassVar[str] = ""
    #: the paper, as a key of book/references.bib
    cite: ClassVar[str] = ""
    #: hyperparameters the torch face also accepts as 1-element tensors, as torch.optim does
    tensor_hypers: ClassVar[tuple[str, ...]] = ("lr",)
    #: keys the torch face puts in every param group with a fixed value, not arguments (AdamW's
    #: `decoupled_weight_decay=True`, as torch.optim.AdamW's groups hold it, so that its checkpoint loaded
    #: into Adam stays decoupled)
    group_keys: ClassVar[dict] = {}

    def validate(self, hp: dict) -> None:
        """Raise ``ValueError`` naming the argument for an invalid hyperparameter."""
        check_lr(hp)

    def validate_face(self, hp: dict, face: str) -> None:
        """Reject options one face cannot honour (``face`` is ``"torch"`` or ``"numpy"``)."""

    def check_param(self, shape: tuple[int, ...], hp: dict) -> str | None:
        """What is wrong with a parameter of this shape for this rule, or `None`.

        The torch face asks at construction (and in `add_param_group`) and raises `ValueError` with the
        parameter's name; the NumPy face, which sees its arrays only when it steps, asks at the first step.
        """
        return None

    def init_state(self, ops, p, hp: dict) -> dict:
        """Per-parameter buffers, created lazily at the parameter's first step."""
        return {}

    def lookahead_point(self, ops, params: list, states: list[dict], hp: dict) -> list | None:
        """Where the next gradient must be taken, or ``None`` for "at the parameters".

        Rules that evaluate the gradient away from the iterate (Nesterov's look-ahead form)
        return new arrays; the parameters are not modified.
        """
        return None

    def update(self, ctx: Context) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def is_number(x) -> bool:
    """Whether ``x`` is a plain number (not a tensor hyperparameter, which the torch face accepts)."""
    return isinstance(x, numbers.Real)


def value_of(x) -> float:
    """A hyperparameter's value as a Python number: a 1-element tensor's exactly, a number as it is."""
    return x if isinstance(x, numbers.Real) else float(x)


# --- validation helpers, with torch.optim's messages ------------------------------------
def check_lr(hp: dict, name: str = "lr") -> None:
    lr = hp.get(name)
    if lr is None:
        return
    if hasattr(lr, "numel"):  # a tensor learning rate, as torch allows
        if lr.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element")
        lr = float(lr)
    if not (isinstance(lr, numbers.Real) and math.isfinite(lr)) or lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr} ({name}={lr})")


def check_nonneg(hp: dict, name: str, what: str | None = None) -> None:
    v = hp.get(name)
    if v is None:
        return
    if not math.isfinite(v) or v < 0.0:
        raise ValueError(f"Invalid {what or name} value: {v} ({name}={v})")


def check_eps(hp: dict, name: str = "eps") -> None:
    v = hp.get(name)
    if v is None:
        return
    vals = v if isinstance(v, (tuple, list)) else (v,)
    for x in vals:
        if x is None:
            continue
        if not math.isfinite(x) or x < 0.0:
            raise ValueError(f"Invalid epsilon value: {v} ({name}={v})")


def check_betas(hp: dict, name: str = "betas", allow_one: bool = False) -> None:
    b = hp.get(name)
    if b is None:
        return
    if not isinstance(b, (tuple, list)):
        raise ValueError(f"Invalid {name}: expected a pair, got {b!r}")
    for i, x in enumerate(b):
        hi_ok = x <= 1.0 if allow_one else x < 1.0
        if not (0.0 <= x and hi_ok):
            raise ValueError(f"Invalid beta parameter at index {i}: {x} ({name}[{i}]={x})")


def check_unit(hp: dict, name: str, closed_top: bool = False) -> None:
    """A value in [0, 1) (or [0, 1] with ``closed_top``), e.g. a momentum coefficient."""
    v = hp.get(name)
    if v is None:
        return
    ok = 0.0 <= v <= 1.0 if closed_top else 0.0 <= v < 1.0
    if not ok:
        raise ValueError(f"Invalid {name} value: {v} ({name}={v})")


def check_choice(hp: dict, name: str, choices: tuple) -> None:
    """A string option that must be one of ``choices`` (e.g. ``momentum_form``)."""
    v = hp.get(name)
    if v is None:
        return
    if v not in choices:
        raise ValueError(f"Invalid {name} value: {name}={v!r} (expected one of {choices})")


def check_range(hp: dict, name: str, lo: float | None = None, hi: float | None = None,
                what: str | None = None) -> None:
    """A finite number with ``lo <= value <= hi`` (either bound may be omitted)."""
    v = hp.get(name)
    if v is None:
        return
    ok = isinstance(v, numbers.Real) and math.isfinite(v)
    ok = ok and (lo is None or v >= lo) and (hi is None or v <= hi)
    if not ok:
        bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ValueError(f"Invalid {what or name} value: {v} ({name}={v}, expected a number in {bounds})")
