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
"""

from __future__ import annotations

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


def state_bytes(optimizer) -> dict[str, int]:
    """Bytes of optimizer state, by buffer name, measured from ``optimizer.state``.

    Works for any ``torch.optim.Optimizer`` (gdlab's torch face or torch's own): every tensor
    in ``optimizer.state[p]`` is counted once by its storage, so buffers that share storage are
    not counted twice, and a DTensor (FSDP2) counts its local shard. Python numbers in the
    state (gdlab's step counts) live on the host and count 0. Buffers of size zero are listed
    with 0 bytes. Before the first ``step()`` most optimizers hold no state at all.
    """
    out: dict[str, int] = {}
    seen: set = set()
    for st in optimizer.state.values():
        for name, v in st.items():
            if not hasattr(v, "untyped_storage"):
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


def _probe(cls: type, shape: tuple[int, ...], dtype_name: str, hyper: dict, steps: int) -> dict[str, int]:
    """State bytes of ``cls`` for one parameter of ``shape`` after ``steps`` steps.

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
        return state_bytes(opt)

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
    state (stage ≥ 1), gradients (≥ 2) and weights (3) over ``n_devices``; ``activations`` are added
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
    for s, c in counts.items():
        for name, b in _probe(cls, s, sdt, hp, steps).items():
            state[name] = state.get(name, 0) + c * b
    w, g, m = prec["weights"] * n, prec["grads"] * n, prec["master"] * n
    nd = n_devices
    if zero_stage >= 1:
        m, state = m / nd, {k: v / nd for k, v in state.items()}
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
                                 d_ff: int, vocab: int, bytes_per_element: int = 4) -> int:
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
    """
    for name, v in dict(batch=batch, seq=seq, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
                        d_ff=d_ff, vocab=vocab, bytes_per_element=bytes_per_element).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"Invalid {name}: {name}={v!r}")
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    T, h, a, f, e = batch * seq, d_model, n_heads, d_ff, bytes_per_element
    per_layer = 8 * T * h + 2 * T * f + a * batch * seq * seq + 4 * T
    return e * (n_layers * per_layer + 2 * T * h + 2 * T + T * vocab + 1) + 16 * T


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

        def __init__(self, vocab=256, d_model=128, n_heads=4, n_layers=2, d_ff=512, seq=64):
            super().__init__()
            self.config = dict(vocab=vocab, d_model=d_model, n_heads=n_heads, n_layers=n_layers, d_ff=d_ff, seq=seq)
            self.tok = nn.Embedding(vocab, d_model)
            self.pos = nn.Parameter(0.02 * torch.randn(seq, d_model))
            self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, seq) for _ in range(n_layers))
            self.ln = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos[: idx.shape[1]]
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x))

        def loss(self, idx, targets):
            logits = self(idx)
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

        def activation_bytes(self, batch: int, bytes_per_element: int = 4) -> int:
            c = self.config
            return transformer_activation_bytes(batch, c["seq"], c["d_model"], c["n_heads"], c["n_layers"],
                                                c["d_ff"], c["vocab"], bytes_per_element)

    return TinyTransformer


def TinyTransformer(**kwargs):
    """Build a :class:`TinyTransformer` (a small causal LM; see :func:`transformer_activation_bytes`)."""
    return _tiny_transformer_class()(**kwargs)
