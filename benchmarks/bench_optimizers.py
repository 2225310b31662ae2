"""Step time of every gdlab optimizer against torch.optim and pytorch_optimizer, in one run.

    python benchmarks/bench_optimizers.py                 # both layouts, every rule
    python benchmarks/bench_optimizers.py --layout b --quick
    python benchmarks/bench_optimizers.py --only SGD,Adam,AdamW

Two parameter layouts (float32, CPU):

* ``a``: 16,777,216 parameters in 8 tensors of 2048 x 1024 (large tensors: memory bandwidth);
* ``b``: 1,000,000 parameters in 2,000 tensors of 20 x 25 (many small tensors: per-tensor overhead).

For every rule in :data:`gdlab.optim.RULES` (so a new rule is benchmarked as soon as it lands)
and a few options (momentum, AMSGrad) the script builds one optimizer per implementation:
gdlab (eager, foreach), gdlab ``compile=True`` (``--compile``), torch.optim's foreach,
for-loop and fused versions where torch has the optimizer and accepts the option on CPU, and
pytorch_optimizer's where it has one. Each has its own parameters and fixed gradients.

Timing. ``torch.set_num_threads`` is set once (``--threads``, default: the number of CPU
cores, as torch's CPU performance notes recommend), every implementation takes warm-up steps
(compilation included), then the implementations are timed in rounds, round-robin, one
``step()`` each per round, so that load from other processes falls on all of them alike.
Reported: the median step time and its interquartile range; ratios are medians of the
per-round ratios (paired samples), with their interquartile range as the noise. A plain
``copy_`` of a tensor of the layout's size is timed in the same rounds: its bandwidth is the
machine's ceiling, and each optimizer's achieved bandwidth is the bytes a fused fp32 step must
move (4 x (3 + 2 s) bytes per parameter for s state elements per parameter: parameter read and
written, gradient read, each state element read and written; SGD 12, SGD+momentum 20, Lion 20,
Adam/AdamW 28, AMSGrad 36) divided by the step time.

Results go to ``benchmarks/results/<date>.json`` and ``<date>.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gdlab.optim as gopt  # noqa: E402
from gdlab.optim import RULES  # noqa: E402

from gdlab.bench import (BANDWIDTH_TARGET, FUSED_TARGETS, GATHERS, LAYOUTS, TORCH_TARGETS,  # noqa: E402, F401
                         cpu_name, verdicts)

LR = 1e-3


# --- what to run ------------------------------------------------------------------------------
def cases(quick: bool, only: set[str] | None) -> list[tuple[str, dict]]:
    """(rule name, options) for every rule, plus momentum and AMSGrad variants."""
    out = []
    for name, rule in RULES.items():
        if only and name not in only:
            continue
        out.append((name, {}))
        if quick:
            continue
        if rule.defaults.get("momentum", None) == 0.0:
            out.append((name, {"momentum": 0.9}))
        if "amsgrad" in rule.defaults:
            out.append((name, {"amsgrad": True}))
    return out


def case_id(name: str, opts: dict) -> str:
    return name + ("(" + ", ".join(f"{k}={v}" for k, v in opts.items()) + ")" if opts else "")


def make_params(layout: str, seed: int = 0) -> list[torch.Tensor]:
    spec = LAYOUTS[layout]
    gen = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(spec["count"]):
        p = torch.nn.Parameter(torch.randn(spec["shape"], generator=gen) * 0.1)
        p.grad = torch.randn(spec["shape"], generator=gen) * 0.01
        params.append(p)
    return params


def _pytorch_optimizer_class(name: str):
    try:
        import pytorch_optimizer as po
    except ImportError:  # pragma: no cover - listed in requirements.txt
        return None
    for attr in dir(po):
        if attr.lower() == name.lower() and isinstance(getattr(po, attr), type):
            cls = getattr(po, attr)
            if issubclass(cls, torch.optim.Optimizer):
                return cls
    return None


def _shared_kwargs(cls, name: str, opts: dict) -> dict | None:
    """gdlab's hyperparameters that ``cls`` also takes by the same name; None if an option is not taken."""
    try:
        sig = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return None
    hyper = dict(RULES[name].defaults, lr=LR, **opts)
    for k in opts:
        if k not in sig:
            return None
    return {k: v for k, v in hyper.items() if k in sig and k not in ("maximize", "foreach", "fused")}


def builders(name: str, opts: dict, compile_it: bool) -> dict:
    """Implementation label -> function(params) -> optimizer."""
    gcls = getattr(gopt, name)
    out = {"gdlab": lambda ps: gcls(ps, lr=LR, **opts)}
    if compile_it:
        out["gdlab compiled"] = lambda ps: gcls(ps, lr=LR, compile=True, **opts)
        if case_id(name, opts) in FUSED_TARGETS:
            out[GATHERS] = lambda ps: gcls(ps, lr=LR, compile=True, **opts)
    tcls = getattr(torch.optim, name, None)
    if isinstance(tcls, type) and issubclass(tcls, torch.optim.Optimizer):
        kw = _shared_kwargs(tcls, name, opts)
        if kw is not None:
            out["torch foreach"] = lambda ps: tcls(ps, foreach=True, **kw)
            out["torch for-loop"] = lambda ps: tcls(ps, foreach=False, **kw)
            if "fused" in inspect.signature(tcls.__init__).parameters:
                out["torch fused"] = lambda ps: tcls(ps, fused=True, **kw)
    pcls = _pytorch_optimizer_class(name)
    if pcls is not None:
        kw = _shared_kwargs(pcls, name, opts)
        if kw is not None:
            out["pytorch_optimizer"] = lambda ps: pcls(ps, **kw)
    return out


class Copy:
    """A plain ``dst.copy_(src)`` over the layout's parameter count: the bandwidth ceiling."""

    def __init__(self, n: int):
        self.src = torch.randn(n)
        self.dst = torch.empty(n)

    def step(self):
        self.dst.copy_(self.src)


def state_elements_per_param(opt, params) -> float:
    n = sum(p.numel() for p in params)
    total = 0
    for p in params:
        for v in opt.state.get(p, {}).values():
            if isinstance(v, torch.Tensor) and v.numel() > 1:
                total += v.numel()
    return total / n


def fallback_reason(opt) -> str | None:
    """Why an optimizer's compile=True step ran eagerly (its engines' fallback reason), or None."""
    fused = list(getattr(opt, "_fused", {}).values())
    engines = [getattr(opt, "_compiled", None), *fused, *(getattr(e, "_per_tensor", None) for e in fused)]
    return next((e.fallback_reason for e in engines if getattr(e, "fallback_reason", None)), None)


# --- timing ---------------------------------------------------------------------------------
def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def bench_case(layout: str, name: str, opts: dict, rounds: int, warmup: int, compile_it: bool,
               budget_s: float) -> dict:
    impls, errors, setup_s, routes = {}, {}, {}, {}
    for label, build in builders(name, opts, compile_it).items():
        params = make_params(layout)
        try:
            opt = build(params)
            if hasattr(opt, "train"):
                opt.train()  # schedule-free optimizers step only in train mode
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for _ in range(warmup):
                    opt.step()
            setup_s[label] = time.perf_counter() - t0
            if label != GATHERS:
                # the gradients as a training loop with zero_grad(set_to_none=False) leaves them: zeroed in place
                # (gdlab's fused step: re-pointed to its flat gradient buffer), then accumulated into by
                # backward(), here the same fixed draw added back. GATHERS keeps the original tensors, as after
                # zero_grad() (set_to_none) and backward(): the fused step then copies them at every step.
                fixed = [p.grad.detach().clone() for p in params]
                opt.zero_grad(set_to_none=False)
                for p, g in zip(params, fixed):
                    p.grad.add_(g)
            if label in ("gdlab compiled", GATHERS):
                reason = fallback_reason(opt)
                if reason or any(issubclass(w.category, RuntimeWarning) for w in caught):
                    errors[label] = f"ran eagerly: {reason}"
                    continue
                routes[label] = sorted({e.route for e in getattr(opt, "_fused", {}).values()})
            impls[label] = (opt, params)
        except Exception as exc:  # noqa: BLE001 - an implementation that cannot run is reported, not fatal
            errors[label] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
    if "gdlab" not in impls:
        return {"errors": errors}
    n = sum(p.numel() for p in impls["gdlab"][1])
    state = state_elements_per_param(*impls["gdlab"])
    copy = Copy(n)
    runners = {label: opt.step for label, (opt, _) in impls.items()}
    runners["copy"] = copy.step
    for _ in range(2):
        copy.step()
    samples = {label: [] for label in runners}
    labels = list(runners)
    start = time.perf_counter()
    r = 0
    while r < rounds and (r < 5 or time.perf_counter() - start < budget_s):
        order = labels[r % len(labels):] + labels[:r % len(labels)]  # rotate who goes first
        for label in order:
            t0 = time.perf_counter()
            runners[label]()
            samples[label].append(time.perf_counter() - t0)
        r += 1
    res = {"rounds": r, "params": n, "state_elements_per_param": state,
           "bytes_per_step": 4 * n * (3 + 2 * state), "setup_s": setup_s, "errors": errors, "impls": {},
           "fused_route": routes.get("gdlab compiled")}
    for label, xs in samples.items():
        p25, med, p75 = _quantiles(xs)
        res["impls"][label] = {"median_ms": med * 1e3, "p25_ms": p25 * 1e3, "p75_ms": p75 * 1e3}
    copy_bw = 8 * n / (res["impls"]["copy"]["median_ms"] / 1e3)
    res["copy_GBps"] = copy_bw / 1e9
    for label in impls:
        bw = res["bytes_per_step"] / (res["impls"][label]["median_ms"] / 1e3)
        res["impls"][label]["GBps"] = bw / 1e9
        res["impls"][label]["of_copy"] = bw / copy_bw
    res["ratios"] = {}
    for num in ("gdlab", "gdlab compiled", GATHERS):
        if num not in samples:
            continue
        for ref in impls:
            if ref.startswith("gdlab"):
                continue
            paired = [a / b for a, b in zip(samples[num], samples[ref])]
            p25, med, p75 = _quantiles(paired)
            res["ratios"][f"{num} / {ref}"] = {"median": med, "p25": p25, "p75": p75}
    return res


# --- tables (the targets: gdlab.bench.verdicts) --------------------------------------------------------
COLUMNS = ("gdlab", "gdlab compiled", GATHERS, "torch foreach", "torch for-loop", "torch fused", "pytorch_optimizer")


def markdown(meta: dict, all_results: dict, all_verdicts: list[dict]) -> str:
    lines = [f"# Optimizer step time, {meta['date']}", "",
             f"Machine: {meta['machine']}; torch {meta['torch']}, {meta['threads']} threads; "
             f"pytorch_optimizer {meta['pytorch_optimizer']}; load average {meta['loadavg_start']} at the start, "
             f"{meta['loadavg_end']} at the end.", ""]
    for layout, results in all_results.items():
        lines += [f"## Layout {layout}: {LAYOUTS[layout]['label']}", "",
                  "Median step time in ms (interquartile range of the paired gdlab/reference ratio in brackets "
                  "where a ratio is given).", "",
                  "| optimizer | " + " | ".join(COLUMNS) + " | gdlab / best non-fused torch | gdlab / pytorch_optimizer"
                  + (" | compiled / torch fused | gathering / torch fused | compiled / pytorch_optimizer "
                     "| gdlab GB/s (of copy) | compiled GB/s (of copy) |"),
                  "|" + "---|" * (len(COLUMNS) + 8)]
        for cid, res in results.items():
            if "impls" not in res:
                lines.append(f"| {cid} | " + " | ".join("error" if c in res.get("errors", {}) else "" for c in COLUMNS)
                             + " | | | | | | | |")
                continue
            cells = []
            for c in COLUMNS:
                if c in res["impls"]:
                    cells.append(f"{res['impls'][c]['median_ms']:.2f}")
                elif c in res.get("errors", {}):
                    cells.append("n/a")
                else:
                    cells.append("")
            rat = res["ratios"]

            def fmt(key):
                if key not in rat:
                    return ""
                r = rat[key]
                return f"{r['median']:.2f} [{r['p25']:.2f}, {r['p75']:.2f}]"

            nonfused = [k for k in ("gdlab / torch foreach", "gdlab / torch for-loop") if k in rat]
            best = min(nonfused, key=lambda k: res["impls"][k.split(" / ")[1]]["median_ms"]) if nonfused else ""
            g = res["impls"]["gdlab"]
            c = res["impls"].get("gdlab compiled")
            cbw = f"{c['GBps']:.1f} ({100 * c['of_copy']:.0f}%)" if c else ""
            lines.append(f"| {cid} | " + " | ".join(cells) + f" | {fmt(best)} | {fmt('gdlab / pytorch_optimizer')} | "
                         f"{fmt('gdlab compiled / torch fused')} | {fmt(GATHERS + ' / torch fused')} | "
                         f"{fmt('gdlab compiled / pytorch_optimizer')} | "
                         f"{g['GBps']:.1f} ({100 * g['of_copy']:.0f}%) | {cbw} |")
        copy = next((r["copy_GBps"] for r in results.values() if "copy_GBps" in r), None)
        if copy:
            lines += ["", f"Plain copy bandwidth on this layout: {copy:.1f} GB/s (median over the run).", ""]
    lines += ["## Targets", "", "| layout | case | target | ratio [IQR] | met |", "|---|---|---|---|---|"]
    for v in all_verdicts:
        iqr = f" [{v['iqr'][0]:.2f}, {v['iqr'][1]:.2f}]" if v.get("iqr") else ""
        lines.append(f"| {v['layout']} | {v['case']} | {v['target']} | {v['ratio']:.2f}{iqr} "
                     f"| {'yes' if v['met'] else 'NO'} |")
    errs = [(layout, cid, lab, msg) for layout, results in all_results.items() for cid, res in results.items()
            for lab, msg in res.get("errors", {}).items()]
    if errs:
        lines += ["", "## Not run", "", "| layout | case | implementation | reason |", "|---|---|---|---|"]
        lines += [f"| {a} | {b} | {c} | {d.replace('|', '/')} |" for a, b, c, d in errs]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layout", choices=("a", "b", "both"), default="both")
    ap.add_argument("--quick", action="store_true", help="default options only, 7 rounds")
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per case (default 25; 7 with --quick)")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds of timed rounds per case, at most")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", default="", help="comma-separated rule names")
    ap.add_argument("--compile", default="all",
                    help="rules also timed with compile=True ('all', 'none', or names)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--stem", default=None, help="file name without extension (default: the date, -quick with --quick)")
    args = ap.parse_args(argv)
    if args.threads is None or args.threads < 1:
        raise ValueError(f"Invalid threads value: threads={args.threads}")
    rounds = args.rounds or (7 if args.quick else 25)
    if rounds < 2:
        raise ValueError(f"Invalid rounds value: rounds={rounds} (need at least 2)")
    torch.set_num_threads(args.threads)
    only = {s for s in args.only.split(",") if s} or None
    unknown = (only or set()) - set(RULES)
    if unknown:
        raise ValueError(f"Invalid only value: only={sorted(unknown)} (known: {sorted(RULES)})")
    compiled = set(RULES) if args.compile == "all" else set() if args.compile == "none" else \
        {s for s in args.compile.split(",") if s}
    layouts = ("a", "b") if args.layout == "both" else (args.layout,)
    try:
        from importlib.metadata import version
        po_version = version("pytorch_optimizer")
    except Exception:  # noqa: BLE001
        po_version = "not installed"
    meta = {"date": _dt.date.today().isoformat(), "machine": f"{cpu_name()}, {os.cpu_count()} cores",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version(),
            "pytorch_optimizer": po_version, "rounds": rounds, "warmup": args.warmup,
            "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    all_results, all_verdicts = {}, []
    for layout in layouts:
        all_results[layout] = {}
        for name, opts in cases(args.quick, only):
            cid = case_id(name, opts)
            t0 = time.perf_counter()
            res = bench_case(layout, name, opts, rounds, args.warmup, name in compiled, args.budget)
            all_results[layout][cid] = res
            if "impls" in res:
                summary = ", ".join(f"{k} {v['median_ms']:.2f}" for k, v in res["impls"].items())
                print(f"[{layout}] {cid}: {summary} ms ({res['rounds']} rounds, {time.perf_counter() - t0:.0f} s)",
                      flush=True)
            else:
                print(f"[{layout}] {cid}: not run: {res['errors']}", flush=True)
        all_verdicts += verdicts(layout, all_results[layout])
    meta["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.stem or meta["date"] + ("-quick" if args.quick else "")
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "layouts": all_results, "targets": all_verdicts},
                                                 indent=1, default=str))
    table = markdown(meta, all_results, all_verdicts)
    (out / f"{stem}.md").write_text(table)
    print(table)
    print(f"written: {out / (stem + '.json')}, {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
