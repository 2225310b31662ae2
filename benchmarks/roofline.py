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

def figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gdlab.bench import roofline

    layouts = list(data["layouts"])
    fig, axes = plt.subplots(1, len(layouts), figsize=(6.5 * len(layouts), 4.8), squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        roofline(data, layout, ax=ax)
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
