"""Every optimizer the course teaches, defined once.

* :mod:`gdlab.optim.rules` -- the update rules (one definition each, backend-agnostic);
* :mod:`gdlab.optim.pieces` -- the named equations the rules are composed from;
* :mod:`gdlab.optim.numpy` -- the NumPy face, for the chapters (no torch import);
* ``gdlab.optim.SGD``, ``gdlab.optim.Adam``, ... -- the torch face: ``torch.optim.Optimizer``
  subclasses, created on first access so that the NumPy face never imports torch.
"""

from __future__ import annotations

from .rules import RULES

__all__ = sorted(RULES)


def __getattr__(name: str):
    if name in RULES:
        from . import torch_optim

        return getattr(torch_optim, name)
    raise AttributeError(f"module 'gdlab.optim' has no attribute {name!r}")
