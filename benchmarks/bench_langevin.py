"""Chain-steps per second of gdlab.noise.langevin on the 1-D double well.

Runs Euler–Maruyama for U(x) = (x^2 - 1)^2 at T = 0.3, dt = 1e-3, from x = 1, with many independent
chains, on each backend, and prints the time and chain-steps per second. The headline size is
10^6 chains x 1,000 steps (torch, float32, in place, one preallocated noise buffer per step).
torch is timed with 1 and with 2 CPU threads: on a busy 2-core machine one thread can be the faster.

    python benchmarks/bench_langevin.py                     # the headline size on both backends
    python benchmarks/bench_langevin.py --chains 100000 --steps 200 --backends numpy
    python benchmarks/bench_langevin.py --device cuda       # torch on a GPU, if there is one
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gdlab import noise  # noqa: E402


def bench(backend: str, chains: int, steps: int, device: str | None = None, repeats: int = 1,
          threads: int | None = None) -> dict:
    well = noise.DoubleWellPotential(height=1.0)
    kw = dict(backend=backend, seed=0)
    if backend == "torch":
        kw["threads"] = threads
        if device:
            kw["device"] = device
    noise.langevin(well, 1.0, T=0.3, dt=1e-3, steps=5, n_chains=chains, **kw)  # warm-up (allocation, threads)
    best = None
    for r in range(repeats):
        out = noise.langevin(well, 1.0, T=0.3, dt=1e-3, steps=steps, n_chains=chains, **kw)
        if best is None or out.seconds < best.seconds:
            best = out
    if best.n_nonfinite:
        raise RuntimeError(f"{best.n_nonfinite} chains diverged in the benchmark")
    right = float((best.x[:, 0] > 0).mean())
    return dict(backend=backend, device=device or "cpu", threads=threads if backend == "torch" else 1, chains=chains, steps=steps, seconds=best.seconds,
                chain_steps_per_s=chains * steps / best.seconds, fraction_right_well=right)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chains", type=int, default=1_000_000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--backends", nargs="+", default=["torch", "numpy"], choices=list(noise.BACKENDS))
    ap.add_argument("--device", default=None, help="torch device (cpu, cuda)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch CPU thread counts to try")
    ap.add_argument("--json", default=None, help="write the results, the machine and its load average to this file")
    args = ap.parse_args(argv)
    for flag in ("chains", "steps", "repeats"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    load0 = [round(x, 2) for x in os.getloadavg()]
    rows = []
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover - torch is optional for the NumPy backend
        threads = None
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {threads}")
    print(f"{'backend':8} {'device':6} {'threads':>7} {'chains':>9} {'steps':>6} {'seconds':>8} {'chain-steps/s':>14}")
    for backend in args.backends:
        on_gpu = backend == "torch" and (args.device or "cpu").startswith("cuda")
        for th in (args.threads if backend == "torch" and not on_gpu else [None]):
            row = bench(backend, args.chains, args.steps, args.device if backend == "torch" else None,
                        args.repeats, th)
            rows.append(row)
            print(f"{row['backend']:8} {row['device']:6} {str(row['threads']):>7} {row['chains']:>9} "
                  f"{row['steps']:>6} {row['seconds']:>8.2f} {row['chain_steps_per_s']:>14.3e}", flush=True)
    if args.json:
        import datetime

        from gdlab.bench import cpu_name

        meta = {"date": datetime.date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores",
                "torch": getattr(sys.modules.get("torch"), "__version__", None), "loadavg_start": load0,
                "loadavg_end": [round(x, 2) for x in os.getloadavg()], "chains": args.chains, "steps": args.steps}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)
            fh.write("\n")
    return rows


if __name__ == "__main__":
    main()
