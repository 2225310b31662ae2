"""Every update rule, defined once (see `gdlab.optim.base`).

Each module holds a family; importing them registers every rule in
`gdlab.optim.base.REGISTRY`, exposed here as `RULES`.
"""

from ..base import REGISTRY
from . import adafactor, adam, adaptive, layerwise, muon, schedule_free, sgd, shampoo, sign, sophia  # noqa: F401
from . import quantized  # noqa: F401  (Adam8bit: after the families above, so RULES keeps their order)

#: name -> rule class, in the order the families are taught
RULES = dict(REGISTRY)

# each rule's equation is printed from its card, the form of the update that tests/test_reference_cards.py runs
# against the rule (gdlab/optim/cards.py); a rule without a card keeps an empty equation, which the tests refuse
from ..cards import CARDS  # noqa: E402

for _name, _rule in RULES.items():
    _rule.equation = CARDS[_name].tex() if _name in CARDS else ""
