"""The table of optimizer cases the optimizer tests run over, in the spirit of torch's OptimizerInfo.

A :class:`Case` is one optimizer with one set of options. ``torch_name`` names the torch.optim
class with the same update (None when torch has no counterpart or the option is gdlab's own);
the parity tests compare those, the behaviour tests run every case. Add rows here when a rule
or an option is added: every test that runs over the table picks them up.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    name: str                      # class in gdlab.optim and gdlab.optim.numpy
    kwargs: dict = field(default_factory=dict)
    torch_name: str | None = None  # class in torch.optim with the same update, if any
    smoke_lr: float | None = None  # a learning rate that makes the quadratic smoke test pass

    @property
    def rosenbrock_lr(self) -> float | None:
        """A learning rate for the Rosenbrock smoke test (see :data:`ROSENBROCK_LR`)."""
        return ROSENBROCK_LR.get(self.name)

    @property
    def id(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.kwargs.items() if k != "lr")
        return f"{self.name}({opts})"

    @property
    def decays(self) -> bool:
        return bool(self.kwargs.get("weight_decay", 0.0)) or self.name == "AdamW"


def _t(name, smoke_lr=None, **kw) -> Case:
    """A case torch.optim also has."""
    return Case(name, kw, name, smoke_lr)


def _g(name, smoke_lr=None, **kw) -> Case:
    """A case with an option only gdlab offers."""
    return Case(name, kw, None, smoke_lr)


#: per optimizer, a rate for Rosenbrock from (−1, 1.5): plain SGD and RAdam's un-adapted first steps
#: need a small one (the curvature there is about 600); per-coordinate methods take larger ones
ROSENBROCK_LR: dict[str, float] = {"SGD": 1e-3, "RAdam": 1e-3, "Adam": 0.05, "AdamW": 0.05, "NAdam": 0.05,
                                   "RMSprop": 0.05, "Adafactor": 0.05, "Adagrad": 0.2}

TORCH_CASES: list[Case] = [
    _t("SGD", 0.05, lr=0.05),
    _t("SGD", 0.02, lr=0.05, momentum=0.9),
    _t("SGD", 0.02, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
    _t("SGD", 0.02, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    _t("SGD", None, lr=0.05, momentum=0.5, maximize=True),
    _t("Adam", 0.05, lr=0.01),
    _t("Adam", 0.05, lr=0.01, weight_decay=0.05, amsgrad=True),
    _t("Adam", 0.05, lr=0.01, betas=(0.8, 0.99), eps=1e-6, decoupled_weight_decay=True, weight_decay=0.1),
    _t("Adam", None, lr=0.01, maximize=True),
    _t("AdamW", 0.05, lr=0.01),
    _t("AdamW", 0.05, lr=0.01, amsgrad=True, weight_decay=0.1),
    _t("Adagrad", 0.5, lr=0.05),
    _t("Adagrad", 0.5, lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01, eps=1e-8),
    _t("Adagrad", None, lr=0.05, maximize=True),
    _t("RMSprop", 0.01, lr=0.01),
    _t("RMSprop", 0.01, lr=0.01, centered=True, alpha=0.9),
    _t("RMSprop", 0.005, lr=0.01, momentum=0.5, weight_decay=0.01),
    _t("RMSprop", 0.005, lr=0.01, centered=True, momentum=0.5, eps=1e-6),
    _t("RMSprop", None, lr=0.01, maximize=True),
    _t("NAdam", 0.05, lr=0.01),
    _t("NAdam", 0.05, lr=0.01, weight_decay=0.01, momentum_decay=8e-3),
    _t("NAdam", 0.05, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.85, 0.995)),
    _t("RAdam", 0.05, lr=0.01),
    _t("RAdam", 0.05, lr=0.01, weight_decay=0.01),
    _t("RAdam", 0.05, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, betas=(0.9, 0.99)),
    _t("Adafactor", 0.5, lr=0.01),
    _t("Adafactor", 0.5, lr=0.01, weight_decay=0.01, beta2_decay=-0.7, eps=(1e-20, 1e-3)),
    _t("Adafactor", None, lr=0.01, d=2.0, eps=(None, 1e-2), maximize=True),
]

GDLAB_CASES: list[Case] = [
    _g("SGD", 0.02, lr=0.05, momentum=0.9, momentum_form="polyak"),
    _g("SGD", 0.02, lr=0.05, momentum=0.9, momentum_form="sutskever", weight_decay=0.01),
    _g("SGD", 0.02, lr=0.05, momentum=0.9, nesterov=True, momentum_form="sutskever"),
    _g("Adam", 0.05, lr=0.01, amsgrad=True, amsgrad_form="optax"),
    _g("Adam", 0.05, lr=0.01, eps_inside=True),
    _g("RMSprop", 0.01, lr=0.01, centered=True, eps_inside=True),
    _g("RAdam", 0.05, lr=0.01, rect_threshold=4.0),
    _g("Adafactor", 0.5, lr=0.01, eps_form="paper", weight_decay=0.01),
]

CASES: list[Case] = TORCH_CASES + GDLAB_CASES

#: one case per rule with the richest option set, for the slower whole-trajectory tests
RICH_CASES: list[Case] = [
    _t("SGD", lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    _t("Adam", lr=0.01, weight_decay=0.05, amsgrad=True),
    _t("AdamW", lr=0.01, amsgrad=True, weight_decay=0.1),
    _t("Adagrad", lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01),
    _t("RMSprop", lr=0.01, centered=True, momentum=0.5, weight_decay=0.01),
    _t("NAdam", lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    _t("RAdam", lr=0.01, weight_decay=0.01),
    _t("Adafactor", lr=0.02, weight_decay=0.01),
    *GDLAB_CASES,
]

#: (optimizer, kwargs, text the ValueError must contain: the argument and its value)
INVALID: list[tuple[str, dict, str]] = [
    ("SGD", dict(lr=-0.1), "lr=-0.1"),
    ("SGD", dict(lr=float("nan")), "lr=nan"),
    ("SGD", dict(momentum=-0.5), "momentum=-0.5"),
    ("SGD", dict(dampening=-1.0), "dampening=-1.0"),
    ("SGD", dict(weight_decay=-1e-4), "weight_decay=-0.0001"),
    ("SGD", dict(nesterov=True), "momentum=0.0"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "dampening=0.1"),
    ("SGD", dict(momentum=0.9, momentum_form="heavy"), "momentum_form='heavy'"),
    ("SGD", dict(momentum=0.9, nesterov=True, nesterov_form="sutskever"), "nesterov_form='sutskever'"),
    ("SGD", dict(momentum=0.9, momentum_form="polyak", dampening=0.5), "dampening=0.5"),
    ("SGD", dict(momentum=0.9, momentum_form="polyak", nesterov=True), "nesterov_form='torch'"),
    ("Adam", dict(lr=-1e-3), "lr=-0.001"),
    ("Adam", dict(eps=-1e-8), "eps=-1e-08"),
    ("Adam", dict(betas=(1.0, 0.999)), "betas[0]=1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "betas[1]=-0.1"),
    ("Adam", dict(weight_decay=-0.1), "weight_decay=-0.1"),
    ("Adam", dict(amsgrad=True, amsgrad_form="keras"), "amsgrad_form='keras'"),
    ("AdamW", dict(betas=(0.9, 1.5)), "betas[1]=1.5"),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay=-0.1"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "initial_accumulator_value=-1.0"),
    ("Adagrad", dict(eps=-1.0), "eps=-1.0"),
    ("RMSprop", dict(alpha=1.5), "alpha=1.5"),
    ("RMSprop", dict(momentum=-0.1), "momentum=-0.1"),
    ("RMSprop", dict(eps=-1e-8), "eps=-1e-08"),
    ("NAdam", dict(momentum_decay=-4e-3), "momentum_decay=-0.004"),
    ("NAdam", dict(betas=(0.9, 1.0)), "betas[1]=1.0"),
    ("RAdam", dict(rect_threshold=3.0), "rect_threshold=3.0"),
    ("RAdam", dict(weight_decay=-1.0), "weight_decay=-1.0"),
    ("Adafactor", dict(lr=-0.01), "lr=-0.01"),
    ("Adafactor", dict(beta2_decay=0.5), "beta2_decay=0.5"),
    ("Adafactor", dict(eps=(-1e-30, 1e-3)), "eps[0]=-1e-30"),
    ("Adafactor", dict(eps=(None, -1e-3)), "eps[1]=-0.001"),
    ("Adafactor", dict(d=0.5), "d=0.5"),
    ("Adafactor", dict(weight_decay=-0.1), "weight_decay=-0.1"),
    ("Adafactor", dict(eps_form="tf"), "eps_form='tf'"),
]
