r"""Block-wise 8-bit quantisation of optimizer state (Dettmers et al. 2022), for NumPy arrays and torch tensors.

A tensor of :math:`n` values is cut into blocks of :math:`B` consecutive values (the last block may be short). Each
block keeps one float32 scale, its largest magnitude :math:`a = \max_{i\in\text{block}} |x_i|`, and each value one byte:
the index of the entry of a 256-value *code* :math:`c_0 < \dots < c_{255}` in :math:`[-1, 1]` nearest to :math:`x_i/a`.
Decoding is :math:`\hat x_i = a\,c_{q_i}`. A block of zeros keeps :math:`a = 0` and decodes to zeros.

The code is the **dynamic tree** map of Dettmers (2016), as bitsandbytes builds it: after the sign bit, a run of
:math:`E` zero bits sets the decade :math:`10^{-E}`, a one bit ends the run, and the remaining bits index a linear
grid of midpoints on :math:`[0.1, 1]`. Values near the block's largest magnitude get the finest grid (64 steps per
decade) and the map reaches down to :math:`10^{-7}` of it. :func:`dynamic_map` returns it, signed (for Adam's
:math:`m`: 127 negative values, zero, 127 positive values and 1) or unsigned (for :math:`v \ge 0`: zero, 254 positive
values and 1, one bit more resolution).

Nearest-value rounding is :math:`q = \#\{k : (c_k + c_{k+1})/2 < y\}`, a search among the 255 midpoints.

Both backends compute the same thing: ``xp`` is ``"numpy"`` or ``"torch"`` (a rule passes ``ctx.ops.name``).
"""

from __future__ import annotations

import functools

import numpy as np

#: the block size of Dettmers et al. 2022 (their Section 2.1; bitsandbytes' optimizers use 256)
BLOCK_SIZE = 2048


@functools.lru_cache(maxsize=None)
def dynamic_map(signed: bool = True) -> np.ndarray:
    r"""The 256 values of the dynamic tree quantisation map, sorted, as float32.

    For the decade :math:`10^{-E}` (:math:`E = 0, \dots, 6`) the map holds :math:`2^{6-E}` (signed) or
    :math:`2^{7-E}` (unsigned) values :math:`10^{-E}(0.1 + 0.9(j + \tfrac12)/2^{F})`, :math:`j < 2^F`: the midpoints
    of a linear grid on :math:`[0.1, 1]\cdot 10^{-E}`; signed maps hold their negatives too. With 0 and 1 that is
    :math:`2(64 + 32 + \dots + 1) + 2 = 256` signed and :math:`(128 + \dots + 2) + 2 = 256` unsigned values.
    """
    values = [0.0, 1.0]
    for e in range(7):
        bits = (6 if signed else 7) - e  # fraction bits left after the sign, the run of zeros and its end bit
        j = np.arange(2**bits)
        # the midpoints of a linear grid of 2**bits intervals on [0.1, 1], scaled to the decade
        mids = 10.0**-e * (0.1 + 0.9 * (j + 0.5) / 2**bits)
        values += mids.tolist()
        if signed:
            values += (-mids).tolist()
    code = np.sort(np.asarray(values, dtype=np.float32))
    code.flags.writeable = False  # shared by every caller (cached)
    if code.size != 256:  # pragma: no cover - the construction above gives 256 by the count in the docstring
        raise AssertionError(f"the dynamic map has {code.size} values, not 256")
    return code


def midpoints(code: np.ndarray) -> np.ndarray:
    """The 255 decision boundaries of nearest rounding onto ``code`` (sorted)."""
    c = code.astype(np.float64)
    return ((c[:-1] + c[1:]) / 2).astype(np.float32)


def n_blocks(n: int, block_size: int) -> int:
    """How many blocks of ``block_size`` values a tensor of ``n`` values needs."""
    return -(-int(n) // int(block_size))


@functools.lru_cache(maxsize=None)
def bucket_table(signed: bool = True) -> np.ndarray:
    r"""For each of the 65,536 bfloat16 bit patterns :math:`k` (the top 16 bits of a float32), the number of midpoints
    below every float32 whose top 16 bits are :math:`k`: :math:`\#\{j : \text{mid}_j < \inf B_k\}`.

    A float32 :math:`y` lies in the bucket :math:`B_k` of its top 16 bits, an interval narrower (at most
    :math:`2^{-7}|y|`, and :math:`2^{-8}` below 1) than the distance between two consecutive midpoints of the map
    (at least :math:`0.9/128 \cdot 10^{-E}` in the decade :math:`10^{-E}`). So at most one midpoint falls inside a
    bucket, and the nearest code is ``table[k] + (y > mid[table[k]])``: one lookup and one comparison instead of a
    binary search (``tests/test_adam8bit.py`` checks it against the brute-force nearest value).
    """
    mids = midpoints(dynamic_map(signed)).astype(np.float64)
    k = np.arange(1 << 16, dtype=np.uint32)
    with np.errstate(invalid="ignore"):  # the NaN patterns: their buckets are never looked up
        ends = np.stack([(k << 16).view(np.float32), ((k << 16) | 0xFFFF).view(np.float32)]).astype(np.float64)
    finite = np.all(np.isfinite(ends), axis=0)
    inf = np.where(finite, ends.min(axis=0), np.inf)
    sup = np.where(finite, ends.max(axis=0), np.inf)
    table = np.searchsorted(mids, inf, side="left")                    # midpoints strictly below the bucket
    inside = np.searchsorted(mids, sup, side="right") - table          # midpoints within it
    if np.any(inside[finite] > 1):  # pragma: no cover - the widths in the docstring rule it out
        raise AssertionError("a bfloat16 bucket holds two midpoints of the map")
    out = np.minimum(table, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


def tables(xp: str, signed: bool, like=None):
    """The map, its midpoints and (torch) :func:`bucket_table` as arrays of the backend (on ``like``'s device).

    The torch tensors are made anew at each call (66 KB), not cached: an optimizer step that makes them holds them
    only while it runs, so a memory measurement counts them the same way every time.
    """
    code = dynamic_map(signed)
    if xp == "numpy":
        return code, midpoints(code)
    import torch

    dev = like.device if like is not None else torch.device("cpu")
    mids = np.append(midpoints(code), np.float32(np.inf))  # a sentinel: nothing is above the top code
    return (torch.tensor(code, device=dev), torch.tensor(mids, device=dev),
            torch.tensor(bucket_table(signed), device=dev))


def quantize(xp: str, x, q_out, absmax_out, *, signed: bool, block_size: int = BLOCK_SIZE, table=None) -> None:
    r"""Encode ``x`` (any shape, ``n`` values) into ``q_out`` (``n`` uint8 codes) and ``absmax_out`` (one float32 scale
    per block), in place. Nearest rounding onto :func:`dynamic_map`; a block of zeros gets scale 0. ``table`` is
    :func:`tables`' pair, made here when not given."""
    table = table if table is not None else tables(xp, signed, x)
    code, mids = table[0], table[1]
    n = int(np.prod(x.shape)) if xp == "numpy" else x.numel()
    nb = n_blocks(n, block_size)
    if xp == "numpy":
        flat = np.asarray(x, dtype=np.float32).reshape(-1)
        pad = np.zeros(nb * block_size, dtype=np.float32)
        pad[:n] = flat
        blocks = pad.reshape(nb, block_size)
        amax = np.max(np.abs(blocks), axis=1)
        inv = np.divide(1.0, amax, out=np.zeros_like(amax), where=amax > 0)
        normed = blocks * inv[:, None]
        idx = np.searchsorted(mids, normed.reshape(-1)[:n], side="left")
        q_out.reshape(-1)[...] = idx.astype(np.uint8)
        absmax_out[...] = amax
        return
    import torch

    flat = x.reshape(-1).float()
    if nb * block_size != n:
        flat = torch.nn.functional.pad(flat, (0, nb * block_size - n))
    blocks = flat.view(nb, block_size)
    amax = blocks.abs().amax(dim=1)
    inv = torch.where(amax > 0, amax.reciprocal(), torch.zeros_like(amax))
    normed = (blocks * inv[:, None]).view(-1)[:n].contiguous()
    if len(table) > 2:  # the bucket table: a lookup and a comparison per value
        key = normed.view(torch.int32).bitwise_right_shift(16).bitwise_and_(0xFFFF).long()
        lo = table[2][key].long()
        idx = lo + (normed > mids[lo])
    else:
        idx = torch.bucketize(normed, mids, out_int32=True, right=False)
    q_out.view(-1).copy_(idx)
    absmax_out.copy_(amax)


def dequantize(xp: str, q, absmax, shape, dtype, *, signed: bool, block_size: int = BLOCK_SIZE, table=None):
    r"""Decode codes ``q`` and per-block scales ``absmax`` into a new array of ``shape`` and ``dtype``:
    :math:`\hat x_i = a_{\lfloor i/B\rfloor}\, c_{q_i}`."""
    code = (table if table is not None else tables(xp, signed, q))[0]
    if xp == "numpy":
        vals = code[np.asarray(q).reshape(-1).astype(np.intp)]
        n = vals.size
        scale = np.repeat(np.asarray(absmax, dtype=np.float32), block_size)[:n]
        return (vals * scale).astype(dtype).reshape(shape)
    import torch

    n = q.numel()
    vals = code[q.reshape(-1).to(torch.int32)]
    nb = absmax.numel()
    if nb * block_size != n:
        vals = torch.nn.functional.pad(vals, (0, nb * block_size - n))
    out = (vals.view(nb, block_size) * absmax[:, None]).view(-1)[:n]
    return out.to(dtype).view(shape)


def max_half_gap(signed: bool = True) -> float:
    """Half the largest gap between neighbouring values of the map: the worst rounding error of a normalised value."""
    c = dynamic_map(signed).astype(np.float64)
    return float(np.max(np.diff(c)) / 2)


def state_bytes(n: int, block_size: int = BLOCK_SIZE) -> int:
    """Bytes of one block-wise 8-bit buffer of ``n`` values: ``n`` codes and one float32 scale per block."""
    return int(n) + 4 * n_blocks(n, block_size)


__all__ = ["BLOCK_SIZE", "dynamic_map", "midpoints", "bucket_table", "tables", "n_blocks", "quantize", "dequantize", "max_half_gap",
           "state_bytes"]
