r"""Training memory, measured at the allocator: the code of labs/memory-accounting.ipynb.

Every section measures real training steps with :func:`gdlab.memory.measure_step` (the CPU allocator's records in the
torch profiler, or ``torch.cuda.max_memory_allocated`` on a GPU) and compares them with gdlab.memory's predictions:

* ``peaks``: the peak of a training step of a small transformer for eight optimizers (SGD, SGD with momentum, Adam,
  AdamW, AMSGrad, Adafactor, Lion, 8-bit Adam), against weights + gradients + state + activations + the loss's
  gradient (:func:`gdlab.memory.transformer_step_peak`);
* ``checkpointing``: the same model, deeper, with and without ``torch.utils.checkpoint`` on its blocks;
* ``zero``: ZeRO stages 1 and 2 (:class:`gdlab.zero.ZeroOptimizer`) and stage 3 (FSDP2 ``fully_shard``, and
  ``reshard_after_forward=False``) with 2 gloo ranks under ``torchrun``, bytes per rank against
  ``memory.predict(..., zero_stage=s, n_devices=2)``, losses against one process with the whole batch;
* ``adam8bit``: gdlab's block-wise 8-bit Adam against float32 Adam on MNIST-1D, loss curves and state bytes;
* ``bf16``: the lost updates of pure-bfloat16 AdamW and three fixes (fp32 master weights, Kahan-compensated and
  stochastically rounded updates: ``bf16_update=`` of gdlab's optimizers);
* ``accounting``: 8B parameters with mixed-precision Adam, fp32 and bf16 moments.

Command line::

    python labs/memory_accounting.py --size smoke    # what the notebook runs on a CPU (under a minute)
    python labs/memory_accounting.py --size full     # one GPU, a few minutes: memory-accounting-full-lab-w1.json
    python labs/memory_accounting.py --size tiny     # the test's size

Each run writes ``labs/results/memory-accounting-<size>-lab-w1.json`` (with the CPU or GPU model and the date; the
lab runs as one process, which starts the ZeRO ranks itself) and prints a summary table. The ZeRO section starts ``torchrun --standalone --nproc_per_node=2`` on this script's ``zero-worker``
mode (gloo, on the CPU, at every size).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gdlab.cli import HelpFormatter
from gdlab import memory
from gdlab.distributed import device_name  # noqa: F401 - the notebook prints it as lab.device_name
from gdlab import optim as gopt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

#: ``model``: the TinyTransformer of the peak, ZeRO and checkpointing sections (``ckpt_layers`` blocks for the last);
#: ``batch``: sequences per step (split over 2 ranks under ZeRO); ``mlp_*``: the MNIST-1D runs of 8-bit Adam and
#: bf16; ``toy_*``: the weights pushed by a constant gradient.
SIZES = {
    "tiny": dict(model=dict(vocab=64, d_model=64, n_heads=2, n_layers=2, d_ff=128, seq=16), batch=4, ckpt_layers=4,
                 zero_steps=3, mlp_n=2000, mlp_hidden=128, mlp_steps=60, mlp_batch=64, bf16_hidden=64, bf16_steps=60,
                 toy_n=1024, toy_steps=200),
    "smoke": dict(model=dict(vocab=256, d_model=128, n_heads=4, n_layers=2, d_ff=512, seq=64), batch=8,
                  ckpt_layers=6, zero_steps=4, mlp_n=4000, mlp_hidden=128, mlp_steps=150, mlp_batch=128,
                  bf16_hidden=64, bf16_steps=150, toy_n=4096, toy_steps=200),
    "full": dict(model=dict(vocab=8192, d_model=1024, n_heads=16, n_layers=8, d_ff=4096, seq=512), batch=16,
                 ckpt_layers=8, zero_model=dict(vocab=1024, d_model=256, n_heads=4, n_layers=4, d_ff=1024, seq=128),
                 zero_batch=8, zero_steps=4, mlp_n=20000, mlp_hidden=512, mlp_steps=1500, mlp_batch=256,
                 bf16_hidden=256, bf16_steps=1500, toy_n=1 << 20, toy_steps=200),
}

#: the optimizers of the peak section: name -> (gdlab class name, hyperparameters)
OPTIMIZERS = {
    "SGD": ("SGD", dict(lr=0.1)),
    "SGD + momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "Adam": ("Adam", dict(lr=1e-3)),
    "AdamW": ("AdamW", dict(lr=1e-3)),
    "AMSGrad": ("Adam", dict(lr=1e-3, amsgrad=True)),
    "Adafactor": ("Adafactor", dict()),
    "Lion": ("Lion", dict(lr=1e-4)),
    "Adam8bit": ("Adam8bit", dict(lr=1e-3)),
}


def resolve_size(size: str) -> str:
    if size == "auto":
        return "full" if torch.cuda.is_available() else "smoke"
    if size not in SIZES:
        raise ValueError(f"Invalid size: size={size!r} (expected 'auto', 'tiny', 'smoke' or 'full')")
    return size


def _batch(cfg: dict, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg["vocab"], (batch, cfg["seq"]), generator=g)
    tgt = torch.randint(0, cfg["vocab"], (batch, cfg["seq"]), generator=g)
    return idx, tgt


def _transformer(cfg: dict, device="cpu", **kw):
    torch.manual_seed(0)
    return memory.TinyTransformer(**cfg, **kw).to(device)


# ---------------------------------------------------------------------------------------------
# 1. the peak of a training step, eight optimizers
# ---------------------------------------------------------------------------------------------
def adam8bit_state_formula(model, block_size: int = 2048, min_8bit_size: int = 4096) -> int:
    r"""Bytes of 8-bit Adam's state by hand: :math:`2n + 8\lceil n/B\rceil` per tensor of at least ``min_8bit_size``
    values (two uint8 codes and two float32 scales per block), :math:`8n` per smaller tensor (float32 m and v),
    and 4 bytes per tensor for its step count (a 0-dim float32 tensor, as torch.optim keeps it)."""
    total = 0
    for p in model.parameters():
        n = p.numel()
        total += (2 * n + 8 * (-(-n // block_size)) if n >= min_8bit_size else 8 * n) + 4
    return total


def optimizer_peaks(size: str, device: str = "cpu") -> dict:
    """Measured and predicted bytes of a training step of the transformer, per optimizer."""
    S = SIZES[size]
    cfg, b = S["model"], S["batch"]
    idx, tgt = _batch(cfg, b)
    if device != "cpu":
        idx, tgt = idx.to(device), tgt.to(device)
    rows = {}
    for label, (cls, hp) in OPTIMIZERS.items():
        def build(cls=cls, hp=hp):
            model = _transformer(cfg, device)
            return model, getattr(gopt, cls)(model.parameters(), **hp)

        m = memory.measure_step(build, (idx, tgt), steps=2)
        model, opt = m.model, m.optimizer
        pred = memory.transformer_step_peak(model, cls, b, **hp)
        rows[label] = dict(measured=m.as_dict(), predicted={k: v for k, v in pred.items() if k != "memory"},
                           state_measured=int(sum(memory.state_bytes(opt).values())),
                           params=int(sum(p.numel() for p in model.parameters())))
        if cls == "Adam8bit":
            rows[label]["state_formula"] = adam8bit_state_formula(model)
        del m, model, opt
    return dict(config=cfg, batch=b, rows=rows)


# ---------------------------------------------------------------------------------------------
# 2. activation checkpointing
# ---------------------------------------------------------------------------------------------
def checkpointing(size: str, device: str = "cpu") -> dict:
    """The same deeper transformer with and without ``torch.utils.checkpoint`` on every block (Adam)."""
    S = SIZES[size]
    cfg = dict(S["model"], n_layers=S["ckpt_layers"])
    b = S["batch"]
    idx, tgt = _batch(cfg, b)
    if device != "cpu":
        idx, tgt = idx.to(device), tgt.to(device)
    out = {}
    for ck in (False, True):
        def build(ck=ck):
            model = _transformer(cfg, device, checkpoint=ck)
            return model, gopt.Adam(model.parameters(), lr=1e-3)

        m = memory.measure_step(build, (idx, tgt), steps=2)
        pred = memory.transformer_step_peak(m.model, "Adam", b, lr=1e-3)
        out["checkpoint" if ck else "plain"] = dict(measured=m.as_dict(),
                                                    predicted={k: v for k, v in pred.items() if k != "memory"})
        del m
    return dict(config=cfg, batch=b, **out)


# ---------------------------------------------------------------------------------------------
# 3. ZeRO with two gloo ranks
# ---------------------------------------------------------------------------------------------
ZERO_STAGES = ("zero1", "zero2", "zero3", "fsdp2_keep")


def _zero_setup(size: str):
    S = SIZES[size]
    return S.get("zero_model", S["model"]), S.get("zero_batch", S["batch"]), S["zero_steps"]


def _zero_builds(cfg: dict):
    from gdlab import zero

    def plain():
        model = _transformer(cfg)
        return model, gopt.Adam(model.parameters(), lr=1e-3)

    def stage(s):
        def build():
            model = _transformer(cfg)
            return model, zero.ZeroOptimizer(model.parameters(), gopt.Adam, stage=s, lr=1e-3)
        return build

    def fsdp(keep):
        def build():
            model = _transformer(cfg)
            zero.fully_shard(model, list(model.blocks), reshard_after_forward=not keep)
            return model, gopt.Adam(model.parameters(), lr=1e-3)
        return build

    return dict(zero0=plain, zero1=stage(1), zero2=stage(2), zero3=fsdp(False), fsdp2_keep=fsdp(True))


def zero_worker(size: str, out: str) -> None:
    """One rank of the ZeRO runs (under torchrun): measure every stage, gather the rows on rank 0, write JSON."""
    import torch.distributed as dist

    from gdlab import distributed as gdist

    world = gdist.init(device="cpu")
    torch.set_num_threads(1)
    cfg, b, steps = _zero_setup(size)
    idx, tgt = _batch(cfg, b)
    per = b // world.size
    mine = (idx[world.rank * per:(world.rank + 1) * per], tgt[world.rank * per:(world.rank + 1) * per])
    builds = _zero_builds(cfg)
    rows = {}
    for name in ZERO_STAGES:
        m = memory.measure_step(builds[name], mine, steps=steps, settle=gdist.settle)
        losses = torch.tensor(m.losses, dtype=torch.float64)
        dist.all_reduce(losses)  # the loss of the whole batch: the mean of the ranks' means
        rows[name] = dict(measured=m.as_dict(), losses=(losses / world.size).tolist(),
                          state=int(sum(memory.state_bytes(m.optimizer).values())))
        if hasattr(m.optimizer, "close"):
            m.optimizer.close()
        del m
    gathered = [None] * world.size
    dist.all_gather_object(gathered, rows)
    if world.main:
        Path(out).write_text(json.dumps(dict(world=world.size, ranks=gathered)))
    gdist.close(world)


def zero_runs(size: str, timeout: int = 300) -> dict:
    """Run :func:`zero_worker` under ``torchrun --nproc_per_node=2`` and the same steps in this process with the whole
    batch; return both with the predictions of ``memory.predict`` for each stage."""
    cfg, b, steps = _zero_setup(size)
    with tempfile.TemporaryDirectory(prefix="gdlab-zero-") as tmp:
        out = Path(tmp) / "zero.json"
        env = dict(os.environ, OMP_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p))
        for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(k, None)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(Path(__file__).resolve()), "--mode", "zero-worker", "--size", size, "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        res = json.loads(out.read_text())
        seconds = time.perf_counter() - t0
    idx, tgt = _batch(cfg, b)
    ref = memory.measure_step(_zero_builds(cfg)["zero0"], (idx, tgt), steps=steps)
    model = ref.model
    n = res["world"]
    per = b // n
    predicted = {}
    # stage 2 averages each gradient in a buffer the size of the largest parameter (gdlab.zero.ZeroOptimizer.bucket)
    bucket = max(p.numel() * p.element_size() for p in model.parameters())
    for name, stage in dict(zero0=0, zero1=1, zero2=2, zero3=3, fsdp2_keep=3).items():
        p = memory.transformer_step_peak(model, "Adam", per if stage else b, zero_stage=stage,
                                         n_devices=n if stage else 1, lr=1e-3)
        p = {k: v for k, v in p.items() if k != "memory"}
        if name == "zero2":
            p.update(bucket=float(bucket), at_rest=p["at_rest"] + bucket, peak=p["peak"] + bucket)
        predicted[name] = p
    largest_unit = max(memory.tensor_bytes(blk.parameters()) for blk in model.blocks)
    root = memory.tensor_bytes(model.parameters()) - sum(memory.tensor_bytes(blk.parameters()) for blk in model.blocks)
    return dict(config=cfg, batch=b, steps=steps, world=n, seconds=seconds, ranks=res["ranks"],
                reference=dict(measured=ref.as_dict(), losses=ref.losses), predicted=predicted,
                weights=memory.tensor_bytes(model.parameters()), largest_unit=largest_unit, root_unit=root)


# ---------------------------------------------------------------------------------------------
# 4. 8-bit Adam against float32 Adam, and 5. bf16 updates, on MNIST-1D
# ---------------------------------------------------------------------------------------------
def mnist1d(n: int, device: str = "cpu"):
    from gdlab import data

    X, y = data.mnist1d(n, seed=42)
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    return torch.tensor(X, dtype=torch.float32, device=device), torch.tensor(y, device=device)


def mlp(hidden: int, seed: int, dtype=torch.float32, device="cpu") -> torch.nn.Module:
    g = torch.random.fork_rng(devices=[])
    with g:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(40, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                  torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    return net.to(device=device, dtype=dtype)


def train_mlp(X, y, *, optimizer: str, hidden: int, steps: int, batch: int, lr: float, seed: int = 0,
              dtype=torch.float32, bf16_update: str = "nearest", master: bool = False, bf16_seed: int | None = None,
              **hyper) -> dict:
    """Train the MLP for ``steps`` steps of ``optimizer`` on random batches; return the per-step losses, the final
    loss on the whole training set, and the optimizer's state bytes. ``master=True`` keeps fp32 master weights (the
    optimizer updates float32 copies, copied into the model after each step)."""
    model = mlp(hidden, seed, dtype, X.device)
    cls = getattr(gopt, optimizer)
    if master:
        masters = [torch.nn.Parameter(p.detach().float()) for p in model.parameters()]
        opt = cls(masters, lr=lr, **hyper)
    else:
        opt = cls(model.parameters(), lr=lr, bf16_update=bf16_update,
                  bf16_seed=seed if bf16_seed is None else bf16_seed, **hyper)
    g = torch.Generator(device="cpu").manual_seed(1000 + seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, X.shape[0], (batch,), generator=g).to(X.device)
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(X[idx].to(dtype)).float(), y[idx])
        loss.backward()
        losses.append(float(loss.detach()))
        if master:
            for w, p in zip(masters, model.parameters()):
                w.grad = p.grad.float()
            opt.step()
            with torch.no_grad():
                for w, p in zip(masters, model.parameters()):
                    p.copy_(w)
        else:
            opt.step()
    with torch.no_grad():
        final = float(torch.nn.functional.cross_entropy(model(X.to(dtype)).float(), y))
    return dict(losses=losses, final=final, state=int(sum(memory.state_bytes(opt).values())),
                params=int(sum(p.numel() for p in model.parameters())))


def adam8bit_vs_adam(size: str, seed: int = 0, device: str = "cpu", data=None) -> dict:
    """Float32 Adam and 8-bit Adam from the same initialisation on the same batches."""
    S = SIZES[size]
    X, y = data if data is not None else mnist1d(S["mlp_n"], device)
    kw = dict(hidden=S["mlp_hidden"], steps=S["mlp_steps"], batch=S["mlp_batch"], lr=1e-3, seed=seed)
    adam = train_mlp(X, y, optimizer="Adam", **kw)
    q8 = train_mlp(X, y, optimizer="Adam8bit", **kw)
    model = mlp(S["mlp_hidden"], seed)
    pred = memory.predict(model, "Adam8bit").state_total
    return dict(adam=adam, adam8bit=q8, predicted_state=pred, formula_state=adam8bit_state_formula(model),
                predicted_adam_state=memory.predict(model, "Adam").state_total, hidden=S["mlp_hidden"],
                steps=S["mlp_steps"])


def lost_update_toy(n: int = 4096, steps: int = 200, lr: float = 1e-4, seed: int = 0, w0: float = 0.05) -> dict:
    r"""AdamW (λ = 0.01) pushing ``n`` weights drawn uniformly from [0.9, 1.1]·``w0`` with a fixed gradient
    (:math:`\nabla_w = d`, :math:`d \sim N(0, 1)`) for ``steps`` steps; every Adam step moves each weight by about
    ``lr``. Returns the mean progress :math:`\langle -\Delta w\,\operatorname{sign} d\rangle` of each variant: float32,
    pure bf16 (weights, gradients, m and v in bfloat16, nearest rounding), fp32 master weights, Kahan, stochastic."""
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(n, generator=g)
    start = w0 * (0.9 + 0.2 * torch.rand(n, generator=g))
    sign = -torch.sign(d)

    def run(dtype, mode="nearest", master=False):
        w = torch.nn.Parameter(start.to(dtype, copy=True))
        w_init = w.detach().float().clone()
        if master:
            w32 = torch.nn.Parameter(w.detach().float())
            opt = gopt.AdamW([w32], lr=lr)
        else:
            opt = gopt.AdamW([w], lr=lr, bf16_update=mode, bf16_seed=seed)
        for _ in range(steps):
            w.grad = None
            (w.float() * d).sum().backward()
            if master:
                w32.grad = w.grad.float()
                opt.step()
                with torch.no_grad():
                    w.copy_(w32)
            else:
                opt.step()
        dw = w.detach().float() - w_init
        state = sum(memory.state_bytes(opt).values())
        return dict(progress=float((dw * sign).mean()), moved=float(dw.abs().mean()), state_bytes_per_param=state / n,
                    weight_bytes_per_param=w.element_size() + (4 if master else 0))

    out = dict(fp32=run(torch.float32), bf16=run(torch.bfloat16), master=run(torch.bfloat16, master=True),
               kahan=run(torch.bfloat16, "kahan"), stochastic=run(torch.bfloat16, "stochastic"))
    # the second moment alone, in bfloat16 and in float32: 0.999 v rounds back to v in bfloat16
    v16, v32 = torch.zeros(1, dtype=torch.bfloat16), torch.zeros(1)
    for _ in range(steps):
        v16.mul_(0.999).add_(1e-3)
        v32.mul_(0.999).add_(1e-3)
    out["v_after"] = dict(bf16=float(v16), fp32=float(v32), no_decay=steps * 1e-3)
    out["one_minus"] = float(torch.tensor(1.0, dtype=torch.bfloat16) - 1e-3)
    out["config"] = dict(n=n, steps=steps, lr=lr, w0=w0)
    return out


def lost_update_mlp(size: str, seed: int = 0, device: str = "cpu", data=None, lr: float = 1e-4) -> dict:
    """AdamW at a small learning rate on the MNIST-1D MLP: float32, pure bf16 and the three fixes; final losses."""
    S = SIZES[size]
    X, y = data if data is not None else mnist1d(S["mlp_n"], device)
    kw = dict(optimizer="AdamW", hidden=S["bf16_hidden"], steps=S["bf16_steps"], batch=S["mlp_batch"], lr=lr, seed=seed)
    runs = dict(fp32=train_mlp(X, y, **kw), bf16=train_mlp(X, y, dtype=torch.bfloat16, **kw),
                master=train_mlp(X, y, dtype=torch.bfloat16, master=True, **kw),
                kahan=train_mlp(X, y, dtype=torch.bfloat16, bf16_update="kahan", **kw),
                stochastic=train_mlp(X, y, dtype=torch.bfloat16, bf16_update="stochastic", **kw))
    return {k: dict(final=v["final"], losses=v["losses"][::10], state=v["state"], params=v["params"])
            for k, v in runs.items()}


def recovered(runs: dict) -> dict:
    """Per fix, the fraction of the final loss that pure bf16 loses against float32 which the fix wins back."""
    lost = runs["bf16"]["final"] - runs["fp32"]["final"]
    return {k: (runs["bf16"]["final"] - v["final"]) / lost for k, v in runs.items()}


# ---------------------------------------------------------------------------------------------
# 6. 96 GB or 128 GB
# ---------------------------------------------------------------------------------------------
def accounting(psi: float = 8e9) -> dict:
    """Mixed-precision Adam for ``psi`` parameters: bf16 weights and gradients, fp32 master weights, and m, v in
    fp32 (the standard count) or in bf16; pure bf16 too."""
    std = memory.predict(psi, "Adam", precision="bf16-mixed")
    bf16_moments = memory.predict(psi, "Adam", precision="bf16-mixed", state_dtype="bf16")
    pure = memory.predict(psi, "Adam", precision="bf16")
    q8 = memory.predict(psi, "Adam8bit", precision="bf16-mixed")
    out = {}
    for k, m in dict(standard=std, bf16_moments=bf16_moments, pure_bf16=pure, adam8bit=q8).items():
        # the per-parameter count: the step count of the one tensor (4 bytes) is left out
        d, step = m.as_dict(), m.state.get("step", 0.0)
        d["state"] -= step
        d["total"] -= step
        out[k] = dict(d, per_param=d["total"] / psi)
    return out


# ---------------------------------------------------------------------------------------------
# the whole lab
# ---------------------------------------------------------------------------------------------
SECTIONS = ("peaks", "checkpointing", "zero", "adam8bit", "bf16", "accounting")


def run_lab(size: str = "auto", log=print) -> dict:
    size = resolve_size(size)
    if size == "full" and not torch.cuda.is_available():
        raise RuntimeError("--size full measures a transformer of ~120M parameters on a GPU: no CUDA device here "
                           "(--size smoke runs on a CPU)")
    device = "cuda" if size == "full" else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)
    S = SIZES[size]
    t0 = time.perf_counter()
    res = dict(size=size, mode="lab", world=1, device=device_name(device), date=datetime.date.today().isoformat(),
               torch=torch.__version__, measured_on=device, sections={})
    timings = {}

    def section(name, fn):
        t = time.perf_counter()
        res["sections"][name] = fn()
        timings[name] = round(time.perf_counter() - t, 2)
        if log:
            log(f"  {name}: {timings[name]:.1f} s")

    data = mnist1d(S["mlp_n"], device)
    section("peaks", lambda: optimizer_peaks(size, device))
    section("checkpointing", lambda: checkpointing(size, device))
    section("zero", lambda: zero_runs(size))
    section("adam8bit", lambda: adam8bit_vs_adam(size, device=device, data=data))
    section("bf16", lambda: dict(toy=lost_update_toy(S["toy_n"], S["toy_steps"]),
                                 mlp=lost_update_mlp(size, device=device, data=data)))
    section("accounting", accounting)
    res["seconds"] = dict(timings, total=round(time.perf_counter() - t0, 2))
    return res


#: keys every results file has, and what each section holds (checked by :func:`check_schema`)
SCHEMA = {
    "peaks": ("config", "batch", "rows"),
    "checkpointing": ("config", "batch", "plain", "checkpoint"),
    "zero": ("config", "batch", "steps", "world", "ranks", "reference", "predicted", "weights"),
    "adam8bit": ("adam", "adam8bit", "predicted_state", "formula_state"),
    "bf16": ("toy", "mlp"),
    "accounting": ("standard", "bf16_moments", "pure_bf16", "adam8bit"),
}


def check_schema(res: dict) -> dict:
    """Raise ``ValueError`` naming what is missing from a results dict; return it otherwise."""
    for k in ("size", "mode", "world", "device", "date", "torch", "measured_on", "sections"):
        if k not in res:
            raise ValueError(f"results lack {k!r}")
    if res["mode"] != "lab" or res["world"] != 1:
        raise ValueError(f"results of the lab are mode 'lab' on world 1, got mode={res['mode']!r}, "
                         f"world={res['world']!r}")
    if res["size"] not in SIZES:
        raise ValueError(f"results have an unknown size {res['size']!r}")
    datetime.date.fromisoformat(res["date"])
    for name, keys in SCHEMA.items():
        sec = res["sections"].get(name)
        if sec is None:
            raise ValueError(f"results lack the section {name!r}")
        missing = [k for k in keys if k not in sec]
        if missing:
            raise ValueError(f"section {name!r} lacks {missing}")
    if set(res["sections"]["peaks"]["rows"]) != set(OPTIMIZERS):
        raise ValueError(f"the peaks section has rows {sorted(res['sections']['peaks']['rows'])}, "
                         f"expected {sorted(OPTIMIZERS)}")
    for row in res["sections"]["peaks"]["rows"].values():
        for k in ("peak", "at_rest", "phase_peak"):
            if k not in row["measured"]:
                raise ValueError(f"a peaks row lacks measured[{k!r}]")
        if "peak" not in row["predicted"]:
            raise ValueError("a peaks row lacks predicted['peak']")
    ranks = res["sections"]["zero"]["ranks"]
    if len(ranks) != res["sections"]["zero"]["world"] or any(set(r) != set(ZERO_STAGES) for r in ranks):
        raise ValueError("the zero section needs every stage on every rank")
    return res


def path_for(size: str, mode: str = "lab", world: int = 1) -> Path:
    """The default results file: ``labs/results/memory-accounting-<size>-<mode>-w<world>.json``."""
    if size not in SIZES:
        raise ValueError(f"Invalid size: size={size!r} (expected one of {', '.join(map(repr, SIZES))})")
    return RESULTS / f"memory-accounting-{size}-{mode}-w{world}.json"


def save(res: dict, path: Path | None = None) -> Path:
    path = Path(path) if path is not None else path_for(res["size"], res.get("mode", "lab"), res.get("world", 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1))
    return path


def load(size: str = "full") -> dict | None:
    """Stored results of ``size`` (schema-checked), or None when there are none."""
    p = path_for(size)
    return check_schema(json.loads(p.read_text())) if p.exists() else None


def summary(res: dict) -> str:
    """The table printed at the end of a run."""
    MB = 1e6
    s = res["sections"]
    lines = [f"memory-accounting, size {res['size']}, on {res['device']} ({res['date']})", ""]
    pk = s["peaks"]
    lines.append(f"peak of a training step (transformer {pk['config']}, batch {pk['batch']}), MB")
    lines.append(f"  {'optimizer':<16}{'measured':>10}{'predicted':>11}{'ratio':>8}{'state':>9}{'phase':>10}")
    for name, row in pk["rows"].items():
        m, p = row["measured"], row["predicted"]
        lines.append(f"  {name:<16}{m['peak'] / MB:>10.3f}{p['peak'] / MB:>11.3f}{m['peak'] / p['peak']:>8.4f}"
                     f"{row['state_measured'] / MB:>9.3f}{m['peak_phase']:>10}")
    ck = s["checkpointing"]
    lines.append("")
    lines.append(f"activation checkpointing ({ck['config']['n_layers']} blocks), peak MB: "
                 f"plain {ck['plain']['measured']['peak'] / MB:.3f} (predicted {ck['plain']['predicted']['peak'] / MB:.3f}), "
                 f"checkpointed {ck['checkpoint']['measured']['peak'] / MB:.3f} "
                 f"(predicted {ck['checkpoint']['predicted']['peak'] / MB:.3f})")
    z = s["zero"]
    lines.append("")
    lines.append(f"ZeRO over {z['world']} gloo ranks, bytes per rank at rest (MB) and peak (MB)")
    for st in ZERO_STAGES:
        rest = [r[st]["measured"]["at_rest"] / MB for r in z["ranks"]]
        peak = [r[st]["measured"]["peak"] / MB for r in z["ranks"]]
        pr = z["predicted"][st]
        lines.append(f"  {st:<11} at rest {'/'.join(f'{v:.3f}' for v in rest)} (predicted {pr['at_rest'] / MB:.3f}), "
                     f"peak {'/'.join(f'{v:.3f}' for v in peak)}; final loss {z['ranks'][0][st]['losses'][-1]:.6f}")
    lines.append(f"  one process: final loss {z['reference']['losses'][-1]:.6f}")
    a8 = s["adam8bit"]
    lines.append("")
    lines.append(f"8-bit Adam on MNIST-1D: final loss {a8['adam8bit']['final']:.4f} (fp32 Adam {a8['adam']['final']:.4f}); "
                 f"state {a8['adam8bit']['state']} B (predicted {a8['predicted_state']:.0f}, fp32 Adam {a8['adam']['state']})")
    bf = s["bf16"]
    toy = bf["toy"]
    lines.append("")
    lines.append("bf16 updates, a weight of 0.05 pushed for {steps} steps at lr {lr:g}: progress".format(**toy["config"]))
    lines.append("  " + ", ".join(f"{k} {toy[k]['progress']:.3g}" for k in ("fp32", "bf16", "master", "kahan", "stochastic")))
    rec = recovered(bf["mlp"])
    lines.append("  MNIST-1D final loss: " + ", ".join(f"{k} {v['final']:.4f}" for k, v in bf["mlp"].items())
                 + "; recovered: " + ", ".join(f"{k} {rec[k]:.3f}" for k in ("master", "kahan", "stochastic")))
    ac = s["accounting"]
    lines.append("")
    lines.append("8B parameters, Adam: " + ", ".join(f"{k} {v['total'] / 1e9:.0f} GB ({v['per_param']:.3g} B/param)"
                                                    for k, v in ac.items()))
    lines.append(f"\n{res['seconds']['total']:.0f} s")
    return "\n".join(lines)


EPILOG = """examples:
  python labs/memory_accounting.py --size tiny     # seconds: the tests' size
  python labs/memory_accounting.py --size smoke    # what the notebook runs on a CPU (under a minute)
  python labs/memory_accounting.py --size full     # one GPU, a few minutes (make gpu-labs)

Results go to labs/results/memory-accounting-<size>-lab-w1.json unless --out is given. The summary printed at the
end sets the measured peak of every section beside gdlab.memory's prediction."""


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="labs/memory_accounting.py", formatter_class=HelpFormatter, epilog=EPILOG,
        description="Training memory measured at the allocator against gdlab.memory's predictions: optimizer\n"
                    "state, activation checkpointing, ZeRO 1-3 over 2 gloo ranks, 8-bit Adam, bf16 updates.")
    ap.add_argument("--size", default="auto", choices=["auto", *SIZES],
                    help="tiny (the tests, seconds), smoke (a CPU, under a minute), full (one GPU, a few minutes); "
                         "auto: full with CUDA, smoke without")
    ap.add_argument("--mode", default="lab", choices=["lab", "zero-worker"],
                    help="lab: run every section and write the results; zero-worker: one rank of the ZeRO runs "
                         "(the lab starts it under torchrun)")
    ap.add_argument("--out", default=None,
                    help="the results file (default: labs/results/memory-accounting-<size>-lab-w1.json; "
                         "required for --mode zero-worker)")
    return ap


def main(argv=None) -> int:
    ap = parser()
    a = ap.parse_args(argv)
    if a.mode == "zero-worker":
        if not a.out:
            ap.error("--mode zero-worker needs --out")
        zero_worker(resolve_size(a.size), a.out)
        return 0
    res = check_schema(run_lab(a.size))
    path = save(res, a.out)
    print(summary(res))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
