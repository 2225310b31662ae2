r"""The linear scaling rule (Goyal et al. 2017) at small scale: the training code of labs/linear-scaling.ipynb.

A two-hidden-layer ReLU MLP on MNIST-1D (Greydanus 2020, generated locally at any size), trained with gdlab's SGD
(Nesterov momentum 0.9, weight decay 1e-4 on weight matrices only) at global batch sizes from :math:`B_0` to several
thousand, with Goyal et al.'s protocol: a base learning rate :math:`\eta_0` at the base batch :math:`B_0`, a rule
that sets the peak rate at batch :math:`B` (linear :math:`\eta_0 B/B_0`, square root :math:`\eta_0\sqrt{B/B_0}`, or
none), a warmup over a fixed number of *epochs* converted to steps at each batch size (gradual: linear from
:math:`\eta_0`; constant: :math:`\eta_0` then a jump; or none), a fixed budget of epochs, and the rate divided by 10 at
1/3, 2/3 and 8/9 of training (their 30, 60 and 80 of 90 epochs).

Sizes (``--size``): ``tiny`` (seconds; what the tests run), ``smoke`` (under a minute; what the book executes),
``medium`` (about 10 minutes on two CPU cores; ``make lab-linear-scaling``, results stored in
``labs/results/linear-scaling-medium-train-w1.json`` and checked by the notebook) and ``full`` (one GPU;
``make gpu-labs``). Every size writes ``labs/results/linear-scaling-<size>-train-w1.json`` (the sweep runs as one
process; the parity and FSDP-memory modes write ``linear-scaling-parity-<parallel>-<dtype>-w<N>.json`` and
``linear-scaling-fsdp-memory-w<N>.json``, so that no mode overwrites another's file)::

    {"size", "mode": "train", "world": 1, "device", "date", "batch_sizes": [...], "seeds": [...],
     "rules": {"<rule>": {"lr": [...], "err": [[per-seed test error] per batch size],
                          "loss": [[per-seed final training loss] per batch size],
                          "diverged": [[...]], "steps_to_target": [[...]]}},
     "noise": [...], ...}

A run that diverged (a non-finite loss) has ``null`` error and loss and ``diverged = true``.

The same training code runs as one process or under ``torchrun`` with DistributedDataParallel or FSDP2
(``--parallel ddp|fsdp``): every worker cuts the same global batches and trains on its own slice
(:mod:`gdlab.distributed`), so N workers with per-worker batch n take the step of one process with batch Nn.

Command line::

    python labs/linear_scaling.py --size medium --jobs 2
    python labs/linear_scaling.py --size full                          # one GPU
    torchrun --standalone --nproc_per_node=2 labs/linear_scaling.py --mode parity --parallel fsdp
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path and (HERE.parent / "gdlab").is_dir():
    sys.path.insert(0, str(HERE.parent))  # a plain `python labs/linear_scaling.py` from a checkout

from gdlab.cli import HelpFormatter  # noqa: E402
from gdlab import distributed as gdist  # noqa: E402
from gdlab import optim as gopt  # noqa: E402

RESULTS = HERE / "results"

#: the sizes of the lab; ``auto`` picks ``full`` on CUDA and ``smoke`` otherwise
SIZES = {
    "tiny": dict(n_samples=2500, epochs=2, batches=[64, 256], seeds=[0], hidden=32, warmup_epochs=0.5,
                 noise_checkpoints=1),
    "smoke": dict(n_samples=10000, epochs=8, batches=[64, 256, 1024], seeds=[0], hidden=64, warmup_epochs=2,
                  noise_checkpoints=2),
    "medium": dict(n_samples=40000, epochs=40, batches=[64, 128, 256, 512, 1024, 2048, 4096], seeds=[0, 1, 2],
                   hidden=256, warmup_epochs=5, noise_checkpoints=4),
    "full": dict(n_samples=80000, epochs=40, batches=[64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
                 seeds=[0, 1, 2], hidden=256, warmup_epochs=5, noise_checkpoints=6),
}
BASE_BATCH = 64  # B_0
BASE_LR = 0.1    # eta_0 at B_0
MOMENTUM, WEIGHT_DECAY = 0.9, 1e-4
#: rule name -> (how the peak rate scales with k = B/B_0, warmup kind)
RULES = {
    "linear+gradual": ("linear", "gradual"),
    "linear+none": ("linear", "none"),
    "linear+constant": ("linear", "constant"),
    "sqrt+gradual": ("sqrt", "gradual"),
    "none": ("none", "none"),
}
SCALINGS = {"linear": lambda k: k, "sqrt": math.sqrt, "none": lambda k: 1.0}


def resolve_size(size: str) -> str:
    if size == "auto":
        return "full" if torch.cuda.is_available() else "smoke"
    if size not in SIZES:
        raise ValueError(f"Invalid size: size={size!r} (expected 'auto', {', '.join(map(repr, SIZES))})")
    return size


def peak_lr(rule: str, batch: int, base_lr: float = BASE_LR, base_batch: int = BASE_BATCH) -> float:
    r"""The peak learning rate of ``rule`` at global batch ``batch``: :math:`\eta_0 s(B/B_0)`."""
    if rule not in RULES:
        raise ValueError(f"Invalid rule: rule={rule!r} (expected one of {', '.join(RULES)})")
    return base_lr * SCALINGS[RULES[rule][0]](batch / base_batch)


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
    """MNIST-1D generated locally (``make_dataset``, never a download), 80% train / 20% test, standardised with the
    training statistics."""
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
    """A two-hidden-layer ReLU MLP, initialised from ``seed`` (torch's default initialisation)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                              nn.Linear(hidden, n_out))
    return model.to(dtype)


def param_groups(model: nn.Module, weight_decay: float = WEIGHT_DECAY) -> list[dict]:
    """Weight decay on weight matrices only, none on biases, as Goyal et al."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    return [dict(params=decay, weight_decay=weight_decay), dict(params=rest, weight_decay=0.0)]


# ---------------------------------------------------------------------------------------------
# the learning-rate schedule
# ---------------------------------------------------------------------------------------------
def learning_rate(step: int, total: int, peak: float, base: float, warmup: int, kind: str = "gradual",
                  milestones=(1 / 3, 2 / 3, 8 / 9)) -> float:
    r"""Goyal et al.'s schedule at ``step`` (0-based) of ``total`` steps.

    Over the first ``warmup`` steps, ``"gradual"`` raises the rate linearly, :math:`\eta_t = \eta_0 + (t/W)(\hat\eta -
    \eta_0)`; ``"constant"`` holds :math:`\eta_0` and then jumps to :math:`\hat\eta`; ``"none"`` starts at
    :math:`\hat\eta`. Afterwards the peak :math:`\hat\eta` is divided by 10 at each milestone (a fraction of ``total``).
    """
    if kind not in ("gradual", "constant", "none"):
        raise ValueError(f"Invalid warmup kind: kind={kind!r} (expected 'gradual', 'constant' or 'none')")
    if peak < 0 or base < 0 or not (math.isfinite(peak) and math.isfinite(base)):
        raise ValueError(f"Invalid learning rate: peak={peak}, base={base}")
    if kind != "none" and step < warmup:
        return base + (step / warmup) * (peak - base) if kind == "gradual" else base
    return peak * 0.1 ** sum(step >= m * total for m in milestones)


def warmup_steps(warmup_epochs: float, n_train: int, batch: int) -> int:
    """Goyal et al. warm up over a fixed number of epochs: that many epochs of steps at this batch size."""
    return int(round(warmup_epochs * (n_train // batch)))


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    batch: int = 64             # global batch size
    lr: float = BASE_LR         # peak learning rate
    warmup: str = "gradual"
    warmup_epochs: float = 2.0
    epochs: int = 10
    seed: int = 0
    hidden: int = 128
    evals_per_epoch: int = 4    # how often the training loss on a fixed subset is recorded
    max_steps: int | None = None  # stop early (the parity checks)


@dataclass
class RunResult:
    config: dict
    steps: int
    test_error: float
    train_error: float
    train_loss: float
    eval_steps: list = field(default_factory=list)    # steps at which the loss was evaluated
    eval_loss: list = field(default_factory=list)     # training loss on a fixed subset
    step_loss: list = field(default_factory=list)     # the loss of every step's global batch
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


def _wrap(model: nn.Module, world: gdist.World, parallel: str) -> nn.Module:
    """The module that runs the forward pass: the model itself, DDP around it, or the model sharded by FSDP2."""
    if not world.distributed:
        return model
    if parallel == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(model, device_ids=[world.device.index] if world.device.type == "cuda" else None)
    if parallel == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(world.device.type, (world.size,))
        for layer in model:
            if isinstance(layer, nn.Linear):
                fully_shard(layer, mesh=mesh)
        fully_shard(model, mesh=mesh)
        return model
    raise ValueError(f"Invalid parallel: parallel={parallel!r} (expected 'ddp' or 'fsdp')")


def train(cfg: RunConfig, data: Data, world: gdist.World | None = None, parallel: str = "ddp",
          hooks: dict | None = None) -> tuple[nn.Module, RunResult]:
    """Train one model; the same code for one process, for DDP workers and for FSDP2 workers.

    Each step draws the next global batch of ``cfg.batch`` indices (the same permutation on every worker), keeps this
    worker's slice and averages the loss over it; DDP and FSDP2 average the gradients over workers, so the step equals
    one process's step on the whole global batch. ``step_loss`` records the global batch's mean loss (the workers'
    mean losses averaged). ``hooks`` maps a step count to a function called with the model after that step.
    """
    world = world or gdist.World(0, 1, 0, data.x.device, None)
    n = data.x.shape[0]
    if cfg.batch > n:
        raise ValueError(f"batch={cfg.batch} exceeds the training set ({n} examples)")
    model = make_model(cfg.hidden, cfg.seed, dtype=data.x.dtype).to(data.x.device)
    net = _wrap(model, world, parallel)
    opt = gopt.SGD(param_groups(model), lr=cfg.lr, momentum=MOMENTUM, nesterov=True)
    steps_per_epoch = n // cfg.batch
    planned = steps_per_epoch * cfg.epochs
    total = planned if cfg.max_steps is None else min(planned, cfg.max_steps)
    warm = warmup_steps(cfg.warmup_epochs, n, cfg.batch)
    every = max(1, steps_per_epoch // cfg.evals_per_epoch)
    sub = torch.arange(min(n, 4096), device=data.x.device)  # fixed subset for the training curve
    res = RunResult(config=asdict(cfg), steps=total, test_error=float("nan"), train_error=float("nan"),
                    train_loss=float("nan"))
    t0, step, epoch = time.perf_counter(), 0, 0

    def record():
        loss, _ = evaluate(net, data.x[sub], data.y[sub])
        res.eval_steps.append(step)
        res.eval_loss.append(loss)
        if not math.isfinite(loss):
            res.diverged = True

    record()
    while step < total and not res.diverged:
        for idx in gdist.global_batches(n, cfg.batch, cfg.seed, epoch):
            if step >= total or res.diverged:
                break
            lr = learning_rate(step, planned, cfg.lr, BASE_LR, warm, cfg.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            res.lrs.append(lr)
            local = gdist.shard(idx.to(data.x.device), world)
            loss = F.cross_entropy(net(data.x[local]), data.y[local])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            res.step_loss.append(float(gdist.all_reduce_mean(loss.detach(), world)))
            step += 1
            if step % every == 0 or step == total:
                record()
            if hooks and step in hooks:
                hooks[step](model)
        epoch += 1
    if not res.diverged:
        res.train_loss, res.train_error = evaluate(net, data.x, data.y)
        res.test_error = evaluate(net, data.x_test, data.y_test)[1]
        if not math.isfinite(res.train_loss):
            res.diverged = True
    res.seconds = time.perf_counter() - t0
    return model, res


def steps_to_target(eval_steps, eval_loss, target: float) -> float:
    """First evaluated step at which the training loss is at or below ``target`` (inf if never)."""
    for s, v in zip(eval_steps, eval_loss):
        if v is not None and math.isfinite(v) and v <= target:
            return float(s)
    return float("inf")


# ---------------------------------------------------------------------------------------------
# the gradient noise scale (McCandlish et al. 2018)
# ---------------------------------------------------------------------------------------------
def grad_sq_norm(model: nn.Module, x, y) -> float:
    """:math:`|G_B|^2` for the mean loss on the batch ``(x, y)``."""
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    sq = sum(float(p.grad.double().pow(2).sum()) for p in model.parameters())
    model.zero_grad(set_to_none=True)
    return sq


def noise_scale(model: nn.Module, data: Data, b_small: int, b_big: int, draws: int = 16, seed: int = 0) -> dict:
    r"""The two-batch estimate of :math:`B_\text{simple} = \operatorname{tr}\Sigma/|G|^2` (their App. A.1).

    With batches drawn with replacement, :math:`E|G_B|^2 = |G|^2 + \operatorname{tr}\Sigma/B`, so a pair of squared
    norms at two batch sizes gives unbiased estimates :math:`|G|^2 \approx (B_\text{big}|G_\text{big}|^2 -
    B_\text{small}|G_\text{small}|^2)/(B_\text{big} - B_\text{small})` and :math:`\operatorname{tr}\Sigma \approx
    (|G_\text{small}|^2 - |G_\text{big}|^2)/(1/B_\text{small} - 1/B_\text{big})`. ``draws`` independent pairs are
    averaged; the per-pair estimates are returned too (``G2_draws``, ``trace_draws``), so that the statistical error
    of the means is known. :math:`B_\text{simple}` is the ratio of the two means.
    """
    if not 0 < b_small < b_big <= data.x.shape[0]:
        raise ValueError(f"need 0 < b_small < b_big <= n, got b_small={b_small}, b_big={b_big}")
    if draws < 2:
        raise ValueError(f"Invalid draws: draws={draws} (expected at least 2)")
    g = torch.Generator().manual_seed(seed)
    n = data.x.shape[0]

    def sq(b):
        idx = torch.randint(0, n, (b,), generator=g).to(data.x.device)  # with replacement
        return grad_sq_norm(model, data.x[idx], data.y[idx])

    pairs = np.array([(sq(b_small), sq(b_big)) for _ in range(draws)])
    s, bg = pairs[:, 0], pairs[:, 1]
    g2 = (b_big * bg - b_small * s) / (b_big - b_small)
    tr = (s - bg) / (1.0 / b_small - 1.0 / b_big)
    G2, trace = float(g2.mean()), float(tr.mean())
    return dict(G2=G2, trace_sigma=trace, B_simple=trace / G2 if G2 > 0 else float("inf"),
                G2_draws=g2.tolist(), trace_draws=tr.tolist())


def noise_scale_zscores(estimate: dict, exact: dict) -> dict:
    r"""How many standard errors the two-batch means lie from the exact :math:`|G|^2` and
    :math:`\operatorname{tr}\Sigma` (the estimates are unbiased, so these are standard normal for many draws)."""
    out = {}
    for key, draws in (("G2", "G2_draws"), ("trace_sigma", "trace_draws")):
        v = np.asarray(estimate[draws])
        out[key] = float((v.mean() - exact[key]) / (v.std(ddof=1) / math.sqrt(len(v))))
    return out


def exact_noise_scale(model: nn.Module, x, y) -> dict:
    r""":math:`|G|^2`, :math:`\operatorname{tr}\Sigma` and :math:`B_\text{simple}` from every per-example gradient
    of ``(x, y)`` (``torch.func``; for small data sets), with :math:`\Sigma` the per-example covariance
    :math:`\frac1n\sum_i (g_i - G)(g_i - G)^\top`."""
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
    flat = torch.cat([v.reshape(len(x), -1) for v in per.values()], dim=1).double()
    G = flat.mean(0)
    g2 = float(G @ G)
    tr = float(((flat - G) ** 2).sum(1).mean())
    return dict(G2=g2, trace_sigma=tr, B_simple=tr / g2)


def fit_critical_batch(batches, steps) -> dict:
    r"""Fit McCandlish et al.'s :math:`S = S_\min(1 + B_\text{crit}/B)` (their eq. 2.11) to the steps ``S`` each
    batch size ``B`` needed to reach a target, by least squares in the linear form :math:`S = a + b/B`
    (:math:`S_\min = a`, :math:`B_\text{crit} = b/a`); batch sizes that never reached it are left out."""
    pts = [(b, s) for b, s in zip(batches, steps) if s is not None and math.isfinite(s) and s > 0]
    if len(pts) < 3:
        return dict(S_min=float("nan"), B_crit=float("nan"), points=len(pts))
    B = np.array([p[0] for p in pts], dtype=float)
    S = np.array([p[1] for p in pts], dtype=float)
    A = np.stack([np.ones_like(B), 1.0 / B], axis=1)
    w = 1.0 / S  # relative errors: each point weighs by its own scale
    (a, b), *_ = np.linalg.lstsq(A * w[:, None], S * w, rcond=None)
    return dict(S_min=float(a), B_crit=float(b / a) if a > 0 else float("inf"), points=len(pts))


# ---------------------------------------------------------------------------------------------
# the sweep
# ---------------------------------------------------------------------------------------------
_WORKER: dict = {}


def _worker_init(n_samples: int) -> None:
    torch.set_num_threads(1)  # one thread per process: the matrices are small
    _WORKER["data"] = load_data(n_samples)


def _one(job: dict) -> dict:
    """One run of the sweep (in a worker process, or in this one)."""
    data = _WORKER.get("data")
    if data is None or data.x.shape[0] + data.x_test.shape[0] != job["n_samples"]:
        data = _WORKER["data"] = load_data(job["n_samples"], device=job.get("device", "cpu"))
    S = SIZES[job["size"]]
    n = data.x.shape[0]
    noise, hooks = [], None
    if job.get("noise"):
        first_phase = (n // job["batch"]) * S["epochs"] // 3
        checkpoints = [int(c) for c in np.linspace(0, first_phase, S["noise_checkpoints"] + 1)[1:]]

        def measure(model, step):
            est = noise_scale(model, data, b_small=BASE_BATCH, b_big=min(n // 2, 16 * BASE_BATCH), draws=16,
                              seed=step)
            est = {k: v for k, v in est.items() if not k.endswith("_draws")}
            noise.append(dict(step=step, epoch=step / (n // job["batch"]), **est))

        hooks = {c: (lambda m, c=c: measure(m, c)) for c in checkpoints}
    cfg = RunConfig(batch=job["batch"], lr=peak_lr(job["rule"], job["batch"]), warmup=RULES[job["rule"]][1],
                    warmup_epochs=S["warmup_epochs"], epochs=S["epochs"], seed=job["seed"], hidden=S["hidden"])
    _, res = train(cfg, data, hooks=hooks)
    return dict(job=job, result=asdict(res), noise=noise)


def _jobs(size: str, device: str) -> list[dict]:
    S = SIZES[size]
    n_samples = S["n_samples"]
    jobs = []
    for b in S["batches"]:
        for rule in RULES:
            if b == S["batches"][0] and rule != "linear+gradual":
                continue  # at B_0 every rule is the same run (k = 1; warming up from eta_0 to eta_0 is no warmup)
            for seed in S["seeds"]:
                jobs.append(dict(size=size, n_samples=n_samples, batch=b, rule=rule, seed=seed, device=device,
                                 noise=(b == S["batches"][0] and seed == S["seeds"][0])))
    # the longest runs (the smallest batches) first, so that two workers finish together
    return sorted(jobs, key=lambda j: j["batch"])


def run_lab(size: str = "auto", jobs: int | None = None, device: str | None = None, log=print) -> dict:
    """The whole sweep: every rule at every batch size and seed, and the noise scale along the base run."""
    size = resolve_size(size)
    S = SIZES[size]
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    todo = _jobs(size, device)
    jobs = 1 if device != "cpu" else (jobs or min(len(todo), os.cpu_count() or 1))
    t0 = time.perf_counter()
    if jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(S["n_samples"],)) as pool:
            done = []
            for i, out in enumerate(pool.imap_unordered(_one, todo), 1):
                done.append(out)
                if log:
                    log(_progress_line(out, i, len(todo), t0))
    else:
        if device == "cpu":
            torch.set_num_threads(1)
        done = []
        for i, job in enumerate(todo, 1):
            done.append(_one(job))
            if log:
                log(_progress_line(done[-1], i, len(todo), t0))
    data_n = SIZES[size]["n_samples"]
    return assemble(done, size, device, seconds=time.perf_counter() - t0, n_samples=data_n, jobs=jobs)


def _progress_line(out: dict, i: int, total: int, t0: float) -> str:
    j, r = out["job"], out["result"]
    err = "diverged" if r["diverged"] else f"{100 * r['test_error']:5.2f}%"
    return (f"[{i:3d}/{total}] B={j['batch']:<6d} {j['rule']:<16s} seed {j['seed']}  test error {err}  "
            f"({r['seconds']:.1f} s, {time.perf_counter() - t0:.0f} s in all)")


def assemble(done: list[dict], size: str, device: str, seconds: float, n_samples: int, jobs: int = 1) -> dict:
    """The results file from the runs: one entry per rule, one row per batch size, one column per seed."""
    S = SIZES[size]
    batches, seeds = S["batches"], S["seeds"]
    by = {(d["job"]["rule"], d["job"]["batch"], d["job"]["seed"]): d["result"] for d in done}
    base = [by[("linear+gradual", batches[0], s)] for s in seeds]
    # the targets of the steps-to-target counts: the base run's training loss at the end of each of its first two
    # learning-rate phases (a harder target needs a larger batch to stop paying off: McCandlish et al.)
    b0 = base[0]
    targets = {}
    for name, frac in (("phase 1", 1 / 3), ("phase 2", 2 / 3)):
        i = min(int(np.searchsorted(b0["eval_steps"], int(b0["steps"] * frac))), len(b0["eval_loss"]) - 1)
        targets[name] = float(b0["eval_loss"][i])
    rules = {}
    for rule in RULES:
        rows = {k: [] for k in ("err", "loss", "diverged", "seconds")}
        reach = {name: [] for name in targets}
        for b in batches:
            runs = [by.get((rule, b, s)) or by[("linear+gradual", b, s)] for s in seeds]
            rows["err"].append([None if r["diverged"] else r["test_error"] for r in runs])
            rows["loss"].append([None if r["diverged"] else r["train_loss"] for r in runs])
            rows["diverged"].append([bool(r["diverged"]) for r in runs])
            rows["seconds"].append([round(r["seconds"], 2) for r in runs])
            for name, target in targets.items():
                reach[name].append([steps_to_target(r["eval_steps"], r["eval_loss"], target) for r in runs])
        rules[rule] = dict(lr=[peak_lr(rule, b) for b in batches], **rows, steps_to_target=reach)
    curves = {str(b): by[("linear+gradual", b, seeds[0])] for b in batches}
    noise = next((d["noise"] for d in done if d["noise"]), [])
    data = dict(n_train=int(n_samples * 0.8), n_test=int(n_samples * 0.2))
    return dict(
        size=size, mode="train", world=1, device=gdist.device_name(device), date=datetime.date.today().isoformat(),
        batch_sizes=batches, seeds=seeds, rules=rules, base_batch=BASE_BATCH, base_lr=BASE_LR, momentum=MOMENTUM,
        weight_decay=WEIGHT_DECAY, epochs=S["epochs"], warmup_epochs=S["warmup_epochs"], hidden=S["hidden"], **data,
        target_loss=targets, noise=noise,
        curves={b: dict(eval_steps=r["eval_steps"], eval_loss=r["eval_loss"], lrs=r["lrs"], steps=r["steps"])
                for b, r in curves.items()},
        torch=torch.__version__, jobs=jobs, seconds=round(seconds, 1),
    )


# ---------------------------------------------------------------------------------------------
# reading a results file: what the notebook asserts
# ---------------------------------------------------------------------------------------------
SCHEMA = {"size": str, "mode": str, "world": int, "device": str, "date": str, "batch_sizes": list, "seeds": list,
          "rules": dict}


def validate(results: dict) -> dict:
    """Check a results file's schema (raises ``ValueError`` naming what is wrong) and return it."""
    for key, kind in SCHEMA.items():
        if not isinstance(results.get(key), kind):
            raise ValueError(f"results: {key!r} must be a {kind.__name__}, got {type(results.get(key)).__name__}")
    if results["mode"] != "train" or results["world"] != 1:
        raise ValueError(f"results: a sweep is mode 'train' on world 1, got mode={results['mode']!r}, "
                         f"world={results['world']!r}")
    nb, ns = len(results["batch_sizes"]), len(results["seeds"])
    for rule in RULES:
        entry = results["rules"].get(rule)
        if entry is None:
            raise ValueError(f"results: no entry for rule {rule!r}")
        for key in ("err", "loss"):
            rows = entry.get(key)
            if not (isinstance(rows, list) and len(rows) == nb and all(isinstance(r, list) and len(r) == ns
                                                                       for r in rows)):
                raise ValueError(f"results: rules[{rule!r}][{key!r}] must be {nb} rows of {ns} values")
            for r in rows:
                for v in r:
                    if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                        raise ValueError(f"results: rules[{rule!r}][{key!r}] holds {v!r}")
    return results


def result_name(mode: str = "train", size: str | None = None, world: int = 1, parallel: str | None = None,
                dtype: str | None = None) -> str:
    """The default file name of a run: ``linear-scaling-<size>-train-w1.json`` for the sweep,
    ``linear-scaling-parity-<parallel>-<dtype>-w<N>.json`` and ``linear-scaling-fsdp-memory-w<N>.json``."""
    if world < 1:
        raise ValueError(f"Invalid world size: world={world}")
    if mode == "train":
        if size not in SIZES:
            raise ValueError(f"Invalid size: size={size!r} (expected one of {', '.join(map(repr, SIZES))})")
        return f"linear-scaling-{size}-train-w{world}.json"
    if mode == "parity":
        if parallel not in ("none", "ddp", "fsdp") or dtype not in ("float32", "float64"):
            raise ValueError(f"Invalid parity run: parallel={parallel!r}, dtype={dtype!r}")
        return f"linear-scaling-parity-{parallel}-{dtype}-w{world}.json"
    if mode == "fsdp-memory":
        return f"linear-scaling-fsdp-memory-w{world}.json"
    raise ValueError(f"Invalid mode: mode={mode!r} (expected 'train', 'parity' or 'fsdp-memory')")


def load(size: str, path: Path | None = None) -> dict | None:
    """The stored results of ``size`` (``labs/results/linear-scaling-<size>-train-w1.json``), or None if there are
    none."""
    path = Path(path) if path else RESULTS / result_name("train", size)
    return validate(json.loads(path.read_text())) if path.exists() else None


def save(results: dict, path: Path | None = None) -> Path:
    path = Path(path) if path else RESULTS / result_name("train", results["size"], results["world"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(validate(_clean(results)), indent=1, allow_nan=False))
    return path


def _clean(v):
    """inf (a target never reached) stored as null, so the file is strict JSON."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


@dataclass
class Stats:
    """Per batch size, for one rule: mean and standard deviation over seeds of the test error, how many seeds
    trained (finite loss, below half the initial loss ln 10), and the standard error of the mean."""

    batch: int
    mean: float
    std: float
    sem: float
    trained: int
    seeds: int


def stats(results: dict, rule: str) -> list[Stats]:
    """The test error of ``rule`` at each batch size, over the seeds; the standard error of the mean is floored by the
    binomial error of the test-set estimate, :math:`\\sqrt{p(1-p)/n_\\text{test}}` per seed."""
    entry = results["rules"][rule]
    n_test = results.get("n_test", 1)
    out = []
    for b, errs, losses in zip(results["batch_sizes"], entry["err"], entry["loss"]):
        ok = [e for e, l in zip(errs, losses) if e is not None and l is not None and l < 0.5 * math.log(10)]
        vals = np.array([1.0 if e is None else e for e in errs], dtype=float)
        m = float(vals.mean())
        sd = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        binom = math.sqrt(max(m * (1 - m), 1e-6) / n_test)
        out.append(Stats(int(b), m, sd, math.sqrt(max(sd, binom) ** 2 / len(vals)), len(ok), len(vals)))
    return out


def flat_region(results: dict, rule: str = "linear+gradual", z: float = 2.0) -> dict:
    r"""The largest batch :math:`B_\max` up to which the error of ``rule`` stays within noise of the base batch:
    every batch size up to it has every seed trained and a mean error at most :math:`z` standard errors of the
    difference above the base's. Returns ``B_max``, the per-batch margins and the batch sizes beyond ``B_max`` whose
    runs all trained (where a rise, not a divergence, must be seen)."""
    st = stats(results, rule)
    base = st[0]
    b_max, margins = base.batch, {}
    for s in st:
        se = math.hypot(base.sem, s.sem)
        margins[s.batch] = (s.mean - base.mean, z * se)
        if s.trained < s.seeds or s.mean - base.mean > z * se:
            break
        b_max = s.batch
    beyond = [s.batch for s in st if s.batch > b_max and s.trained == s.seeds]
    return dict(B_max=b_max, margins=margins, trained_beyond=beyond, base=base)


# ---------------------------------------------------------------------------------------------
# the parity checks run under torchrun by tests/test_distributed.py
# ---------------------------------------------------------------------------------------------
def parity(out: str | None = None, parallel: str = "ddp", per_worker_batch: int = 16, steps: int = 12,
           n_samples: int = 1000, dtype: str = "float64") -> dict:
    """Train ``steps`` steps with global batch ``per_worker_batch x world size`` (one process, DDP or FSDP2 workers);
    write the per-step losses and the final weights (gathered) to ``out`` (``.json``; by default
    ``labs/results/linear-scaling-parity-<parallel>-<dtype>-w<N>.json``, ``parallel`` being ``none`` for one
    process)."""
    world = gdist.init(device="cpu")
    torch.set_num_threads(1)
    dt = getattr(torch, dtype)
    data = load_data(n_samples, device="cpu", dtype=dt)
    cfg = RunConfig(batch=per_worker_batch * world.size, lr=0.05, warmup_epochs=0.1, epochs=100, hidden=32,
                    max_steps=steps, evals_per_epoch=1)
    model, res = train(cfg, data, world, parallel=parallel)
    weights = {}
    for k, v in model.state_dict().items():
        full = v.full_tensor() if hasattr(v, "full_tensor") else v  # FSDP2 keeps DTensor shards
        weights[k] = full.detach().double().flatten().tolist()
    if parallel == "ddp" or not world.distributed:
        gdist.check_replicas(model, world)
    row = dict(mode="parity", world=world.size, parallel=parallel if world.distributed else "none", dtype=dtype,
               device=gdist.device_name("cpu"), date=datetime.date.today().isoformat(), steps=len(res.step_loss),
               per_worker_batch=per_worker_batch, step_loss=res.step_loss, weights=weights)
    if world.main:
        path = Path(out) if out else RESULTS / result_name("parity", world=world.size, parallel=row["parallel"],
                                                           dtype=dtype)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row))
        row["path"] = str(path)
    gdist.close(world)
    return row


def fsdp_memory(out: str | None = None, hidden: int = 256) -> list[dict]:
    """Per-rank bytes of parameters and Adam state, unsharded and under FSDP2 ``fully_shard``, written to ``out``
    (by default ``labs/results/linear-scaling-fsdp-memory-w<N>.json``); the rows of every rank."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from gdlab import memory

    world = gdist.init(device="cpu")
    if not world.distributed:
        raise RuntimeError("--mode fsdp-memory shards over torchrun workers: run it under "
                           "torchrun --standalone --nproc_per_node=2")
    torch.set_num_threads(1)

    def adam_bytes(model):
        opt = gopt.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(8, 40, generator=torch.Generator().manual_seed(world.rank))
        model(x).pow(2).mean().backward()
        opt.step()
        # m and v, and the 4-byte step counts (one per tensor, kept whole on every rank)
        return (sum(memory.state_bytes(opt, counters=False).values()),
                sum(memory.state_bytes(opt).values()))

    full = make_model(hidden, seed=0)
    full_params = memory.tensor_bytes(full.parameters())
    full_state, full_all = adam_bytes(full)
    mesh = init_device_mesh("cpu", (world.size,))
    sharded = make_model(hidden, seed=0)
    for layer in sharded:
        if isinstance(layer, nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    shard_params = memory.tensor_bytes(sharded.parameters())
    shard_state, shard_all = adam_bytes(sharded)
    row = dict(rank=world.rank, world=world.size, device=gdist.device_name("cpu"), full_params=full_params,
               full_state=full_state, counters=full_all - full_state,
               shard_params=shard_params, shard_state=shard_state, shard_counters=shard_all - shard_state,
               predicted=memory.predict(full, "Adam", zero_stage=3, n_devices=world.size).as_dict())
    rows = [None] * world.size
    torch.distributed.all_gather_object(rows, row)
    if world.main:
        path = Path(out) if out else RESULTS / result_name("fsdp-memory", world=world.size)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))
        rows[0]["path"] = str(path)
    gdist.close(world)
    return rows


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def summary(results: dict) -> str:
    """The table a run prints at the end: test error (mean ± std over seeds, %) per rule and batch size, with the
    number of seeds. A run with one seed has no spread to show: its table prints the one value, with no ±."""
    rules = list(RULES)
    head = f"{'B':>6} {'seeds':>5} " + " ".join(f"{r:>17}" for r in rules)
    lines = [f"linear scaling, size {results['size']}, {len(results['seeds'])} seed(s), {results['device']}, "
             f"{results.get('seconds', 0):.0f} s",
             "test error, % (mean ± std over the seeds)" if len(results["seeds"]) > 1
             else "test error, % (one seed, n = 1: no spread)", head]
    st = {r: stats(results, r) for r in rules}
    for i, b in enumerate(results["batch_sizes"]):
        cells = []
        for r in rules:
            s = st[r][i]
            div = sum(results["rules"][r]["diverged"][i])
            spread = f" ± {100 * s.std:4.2f}" if s.seeds > 1 else ""
            cells.append(f"{100 * s.mean:8.2f}{spread}" + ("*" if div else " "))
        lines.append(f"{b:>6} {st[rules[0]][i].seeds:>5} " + " ".join(f"{c:>17}" for c in cells))
    fr = flat_region(results)
    lines.append(f"(* a seed diverged; counted as 100% error)  B_max (linear+gradual within noise of B_0) = "
                 f"{fr['B_max']}")
    return "\n".join(lines)


def parity_summary(row: dict) -> str:
    """What a parity run prints: where it ran, and its loss at the first and the last step."""
    loss = row["step_loss"]
    return "\n".join([
        f"parity run, {row['parallel']} over {row['world']} worker(s), {row['dtype']}, {row['device']}",
        f"{'steps':>6} {'global batch':>13} {'first loss':>12} {'last loss':>12}",
        f"{row['steps']:>6} {row['per_worker_batch'] * row['world']:>13} {loss[0]:>12.6f} {loss[-1]:>12.6f}"])


def fsdp_memory_summary(rows: list[dict]) -> str:
    """What an FSDP-memory run prints: per rank, bytes of parameters and Adam state, whole and sharded."""
    lines = [f"FSDP2 memory over {len(rows)} workers, {rows[0]['device']}: bytes per rank",
             f"{'rank':>4} {'params':>10} {'sharded':>10} {'state':>10} {'sharded':>10} {'predicted':>10}"]
    for r in rows:
        pred = r["predicted"]["weights"] + r["predicted"]["state"] - r["shard_counters"]
        lines.append(f"{r['rank']:>4} {r['full_params']:>10} {r['shard_params']:>10} {r['full_state']:>10} "
                     f"{r['shard_state']:>10} {pred:>10}")
    lines.append("(state: m and v, without the 4-byte step count of each tensor; predicted: sharded parameters + "
                 "state, gdlab.memory.predict(..., zero_stage=3))")
    return "\n".join(lines)


EPILOG = """examples:
  python labs/linear_scaling.py --size tiny                 # seconds: the tests' size
  python labs/linear_scaling.py --size medium --jobs 2      # about 10 minutes on 2 CPU cores (make lab-linear-scaling)
  python labs/linear_scaling.py --size full                 # one GPU (make gpu-labs)
  torchrun --standalone --nproc_per_node=2 labs/linear_scaling.py --mode parity --parallel ddp
  python labs/linear_scaling.py --mode parity --per-worker-batch 32       # the one-process run to compare with
  torchrun --standalone --nproc_per_node=2 labs/linear_scaling.py --mode fsdp-memory

Results go to labs/results/ unless --out is given: linear-scaling-<size>-train-w1.json for the sweep,
linear-scaling-parity-<parallel>-<dtype>-w<N>.json (parallel 'none' for one process) and
linear-scaling-fsdp-memory-w<N>.json, so that no mode overwrites another's file."""


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="labs/linear_scaling.py", formatter_class=HelpFormatter, epilog=EPILOG,
        description="The linear scaling rule (Goyal et al. 2017) on MNIST-1D: sweep batch sizes and scaling rules,\n"
                    "or check that data-parallel training takes the one-process step.")
    ap.add_argument("--mode", default="train", choices=["train", "parity", "fsdp-memory"],
                    help="train: the sweep of batch sizes, rules and seeds, as one process; parity: a short run, as "
                         "one process or as torchrun workers, to compare the two; fsdp-memory: per-rank bytes "
                         "under FSDP2 (torchrun)")
    ap.add_argument("--size", default="auto", choices=["auto", *SIZES],
                    help="train: tiny (seconds), smoke (under a minute), medium (about 10 minutes on 2 CPU cores), "
                         "full (one GPU); auto: full on CUDA, smoke otherwise")
    ap.add_argument("--jobs", type=int, default=None,
                    help="train: processes running runs at once on a CPU (default: one per core, at most one per "
                         "run)")
    ap.add_argument("--out", default=None,
                    help="the results file (default: labs/results/, named by size, mode and world size as below)")
    ap.add_argument("--parallel", default="ddp", choices=["ddp", "fsdp"],
                    help="parity: the data parallelism of torchrun workers (DistributedDataParallel or FSDP2 "
                         "fully_shard)")
    ap.add_argument("--per-worker-batch", type=int, default=16,
                    help="parity: examples per worker per step (the global batch is this times the world size)")
    ap.add_argument("--steps", type=int, default=12, help="parity: optimizer steps to take")
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"],
                    help="parity: the dtype of the data and the model")
    return ap


def main(argv=None) -> None:
    ap = parser()
    a = ap.parse_args(argv)
    for name in ("jobs", "per_worker_batch", "steps"):
        value = getattr(a, name)
        if value is not None and value < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if a.mode == "parity":
        row = parity(a.out, a.parallel, a.per_worker_batch, a.steps, dtype=a.dtype)
        if "path" in row:  # the main worker
            print(parity_summary(row))
            print(f"saved {row['path']}")
        return
    if a.mode == "fsdp-memory":
        rows = fsdp_memory(a.out)
        if "path" in rows[0]:
            print(fsdp_memory_summary(rows))
            print(f"saved {rows[0]['path']}")
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        ap.error("the sweep runs as one process (use --jobs for CPU cores); torchrun is for --mode parity and "
                 "fsdp-memory")
    res = _clean(run_lab(a.size, a.jobs))
    path = save(res, Path(a.out) if a.out else None)
    print(summary(res))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
