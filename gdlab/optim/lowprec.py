r"""How an optimizer writes its update into bfloat16 parameters: ``bf16_update=`` of the torch face.

bfloat16 keeps 8 significant bits: the spacing of representable numbers near :math:`w` is about
:math:`2^{-7}|w|`, so an update smaller than half of it, :math:`|\Delta| < 2^{-8}|w|`, is rounded away
(:math:`1 - 10^{-3}` is 1 in bfloat16). An optimizer that stores its parameters in bfloat16 and rounds each
update to the nearest value (``bf16_update="nearest"``, torch's behaviour and the default) loses every such
update: with Adam's steps of about :math:`\eta = 10^{-4}` a weight of 0.05 (spacing :math:`2^{-12} \approx
2.4\cdot10^{-4}`) never moves. Two fixes keep the parameters in bfloat16 (Zamirai et al. 2021):

* ``"kahan"``: Kahan-compensated updates (Kahan 1965). A second bfloat16 buffer :math:`c` per parameter
  (``state["kahan_comp"]``, 2 bytes per parameter) keeps what rounding took away. The rule updates
  :math:`x = w + c` in float32, then :math:`w \leftarrow \operatorname{rn}(x)`,
  :math:`c \leftarrow \operatorname{rn}(x - w)`: the pair :math:`(w, c)` holds :math:`x` to about 16 significant
  bits, and a step loses at most the rounding of :math:`c`, :math:`2^{-9}|c| \le 2^{-17}|w|`, instead of the whole
  update.
* ``"stochastic"``: stochastic rounding (Gupta et al. 2015). The rule updates :math:`x = w` in float32 and
  :math:`w` becomes one of the two bfloat16 neighbours of :math:`x`, the upper one with probability equal to
  :math:`x`'s distance from the lower one divided by their gap, so :math:`\mathbb E[w] = x`: small updates
  survive on average. No extra buffer; random bits from a generator seeded by ``bf16_seed``.

The third fix is the classical one, an fp32 master copy (4 bytes per parameter, Micikevicius et al. 2018): build
the optimizer on float32 copies of the parameters and copy them into the bfloat16 model after each step.

Only parameters stored in bfloat16 are affected; the rule's own state keeps the dtype it is created with (that of
the parameter). The float32 work copies live during the step only, one group at a time.
"""

from __future__ import annotations

import torch

from .signature import BF16_UPDATES  # the modes of `bf16_update`, declared with the torch face's other options


def check_mode(mode: str, compile: bool = False) -> str:
    if mode not in BF16_UPDATES:
        raise ValueError(f"Invalid bf16_update value: bf16_update={mode!r} (expected one of {BF16_UPDATES})")
    if mode != "nearest" and compile:
        raise ValueError(f"bf16_update={mode!r} is not supported with compile=True")
    return mode


def stochastic_round_bf16(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Round float32 ``x`` to bfloat16 stochastically: up (in magnitude) with probability equal to the dropped
    fraction of the gap. A bfloat16 number is a float32 whose low 16 bits are zero; adding 16 random bits to the
    bit pattern and clearing the low 16 bits carries into the kept part with exactly that probability."""
    if x.dtype != torch.float32:
        raise ValueError(f"stochastic_round_bf16 takes float32, got {x.dtype}")
    bits = x.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, x.shape, dtype=torch.int32, device=x.device, generator=generator)
    rounded = (bits + noise).bitwise_and_(-65536)  # -65536 = 0xFFFF0000: keep sign, exponent, 7 fraction bits
    out = rounded.view(torch.float32).to(torch.bfloat16)  # exact: the dropped bits are zero
    finite = torch.isfinite(x)
    return torch.where(finite, out, x.to(torch.bfloat16))


def begin(params: list, states: list[dict], mode: str) -> list:
    """The tensors the rule should update: float32 work copies of bfloat16 parameters (``w + c`` with Kahan)."""
    if mode == "nearest":
        return params
    run = []
    for p, st in zip(params, states):
        if p.dtype != torch.bfloat16:
            run.append(p)
            continue
        work = p.detach().float()
        if mode == "kahan":
            comp = st.get("kahan_comp")
            if comp is None:
                comp = st["kahan_comp"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            work += comp
        run.append(work)
    return run


def finish(params: list, run: list, states: list[dict], mode: str, generators: dict, seed: int = 0) -> None:
    """Write the updated work copies back into the bfloat16 parameters.

    ``generators`` maps a device to its random generator for stochastic rounding (created here, seeded by ``seed``,
    at a device's first use).
    """
    if mode == "nearest":
        return
    for p, x, st in zip(params, run, states):
        if x is p:
            continue
        if mode == "kahan":
            p.copy_(x)                                # w ← rn(x)
            st["kahan_comp"].copy_(x - p.float())     # c ← rn(x − w): what rounding took away
        else:
            gen = generators.get(p.device)
            if gen is None:
                gen = generators[p.device] = torch.Generator(device=p.device).manual_seed(seed)
            p.copy_(stochastic_round_bf16(x, gen))    # w ← sr(x), E[w] = x
