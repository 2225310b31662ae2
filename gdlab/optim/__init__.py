"""Every optimizer the course teaches, defined once.

* :mod:`gdlab.optim.rules` -- the update rules (one definition each, backend-agnostic);
* :mod:`gdlab.optim.pieces` -- the named equations the rules are composed from;
* :mod:`gdlab.optim.numpy` -- the NumPy face, for the chapters (no torch import);
* :mod:`gdlab.optim.cards` -- every rule's update as a card (:mod:`gdlab.optim.card`): the equation the
  Optimizer reference page prints, which ``cards.verify`` runs against one step of the rule;
* :mod:`gdlab.optim.head_to_head` -- a small real task (digits) every optimizer runs on (torch);
* ``gdlab.optim.SGD``, ``gdlab.optim.Adam``, ... -- the torch face: ``torch.optim.Optimizer``
  subclasses, created on first access so that the NumPy face never imports torch.

Helpers that go with particular rules are re-exported here:

* schedule-free AdamW: :func:`averaged_point` (NumPy: the averaged point
  :math:`x = (y - (1-\\beta_1)z)/\\beta_1`), :func:`eval_mode` and :func:`train_mode` (torch: switch the
  parameters between :math:`y` and :math:`x`);
* Sophia: :func:`hutchinson` and :func:`gauss_newton_bartlett`, the diagonal Hessian estimators of
  the torch face (a NumPy Hutchinson estimate is :func:`gdlab.stochastic.hutchinson_diagonal`).

They import torch only when called.
"""

from __future__ import annotations

from .rules import RULES
from .rules.schedule_free import averaged_point, eval_mode, train_mode
from .rules.sophia import gauss_newton_bartlett, hutchinson

HELPERS = ["averaged_point", "eval_mode", "train_mode", "hutchinson", "gauss_newton_bartlett"]

__all__ = sorted(RULES) + HELPERS


def __getattr__(name: str):
    if name in RULES:
        from . import torch_optim

        return getattr(torch_optim, name)
    raise AttributeError(f"module 'gdlab.optim' has no attribute {name!r}")
