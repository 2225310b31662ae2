r"""The linear scaling rule, at small scale: training code for labs/linear-scaling.ipynb.

An MLP on MNIST-1D (Greydanus 2020), trained with gdlab's SGD (Nesterov momentum 0.9, weight
decay 1e-4 on weights only) at global batch sizes from 32 to several thousand. The learning rate
follows Goyal et al. (2017): scaled linearly with the batch, :math:`\eta(B) = \eta_0 B/B_0`,
reached by a gradual linear warmup from :math:`\eta_0`, then divided by 10 at 1/3, 2/3 and 8/9 of
training (their 30/60/80 of 90 epochs).

The same code runs as one process (a notebook, ``python linear_scaling.py``) or under
``torchrun --nproc_per_node=N linear_scaling.py`` with DistributedDataParallel: every worker
cuts the same global batches and trains on its own slice (:mod:`gdlab.distributed`).

Command line::

    python labs/linear_scaling.py --size full           # the whole lab, results -> labs/results/
    torchrun --standalone --nproc_per_node=2 labs/linear_scaling.py --mode ddp-check --out w.pt
    torchrun --standalone --nproc_per_node=2 labs/linear_scaling.py --mode fsdp-memory --out m.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gdlab import distributed as gdist
from gdlab import optim as gopt

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "linear_scaling.json"

#: the two sizes of the lab. ``auto`` picks ``full`` on CUDA and ``smoke`` otherwise.
SIZES = {
    "smoke": dict(n_samples=4000, epochs=15, batches=[32, 128, 512, 1600], seeds=[0], hidden=128,
                  warmup_epochs=1, noise_checkpoints=3),
    "full": dict(n_samples=50000, epochs=30, batches=[32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                 seeds=[0, 1, 2], hidden=256, warmup_epochs=3, noise_checkpoints=6),
}
BASE_BATCH = 32  # B_0
BASE_LR = 0.05   # η_0 at B_0
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4


def resolve_size(size: str) -> str:
    if size == "auto":
        return "full" if torch.cuda.is_available() else "smoke"
    if size not in SIZES:
        raise ValueError(f"Invalid size: size={size!r} (expected 'auto', 'smoke' or 'full')")
    return size


# ---------------------------------------------------------------------------------------------
# data and model
# ---------------------------------------------------------------------------------------------
@dataclass
class Data:
    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_data(n_samples: int = 5000, seed: int = 42, device="cpu", dtype=torch.float32) -> Data:
    """MNIST-1D generated locally (``make_dataset``, never a download), standardised with train statistics."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = int(n_samples), int(seed)
    d = make_dataset(args)
    x, xt = np.asarray(d["x"], dtype=np.float64), np.asarray(d["x_test"], dtype=np.float64)
    mu, sd = x.mean(0), x.std(0) + 1e-8
    as_t = lambda a, dt: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
    return Data(as_t((x - mu) / sd, dtype), as_t(d["y"], torch.long), as_t((xt - mu) / sd, dtype),
                as_t(d["y_test"], torch.long))


def make_model(hidden: int = 128, seed: int = 0, dtype=torch.float32, n_in: int = 40, n_out: int = 10) -> nn.Module:
    """A two-hidden-layer ReLU MLP, initialised from ``seed``."""
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, n_out))
    return model.to(dtype)


def param_groups(model: nn.Module, weight_decay: float = WEIGHT_DECAY) -> list[dict]:
    """Weight decay on weight matrices only; none on biases (nor on norm scales), as Goyal et al."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    return [dict(params=decay, weight_decay=weight_decay), dict(params=rest, weight_decay=0.0)]


# ---------------------------------------------------------------------------------------------
# the learning-rate schedule
# ---------------------------------------------------------------------------------------------
def learning_rate(step: int, total: int, peak: float, base: float, warmup: int, kind: str = "gradual",
                  milestones=(1 / 3, 2 / 3, 8 / 9)) -> float:
    r"""Goyal et al.'s schedule at ``step`` (0-based) of ``total``.

    Warmup over the first ``warmup`` steps: ``"gradual"`` raises the rate linearly,
    :math:`\eta_t = \eta_0 + (t/W)(\hat\eta - \eta_0)`; ``"constant"`` holds :math:`\eta_0` then jumps to
    :math:`\hat\eta`; ``"none"`` starts at :math:`\hat\eta`. Afterwards :math:`\hat\eta` divided by 10 at
    each milestone (a fraction of ``total``).
    """
    if kind not in ("gradual", "constant", "none"):
        raise ValueError(f"Invalid warmup kind: kind={kind!r} (expected 'gradual', 'constant' or 'none')")
    if peak < 0 or base < 0 or not (math.isfinite(peak) and math.isfinite(base)):
        raise ValueError(f"Invalid learning rate: peak={peak}, base={base}")
    if kind != "none" and step < warmup:
        return base + (step / warmup) * (peak - base) if kind == "gradual" else base
    return peak * 0.1 ** sum(step >= m * total for m in milestones)


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    batch: int = 32            # global batch size
    lr: float = BASE_LR        # peak learning rate
    warmup: str = "gradual"
    warmup_epochs: float = 2.0
    epochs: int = 10
    seed: int = 0
    hidden: int = 128
    evals_per_epoch: int = 4   # how often the training loss on a fixed subset is recorded
    max_steps: int | None = None  # stop early (the DDP check)


@dataclass
class RunResult:
    config: dict
    steps: int
    test_error: float
    train_error: float
    eval_steps: list = field(default_factory=list)    # steps at which the loss was evaluated
    eval_epochs: list = field(default_factory=list)
    eval_loss: list = field(default_factory=list)     # training loss on a fixed subset
    eval_error: list = field(default_factory=list)    # training error on the same subset
    lrs: list = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0


@torch.no_grad()
def evaluate(model, x, y, chunk: int = 8192) -> tuple[float, float]:
    """Mean cross-entropy and error rate of ``model`` on ``(x, y)``."""
    loss, wrong = 0.0, 0
    for i in range(0, len(x), chunk):
        out = model(x[i:i + chunk])
        loss += float(F.cross_entropy(out, y[i:i + chunk], reduction="sum"))
        wrong += int((out.argmax(1) != y[i:i + chunk]).sum())
    return loss / len(x), wrong / len(x)


def train(cfg: RunConfig, data: Data, world: gdist.World | None = None, progress=None,
          hooks: dict | None = None) -> tuple[nn.Module, RunResult]:
    """Train one model; the same code for one process and for DDP workers.

    Each step draws the next global batch of ``cfg.batch`` indices (same permutation on every worker),
    keeps this worker's slice, and averages the loss over it; DDP averages gradients over workers, so
    the step equals one process's step on the whole global batch. ``hooks`` maps a step count to a
    function called with the model after that step (the noise-scale measurements).
    """
    world = world or gdist.World(0, 1, 0, data.x.device, None)
    n = data.x.shape[0]
    if cfg.batch > n:
        raise ValueError(f"batch={cfg.batch} exceeds the training set ({n} examples)")
    model = make_model(cfg.hidden, cfg.seed, dtype=data.x.dtype).to(data.x.device)
    net = model
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[world.device.index] if world.device.type == "cuda" else None)
    opt = gopt.SGD(param_groups(model), lr=cfg.lr, momentum=MOMENTUM, nesterov=True)
    steps_per_epoch = n // cfg.batch
    total = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    sub = torch.arange(min(n, 4096), device=data.x.device)  # fixed subset for the training curve
    res = RunResult(config=asdict(cfg), steps=total, test_error=float("nan"), train_error=float("nan"))
    t0, step, epoch = time.perf_counter(), 0, 0

    def record():
        loss, err = evaluate(model, data.x[sub], data.y[sub])
        res.eval_steps.append(step)
        res.eval_epochs.append(step / steps_per_epoch)
        res.eval_loss.append(loss)
        res.eval_error.append(err)
        if not math.isfinite(loss):
            res.diverged = True

    record()
    while step < total and not res.diverged:
        for idx in gdist.global_batches(n, cfg.batch, cfg.seed, epoch):
            if step >= total or res.diverged:
                break
            lr = learning_rate(step, total if cfg.max_steps is None else steps_per_epoch * cfg.epochs,
                               cfg.lr, BASE_LR, warm, cfg.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            res.lrs.append(lr)
            local = gdist.shard(idx.to(data.x.device), world)
            loss = F.cross_entropy(net(data.x[local]), data.y[local])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % every == 0 or step == total:
                record()
            if hooks and step in hooks:
                hooks[step](model)
            if progress is not None:
                progress.update(1)
        epoch += 1
    if not res.diverged:
        res.test_error = evaluate(model, data.x_test, data.y_test)[1]
        res.train_error = evaluate(model, data.x, data.y)[1]
    res.seconds = time.perf_counter() - t0
    return model, res


def steps_to_target(res: RunResult, target: float) -> float:
    """First evaluated step at which the training loss is at or below ``target`` (inf if never)."""
    for s, v in zip(res.eval_steps, res.eval_loss):
        if v <= target:
            return float(s)
    return float("inf")


# ---------------------------------------------------------------------------------------------
# the gradient noise scale (McCandlish et al. 2018, App. A.1)
# ---------------------------------------------------------------------------------------------
def grad_sq_norm(model: nn.Module, x, y) -> float:
    """:math:`|G_B|^2` for the mean loss on the batch ``(x, y)``."""
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    sq = sum(float(p.grad.double().pow(2).sum()) for p in model.parameters())
    model.zero_grad(set_to_none=True)
    return sq


def noise_scale(model: nn.Module, data: Data, b_small: int, b_big: int, draws: int = 16, seed: int = 0) -> dict:
    r"""The two-batch estimate of :math:`B_\text{simple} = \operatorname{tr}\Sigma/|G|^2`.

    With :math:`E|G_B|^2 = |G|^2 + \operatorname{tr}\Sigma/B`, averages of :math:`|G_B|^2` at two batch
    sizes give :math:`|G|^2 \approx (B_\text{big}|G_\text{big}|^2 - B_\text{small}|G_\text{small}|^2)/(B_\text{big} - B_\text{small})`
    and :math:`\operatorname{tr}\Sigma \approx (|G_\text{small}|^2 - |G_\text{big}|^2)/(1/B_\text{small} - 1/B_\text{big})`.
    """
    if not 0 < b_small < b_big <= data.x.shape[0]:
        raise ValueError(f"need 0 < b_small < b_big <= n, got b_small={b_small}, b_big={b_big}")
    g = torch.Generator().manual_seed(seed)
    n = data.x.shape[0]

    def mean_sq(b):
        vals = []
        for _ in range(draws):
            idx = torch.randperm(n, generator=g)[:b].to(data.x.device)
            vals.append(grad_sq_norm(model, data.x[idx], data.y[idx]))
        return float(np.mean(vals))

    s, bg = mean_sq(b_small), mean_sq(b_big)
    g2 = (b_big * bg - b_small * s) / (b_big - b_small)
    tr = (s - bg) / (1.0 / b_small - 1.0 / b_big)
    return dict(G2=g2, trace_sigma=tr, B_simple=tr / g2 if g2 > 0 else float("inf"))


# ---------------------------------------------------------------------------------------------
# the whole lab
# ---------------------------------------------------------------------------------------------
def _tqdm(total, desc, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def run_lab(size: str = "auto", world: gdist.World | None = None, progress: bool = True, log=print) -> dict:
    """The sweep over batch sizes, the warmup and scaling controls, and the noise scale."""
    size = resolve_size(size)
    S = SIZES[size]
    world = world or gdist.init()
    if world.device.type == "cpu":
        torch.set_num_threads(1)  # tiny matrices: one thread per process avoids oversubscription
    t0 = time.perf_counter()
    data = load_data(S["n_samples"], device=world.device)
    n = data.x.shape[0]
    batches = [b for b in S["batches"] if b <= n // 2]
    show = progress and world.main

    def one(batch, lr, seed, warmup="gradual", hooks=None):
        cfg = RunConfig(batch=batch, lr=lr, warmup=warmup, warmup_epochs=S["warmup_epochs"], epochs=S["epochs"],
                        seed=seed, hidden=S["hidden"])
        bar = _tqdm((n // batch) * S["epochs"], f"B={batch} lr={lr:.3g} {warmup}", show)
        model, res = train(cfg, data, world, bar, hooks)
        if bar is not None:
            bar.close()
        return model, res

    # 1. linear scaling + gradual warmup over batch sizes; the noise scale is measured along the
    #    base-batch run at checkpoints in its first learning-rate phase
    noise = []
    b0 = batches[0]
    first_phase = (n // b0) * S["epochs"] // 3
    checkpoints = [int(c) for c in np.linspace(0, first_phase, S["noise_checkpoints"] + 1)[1:]]

    def measure(model, step):
        est = noise_scale(model, data, b_small=BASE_BATCH, b_big=min(n // 2, 1024), draws=16, seed=step)
        noise.append(dict(step=step, epoch=step / (n // b0), **est))

    sweep: dict[int, list[RunResult]] = {}
    for b in batches:
        for seed in S["seeds"]:
            hooks = ({c: (lambda m, c=c: measure(m, c)) for c in checkpoints}
                     if (b == b0 and seed == S["seeds"][0]) else None)
            sweep.setdefault(b, []).append(one(b, BASE_LR * b / BASE_BATCH, seed, hooks=hooks)[1])
    err = {b: float(np.mean([r.test_error for r in rs])) for b, rs in sweep.items()}
    # the largest batch whose error is within tol of the small-batch error: two binomial standard
    # errors of the test-set estimate (at least one point)
    n_test = data.x_test.shape[0]
    tol = max(0.01, 2 * math.sqrt(err[b0] * (1 - err[b0]) / (n_test * len(S["seeds"]))))
    ok = [b for b in batches if err[b] <= err[b0] + tol]
    b_star = max(ok)
    # 2. controls at b_star (Goyal et al. Tables 1 and 2a)
    k = b_star / BASE_BATCH
    controls = {"gradual warmup, linear": [asdict(r) for r in sweep[b_star]]}
    for label, lr, warm in [("no warmup, linear", BASE_LR * k, "none"),
                            ("constant warmup, linear", BASE_LR * k, "constant"),
                            ("gradual warmup, sqrt", BASE_LR * math.sqrt(k), "gradual"),
                            ("no scaling", BASE_LR, "none")]:
        controls[label] = [asdict(one(b_star, lr, seed, warm)[1]) for seed in S["seeds"]]
    out = dict(
        size=size, n_train=int(n), n_test=int(data.x_test.shape[0]), base_batch=BASE_BATCH, base_lr=BASE_LR,
        momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, epochs=S["epochs"], warmup_epochs=S["warmup_epochs"],
        hidden=S["hidden"], seeds=S["seeds"], world_size=world.size, b_star=int(b_star), tolerance=tol,
        sweep={str(b): [asdict(r) for r in rs] for b, rs in sweep.items()},
        controls=controls, noise=noise,
        device=(torch.cuda.get_device_name(world.device) if world.device.type == "cuda" else platform.processor()
                or platform.machine()),
        torch=torch.__version__, date=datetime.date.today().isoformat(), seconds=time.perf_counter() - t0,
    )
    return out


def save(results: dict, path: Path = RESULTS) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, allow_nan=True))
    return path


def load(path: Path = RESULTS) -> dict | None:
    """Stored full-size results, or None when none have been saved yet."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


# ---------------------------------------------------------------------------------------------
# checks run under torchrun by tests/test_distributed.py
# ---------------------------------------------------------------------------------------------
def ddp_check(out: str, per_worker_batch: int = 16, steps: int = 12, n_samples: int = 600) -> None:
    """Train ``steps`` float64 steps with global batch ``per_worker_batch × world size``; save the weights."""
    world = gdist.init(device="cpu")
    torch.set_num_threads(1)
    data = load_data(n_samples, device="cpu", dtype=torch.float64)
    cfg = RunConfig(batch=per_worker_batch * world.size, lr=0.05, warmup_epochs=0.1, epochs=100, hidden=32,
                    max_steps=steps, evals_per_epoch=1)
    model, res = train(cfg, data, world)
    gdist.check_replicas(model, world)
    if world.main:
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()} | {"_world": world.size}, out)
    gdist.close(world)


def fsdp_memory(out: str, hidden: int = 256) -> None:
    """Per-rank bytes of parameters and Adam state, unsharded and under FSDP2 ``fully_shard``."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from gdlab import memory

    world = gdist.init(device="cpu")
    torch.set_num_threads(1)

    def adam_bytes(model):
        opt = gopt.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(8, 40, generator=torch.Generator().manual_seed(world.rank))
        model(x).pow(2).mean().backward()
        opt.step()
        return sum(memory.state_bytes(opt).values())

    full = make_model(hidden, seed=0)
    full_params = memory.tensor_bytes(full.parameters())
    full_state = adam_bytes(full)
    mesh = init_device_mesh("cpu", (world.size,))
    sharded = make_model(hidden, seed=0)
    for layer in sharded:
        if isinstance(layer, nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    shard_params = memory.tensor_bytes(sharded.parameters())
    shard_state = adam_bytes(sharded)
    row = dict(rank=world.rank, world=world.size, full_params=full_params, full_state=full_state,
               shard_params=shard_params, shard_state=shard_state,
               predicted=memory.predict(full, "Adam", zero_stage=3, n_devices=world.size).as_dict())
    rows = [None] * world.size
    torch.distributed.all_gather_object(rows, row)
    if world.main:
        Path(out).write_text(json.dumps(rows))
    gdist.close(world)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", default="lab", choices=["lab", "ddp-check", "fsdp-memory"])
    ap.add_argument("--size", default="auto", choices=["auto", "smoke", "full"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--per-worker-batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=12)
    a = ap.parse_args(argv)
    if a.mode == "ddp-check":
        return ddp_check(a.out, a.per_worker_batch, a.steps)
    if a.mode == "fsdp-memory":
        return fsdp_memory(a.out)
    world = gdist.init()
    res = run_lab(a.size, world)
    if world.main:
        path = save(res, Path(a.out) if a.out else (RESULTS if res["size"] == "full" else HERE / "results" / "smoke.json"))
        print(f"saved {path} ({res['seconds']:.0f} s on {res['device']})")
    gdist.close(world)


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    main()
