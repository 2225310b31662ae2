"""gdlab.optim.Adam8bit against bitsandbytes' Adam8bit, step by step from the same state (optional: needs bitsandbytes).

bitsandbytes is not a requirement of the course. Install it apart, e.g. ``pip install --target /tmp/bnb --no-deps
bitsandbytes==0.50.2`` and run ``PYTHONPATH=/tmp/bnb python benchmarks/adam8bit_vs_bitsandbytes.py``; 0.50 runs its
8-bit optimizers on a CPU. bitsandbytes quantises its optimizer state in blocks of 256 values, so gdlab's optimizer is
built with ``block_size=256`` here (the lab uses the paper's 2048).

For each step, gdlab's state is set to bitsandbytes' (codes and scales, which have the same meaning), both take the
step from the same parameter and gradient, and the script prints how far the new parameters, scales and codes are
apart. It also compares the two 256-value maps.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from gdlab import optim as gopt
from gdlab.optim import quantize as Q


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20, help="steps compared, each from the same state")
    ap.add_argument("--shape", type=int, nargs=2, default=[256, 512], help="the parameter's shape")
    ap.add_argument("--lr", type=float, default=1e-3, help="the learning rate of both")
    a = ap.parse_args(argv)
    try:
        import bitsandbytes as bnb
    except ImportError:
        print("bitsandbytes is not installed: see this script's docstring", file=sys.stderr)
        return 2
    print(f"bitsandbytes {bnb.__version__}, torch {torch.__version__}")
    torch.manual_seed(0)
    shape = tuple(a.shape)
    p_b = torch.nn.Parameter(torch.randn(shape))
    p_g = torch.nn.Parameter(p_b.detach().clone())
    ob = bnb.optim.Adam8bit([p_b], lr=a.lr, betas=(0.9, 0.999), eps=1e-8, min_8bit_size=4096)
    og = gopt.Adam8bit([p_g], lr=a.lr, betas=(0.9, 0.999), eps=1e-8, block_size=256, min_8bit_size=4096)
    maps_checked = False
    worst = dict(param=0.0, absmax1=0.0, absmax2=0.0, codes1=0.0, codes2=0.0)
    for t in range(1, a.steps + 1):
        g = torch.randn(shape) * 10.0 ** torch.empty(shape).uniform_(-3, 0)
        if t > 1:  # start gdlab from bitsandbytes' state and parameter
            sb, sg = ob.state[p_b], og.state[p_g]
            sg["exp_avg_q"].copy_(sb["state1"].reshape(-1))
            sg["exp_avg_sq_q"].copy_(sb["state2"].reshape(-1))
            sg["exp_avg_absmax"].copy_(sb["absmax1"])
            sg["exp_avg_sq_absmax"].copy_(sb["absmax2"])
            with torch.no_grad():
                p_g.copy_(p_b)
        before = p_b.detach().clone()
        p_b.grad, p_g.grad = g.clone(), g.clone()
        ob.step()
        og.step()
        sb, sg = ob.state[p_b], og.state[p_g]
        if not maps_checked:
            for name, signed in (("qmap1", True), ("qmap2", False)):
                diff = np.abs(sb[name].numpy() - Q.dynamic_map(signed)).max()
                print(f"{name} ({'signed' if signed else 'unsigned'}) against gdlab's map: largest difference {diff:.2e}")
            maps_checked = True
        step_b, step_g = p_b.detach() - before, p_g.detach() - before
        worst["param"] = max(worst["param"], float((step_g - step_b).abs().max() / step_b.abs().max()))
        worst["absmax1"] = max(worst["absmax1"], float(((sg["exp_avg_absmax"] - sb["absmax1"]).abs()
                                                        / sb["absmax1"].abs().clamp_min(1e-30)).max()))
        worst["absmax2"] = max(worst["absmax2"], float(((sg["exp_avg_sq_absmax"] - sb["absmax2"]).abs()
                                                        / sb["absmax2"].abs().clamp_min(1e-30)).max()))
        worst["codes1"] = max(worst["codes1"], float((sg["exp_avg_q"] != sb["state1"].reshape(-1)).float().mean()))
        worst["codes2"] = max(worst["codes2"], float((sg["exp_avg_sq_q"] != sb["state2"].reshape(-1)).float().mean()))
    print(f"{a.steps} steps of a {shape} parameter, each from the same state:")
    print(f"  largest |step difference| / largest |step|: {worst['param']:.2e}")
    print(f"  scales: largest relative difference m {worst['absmax1']:.2e}, v {worst['absmax2']:.2e}")
    print(f"  codes that differ: m {100 * worst['codes1']:.3f}%, v {100 * worst['codes2']:.3f}% (at most, per step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
