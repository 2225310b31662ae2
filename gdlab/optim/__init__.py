"""Every optimizer the course teaches, defined once.

- `gdlab.optim.rules`: the update rules (one definition each, backend-agnostic);
- `gdlab.optim.pieces`: the named equations the rules are composed from;
- `gdlab.optim.numpy`: the NumPy face, for the chapters (no torch import);
- `gdlab.optim.cards`: every rule's update as a card (`gdlab.optim.card`): the equation the Optimizer reference
  page prints, which `cards.verify` runs against one step of the rule;
- `gdlab.optim.signature` and `gdlab.optim.docs`: each optimizer's signature (with types) and documentation,
  made from its rule for both faces; `help(gdlab.optim.AdamW)` and the reference page show the same text;
- `gdlab.optim.reference`: what the Optimizer reference page prints around that text (measured state, papers);
- `gdlab.optim.head_to_head`: a small real task (digits) every optimizer runs on (torch);
- `gdlab.optim.SGD`, `gdlab.optim.Adam`, ...: the torch face, `torch.optim.Optimizer` subclasses, created on
  first access so that the NumPy face never imports torch (without torch, they raise an `ImportError` that says
  to install `gdlab[torch]`).

Helpers that go with particular rules are re-exported here:

- schedule-free AdamW: `averaged_point` (NumPy: the averaged point $x = (y - (1-\\beta_1)z)/\\beta_1$),
  `eval_mode` and `train_mode` (torch: switch the parameters between $y$ and $x$);
- Sophia: `hutchinson` and `gauss_newton_bartlett`, the diagonal Hessian estimators of the torch face (a NumPy
  Hutchinson estimate is `gdlab.stochastic.hutchinson_diagonal`).

They import torch only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .rules import RULES
from .rules.schedule_free import averaged_point, eval_mode, train_mode
from .rules.sophia import gauss_newton_bartlett, hutchinson

if TYPE_CHECKING:  # the torch face as type checkers and editors see it (gdlab/optim/torch_optim.pyi)
    from .torch_optim import *  # noqa: F403

HELPERS = ["averaged_point", "eval_mode", "train_mode", "hutchinson", "gauss_newton_bartlett"]

__all__ = sorted(RULES) + HELPERS


def __getattr__(name: str):
    if name in RULES:
        try:
            from . import torch_optim
        except ImportError as err:
            if err.name != "torch":
                raise
            raise ImportError(f"gdlab.optim.{name} is a torch.optim.Optimizer and needs PyTorch, which is not "
                              f"installed: pip install 'gdlab[torch]'. The NumPy face, gdlab.optim.numpy.{name}, "
                              "needs no torch.", name="torch") from err

        return getattr(torch_optim, name)
    raise AttributeError(f"module 'gdlab.optim' has no attribute {name!r}")
