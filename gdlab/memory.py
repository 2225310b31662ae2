r"""Memory accounting for training: weights, gradients, optimizer state, activations.

Training a model with Ψ parameters holds, per data-parallel device,

.. math::
    M = \underbrace{b_w \Psi}_{\text{weights}} + \underbrace{b_g \Psi}_{\text{gradients}}
      + \underbrace{b_m \Psi}_{\text{fp32 master copy}} + \underbrace{S}_{\text{optimizer state}}
      + \underbrace{A}_{\text{activations}},

where :math:`b_w, b_g, b_m` are bytes per element fixed by the precision
(:data:`PRECISIONS`) and :math:`S` is whatever buffers the optimizer keeps. Two functions
do the accounting:

* :func:`state_bytes` *measures* :math:`S` for any torch optimizer (gdlab's or torch's):
  it adds the bytes of every tensor in ``optimizer.state``, counting shared storage once.
* :func:`predict` *predicts* all five terms for any optimizer and any parameter shapes,
  without allocating them: the optimizer takes one step on ``meta`` tensors (shapes and
  dtypes, no storage), so :math:`S` comes from the optimizer's own buffers -- Adam's two
  moments (8 bytes per fp32 parameter), Adafactor's row and column statistics
  (:math:`4(r+c)` bytes per :math:`r\times c` matrix), AMSGrad's third buffer, torch's
  4-byte ``step`` tensor per parameter tensor -- and never from a hand-written table.

With ZeRO (Rajbhandari et al. 2020) over :math:`N_d` devices and :math:`K\Psi` bytes of master
weights plus state (:math:`K = 12` for mixed-precision Adam), the per-device bytes are

.. math::
    \text{stage 0: } (b_w + b_g + K)\Psi,\quad
    \text{stage 1: } (b_w + b_g)\Psi + K\Psi/N_d,\quad
    \text{stage 2: } b_w\Psi + (b_g + K)\Psi/N_d,\quad
    \text{stage 3: } (b_w + b_g + K)\Psi/N_d

(:func:`zero_bytes`; :func:`predict` applies the same sharding to its measured terms).

Activations of :class:`TinyTransformer` are given exactly by
:func:`transformer_activation_bytes` and can be measured with :func:`saved_activation_bytes`.

A whole training step is *measured at the allocator* by :func:`measure_step` (the CPU allocator's
records in the torch profiler, or ``torch.cuda.max_memory_allocated``): the peak, what rests between
steps, and each phase (zero_grad, forward, backward, step). :func:`transformer_step_peak` predicts it
for :class:`TinyTransformer`: weights + gradients + state + buffers + activations + the loss's
gradient :math:`2eTV`, the first temporary of the backward pass (:func:`transformer_loss_grad_bytes`).
ZeRO stages 1 and 2 that really shard are in :mod:`gdlab.zero`.
"""

from __future__ import annotations

import bisect
import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

#: bytes per element of the dtypes used below
DTYPE_BYTES = {"fp32": 4, "float32": 4, "fp16": 2, "float16": 2, "bf16": 2, "bfloat16": 2, "fp64": 8, "float64": 8}

#: precision -> bytes per parameter of weights, gradients and the fp32 master copy, and the
#: dtype the optimizer's state is kept in (the dtype of the tensors the optimizer updates)
PRECISIONS = {
    "fp32": dict(weights=4, grads=4, master=0, state_dtype="fp32"),
    "fp16-mixed": dict(weights=2, grads=2, master=4, state_dtype="fp32"),
    "bf16-mixed": dict(weights=2, grads=2, master=4, state_dtype="fp32"),
    "bf16": dict(weights=2, grads=2, master=0, state_dtype="bf16"),
}

#: largest parameter (in elements) for which :func:`predict` falls back to a real CPU step
#: when an optimizer cannot step on ``meta`` tensors (it reads a value with ``.item()``)
REAL_PROBE_LIMIT = 1 << 22


# --------------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------------
def _local(t):
    """The local shard of a DTensor (FSDP2 state), or the tensor itself."""
    return t.to_local() if hasattr(t, "to_local") and hasattr(t, "device_mesh") else t


def _storage_key(t):
    s = t.untyped_storage()
    ptr = s.data_ptr()
    if ptr == 0:  # meta tensors (and empty ones) have no address: count each one
        return ("id", id(t)), s.nbytes()
    return (t.device.type, t.device.index, ptr), s.nbytes()


def tensor_bytes(tensors: Iterable) -> int:
    """Bytes held by ``tensors``, counting each storage once (a view adds nothing)."""
    seen, total = set(), 0
    for t in tensors:
        t = _local(t)
        key, nbytes = _storage_key(t)
        if key not in seen:
            seen.add(key)
            total += nbytes
    return total


def state_bytes(optimizer, counters: bool = True) -> dict[str, int]:
    """Bytes of optimizer state, by buffer name, measured from ``optimizer.state``.

    Works for any ``torch.optim.Optimizer`` (gdlab's torch face or torch's own): every tensor
    in ``optimizer.state[p]`` is counted once by its storage, so buffers that share storage are
    not counted twice, and a DTensor (FSDP2) counts its local shard. Python numbers in the
    state live on the host and count 0. Buffers of size zero are listed with 0 bytes. Before
    the first ``step()`` most optimizers hold no state at all. ``counters=False`` leaves out
    the 0-dim tensors, the per-tensor counters (the 4-byte ``step`` that torch.optim and gdlab
    keep for every parameter tensor, NAdam's running product ``mu_product``): what remains is
    the state that grows with the number of parameters.
    """
    out: dict[str, int] = {}
    seen: set = set()
    for st in optimizer.state.values():
        for name, v in st.items():
            if not hasattr(v, "untyped_storage"):
                continue
            if not counters and v.dim() == 0:
                continue
            key, nbytes = _storage_key(_local(v))
            out.setdefault(name, 0)
            if key not in seen:
                seen.add(key)
                out[name] += nbytes
    return out


# --------------------------------------------------------------------------------------------
# predicting
# --------------------------------------------------------------------------------------------
@dataclass
class Memory:
    """Predicted bytes on one device (after ZeRO sharding), by kind.

    ``state`` maps each optimizer buffer name to its bytes; ``total`` adds everything.
    """

    n_params: int
    weights: float
    grads: float
    master: float
    state: dict[str, float]
    activations: float = 0.0
    precision: str = "fp32"
    zero_stage: int = 0
    n_devices: int = 1
    optimizer: str = ""
    per_tensor: dict[str, float] = field(default_factory=dict)

    @property
    def state_total(self) -> float:
        return float(sum(self.state.values()))

    @property
    def total(self) -> float:
        return self.weights + self.grads + self.master + self.state_total + self.activations

    @property
    def state_per_param(self) -> float:
        """Optimizer-state bytes per parameter (on one device, after sharding)."""
        return self.state_total / self.n_params if self.n_params else 0.0

    def as_dict(self) -> dict[str, float]:
        return dict(weights=self.weights, grads=self.grads, master=self.master, state=self.state_total,
                    activations=self.activations, total=self.total)

    def __str__(self) -> str:
        gb = {k: f"{v / 1e9:.3g} GB" for k, v in self.as_dict().items()}
        return (f"Memory({self.optimizer}, {self.precision}, ZeRO-{self.zero_stage} over {self.n_devices}: "
                + ", ".join(f"{k} {v}" for k, v in gb.items()) + ")")


def _shapes(params) -> list[tuple[int, ...]]:
    """Parameter shapes from a module, tensors, shapes, or a parameter count (one flat vector)."""
    if isinstance(params, bool):
        raise ValueError(f"Invalid params: params={params!r}")
    if isinstance(params, (int, float)):
        if not math.isfinite(params) or params <= 0 or int(params) != params:
            raise ValueError(f"Invalid params: params={params!r} (expected a positive whole count)")
        return [(int(params),)]
    if hasattr(params, "parameters") and callable(params.parameters):
        params = list(params.parameters())
    shapes = []
    for p in params:
        if isinstance(p, dict):  # a param group
            shapes += _shapes(p["params"])
            continue
        shape = tuple(p.shape) if hasattr(p, "shape") else tuple(p)
        if any(int(d) != d or d < 0 for d in shape):
            raise ValueError(f"Invalid parameter shape: {shape!r}")
        shapes.append(tuple(int(d) for d in shape))
    if not shapes:
        raise ValueError("params is empty: nothing to account for")
    return shapes


def _resolve(optimizer) -> tuple[type, dict, str]:
    """Optimizer class, hyperparameters of an instance (if given), and a display name."""
    import torch

    from . import optim as gopt

    if isinstance(optimizer, torch.optim.Optimizer):
        cls = type(optimizer)
        sig = inspect.signature(cls.__init__).parameters
        open_kw = any(q.kind is inspect.Parameter.VAR_KEYWORD for q in sig.values())
        hyper = {k: v for k, v in optimizer.defaults.items() if open_kw or k in sig}
        return cls, hyper, cls.__name__
    if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        return optimizer, {}, optimizer.__name__
    if isinstance(optimizer, str):
        if optimizer in gopt.RULES:
            return getattr(gopt, optimizer), {}, optimizer
        for prefix in ("torch.optim.", "torch:"):
            if optimizer.startswith(prefix):
                name = optimizer[len(prefix):]
                cls = getattr(torch.optim, name, None)
                if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer):
                    return cls, {}, f"torch.optim.{name}"
        raise ValueError(f"Unknown optimizer: optimizer={optimizer!r} (a gdlab rule name, 'torch.optim.<Name>', "
                         f"a torch optimizer class or instance)")
    raise ValueError(f"Invalid optimizer: optimizer={optimizer!r}")


_PROBES: dict = {}


def _probe(cls: type, shape: tuple[int, ...], dtype_name: str, hyper: dict, steps: int) -> dict[str, tuple[int, int]]:
    """State bytes of ``cls`` for one parameter of ``shape`` after ``steps`` steps, by buffer name: ``(all, counters)``,
    where ``counters`` are the bytes of the 0-dim tensors (the per-tensor step count), which ZeRO does not shard.

    The step runs on the ``meta`` device (no storage is allocated, so any size works). An
    optimizer that reads a value during its step (``.item()``) cannot run on ``meta``; for it the
    step runs on real CPU tensors when the parameter is small enough (:data:`REAL_PROBE_LIMIT`).
    """
    import torch

    key = (cls, shape, dtype_name, tuple(sorted((k, repr(v)) for k, v in hyper.items())), steps)
    if key in _PROBES:
        return _PROBES[key]
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}[dtype_name]

    def run(device: str) -> dict[str, int]:
        gen = torch.Generator().manual_seed(0)
        if device == "meta":
            p = torch.nn.Parameter(torch.empty(shape, dtype=dtype, device="meta"))
        else:
            p = torch.nn.Parameter(torch.randn(shape, generator=gen).to(dtype))
        opt = cls([p], **hyper)
        for _ in range(steps):
            p.grad = (torch.empty(shape, dtype=dtype, device="meta") if device == "meta"
                      else (0.1 * torch.randn(shape, generator=gen)).to(dtype))
            opt.step()
        full, big = state_bytes(opt), state_bytes(opt, counters=False)
        return {name: (b, b - big.get(name, 0)) for name, b in full.items()}

    try:
        out = run("meta")
    except (RuntimeError, NotImplementedError, TypeError) as err:
        n = math.prod(shape)
        if n > REAL_PROBE_LIMIT:
            raise ValueError(f"{cls.__name__} cannot step on meta tensors ({err}); a parameter of shape {shape} "
                             f"is too large for a real probe (limit {REAL_PROBE_LIMIT} elements)") from err
        out = run("cpu")
    _PROBES[key] = out
    return out


def predict(params, optimizer="Adam", *, precision: str = "fp32", state_dtype: str | None = None,
            zero_stage: int = 0, n_devices: int = 1, activations: float = 0.0, steps: int = 1,
            **hyper: Any) -> Memory:
    r"""Bytes of weights, gradients, master weights and optimizer state on one device.

    ``params``: a module, an iterable of tensors or shapes, or a parameter count Ψ (one flat vector).
    ``optimizer``: a gdlab rule name (``"Adam"``), ``"torch.optim.<Name>"``, a torch optimizer class,
    or an optimizer instance (its hyperparameters are used); ``hyper`` are passed to the optimizer.
    ``precision``: a key of :data:`PRECISIONS`; ``state_dtype`` overrides the dtype of the state
    (e.g. ``"bf16"`` state with an fp32 master copy). ``zero_stage`` in 0..3 shards master weights and
    state (stage ≥ 1; the per-tensor counters, 4 bytes a tensor, stay whole on every device, since each device
    holds a slice of every parameter), gradients (≥ 2) and weights (3) over ``n_devices``; ``activations`` are added
    unsharded. The state is what the optimizer holds after ``steps`` steps, found by stepping it on
    ``meta`` tensors of each distinct shape (see :func:`_probe`).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Invalid precision: precision={precision!r} (expected one of {sorted(PRECISIONS)})")
    if state_dtype is not None and state_dtype not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"Invalid state_dtype: state_dtype={state_dtype!r} (expected 'fp32', 'bf16' or 'fp16')")
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"Invalid ZeRO stage: zero_stage={zero_stage!r} (expected 0, 1, 2 or 3)")
    if isinstance(n_devices, bool) or not isinstance(n_devices, int) or n_devices < 1:
        raise ValueError(f"Invalid number of devices: n_devices={n_devices!r}")
    if not math.isfinite(activations) or activations < 0:
        raise ValueError(f"Invalid activations value: activations={activations!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Invalid steps: steps={steps!r}")
    shapes = _shapes(params)
    cls, inst_hyper, label = _resolve(optimizer)
    hp = {**inst_hyper, **hyper}
    prec = PRECISIONS[precision]
    sdt = state_dtype or prec["state_dtype"]
    n = sum(math.prod(s) for s in shapes)
    state: dict[str, float] = {}
    counts: dict[tuple, int] = {}
    for s in shapes:
        counts[s] = counts.get(s, 0) + 1
    counters: dict[str, float] = {}
    for s, c in counts.items():
        for name, (b, cb) in _probe(cls, s, sdt, hp, steps).items():
            state[name] = state.get(name, 0) + c * (b - cb)
            counters[name] = counters.get(name, 0) + c * cb
    w, g, m = prec["weights"] * n, prec["grads"] * n, prec["master"] * n
    nd = n_devices
    if zero_stage >= 1:
        # every rank holds a slice of every parameter (gdlab.zero, FSDP2), so each keeps every tensor's counters
        m, state = m / nd, {k: v / nd for k, v in state.items()}
    state = {k: v + counters.get(k, 0) for k, v in state.items()}
    if zero_stage >= 2:
        g = g / nd
    if zero_stage >= 3:
        w = w / nd
    return Memory(n_params=n, weights=float(w), grads=float(g), master=float(m),
                  state={k: float(v) for k, v in state.items()}, activations=float(activations),
                  precision=precision, zero_stage=zero_stage, n_devices=nd, optimizer=label)


def zero_bytes(psi: float, stage: int, n_devices: int, k: float = 12.0, weight_bytes: float = 2.0,
               grad_bytes: float = 2.0) -> float:
    r"""ZeRO's per-device model-state bytes (Rajbhandari et al. 2020, §5 and Fig. 1).

    Stage 0: :math:`(2+2+K)\Psi`; stage 1 (:math:`P_{os}`): :math:`4\Psi + K\Psi/N_d`; stage 2
    (:math:`P_{os+g}`): :math:`2\Psi + (2+K)\Psi/N_d`; stage 3 (:math:`P_{os+g+p}`): :math:`(4+K)\Psi/N_d`,
    with 2-byte weights and gradients (``weight_bytes``, ``grad_bytes``) and :math:`K = 12` for
    mixed-precision Adam (fp32 master weights, m and v).
    """
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"Invalid ZeRO stage: stage={stage!r} (expected 0, 1, 2 or 3)")
    if isinstance(n_devices, bool) or not isinstance(n_devices, int) or n_devices < 1:
        raise ValueError(f"Invalid number of devices: n_devices={n_devices!r}")
    if not (psi > 0 and math.isfinite(psi)):
        raise ValueError(f"Invalid parameter count: psi={psi!r}")
    if not (k >= 0 and math.isfinite(k)):
        raise ValueError(f"Invalid K: k={k!r}")
    nd = n_devices
    w, g, s = weight_bytes * psi, grad_bytes * psi, k * psi
    if stage >= 1:
        s /= nd
    if stage >= 2:
        g /= nd
    if stage >= 3:
        w /= nd
    return w + g + s


# --------------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------------
def transformer_activation_bytes(batch: int, seq: int, d_model: int, n_heads: int, n_layers: int,
                                 d_ff: int, vocab: int, bytes_per_element: int = 4, checkpoint: bool = False) -> int:
    r"""Bytes of the tensors :class:`TinyTransformer` saves for its backward pass.

    With :math:`T = bs` tokens, width :math:`h`, :math:`a` heads, feed-forward width :math:`f`,
    :math:`L` layers, vocabulary :math:`V` and :math:`e` bytes per element, the training forward pass
    (loss included) keeps

    .. math::
        A = e\left[L\,(8Th + 2Tf + abs^2 + 4T) + 2Th + 2T + TV + 1\right] + 16T.

    Per layer: LayerNorm 1 keeps its input and output (2Th) and its mean and 1/σ (2T); the
    attention keeps the contiguous q, k, v buffer (3Th; the three are views of it), the softmax
    output (:math:`abs^2`; the scores and the masked scores are not kept) and the merged heads fed
    to the output projection (Th); LayerNorm 2 keeps 2Th + 2T; the MLP keeps the GELU input and
    output (2Tf). After the layers: the final LayerNorm (2Th + 2T), the log-softmax of the logits
    (TV) and the loss's one-element normaliser (e bytes); the token ids and the targets are int64
    (16T bytes). Tensors that share storage with parameters or buffers (the weights, the causal
    mask) are not activations and are not counted.

    With ``checkpoint=True`` (each block recomputed in the backward pass, :class:`TinyTransformer`'s
    ``checkpoint``), a block keeps only its input, :math:`Th`, so the forward pass ends with
    :math:`A_{\text{ckpt}} = e\,[L\,Th + 2Th + 2T + TV + 1] + 16T`; the backward pass then holds one
    block's activations again while it recomputes it (:func:`transformer_block_activation_bytes`).
    """
    for name, v in dict(batch=batch, seq=seq, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
                        d_ff=d_ff, vocab=vocab, bytes_per_element=bytes_per_element).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"Invalid {name}: {name}={v!r}")
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    T, h, a, f, e = batch * seq, d_model, n_heads, d_ff, bytes_per_element
    per_layer = T * h if checkpoint else 8 * T * h + 2 * T * f + a * batch * seq * seq + 4 * T
    return e * (n_layers * per_layer + 2 * T * h + 2 * T + T * vocab + 1) + 16 * T


def transformer_block_activation_bytes(batch: int, seq: int, d_model: int, n_heads: int, d_ff: int,
                                       bytes_per_element: int = 4) -> int:
    r"""Bytes one block of :class:`TinyTransformer` saves for backward: :math:`e\,(8Th + 2Tf + abs^2 + 4T)`."""
    T = batch * seq
    return bytes_per_element * (8 * T * d_model + 2 * T * d_ff + n_heads * batch * seq * seq + 4 * T)


def transformer_loss_grad_bytes(batch: int, seq: int, vocab: int, bytes_per_element: int = 4) -> int:
    r"""The largest temporary at the start of the backward pass: :math:`2eTV`.

    The cross-entropy's backward allocates the gradient with respect to the log-probabilities and then the one
    with respect to the logits (:math:`TV` values each) while the saved log-probabilities are still alive.
    """
    return 2 * bytes_per_element * batch * seq * vocab


def transformer_step_peak(model, optimizer="Adam", batch: int = 1, *, n_devices: int = 1, zero_stage: int = 0,
                          **hyper: Any) -> dict:
    r"""The predicted peak bytes of one training step of a :class:`TinyTransformer`, term by term.

    With gradients kept allocated between steps (``zero_grad(set_to_none=False)``), everything is live at the end
    of the forward pass: weights, gradients and optimizer state (:func:`predict`, sharded by ``zero_stage`` over
    ``n_devices``), the model's buffers (the causal masks), and the activations of the ``batch`` sequences this
    device processes (:func:`transformer_activation_bytes`). The peak comes just after, at the first operation of
    the backward pass, with the loss's gradient (:func:`transformer_loss_grad_bytes`); with checkpointing it comes
    later, while one block is recomputed (:func:`transformer_block_activation_bytes`), whichever is larger.

    Returns a dict of the terms (``weights``, ``grads``, ``master``, ``state``, ``buffers``, ``activations``,
    ``transient``), their sum ``peak``, and ``at_rest`` (what persists between steps: the model states and
    buffers). Not included: the optimizer step's own temporaries (e.g. a foreach Adam's parameter-sized
    :math:`\sqrt v + \epsilon`), which set the peak instead when they exceed activations plus transient,
    and the extra weights ZeRO stage 3 gathers.
    """
    c = model.config
    m = predict(model, optimizer, zero_stage=zero_stage, n_devices=n_devices, **hyper)
    buffers = tensor_bytes(model.buffers())
    act = model.activation_bytes(batch)
    loss_grad = transformer_loss_grad_bytes(batch, c["seq"], c["vocab"])
    block = transformer_block_activation_bytes(batch, c["seq"], c["d_model"], c["n_heads"], c["d_ff"])
    transient = max(loss_grad, block) if model.checkpoint else loss_grad
    states = m.weights + m.grads + m.master + m.state_total
    return dict(weights=m.weights, grads=m.grads, master=m.master, state=m.state_total, buffers=float(buffers),
                activations=float(act), transient=float(transient), at_rest=states + buffers,
                peak=states + buffers + act + transient, memory=m)


def saved_activation_bytes(fn: Callable[[], Any], exclude: Iterable = ()) -> tuple[Any, int]:
    """Run ``fn()`` and measure the bytes autograd saves for backward (each storage once).

    Tensors sharing storage with ``exclude`` (pass the model's parameters and buffers) are not
    counted. Returns ``(fn(), bytes)``.
    """
    import torch

    skip = set()
    for t in exclude:
        key, _ = _storage_key(t.detach())
        skip.add(key)
    seen: dict = {}

    def pack(t):
        key, nbytes = _storage_key(t)
        if key not in skip:
            seen[key] = nbytes
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, int(sum(seen.values()))


@functools.lru_cache(maxsize=None)
def _tiny_transformer_class():
    import torch
    import torch.utils.checkpoint
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, d_model, n_heads, d_ff, seq):
            super().__init__()
            self.n_heads = n_heads
            self.ln1 = nn.LayerNorm(d_model)
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)
            self.ln2 = nn.LayerNorm(d_model)
            self.fc1 = nn.Linear(d_model, d_ff)
            self.fc2 = nn.Linear(d_ff, d_model)
            self.register_buffer("mask", torch.ones(seq, seq, dtype=torch.bool).triu(1), persistent=False)

        def forward(self, x):
            b, s, h = x.shape
            a = self.n_heads
            q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, a, h // a).permute(2, 0, 3, 1, 4).contiguous().unbind(0)
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(h // a))
            att = scores.masked_fill(self.mask[:s, :s], float("-inf")).softmax(-1)
            y = (att @ v).transpose(1, 2).reshape(b, s, h)
            x = x + self.proj(y)
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    class TinyTransformer(nn.Module):
        """A pre-LayerNorm causal transformer language model, small enough for a CPU.

        Attention is written out (no fused kernel) so that the tensors kept for backward are the
        same on every device and :func:`transformer_activation_bytes` counts them exactly.
        """

        def __init__(self, vocab=256, d_model=128, n_heads=4, n_layers=2, d_ff=512, seq=64, checkpoint=False):
            super().__init__()
            self.config = dict(vocab=vocab, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff, seq=seq)
            #: recompute each block in the backward pass instead of keeping its activations
            #: (``torch.utils.checkpoint``, non-reentrant): only the block's input is saved
            self.checkpoint = bool(checkpoint)
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(0.02 * torch.randn(seq, d_model))
            self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, seq) for _ in range(n_layers))
            self.ln = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos[: idx.shape[1]]
            for blk in self.blocks:
                if self.checkpoint and torch.is_grad_enabled():
                    x = torch.utils.checkpoint.checkpoint(blk, x, use_reentrant=False, preserve_rng_state=False)
                else:
                    x = blk(x)
            return self.head(self.ln(x))

        def loss(self, idx, targets):
            logits = self(idx)
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

        def activation_bytes(self, batch: int, bytes_per_element: int = 4) -> int:
            c = self.config
            return transformer_activation_bytes(batch, c["seq"], c["d_model"], c["n_heads"], c["n_layers"],
                                                c["d_ff"], c["vocab"], bytes_per_element, checkpoint=self.checkpoint)

    return TinyTransformer


def TinyTransformer(**kwargs):
    """Build a :class:`TinyTransformer` (a small causal LM; see :func:`transformer_activation_bytes`)."""
    return _tiny_transformer_class()(**kwargs)


# --------------------------------------------------------------------------------------------
# measuring a whole training step at the allocator
# --------------------------------------------------------------------------------------------
#: the phases of a training step, in order, as :func:`measure_step` reports them
PHASES = ("zero_grad", "forward", "backward", "step")


@dataclass
class Measured:
    """Bytes live in the allocator during a training step, measured by :func:`measure_step`.

    Every number counts tensors' storage as the allocator hands it out (on CPU the allocator's own
    records, replayed in order; on CUDA ``torch.cuda.max_memory_allocated``), from an empty start:
    the model and the optimizer are built inside the measurement.

    * ``peak``: the most bytes live at any moment of the last step; ``peak_phase`` says where.
    * ``at_rest``: bytes live after the last step (weights, kept gradients, optimizer state, buffers).
    * ``phase_start[p]`` and ``phase_peak[p]``: live bytes when phase ``p`` of the last step began, and
      the most live during it (``p`` in :data:`PHASES`).
    * ``first_peak``: the peak of the first step (the optimizer state is created there).
    * ``timeline``: on CPU with ``timeline=True``, the live bytes after each allocation or release of
      the last step, in order.
    """

    peak: int
    at_rest: int
    phase_start: dict[str, int]
    phase_peak: dict[str, int]
    first_peak: int
    losses: list[float]
    source: str
    device: str
    timeline: list[int] = field(default_factory=list, repr=False)
    model: Any = field(default=None, repr=False)
    optimizer: Any = field(default=None, repr=False)

    @property
    def peak_phase(self) -> str:
        """The phase of the last step in which the peak was reached."""
        return max(PHASES, key=lambda p: self.phase_peak.get(p, -1))

    def as_dict(self) -> dict:
        return dict(peak=self.peak, at_rest=self.at_rest, peak_phase=self.peak_phase, first_peak=self.first_peak,
                    phase_start=dict(self.phase_start), phase_peak=dict(self.phase_peak), losses=list(self.losses),
                    source=self.source, device=self.device)


def _default_loss(model, *batch):
    return model.loss(*batch)


def _train_steps(model, optimizer, batch, loss_fn, steps, set_to_none, mark, sync=lambda: None):
    """Run ``steps`` training steps; ``mark(step, phase)`` returns a context manager around each phase."""
    losses = []
    for s in range(steps):
        with mark(s, "zero_grad"):
            optimizer.zero_grad(set_to_none=set_to_none)
        with mark(s, "forward"):
            loss = loss_fn(model, *batch)
        with mark(s, "backward"):
            loss.backward()
        with mark(s, "step"):
            optimizer.step()
        sync()
        losses.append(float(loss.detach()))
        del loss
    return losses


def _as_device(batch, device):
    return tuple(t.to(device, copy=True) if hasattr(t, "to") else t for t in batch)


def _model_device(model):
    import torch

    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def measure_step(build: Callable[[], tuple[Any, Any]], batch, loss_fn: Callable | None = None, *, steps: int = 2,
                 set_to_none: bool = False, timeline: bool = False, settle: Callable[[], Any] | None = None) -> Measured:
    r"""Measure the bytes a real training step allocates: weights, gradients, optimizer state, activations.

    ``build()`` returns ``(model, optimizer)``; it runs inside the measurement, so that every tensor the
    model and the optimizer hold is counted from the allocator. ``batch`` is a tuple of tensors, copied
    to the model's device inside the measurement (the inputs count too), and ``loss_fn(model, *batch)``
    returns the loss (default: ``model.loss(*batch)``). Each of the ``steps`` steps runs
    ``optimizer.zero_grad(set_to_none=set_to_none)``, the forward pass, ``loss.backward()`` and
    ``optimizer.step()``; the last step is reported (with ``steps >= 2`` it is a steady-state step: the
    optimizer state exists and, with ``set_to_none=False``, the gradients stay allocated between steps).
    ``settle()``, if given, runs after the last step and before ``at_rest`` is read (pass
    :func:`gdlab.distributed.settle` under ``torchrun``, so that every rank has finished its collectives and gloo's
    worker threads have released their buffers).

    On CPU the counts come from the allocator's records in the torch profiler
    (``torch.profiler.profile(profile_memory=True)``): every allocation and release, in order, with the CPU
    allocator's running total of live bytes. The total is kept on every thread (c10's
    ``FLAGS_caffe2_report_cpu_memory_usage`` is switched on for the measurement): a collective's worker thread
    (gloo) often drops the last reference to a buffer, and the profiler, which records only the threads it
    profiles, would miss that release. Only blocks allocated inside the measurement are counted. On CUDA,
    ``torch.cuda.max_memory_allocated`` is read after each phase (the peak reset before it), relative to
    ``torch.cuda.memory_allocated()`` before ``build``. Both count tensors only: not the CUDA context, the
    caching allocator's reserve, or scratch memory a library allocates past torch's allocator.
    """
    import torch

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"Invalid steps: steps={steps!r}")
    loss_fn = loss_fn or _default_loss
    if not isinstance(batch, (tuple, list)):
        batch = (batch,)
    cuda = torch.cuda.is_available() and any(getattr(t, "is_cuda", False) for t in batch)
    if cuda:
        return _measure_cuda(build, batch, loss_fn, steps, set_to_none, settle)
    from torch.profiler import ProfilerActivity, profile, record_function

    def mark(s, phase):
        return record_function(f"gdlab.memory:{s}:{phase}")

    with _allocator_totals() as every_thread:
        prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        with _quiet_stderr():  # libkineto prints "profiler_start" / "profiler_stop" lines on the C stderr
            prof.__enter__()
        try:
            with record_function("gdlab.memory:build"):
                model, optimizer = build()
                data = _as_device(batch, _model_device(model))
            batch_bytes = tensor_bytes(t for t in data if hasattr(t, "untyped_storage"))
            losses = _train_steps(model, optimizer, data, loss_fn, steps, set_to_none, mark)
            if settle is not None:
                settle()
            with record_function("gdlab.memory:end"):
                probe = torch.empty(1)  # an allocation after the steps: the allocator's total at rest
            del probe, data
        finally:
            with _quiet_stderr():
                prof.__exit__(None, None, None)
    ranges, allocs = _profile_events(prof)
    if every_thread and allocs:
        base = allocs[0][2] - allocs[0][1]
        lives = [total - base for _, _, total in allocs]
    else:  # replay the records of this thread
        lives, live = [], 0
        for _, nbytes, _ in allocs:
            live += nbytes
            lives.append(live)
    times = [t for t, _, _ in allocs]
    marks = sorted(((k, a, b) for k, (a, b) in ranges.items() if k not in ("build", "end")), key=lambda r: r[1])
    starts = [r[1] for r in marks]
    start = {r[0]: None for r in marks}
    peak = {r[0]: 0 for r in marks}
    last = steps - 1
    step_lo, step_hi = ranges[(last, PHASES[0])][0], ranges[(last, PHASES[-1])][1]
    line: list[int] = []
    before = 0
    for t, live in zip(times, lives):
        i = bisect.bisect_right(starts, t) - 1
        key = marks[i][0] if i >= 0 and t <= marks[i][2] else None
        if key is not None:
            if start[key] is None:
                start[key] = before
            peak[key] = max(peak[key], live)
        if timeline and step_lo <= t <= step_hi:
            line.append(int(live))
        before = live
    for key, a, _ in marks:  # a phase without any allocation starts (and peaks) at the bytes live when it ran
        if start[key] is None:
            j = bisect.bisect_left(times, a) - 1
            start[key] = lives[j] if j >= 0 else 0
        peak[key] = max(peak[key], start[key])
    end_t = ranges["end"][0]
    j = bisect.bisect_left(times, end_t)  # the probe's own allocation is the first record inside "end"
    at_rest = (lives[j] - 4 if j < len(lives) else lives[-1]) - batch_bytes
    phase_start = {p: int(start[(last, p)]) for p in PHASES}
    phase_peak = {p: int(peak[(last, p)]) for p in PHASES}
    first_peak = max(peak[(0, p)] for p in PHASES)
    source = "torch.profiler allocator records" + (" (running total over every thread)" if every_thread else "")
    return Measured(peak=max(phase_peak.values()), at_rest=int(at_rest), phase_start=phase_start,
                    phase_peak=phase_peak, first_peak=int(first_peak), losses=losses, source=source, device="cpu",
                    timeline=line, model=model, optimizer=optimizer)


class _quiet_stderr:
    """Send the C-level stderr (file descriptor 2) to /dev/null for the duration; Python's sys.stderr is flushed first."""

    def __enter__(self):
        import os
        import sys

        try:
            sys.stderr.flush()
            self.saved, self.null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
            os.dup2(self.null, 2)
        except (OSError, ValueError, AttributeError):  # no file descriptor 2 to redirect
            self.saved = None
        return self

    def __exit__(self, *exc):
        import os

        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)
            os.close(self.null)
        return False


class _allocator_totals:
    """Switch on c10's running total of CPU allocations on every thread for the duration (True if it could)."""

    def __enter__(self) -> bool:
        self.flag = None
        try:
            import ctypes
            import glob
            import os

            import torch

            libs = glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libc10.*"))
            self.flag = ctypes.c_bool.in_dll(ctypes.CDLL(libs[0]), "FLAGS_caffe2_report_cpu_memory_usage")
        except (OSError, ValueError, IndexError, AttributeError):  # another build: this thread's records only
            return False
        self.old = self.flag.value
        self.flag.value = True
        return True

    def __exit__(self, *exc):
        if self.flag is not None:
            self.flag.value = self.old
        return False


def _profile_events(prof):
    """The ``gdlab.memory:...`` ranges (key -> (start_ns, end_ns)) and the CPU allocator records
    ``(time_ns, bytes, allocator total)`` in time order, from the profiler's event tree."""
    ranges: dict = {}
    allocs = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        f = node.extra_fields
        kind = type(f).__name__
        if kind == "_ExtraFields_Allocation":
            if str(f.device).startswith("cpu"):
                allocs.append((node.start_time_ns, int(f.alloc_size), int(f.total_allocated)))
        elif node.name.startswith("gdlab.memory:"):
            parts = node.name.split(":")
            key = parts[1] if len(parts) == 2 else (int(parts[1]), parts[2])
            ranges[key] = (node.start_time_ns, node.end_time_ns)
    allocs.sort(key=lambda r: r[0])
    return ranges, allocs


def _measure_cuda(build, batch, loss_fn, steps, set_to_none, settle=None) -> Measured:
    import contextlib

    import torch

    sync = torch.cuda.synchronize
    dev = next(t for t in batch if getattr(t, "is_cuda", False)).device
    warm = torch.ones(16, 16, device=dev)
    (warm @ warm).sum().item()  # the BLAS handle and its workspace are allocated here, outside the measurement
    del warm
    sync()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    model, optimizer = build()
    data = _as_device(batch, _model_device(model))
    sync()
    start: dict = {}
    peak: dict = {}

    @contextlib.contextmanager
    def mark(s, phase):
        sync()
        start[(s, phase)] = torch.cuda.memory_allocated() - base
        torch.cuda.reset_peak_memory_stats()
        yield
        sync()
        peak[(s, phase)] = torch.cuda.max_memory_allocated() - base

    losses = _train_steps(model, optimizer, data, loss_fn, steps, set_to_none, mark, sync)
    if settle is not None:
        settle()
    sync()
    at_rest = torch.cuda.memory_allocated() - base - tensor_bytes(t for t in data if hasattr(t, "untyped_storage"))
    last = steps - 1
    phase_start = {p: int(start[(last, p)]) for p in PHASES}
    phase_peak = {p: int(peak[(last, p)]) for p in PHASES}
    return Measured(peak=max(phase_peak.values()), at_rest=int(at_rest), phase_start=phase_start,
                    phase_peak=phase_peak, first_peak=int(max(peak[(0, p)] for p in PHASES)), losses=losses,
                    source="torch.cuda.max_memory_allocated", device=torch.cuda.get_device_name(),
                    model=model, optimizer=optimizer)
