"""The figures every chapter draws, in one style.

* :func:`contours` -- level sets of a 2-D problem with optimisation paths on top;
* :func:`convergence` -- measured curves (solid) against theoretical bounds (dashed) on a
  log scale, a bound drawn in the colour of the curve with the same label.

Both draw into ``ax`` (a new figure when ``None``) and return the Axes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["COLORS", "contours", "convergence"]

#: the colour cycle (Okabe-Ito, readable by colour-blind readers)
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]


def _axes(ax, figsize=(5.5, 4.0)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    return ax


def _grid_values(problem, U, V) -> np.ndarray:
    P = np.stack([U, V], axis=-1)
    try:
        Z = np.asarray(problem.f(P), dtype=float)
        if Z.shape == U.shape:
            return Z
    except (ValueError, TypeError):
        pass
    return np.array([[float(problem.f(p)) for p in row] for row in P])


def contours(problem, traces: dict | None = None, ax=None, xlim=None, ylim=None, levels: int = 20,
             resolution: int = 200, margin: float = 0.15, show_star: bool = True, markers: bool = True):
    r"""Level sets of a 2-D ``problem`` with the path of each trace (``{label: Trace}``).

    Levels are spaced geometrically in :math:`f - \min f` so that both the bottom of a valley
    and the walls show. Limits default to a box around all paths and :math:`x^\star`.
    """
    if getattr(problem, "dim", None) != 2:
        raise ValueError(f"contours needs a 2-D problem, got dim={getattr(problem, 'dim', None)}")
    traces = traces or {}
    ax = _axes(ax)
    pts = [np.asarray(t.xs, dtype=float) for t in traces.values()]
    extra = [problem.x0[None, :]] if not pts else []
    if problem.x_star is not None:
        extra.append(np.asarray(problem.x_star, dtype=float)[None, :])
    allp = np.vstack([p for p in pts + extra if len(p)])
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin * span, hi + margin * span
    xlim = xlim or (lo[0], hi[0])
    ylim = ylim or (lo[1], hi[1])
    u = np.linspace(*xlim, resolution)
    v = np.linspace(*ylim, resolution)
    U, V = np.meshgrid(u, v)
    Z = _grid_values(problem, U, V)
    zmin = float(np.nanmin(Z))
    top = float(np.nanmax(Z)) - zmin
    lv = zmin + np.geomspace(max(top, 1e-12) * 1e-4, max(top, 1e-12), levels)
    ax.contour(U, V, Z, levels=lv, cmap="Greys_r", linewidths=0.7, alpha=0.8)
    for i, (label, t) in enumerate(traces.items()):
        xs = np.asarray(t.xs)
        c = COLORS[i % len(COLORS)]
        style = dict(marker="o", markersize=2.5) if markers and len(xs) <= 200 else {}
        ax.plot(xs[:, 0], xs[:, 1], color=c, lw=1.4, label=label, **style)
        ax.plot(xs[0, 0], xs[0, 1], "s", color=c, markersize=5)
    if show_star and problem.x_star is not None:
        ax.plot(*problem.x_star, marker="*", color="k", markersize=12, linestyle="none", label=r"$x^\star$")
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    ax.set_xlabel(r"$x_1$")
    ax.set_ylabel(r"$x_2$")
    if traces:
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
    return ax


def convergence(curves: dict, bounds: dict | None = None, ylabel: str = r"$f(x_k) - f^\star$", ax=None,
                xlabel: str = r"iteration $k$", logy: bool = True, title: str | None = None,
                k0: int = 0, logx: bool = False):
    r"""Measured ``curves`` (solid) and ``bounds`` (dashed), each ``{label: values indexed by k}``.

    Entry ``j`` of every array is drawn at :math:`k = k_0 + j` (``k0=1`` for quantities that start
    at the first step, such as :math:`\min_{i<k}\|\nabla f(x_i)\|^2`). A bound whose label is also
    a curve's label takes that curve's colour and is labelled ``"<label> (bound)"``; other bounds
    take the next colours. Non-positive values are not drawn on a log scale; ``logx`` puts
    :math:`k` on a log scale too (then ``k0`` should be at least 1).
    """
    ax = _axes(ax)
    colors = {}
    for i, (label, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=float)
        colors[label] = COLORS[i % len(COLORS)]
        if logy:
            y = np.where(y > 0, y, np.nan)
        ax.plot(k0 + np.arange(len(y)), y, color=colors[label], lw=1.8, label=label)
    j = len(curves)
    for label, y in (bounds or {}).items():
        y = np.asarray(y, dtype=float)
        if label in colors:
            c, name = colors[label], f"{label} (bound)"
        else:
            c, name = COLORS[j % len(COLORS)], label
            j += 1
        y = np.where(np.isfinite(y), y, np.nan)
        if logy:
            y = np.where(y > 0, y, np.nan)
        ax.plot(k0 + np.arange(len(y)), y, color=c, lw=1.4, ls="--", label=name)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, framealpha=0.9)
    return ax
