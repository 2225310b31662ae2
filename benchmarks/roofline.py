"""Roofline figure of a recorded optimizer benchmark: achieved bandwidth per rule against the memory limit.

An optimizer step does almost no arithmetic per byte it moves (Adam: about 12 floating-point operations for 28
bytes per float32 parameter), so its ceiling is the memory bandwidth, measured in the same rounds as a plain
``copy_`` of the layout's size. Each point is one rule's step: x, the bytes a fused step must move per parameter
(4 x (3 + 2s) for s state elements: read parameter, gradient and states, write parameter and states); y, those
bytes divided by the median step time. The horizontal line is the copy's bandwidth, the dashed one 70 % of it.

    .venv/bin/python benchmarks/roofline.py benchmarks/results/<date>.json [--out book/reference/roofline.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IMPLS = {"gdlab compiled": ("o", "gdlab compile=True (fused)"), "torch fused": ("s", "torch fused=True"),
         "gdlab": ("^", "gdlab eager"), "pytorch_optimizer": ("x", "pytorch_optimizer")}


def points(results: dict) -> dict:
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


def figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layouts = list(data["layouts"])
    fig, axes = plt.subplots(1, len(layouts), figsize=(6.5 * len(layouts), 4.8), squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        results = data["layouts"][layout]
        copy = [r["copy_GBps"] for r in results.values() if "copy_GBps" in r]
        for label, pts in points(results).items():
            if pts:
                marker, name = IMPLS[label]
                ax.scatter([p[1] for p in pts], [p[2] for p in pts], marker=marker, label=name)
        for cid, x, y in points(results)["gdlab compiled"]:
            ax.annotate(cid.split("(")[0], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        if copy:
            c = sorted(copy)[len(copy) // 2]
            ax.axhline(c, color="k", lw=1, label=f"plain copy, {c:.1f} GB/s")
            ax.axhline(0.7 * c, color="k", lw=1, ls="--", label="70 % of copy")
        ax.set_xlabel("bytes moved per parameter by a fused step")
        ax.set_ylabel("achieved GB/s")
        ax.set_title(f"layout {layout}", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, loc="lower right")
    meta = data["meta"]
    fig.suptitle(f"{meta['machine']}, torch {meta['torch']}, load average {meta['loadavg_start']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="a JSON file written by bench_optimizers.py")
    ap.add_argument("--out", default=None, help="PNG path (default: next to the JSON file)")
    args = ap.parse_args(argv)
    src = Path(args.results)
    if not src.is_file():
        raise FileNotFoundError(f"results: no such file: {src}")
    data = json.loads(src.read_text())
    if "layouts" not in data or "meta" not in data:
        raise ValueError(f"results: {src} is not a bench_optimizers.py result (no 'layouts' or 'meta')")
    out = Path(args.out) if args.out else src.with_name(src.stem + "-roofline.png")
    figure(data, out)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
