r"""Small helpers for data-parallel training with ``torch.distributed``.

Data parallelism over :math:`N` workers computes, on worker :math:`r`, the mean gradient over its
shard :math:`B_r` of a global batch :math:`B = \bigcup_r B_r` (:math:`|B_r| = n`), then averages
across workers (an all-reduce):

.. math::
    \frac1N \sum_{r=1}^{N} \frac1n \sum_{i\in B_r} \nabla \ell_i(w) = \frac{1}{Nn} \sum_{i\in B} \nabla \ell_i(w),

which is the gradient of one process with batch :math:`Nn`. The helpers below make that identity
hold exactly in a script that runs unchanged as one process or under
``torchrun --nproc_per_node=N``: every worker draws the same permutation of the data (same seed),
cuts the same global batches, and keeps its own contiguous slice of each (:func:`shard`), with no
``DistributedSampler``.
"""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """Where this process sits: ``rank`` of ``size`` workers, and its ``device``."""

    rank: int
    size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """True on the process that prints and writes files (rank 0)."""
        return self.rank == 0


def init(backend: str | None = None, device: str | None = None, timeout: float = 300.0) -> World:
    """Join the process group started by ``torchrun``, or return a one-process world.

    ``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them (a plain
    ``python`` run, a notebook) nothing is initialised. The backend defaults to ``nccl`` on CUDA and
    ``gloo`` otherwise; each CUDA worker uses the GPU numbered by its ``LOCAL_RANK``. A collective that waits longer
    than ``timeout`` seconds (a worker that died) raises instead of hanging.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"Invalid torchrun environment: RANK={rank}, WORLD_SIZE={size}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if size == 1:
        return World(0, 1, 0, dev, None)
    if backend is None:
        backend = "nccl" if dev.type == "cuda" else "gloo"
    if backend not in ("nccl", "gloo"):
        raise ValueError(f"Invalid backend: backend={backend!r} (expected 'nccl' or 'gloo')")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout))
    return World(dist.get_rank(), dist.get_world_size(), local, dev, backend)


def close(world: World) -> None:
    """Leave the process group (a no-op for a one-process world).

    Every worker first waits at a barrier, so that none tears the group down while another is still in a collective
    (without it, a worker that finishes first can leave the others hanging in ``destroy_process_group``); the barrier
    itself is bounded by the group's timeout.
    """
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def settle(seconds: float = 0.25) -> None:
    """Wait until this rank's finished collectives have let go of their buffers (for a memory count between steps).

    A barrier returns once every rank has reached it, but not once gloo's worker threads have dropped the buffers of
    the collectives before it: a worker marks a collective done (``wait()`` returns on the calling thread) and only
    then releases the work and the tensors it holds, e.g. the full-size input of FSDP2's last reduce-scatter. On a
    loaded machine that release can land after the barrier. ``settle`` waits at a barrier, sleeps ``seconds`` (ten
    times Linux's scheduling period of a few milliseconds per runnable thread, so that a descheduled worker runs
    again) and waits at a second barrier, so that every rank reads its memory after the same wait. Without a process
    group it does nothing.
    """
    import time

    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
        raise ValueError(f"Invalid seconds: seconds={seconds!r} (expected a number >= 0)")
    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    time.sleep(float(seconds))
    dist.barrier()


def cpu_model() -> str:
    """The CPU's model name, as the operating system gives it.

    Linux: ``model name`` in ``/proc/cpuinfo`` (x86), else its ``Model``, ``Hardware`` or ``cpu model`` line (ARM
    boards, other architectures); macOS: ``sysctl machdep.cpu.brand_string``; otherwise ``platform.processor()``
    when it says more than the architecture. Failing all of these, the architecture with ``CPU (model unknown)``,
    so that the record says plainly that the model was not found.
    """
    machine = platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            fields = {}
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and value.strip():
                    fields.setdefault(key.strip().lower(), value.strip())
        for key in ("model name", "model", "hardware", "cpu model"):
            if key in fields and not fields[key].isdigit():
                return fields[key]
    except OSError:
        pass
    if platform.system() == "Darwin":
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    proc = platform.processor()
    if proc and proc != machine:
        return proc
    return f"{machine or 'unknown'} CPU (model unknown)"


def device_name(device="cpu") -> str:
    """What a result was measured on: the GPU's model for a CUDA device (``torch.cuda.get_device_name``), else the
    CPU's model (:func:`cpu_model`) and core count."""
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device_name: device={device!r} is a CUDA device, but CUDA is not available")
        return torch.cuda.get_device_name(dev)
    return f"{cpu_model()}, {os.cpu_count()} cores"


def global_batches(n_examples: int, batch_size: int, seed: int, epoch: int, drop_last: bool = True) -> list:
    """Index tensors of the global batches of one epoch, identical on every worker.

    The permutation depends only on ``(seed, epoch)``. With ``drop_last`` a final short batch is
    dropped, so that every step sees exactly ``batch_size`` examples.
    """
    if batch_size < 1:
        raise ValueError(f"Invalid batch size: batch_size={batch_size}")
    if batch_size > n_examples:
        raise ValueError(f"batch_size={batch_size} exceeds the number of examples n_examples={n_examples}")
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    perm = torch.randperm(n_examples, generator=g)
    stop = (n_examples // batch_size) * batch_size if drop_last else n_examples
    return list(perm[:stop].split(batch_size))


def shard(batch: torch.Tensor, world: World) -> torch.Tensor:
    """This worker's contiguous slice of a global batch (its length must divide evenly)."""
    n = batch.shape[0]
    if n % world.size:
        raise ValueError(f"global batch of {n} examples does not split over world size {world.size}")
    per = n // world.size
    return batch[world.rank * per:(world.rank + 1) * per]


def all_reduce_mean(t: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of ``t`` over workers (``t`` itself in a one-process world); returns a new tensor."""
    out = t.detach().clone()
    if world.distributed:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= world.size
    return out


def check_replicas(module: torch.nn.Module, world: World, atol: float = 0.0) -> float:
    """Largest difference of any parameter between this worker and worker 0; raise if above ``atol``.

    DDP keeps replicas identical by construction; this check catches a step taken outside it (an
    optimizer on one rank only, a missing all-reduce) before it silently splits the replicas.
    Non-finite parameters raise ``FloatingPointError``.
    """
    worst = 0.0
    for name, p in module.named_parameters():
        local = p.detach()
        if not torch.isfinite(local).all():
            raise FloatingPointError(f"parameter {name!r} has non-finite entries on rank {world.rank}")
        if world.distributed:
            ref = local.clone()
            dist.broadcast(ref, src=0)
            worst = max(worst, float((local - ref).abs().max()))
    if worst > atol:
        raise RuntimeError(f"replicas differ: max |w_rank{world.rank} - w_rank0| = {worst:.3e} > atol={atol}")
    return worst
