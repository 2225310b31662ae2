"""Every update rule, defined once (see :mod:`gdlab.optim.base`).

Each module holds a family; importing them registers every rule in
:data:`gdlab.optim.base.REGISTRY`, exposed here as :data:`RULES`.
"""

from ..base import REGISTRY
from . import adafactor, adam, adaptive, layerwise, muon, schedule_free, sgd, shampoo, sign, sophia  # noqa: F401

#: name -> rule class, in the order the families are taught
RULES = dict(REGISTRY)
