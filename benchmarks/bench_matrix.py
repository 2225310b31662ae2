"""Step time of the matrix rules (Muon, Shampoo, SOAP) against torch.optim.Muon and pytorch_optimizer, in one run.

    python benchmarks/bench_matrix.py                # the full run (a few minutes on 2 cores)
    python benchmarks/bench_matrix.py --quick        # smaller shapes, 2 rounds

The parameters are the weight matrices of one transformer block of width ``d`` (default 256, float32): the four
attention projections (d x d) and the two MLP matrices (d x 4d and 4d x d), 12 d² parameters, 786,432 at d = 256.
Shampoo and SOAP recompute their preconditioners every ``interval`` steps (default 10: SOAP's own default, and
Shampoo's ``update_freq`` / pytorch_optimizer's ``preconditioning_compute_steps`` set to it), so one sample is the
mean step time over one whole interval: ``interval`` consecutive steps, the preconditioner's recomputation
included. Muon has no interval (five Newton-Schulz iterations at every step); it is sampled the same way.

Implementations: gdlab eager, gdlab ``compile=True`` (the per-tensor compiled step; where it falls back to eager
the reason is recorded), ``torch.optim.Muon`` and pytorch_optimizer's ``Muon``, ``Shampoo`` and ``SOAP`` with the
same hyperparameters. Muon is timed twice: with the Newton-Schulz iteration in bfloat16 as torch and
pytorch_optimizer run it (gdlab's ``ns_form="torch"``, the same operations as torch's), and with gdlab's default
float32 iteration (``ns_form="full"``), which on a CPU with bfloat16 matrix instructions costs about four times
as much per product. Each has its own parameters and fixed gradients, takes one interval of warm-up steps
(compilation included), and the implementations are then timed in rounds, round-robin with the order rotated, so
that load from other processes falls on all of them alike. Reported: the median per-step time with its
interquartile range, and paired ratios (the median over rounds of gdlab's time over the reference's in the same
round, with its interquartile range). The machine's load average is recorded at the start and the end.

The three rules do not compute the same update in every implementation: pytorch_optimizer's Shampoo adds momentum
and its own ε placement, its SOAP merges dimensions; the table is a cost comparison at equal shapes and intervals,
and says which numbers the rules' parity tests check (tests/test_matrix.py).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import gdlab.optim as gopt  # noqa: E402
from bench_optimizers import _quantiles, fallback_reason  # noqa: E402

#: the cases timed: Muon with the iteration torch.optim.Muon and pytorch_optimizer run (bfloat16, gdlab's
#: ``ns_form="torch"``), Muon with gdlab's default float32 iteration (``ns_form="full"``), Shampoo and SOAP
MUON_FLOAT32 = "Muon(ns_form=full)"
RULES = ("Muon", MUON_FLOAT32, "Shampoo", "SOAP")


def shapes(d: int) -> list[tuple[int, int]]:
    """The weight matrices of one transformer block of width ``d``: Q, K, V, O and the MLP's two."""
    return [(d, d)] * 4 + [(d, 4 * d), (4 * d, d)]


def make_params(d: int, seed: int = 0) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    params = []
    for s in shapes(d):
        p = torch.nn.Parameter(torch.randn(s, generator=gen) * s[1] ** -0.5)
        p.grad = torch.randn(s, generator=gen) * 0.01
        params.append(p)
    return params


def builders(name: str, interval: int) -> dict:
    """Implementation label -> function(params) -> optimizer, for one matrix rule."""
    import pytorch_optimizer as po

    if name.startswith("Muon"):
        hp = {"lr": 0.02, "momentum": 0.95, "weight_decay": 0.0, "nesterov": True}
        form = "full" if name == MUON_FLOAT32 else "torch"
        return {
            "gdlab": lambda ps: gopt.Muon(ps, ns_form=form, **hp),
            "gdlab compiled": lambda ps: gopt.Muon(ps, ns_form=form, compile=True, **hp),
            "torch.optim.Muon": lambda ps: torch.optim.Muon(ps, **hp),
            "pytorch_optimizer": lambda ps: po.Muon([{"params": ps, "use_muon": True}], **hp),
        }
    if name == "Shampoo":
        return {
            "gdlab": lambda ps: gopt.Shampoo(ps, lr=0.1, update_freq=interval),
            "gdlab compiled": lambda ps: gopt.Shampoo(ps, lr=0.1, update_freq=interval, compile=True),
            "pytorch_optimizer": lambda ps: po.Shampoo(ps, lr=0.1, momentum=0.0,
                                                       preconditioning_compute_steps=interval),
        }
    if name == "SOAP":
        hp = {"lr": 3e-3, "betas": (0.95, 0.95), "weight_decay": 0.01, "precondition_frequency": interval}
        return {
            "gdlab": lambda ps: gopt.SOAP(ps, **hp),
            "gdlab compiled": lambda ps: gopt.SOAP(ps, compile=True, **hp),
            "pytorch_optimizer": lambda ps: po.SOAP(ps, **hp),
        }
    raise ValueError(f"name: not a matrix rule: {name!r} (one of {', '.join(RULES)})")


def bench_rule(name: str, d: int, interval: int, rounds: int) -> dict:
    impls, errors, notes = {}, {}, {}
    for label, build in builders(name, interval).items():
        params = make_params(d)
        try:
            opt = build(params)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for _ in range(interval):
                    opt.step()
            if label == "gdlab compiled":
                reason = fallback_reason(opt)
                if reason or any(issubclass(w.category, RuntimeWarning) for w in caught):
                    notes[label] = f"ran eagerly: {reason or caught[0].message}"
            impls[label] = opt
        except Exception as exc:  # noqa: BLE001 - an implementation that cannot run is reported, not fatal
            errors[label] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
    labels = list(impls)
    samples = {label: [] for label in labels}
    for r in range(rounds):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            opt = impls[label]
            t0 = time.perf_counter()
            for _ in range(interval):
                opt.step()
            samples[label].append((time.perf_counter() - t0) / interval)
    res = {"params": sum(a * b for a, b in shapes(d)), "interval": interval, "rounds": rounds, "errors": errors,
           "notes": notes, "impls": {}, "ratios": {}}
    for label, xs in samples.items():
        p25, med, p75 = _quantiles(xs)
        res["impls"][label] = {"median_ms": med * 1e3, "p25_ms": p25 * 1e3, "p75_ms": p75 * 1e3}
    for num in ("gdlab", "gdlab compiled"):
        for ref in labels:
            if num not in samples or ref.startswith("gdlab"):
                continue
            p25, med, p75 = _quantiles([a / b for a, b in zip(samples[num], samples[ref])])
            res["ratios"][f"{num} / {ref}"] = {"median": med, "p25": p25, "p75": p75}
    return res


def markdown(data: dict) -> str:
    meta = data["meta"]
    cols = ["gdlab", "gdlab compiled", "torch.optim.Muon", "pytorch_optimizer"]
    lines = [f"# Matrix optimizers' step time, {meta['date']}", "",
             f"Machine: {meta['machine']}; torch {meta['torch']}, {meta['threads']} threads; pytorch_optimizer "
             f"{meta['pytorch_optimizer']}; load average {meta['loadavg_start']} at the start, {meta['loadavg_end']} "
             "at the end.", "",
             f"One transformer block of width {meta['d']}: {data['params']:,} parameters in "
             f"{len(meta['shapes'])} matrices; mean step time in ms over an interval of {meta['interval']} steps "
             "(median over rounds).", "",
             "| rule | " + " | ".join(cols) + " | gdlab / reference [IQR] |", "|---" * (len(cols) + 2) + "|"]
    for name, res in data["rules"].items():
        cells = [f"{res['impls'][c]['median_ms']:.2f}" if c in res["impls"] else "" for c in cols]
        ratios = "; ".join(f"{k.split(' / ')[1]} {v['median']:.2f} [{v['p25']:.2f}, {v['p75']:.2f}]"
                           for k, v in res["ratios"].items() if k.startswith("gdlab / "))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratios} |")
    notes = [f"- {name}, {label}: {why}" for name, res in data["rules"].items()
             for label, why in {**res["notes"], **res["errors"]}.items()]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=256, help="width of the transformer block (default 256)")
    ap.add_argument("--interval", type=int, default=10, help="preconditioner interval in steps (default 10)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="width 64, interval 4, 2 rounds (overrides those three)")
    ap.add_argument("--only", default="", help="comma-separated rule names (default: all three)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--stem", default=None, help="file name without extension (default: matrix-<date>)")
    args = ap.parse_args(argv)
    if args.quick:
        args.d, args.interval, args.rounds = 64, 4, 2
    for flag in ("d", "interval", "rounds", "threads"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag} must be a positive integer, got {getattr(args, flag)}")
    wanted = [n for n in args.only.split(",") if n]
    only = [r for r in RULES if not wanted or r.split("(")[0] in wanted or r in wanted]
    unknown = [n for n in wanted if not any(r.split("(")[0] == n or r == n for r in RULES)]
    if unknown:
        ap.error(f"--only: not a matrix rule: {', '.join(unknown)} (one of {', '.join(RULES)})")
    torch.set_num_threads(args.threads)
    from importlib.metadata import version

    from gdlab.bench import cpu_name

    date = _dt.date.today().isoformat()
    meta = {"date": date, "machine": f"{cpu_name()}, {os.cpu_count()} cores",
            "torch": torch.__version__, "pytorch_optimizer": version("pytorch_optimizer"),
            "threads": args.threads, "d": args.d, "shapes": shapes(args.d), "interval": args.interval,
            "rounds": args.rounds, "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    start = time.perf_counter()
    rules = {}
    for name in only:
        rules[name] = bench_rule(name, args.d, args.interval, args.rounds)
        line = ", ".join(f"{k} {v['median_ms']:.2f}" for k, v in rules[name]["impls"].items())
        print(f"[{name}] {line} ms per step", flush=True)
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["duration_s"] = round(time.perf_counter() - start, 1)
    data = {"meta": meta, "params": sum(a * b for a, b in shapes(args.d)), "rules": rules}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or f"matrix-{date}" + ("-quick" if args.quick else "")
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / f"{stem}.md").write_text(markdown(data))
    print(markdown(data))
    print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
