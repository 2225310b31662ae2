r"""A small real task on which every optimizer of :mod:`gdlab.optim` runs: the head-to-head of the chapter
*Beyond Adam* (``book/adaptive/beyond-adam.ipynb``), kept here so that the unit tests can rerun it for many seeds.

The task: a 64–32–10 tanh network on 1,400 of scikit-learn's handwritten digits (:func:`gdlab.data.digits`, a fixed
random subset), cross-entropy, mini-batches of :data:`BATCH` drawn without replacement (a fresh permutation each
epoch), :data:`EPOCHS` epochs, float32. Every optimizer runs with its defaults except the learning rate, with weight
decay off (so that only the update rules differ) and SGD with momentum 0.9. Muon updates the hidden weight matrix
and hands the biases and the output layer to AdamW (``lr=1e-2``), as its authors intend; Sophia receives a
Gauss–Newton–Bartlett estimate every 10 steps (:func:`gdlab.optim.gauss_newton_bartlett`); schedule-free AdamW is
evaluated at its averaged point (:func:`gdlab.optim.eval_mode`).

``seed`` fixes both the network's initialisation and the order of the mini-batches. A run whose loss is not finite,
or whose optimizer fails (an eigendecomposition of a diverged Shampoo factor), counts as diverged: loss ``inf``.

torch is imported by this module.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

N_EXAMPLES = 1400
BATCH = 100
EPOCHS = 7
HIDDEN = 32

#: the learning rates tried for each optimizer: five points over two decades, a factor of about 3 apart
GRIDS: dict[str, tuple[float, ...]] = {
    "SGD": (0.03, 0.1, 0.3, 1.0, 3.0),
    "Adam": (0.003, 0.01, 0.03, 0.1, 0.3),
    "NAdam": (0.003, 0.01, 0.03, 0.1, 0.3),
    "RAdam": (0.03, 0.1, 0.3, 1.0, 3.0),
    "LAMB": (0.003, 0.01, 0.03, 0.1, 0.3),
    "LARS": (1.0, 3.0, 10.0, 30.0, 100.0),
    "Adafactor": (0.01, 0.03, 0.1, 0.3, 1.0),
    "SignSGD": (0.001, 0.003, 0.01, 0.03, 0.1),
    "Lion": (0.003, 0.01, 0.03, 0.1, 0.3),
    "Sophia": (0.001, 0.003, 0.01, 0.03, 0.1),
    "Shampoo": (0.1, 0.3, 1.0, 3.0, 10.0),
    "SOAP": (0.01, 0.03, 0.1, 0.3, 1.0),
    "Muon": (0.03, 0.1, 0.3, 1.0, 3.0),
    "ScheduleFreeAdamW": (0.01, 0.03, 0.1, 0.3, 1.0),
}


@dataclass(frozen=True)
class Run:
    """One training run: the final training loss (``inf`` if diverged) and the bytes of the optimizer state it
    ended with (its buffers; the per-tensor step counters left out)."""

    loss: float
    state_bytes: int
    n_params: int

    @property
    def diverged(self) -> bool:
        return not math.isfinite(self.loss)


@functools.lru_cache(maxsize=1)
def task() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,400 examples (inputs scaled to [0, 1]) and their labels, as float32 and int64 tensors."""
    from gdlab import data

    X, y = data.digits()
    order = np.random.default_rng(0).permutation(len(y))[:N_EXAMPLES]
    return torch.tensor(X[order], dtype=torch.float32), torch.tensor(y[order])


def network(seed: int = 0) -> torch.nn.Module:
    """The 64–32–10 tanh network, initialised by ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 10))


def optimizers(name: str, net: torch.nn.Module, lr: float) -> list:
    """The optimizer(s) of the head-to-head for ``name``: one, or Muon plus AdamW for the non-matrix parameters."""
    import gdlab.optim as go

    params = list(net.parameters())
    if name == "Muon":
        hidden = [net[0].weight]
        rest = [p for p in params if p is not net[0].weight]
        return [go.Muon(hidden, lr=lr, weight_decay=0.0), go.AdamW(rest, lr=1e-2, weight_decay=0.0)]
    cls = getattr(go, name)
    kw = {"momentum": 0.9} if name == "SGD" else {}
    if "weight_decay" in cls.rule_class.defaults:
        kw["weight_decay"] = 0.0
    return [cls(params, lr=lr, **kw)]


def initial_loss(seed: int = 0) -> float:
    """The training loss of the untrained network of ``seed``."""
    X, y = task()
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(network(seed)(X), y))


def train(name: str, lr: float, seed: int = 0, epochs: int = EPOCHS, batch: int = BATCH) -> Run:
    """Train the network of ``seed`` with optimizer ``name`` at learning rate ``lr``; return the final loss."""
    from gdlab import memory
    from gdlab.optim import eval_mode, gauss_newton_bartlett, train_mode

    torch.set_num_threads(1)
    X, y = task()
    loss_fn = torch.nn.functional.cross_entropy
    net, gen = network(seed), torch.Generator().manual_seed(1000 + seed)
    opts = optimizers(name, net, lr)
    n_params = sum(p.numel() for p in net.parameters())
    if name == "ScheduleFreeAdamW":
        train_mode(opts[0])
    try:
        for _ in range(epochs):
            perm = torch.randperm(len(y), generator=gen)
            for j, k in enumerate(range(0, len(y), batch)):
                idx = perm[k:k + batch]
                for o in opts:
                    o.zero_grad()
                logits = net(X[idx])
                if name == "Sophia" and j % 10 == 0:
                    gauss_newton_bartlett(opts[0], logits, generator=gen)
                loss = loss_fn(logits, y[idx])
                if not torch.isfinite(loss):
                    raise FloatingPointError
                loss.backward()
                for o in opts:
                    o.step()
    except (FloatingPointError, RuntimeError):  # a diverged run (a NaN loss, or eigh of a NaN Shampoo factor)
        return Run(math.inf, sum(sum(memory.state_bytes(o, counters=False).values()) for o in opts), n_params)
    if name == "ScheduleFreeAdamW":
        eval_mode(opts[0])
    with torch.no_grad():
        final = float(loss_fn(net(X), y))
    state = sum(sum(memory.state_bytes(o, counters=False).values()) for o in opts)
    return Run(final if math.isfinite(final) else math.inf, state, n_params)


def scan(name: str, grid=None, seed: int = 0) -> dict[float, Run]:
    """One run per learning rate of ``grid`` (default :data:`GRIDS` ``[name]``)."""
    return {lr: train(name, lr, seed) for lr in (GRIDS[name] if grid is None else grid)}


def best_lr(runs: dict[float, Run]) -> float:
    """The learning rate of the lowest final loss."""
    return min(runs, key=lambda lr: runs[lr].loss)
