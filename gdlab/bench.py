"""A recorded optimizer benchmark: what it must contain, its targets, its tables and its roofline figure.

``benchmarks/bench_optimizers.py`` times one ``step()`` of every rule against torch.optim and pytorch_optimizer
and writes a JSON file; this module reads such a file and is what the script and the book's Benchmarks page share:

* :func:`load` -- the file, checked to be a complete run (layouts, per-case medians, paired ratios, load average);
* :func:`verdicts` -- the speed targets of the run, one row per target with its paired ratio and interquartile
  range (a ratio is the median over rounds of gdlab's step time divided by the reference's in the same round);
* :func:`summary` -- a compact Markdown table of one layout;
* :func:`roofline` -- achieved bandwidth per rule against the copy bandwidth measured in the same rounds;
* :func:`load_matrix`, :func:`matrix_summary` -- the same for ``benchmarks/bench_matrix.py``'s run of the matrix
  rules (Muon, Shampoo, SOAP), timed per step over whole preconditioner intervals.

The bytes a fused float32 step must move per parameter are ``4 (3 + 2 s)`` for ``s`` state elements per parameter
(parameter read and written, gradient read, each state element read and written): SGD 12, SGD with momentum 20,
Adam 28, Adam with AMSGrad 36. An optimizer step does about one floating-point operation per byte moved, far below
any CPU's ridge point, so its ceiling is the memory bandwidth.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["BANDWIDTH_TARGET", "FUSED_TARGETS", "GATHERS", "LAYOUTS", "MATRIX_IMPLS", "TORCH_TARGETS",
           "bytes_per_param", "cpu_name", "load", "load_matrix", "matrix_summary", "roofline", "summary",
           "verdicts"]

LAYOUTS = {
    "a": {"count": 8, "shape": (2048, 1024), "label": "16.8M parameters in 8 tensors"},
    "b": {"count": 2000, "shape": (20, 25), "label": "1M parameters in 2,000 tensors"},
}
#: gdlab optimizers whose eager step is checked against torch's faster non-fused implementation
TORCH_TARGETS = ("SGD", "Adam", "AdamW")
#: cases whose compiled (fused) step is checked against torch's fused kernel, on both layouts
FUSED_TARGETS = ("Adam", "AdamW", "SGD(momentum=0.9)", "Adagrad")
#: the compiled step timed again with gradients that are not views of its flat buffer (FUSED_TARGETS only)
GATHERS = "gdlab compiled, gathering"
#: share of a plain copy's bandwidth every elementwise rule's fused step must reach on the large layout
BANDWIDTH_TARGET = 0.7


def cpu_name() -> str:
    """The CPU's model name as ``/proc/cpuinfo`` gives it (what a recorded run names its machine by)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def bytes_per_param(state_elements: float) -> float:
    """Bytes a fused float32 step moves per parameter with ``state_elements`` state values per parameter."""
    return 4.0 * (3 + 2 * state_elements)


def load(path) -> dict:
    """A JSON file written by ``bench_optimizers.py``, checked to hold a complete run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no benchmark result at {path}")
    data = json.loads(path.read_text())
    for key in ("meta", "layouts", "targets"):
        if key not in data:
            raise ValueError(f"path: {path} is not a bench_optimizers.py result (no {key!r})")
    for key in ("date", "machine", "torch", "threads", "loadavg_start", "loadavg_end", "rounds"):
        if key not in data["meta"]:
            raise ValueError(f"path: {path} has no meta[{key!r}]")
    for layout, results in data["layouts"].items():
        for cid, res in results.items():
            if "impls" in res and ("ratios" not in res or "copy_GBps" not in res):
                raise ValueError(f"path: {path}: case {cid!r} of layout {layout!r} lacks ratios or copy bandwidth")
    return data


def _ratio_row(layout, cid, target, r, met) -> dict:
    return {"layout": layout, "case": cid, "target": target, "ratio": r["median"], "iqr": [r["p25"], r["p75"]],
            "met": met}


def verdicts(layout: str, results: dict) -> list[dict]:
    """The speed targets met or not in one layout's results.

    * gdlab's eager SGD, Adam and AdamW no slower than torch's faster non-fused implementation;
    * gdlab's compiled step no slower than torch's fused kernel for :data:`FUSED_TARGETS`;
    * on layout ``a``, every rule whose compiled step took the flat (elementwise) route at
      :data:`BANDWIDTH_TARGET` of the plain copy's bandwidth or more;
    * gdlab's eager step faster than pytorch_optimizer wherever it has the optimizer.
    """
    out = []
    for cid, res in results.items():
        ratios = res.get("ratios", {})
        name = cid.split("(")[0]
        if name in TORCH_TARGETS and "(" not in cid:
            cands = [k for k in ("gdlab / torch foreach", "gdlab / torch for-loop") if k in ratios]
            if cands:
                best = min(cands, key=lambda k: res["impls"][k.split(" / ")[1]]["median_ms"])
                r = ratios[best]
                out.append(_ratio_row(layout, cid, f"<= 1 vs {best.split(' / ')[1]}", r, r["median"] <= 1.0))
        if cid in FUSED_TARGETS and "gdlab compiled / torch fused" in ratios:
            r = ratios["gdlab compiled / torch fused"]
            out.append(_ratio_row(layout, cid, "compiled <= 1 vs torch fused", r, r["median"] <= 1.0))
        fused = res.get("impls", {}).get("gdlab compiled")
        if layout == "a" and fused and res.get("fused_route") == ["flat"]:
            out.append({"layout": layout, "case": cid, "target": f"compiled >= {BANDWIDTH_TARGET:.0%} of copy bandwidth",
                        "ratio": fused["of_copy"], "iqr": None, "met": fused["of_copy"] >= BANDWIDTH_TARGET})
        if "gdlab / pytorch_optimizer" in ratios:
            r = ratios["gdlab / pytorch_optimizer"]
            out.append(_ratio_row(layout, cid, "< 1 vs pytorch_optimizer", r, r["median"] < 1.0))
    return out


def _ms(res: dict, label: str) -> str:
    impl = res["impls"].get(label)
    return f"{impl['median_ms']:.2f}" if impl else ""


def _ratio(res: dict, key: str) -> str:
    r = res["ratios"].get(key)
    return f"{r['median']:.2f} [{r['p25']:.2f}, {r['p75']:.2f}]" if r else ""


def summary(data: dict, layout: str) -> str:
    """One layout as a Markdown table: median step times (ms), the compiled step's paired ratio to torch fused
    (with its interquartile range) and its bandwidth as a share of the plain copy's."""
    rows = ["| case | eager | compiled | torch fused | torch, best other | pytorch_optimizer "
            "| compiled / torch fused | compiled, of copy | route |",
            "|---|---|---|---|---|---|---|---|---|"]
    for cid, res in data["layouts"][layout].items():
        if "impls" not in res:
            rows.append(f"| {cid} | not run | | | | | | | |")
            continue
        nonfused = [k for k in ("torch foreach", "torch for-loop") if k in res["impls"]]
        best = min(nonfused, key=lambda k: res["impls"][k]["median_ms"]) if nonfused else None
        c = res["impls"].get("gdlab compiled")
        share = f"{100 * c['of_copy']:.0f} %" if c else ""
        route = ", ".join(res.get("fused_route") or []) if c else ""
        rows.append(f"| {cid} | {_ms(res, 'gdlab')} | {_ms(res, 'gdlab compiled')} | {_ms(res, 'torch fused')} | "
                    f"{_ms(res, best) if best else ''} | {_ms(res, 'pytorch_optimizer')} | "
                    f"{_ratio(res, 'gdlab compiled / torch fused')} | {share} | {route} |")
    return "\n".join(rows) + "\n"


#: the implementations a matrix-rule run compares, in table order
MATRIX_IMPLS = ("gdlab", "gdlab compiled", "torch.optim.Muon", "pytorch_optimizer")


def load_matrix(path) -> dict:
    """A JSON file written by ``benchmarks/bench_matrix.py``, checked to hold a complete run: per rule the median
    step times over a whole preconditioner interval and gdlab's paired ratios to each reference."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no benchmark result at {path}")
    data = json.loads(path.read_text())
    for key in ("meta", "params", "rules"):
        if key not in data:
            raise ValueError(f"path: {path} is not a bench_matrix.py result (no {key!r})")
    for key in ("date", "machine", "torch", "threads", "d", "interval", "rounds", "loadavg_start", "loadavg_end"):
        if key not in data["meta"]:
            raise ValueError(f"path: {path} has no meta[{key!r}]")
    for name, res in data["rules"].items():
        refs = [k for k in res.get("impls", {}) if not k.startswith("gdlab")]
        if "gdlab" not in res.get("impls", {}) or any(f"gdlab / {r}" not in res.get("ratios", {}) for r in refs):
            raise ValueError(f"path: {path}: rule {name!r} lacks gdlab's time or a paired ratio")
    return data


def matrix_summary(data: dict, part: str = "times") -> str:
    """A matrix-rule run as a Markdown table. ``part="times"``: mean step time over an interval (ms, median over
    rounds) per implementation; ``part="ratios"``: gdlab's eager and compiled steps' paired ratios to each
    reference, with the interquartile range (two narrow tables instead of one too wide for a page)."""
    if part not in ("times", "ratios"):
        raise ValueError(f"part: expected 'times' or 'ratios', got {part!r}")
    if part == "times":
        cols = [c for c in MATRIX_IMPLS if any(c in r["impls"] for r in data["rules"].values())]
        rows = ["| rule | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, res in data["rules"].items():
            rows.append(f"| {name} | " + " | ".join(_ms(res, c) for c in cols) + " |")
        return "\n".join(rows) + "\n"
    rows = ["| rule | reference | gdlab / reference | compiled / reference |", "|---|---|---|---|"]
    for name, res in data["rules"].items():
        for ref in (c for c in MATRIX_IMPLS if c in res["impls"] and not c.startswith("gdlab")):
            rows.append(f"| {name} | {ref} | {_ratio(res, f'gdlab / {ref}')} | "
                        f"{_ratio(res, f'gdlab compiled / {ref}')} |")
    return "\n".join(rows) + "\n"


IMPLS = {"gdlab compiled": ("o", "gdlab compile=True (fused)"), "torch fused": ("s", "torch fused=True"),
         "gdlab": ("^", "gdlab eager"), "pytorch_optimizer": ("x", "pytorch_optimizer")}


def _points(results: dict) -> dict:
    """label -> list of (case, bytes per parameter, GB/s)."""
    out: dict[str, list] = {k: [] for k in IMPLS}
    for cid, res in results.items():
        if "impls" not in res:
            continue
        per_param = res["bytes_per_step"] / res["params"]
        for label in IMPLS:
            if label in res["impls"]:
                out[label].append((cid, per_param, res["impls"][label]["GBps"]))
    return out


def roofline(data: dict, layout: str = "a", ax=None):
    """Achieved bandwidth of each implementation's step (y) against the bytes a fused step moves per parameter
    (x), with the plain copy's bandwidth of the same run (solid line) and :data:`BANDWIDTH_TARGET` of it (dashed).
    Draws into ``ax`` (a new figure when ``None``) and returns the Axes."""
    if layout not in data["layouts"]:
        raise ValueError(f"layout: {layout!r} is not in the run (it has {sorted(data['layouts'])})")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.5, 4.6), constrained_layout=True)
    results = data["layouts"][layout]
    pts = _points(results)
    for label, xs in pts.items():
        if xs:
            marker, name = IMPLS[label]
            ax.scatter([p[1] for p in xs], [p[2] for p in xs], marker=marker, label=name)
    for k, (cid, x, y) in enumerate(sorted(pts["gdlab compiled"], key=lambda p: (p[1], p[2]))):
        ax.annotate(cid, (x, y), textcoords="offset points", xytext=(5, 6 * (k % 3) - 6), fontsize=6.5)
    copy = sorted(r["copy_GBps"] for r in results.values() if "copy_GBps" in r)
    if copy:
        c = copy[len(copy) // 2]
        ax.axhline(c, color="k", lw=1, label=f"plain copy, {c:.1f} GB/s (median over cases)")
        ax.axhline(BANDWIDTH_TARGET * c, color="k", lw=1, ls="--", label=f"{BANDWIDTH_TARGET:.0%} of copy")
    ax.set_xlabel("bytes a fused step moves per parameter")
    ax.set_ylabel("achieved GB/s")
    ax.set_title(f"layout {layout}: {LAYOUTS[layout]['label']}", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax
