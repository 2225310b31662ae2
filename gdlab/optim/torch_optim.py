"""The torch classes, one per rule in :data:`gdlab.optim.rules.RULES`."""

from __future__ import annotations

from .rules import RULES
from .torch_face import RuleOptimizer, make_optimizer

for _name, _rule in RULES.items():
    globals()[_name] = make_optimizer(_rule)

__all__ = ["RuleOptimizer", *RULES]
