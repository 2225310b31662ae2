r"""ZeRO stages 1 and 2 by hand (Rajbhandari et al. 2020), over ``torch.distributed``; stage 3 is FSDP2.

With :math:`N_d` data-parallel ranks, every rank keeps the whole model and computes the gradient of its own slice
of the batch. ZeRO removes the redundant copies of the *model states*:

* **stage 1** (:math:`P_{os}`): each rank keeps the optimizer state of :math:`1/N_d` of every parameter. After the
  backward pass the gradients are averaged over the ranks (an all-reduce, as in plain data parallelism); each rank
  updates its own slice of each parameter with the optimizer, and the updated slices are broadcast so that every
  rank holds the whole new parameter again.
* **stage 2** (:math:`P_{os+g}`): in addition, a rank keeps only the gradient of its slice. As soon as a
  parameter's gradient is complete (``register_post_accumulate_grad_hook``) it is copied into a communication
  buffer and averaged over the ranks there, the rank copies its slice into a persistent buffer of :math:`1/N_d` of
  the parameter, and the full gradient is freed. The buffer has the size of the largest parameter and lives as long
  as the optimizer (ZeRO's "constant size buffers", §6.3 of the paper); only one full gradient exists at a time.
* **stage 3** (:math:`P_{os+g+p}`) also shards the weights, gathering each layer's just before it runs: that is
  what FSDP2's ``torch.distributed.fsdp.fully_shard`` does (:func:`fully_shard`).

:class:`ZeroOptimizer` implements stages 1 and 2 around any torch optimizer (gdlab's or torch's): the slice of a
parameter that a rank owns is a *view* into the parameter (``p.view(-1)[lo:hi]``, no copy), so the wrapped optimizer
updates the model's own storage and keeps state for :math:`\lceil n/N_d\rceil` values of each parameter. The
averaging uses an all-reduce rather than a reduce-scatter (gloo's reduce-scatter needs equal chunks); the
communication is then that of data parallelism, the memory is ZeRO's.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.distributed as dist


def _world(group) -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def slice_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """The slice ``[lo, hi)`` of a parameter of ``n`` values that ``rank`` owns: contiguous chunks of ⌈n/N⌉."""
    chunk = -(-n // world)
    lo = min(n, rank * chunk)
    return lo, min(n, lo + chunk)


class ZeroOptimizer:
    """ZeRO stage 1 or 2 around ``optimizer_class`` (e.g. ``gdlab.optim.Adam``) for the parameters ``params``.

    Use it as an optimizer: ``zero_grad(set_to_none=...)`` after each step, ``loss.backward()``, ``step()``. Every
    rank must build it with the same parameters in the same order. ``state`` is the wrapped optimizer's state (of the
    owned slices), so :func:`gdlab.memory.state_bytes` measures one rank's share; :attr:`bucket_bytes` is stage 2's
    communication buffer (0 for stage 1).
    """

    def __init__(self, params: Iterable, optimizer_class: type, stage: int = 1, group=None, **hyper: Any):
        if stage not in (1, 2):
            raise ValueError(f"Invalid ZeRO stage: stage={stage!r} (ZeroOptimizer does stages 1 and 2; "
                             "stage 3 is gdlab.zero.fully_shard)")
        self.stage, self.group = stage, group
        self.rank, self.world = _world(group)
        self.params = [p for p in params if p.requires_grad]
        self.bounds = []
        self.shards = []
        for p in self.params:
            if not p.is_contiguous():
                raise ValueError("ZeroOptimizer needs contiguous parameters")
            lo, hi = slice_bounds(p.numel(), self.rank, self.world)
            self.bounds.append([slice_bounds(p.numel(), r, self.world) for r in range(self.world)])
            # a Parameter that is a view of p's own storage: updating it updates p
            self.shards.append(torch.nn.Parameter(p.detach().view(-1)[lo:hi]))
        owned = [s for s in self.shards if s.numel()]
        self.optimizer = optimizer_class(owned, **hyper)
        self._hooks = []
        self.bucket = None
        if stage == 2:
            for s in self.shards:
                s.grad = torch.zeros_like(s)
            # the averaging happens in this buffer, never in the gradient itself: the collective's worker thread
            # then holds no reference to a tensor that is about to be freed
            largest = max(self.params, key=lambda p: p.numel())
            self.bucket = torch.empty(largest.numel(), dtype=largest.dtype, device=largest.device)
            for i, p in enumerate(self.params):
                self._hooks.append(p.register_post_accumulate_grad_hook(self._hook(i)))

    @property
    def bucket_bytes(self) -> int:
        return 0 if self.bucket is None else self.bucket.numel() * self.bucket.element_size()

    # -- the optimizer interface -------------------------------------------------------------
    @property
    def state(self):
        return self.optimizer.state

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()
        if self.stage == 2:  # the gradient slices are ZeRO-2's persistent partition: zeroed, never freed
            for s in self.shards:
                s.grad.zero_()

    def _average(self, g: torch.Tensor) -> None:
        if self.world > 1:
            dist.all_reduce(g, op=dist.ReduceOp.SUM, group=self.group)
            g.div_(self.world)

    def _hook(self, i: int):
        def hook(p):
            buf = self.bucket[:p.numel()]
            buf.copy_(p.grad.view(-1))
            self._average(buf)                                     # the mean gradient over the ranks ...
            lo, hi = self.bounds[i][self.rank]
            self.shards[i].grad.add_(buf[lo:hi])                   # ... of which this rank keeps its slice
            p.grad = None                                          # and frees the full gradient
        return hook

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("ZeroOptimizer.step takes no closure")
        if self.stage == 1:
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                self._average(p.grad)
                lo, hi = self.bounds[i][self.rank]
                self.shards[i].grad = p.grad.view(-1)[lo:hi]       # a view: no copy
        self.optimizer.step()                                      # each rank updates its slices in place
        if self.world > 1:
            for i, p in enumerate(self.params):                    # and every rank gets every slice back
                flat = p.detach().view(-1)
                for r, (lo, hi) in enumerate(self.bounds[i]):
                    if hi > lo:
                        dist.broadcast(flat[lo:hi], src=dist.get_global_rank(self.group, r) if self.group
                                       else r, group=self.group)

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []


def fully_shard(model: torch.nn.Module, units: Iterable[torch.nn.Module], mesh=None,
                reshard_after_forward: bool = True) -> torch.nn.Module:
    """ZeRO stage 3 with FSDP2: ``fully_shard`` each of ``units`` (e.g. the transformer's blocks), then the root.

    Between steps each rank holds ``1/N_d`` of every parameter, of its gradient and of the optimizer state (an
    optimizer built on ``model.parameters()`` after this call sees the shards). Each unit's parameters are
    all-gathered just before the unit runs. With ``reshard_after_forward=True`` (ZeRO-3) they are freed after its
    forward and gathered again for its backward; with ``False`` they stay from the forward to the backward (one
    all-gather fewer, the full weights of every unit live through the backward pass, as in ZeRO-2), and are freed
    after the backward. In both cases the gradients are reduce-scattered, so each rank keeps only its shard.
    """
    from torch.distributed.fsdp import fully_shard as _fully_shard

    if mesh is None:
        from torch.distributed.device_mesh import init_device_mesh

        dev = next(model.parameters()).device.type
        mesh = init_device_mesh(dev, (dist.get_world_size(),))
    for unit in units:
        _fully_shard(unit, mesh=mesh, reshard_after_forward=reshard_after_forward)
    _fully_shard(model, mesh=mesh, reshard_after_forward=reshard_after_forward)
    return model


__all__ = ["ZeroOptimizer", "fully_shard", "slice_bounds"]
