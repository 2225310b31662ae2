r"""Interactive figures that work in the static book: every frame computed in Python, drawn by plotly.js in the page.

A figure here is a grid of precomputed pictures. The reader moves sliders over the values of one or more parameters
(a step size, a momentum, a rotation) and, for a figure with a time axis, plays or steps through the iterations; the
page only looks up the picture of the chosen grid point, so no kernel and no network is needed. The numbers come from
the same tested NumPy code the chapter runs (gdlab's optimizers and theory), at build time.

>>> from gdlab import interactive
>>> fig = interactive.Explorer(
...     {"alpha": [0.1, 0.5, 1.0]},
...     lambda alpha: [interactive.line(range(5), [alpha ** k for k in range(5)], name="alpha^k")],
...     title="powers", xaxis={"title": "k"}, yaxis={"title": "value"})
>>> fig  # doctest: +SKIP

``fig`` displays as HTML: the sliders, the plot and a caption line. In the built book the page loads plotly.js (the
cartesian bundle, from the book's own ``_static/interactive/``) and gdlab's ``explorer.js`` next to it; in Jupyter or
Colab, where those files are not served, the output says so and shows nothing else (the chapter keeps a live
ipywidgets version for those).

Data layout (what :meth:`Explorer.spec` returns, the JSON the page reads):

* ``params``: one entry per slider, ``{"name", "label", "values", "initial", "format"}``;
* ``styles``: the Plotly attributes of each computed trace (all but ``x`` and ``y``), taken from the first grid point,
  and its ``x`` when every grid point has the same;
* ``points``: for each grid point, in row-major order over ``params``, ``{"x": [...], "y": [...], "text": str}``, one
  array per trace (values rounded to ``digits`` significant digits; a non-finite value becomes ``null``, a gap; an
  ``x`` kept in the style is ``null`` here), and ``"z"`` when some trace has a ``z`` that changes with the parameters
  (a contour of a problem that does): per trace, the index of its matrix in ``zs`` (``null`` for a trace without one);
* ``zs``: those matrices, each distinct one stored once;
* ``background``: traces drawn under every grid point (contour lines, a target curve);
* ``frames``: ``None``, or the number of iterations ``T``: then the traces whose style has ``"animate": True`` show
  their first ``t + 1`` points, ``t`` moved by a play button, a step button and a time slider.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: where the built book serves the scripts, relative to its root (``book/_vendor`` is its ``html_static_path``)
STATIC = "_static/interactive/"
#: the largest JSON a page carries for one figure; a larger grid is an error (coarsen it)
MAX_BYTES = 3_000_000


def _round(values, digits: int) -> list:
    a = np.asarray(values, dtype=float).ravel()
    out: list = []
    for v in a.tolist():
        if not math.isfinite(v):
            out.append(None)
        elif v == 0.0:
            out.append(0.0)
        else:
            out.append(float(f"{v:.{digits - 1}e}"))
    return out


def line(x, y, *, name: str = "", animate: bool = False, **style) -> dict:
    """A line trace: ``x``, ``y`` and Plotly's scatter attributes (``mode="lines"`` unless given). ``animate=True``
    makes it one the time axis reveals point by point."""
    trace = {"type": "scatter", "mode": "lines", "name": name, "x": x, "y": y, **style}
    if animate:
        trace["animate"] = True
    return trace


def contour(problem, xlim, ylim, *, n: int = 81, levels: int = 16, log: bool = True,
            zrange: tuple[float, float] | None = None, **style) -> dict:
    """The level lines of a 2-D problem's ``f`` on a grid, as a background trace. With ``log=True`` (default) the lines
    are spaced evenly in ``log10(f - f*)``, so that a narrow valley shows several rings. The lines span ``zrange``
    (in those units) when given, else the 2 % quantile to the maximum of the grid; pass ``zrange`` for a contour that
    an explorer recomputes at each grid point, so that its style (the levels) stays the same."""
    if getattr(problem, "dim", 2) != 2:
        raise ValueError(f"Invalid problem: a contour needs a 2-D problem, got dim={problem.dim}")
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    f_star = float(getattr(problem, "f_star", 0.0) or 0.0)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)  # (n, n, 2): row = y, column = x
    try:  # a problem whose f takes a batch of points (gdlab's do) evaluates the grid at once
        Z = np.asarray(problem.f(grid), dtype=float) - f_star
    except (TypeError, ValueError):
        Z = None
    if Z is None or Z.shape != (n, n):
        Z = np.array([[float(problem.f(np.array([u, v]))) - f_star for u in xs] for v in ys])
    if log:
        Z = np.log10(np.maximum(Z, 1e-12))
    lo, hi = (float(np.quantile(Z, 0.02)), float(Z.max())) if zrange is None else map(float, zrange)
    if not hi > lo:
        raise ValueError(f"Invalid zrange: zrange={zrange!r} (expected low < high)")
    trace = {"type": "contour", "x": xs, "y": ys, "z": Z, "showscale": False, "hoverinfo": "skip",
             "contours": {"coloring": "lines", "start": lo, "end": hi, "size": (hi - lo) / levels},
             "line": {"width": 0.8}, "colorscale": [[0, "#c8c8c8"], [1, "#5a5a5a"]], "showlegend": False}
    trace.update(style)
    return trace


def pad(values, length: int) -> np.ndarray:
    """``values`` (rows ``0..n-1``) padded with NaN rows to ``length`` rows: a run that stopped early (diverged) keeps
    the shape of the others, and its missing points are gaps in the figure."""
    a = np.asarray(values, dtype=float)
    if a.shape[0] > length:
        raise ValueError(f"Invalid length: {a.shape[0]} rows do not fit in length={length}")
    out = np.full((length, *a.shape[1:]), np.nan)
    out[: a.shape[0]] = a
    return out


def path_and_curve(xlim, ylim, steps: int, *, curve_range=(-12.0, 3.0), curve_title: str = "‖xₖ − x*‖²",
                   log: bool = True, split: float = 0.44, names: tuple[str, str] = ("x₁", "x₂")) -> dict:
    """The axes of the two-panel figure the chapters use: the iterates in the plane (``x``/``y`` axes, left, over
    ``xlim`` and ``ylim``) and a curve over the iterations ``0..steps`` (``x2``/``y2``, right; ``curve_range`` is the
    range of its y axis, in decades when ``log``). Pass it as ``Explorer(..., **path_and_curve(...))``; traces of the
    right panel set ``xaxis="x2", yaxis="y2"``; ``names`` are the titles of the plane's two axes."""
    return {
        "xaxis": {"domain": [0, split], "range": list(xlim), "title": names[0]},
        "yaxis": {"range": list(ylim), "title": names[1]},
        "xaxis2": {"domain": [1 - split, 1], "range": [0, steps], "title": "iteration k"},
        "yaxis2": {"type": "log" if log else "linear", "range": list(curve_range), "anchor": "x2",
                   "title": curve_title},
    }


def _encode(trace: dict, digits: int) -> dict:
    out = {}
    for k, v in trace.items():
        if k in ("x", "y", "z"):
            v = np.asarray(v, dtype=float)
            out[k] = [_round(row, digits) for row in v] if v.ndim == 2 else _round(v, digits)
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out


class Explorer:
    r"""A figure over a grid of parameter values, with a slider per parameter and, optionally, a time axis.

    ``params`` maps each parameter's name to its values (the slider's stops, in order): numbers, or names (strings)
    for a choice such as a schedule's shape, which the slider shows as they are. ``compute(**point)`` returns
    the picture at one grid point: a list of traces (see :func:`line`), or a pair ``(traces, text)`` where ``text`` is
    a caption line shown under the plot (e.g. the measured rate). Every grid point must return the same traces in the
    same order (the same count, each with the same style); only ``x`` and ``y`` may change, and their lengths.

    ``initial`` names the value each slider starts at (default: the middle stop; a value not on the grid is an error).
    ``labels`` gives each slider's label (HTML and Unicode, e.g. ``"α"``) and ``formats`` a ``printf``-style format
    of a number (default ``"%.3g"``). ``frames=T`` adds the time axis over iterations ``0..T``; ``layout`` is Plotly's
    layout (axis ranges fixed there keep the view still while the sliders move), ``background`` a list of traces drawn
    under every grid point. ``digits`` is the number of significant digits the page keeps.
    """

    def __init__(self, params: Mapping[str, Sequence[float]], compute: Callable[..., Any], *,
                 background: Sequence[dict] = (), initial: Mapping[str, float] | None = None,
                 labels: Mapping[str, str] | None = None, formats: Mapping[str, str] | None = None,
                 frames: int | None = None, title: str = "", caption: str = "", digits: int = 4,
                 height: int = 420, layout: Mapping[str, Any] | None = None, **axes):
        if not isinstance(params, Mapping) or not params:
            raise ValueError("Invalid params: expected a non-empty mapping of name -> values")
        self.names = list(params)
        self.values = []
        for name, vals in params.items():
            vals = list(vals)
            if all(isinstance(v, str) for v in vals):  # a choice: the slider shows the names
                ok = len(vals) >= 2 and len(set(vals)) == len(vals)
            else:
                try:
                    vals = [float(v) for v in vals]
                except (TypeError, ValueError):
                    vals, ok = vals, False
                else:
                    ok = len(vals) >= 2 and all(math.isfinite(v) for v in vals)
            if not ok:
                raise ValueError(f"Invalid params: {name!r} needs at least two finite numbers or distinct names, "
                                 f"got {vals!r}")
            self.values.append(vals)
        if frames is not None and (isinstance(frames, bool) or not isinstance(frames, int) or frames < 1):
            raise ValueError(f"Invalid frames: frames={frames!r} (expected None or an int >= 1)")
        if isinstance(digits, bool) or not isinstance(digits, int) or not 2 <= digits <= 17:
            raise ValueError(f"Invalid digits: digits={digits!r} (expected an int in [2, 17])")
        initial = dict(initial or {})
        unknown = set(initial) - set(self.names) | set(labels or {}) - set(self.names) | \
            set(formats or {}) - set(self.names)
        if unknown:
            raise ValueError(f"Invalid initial/labels/formats: unknown parameter(s) {sorted(unknown)}")
        self.start = []
        for name, vals in zip(self.names, self.values):
            if name in initial:
                want = initial[name]
                hits = [i for i, v in enumerate(vals)
                        if (v == want if isinstance(v, str) else
                            not isinstance(want, str) and math.isclose(v, float(want), rel_tol=1e-12, abs_tol=1e-15))]
                if not hits:
                    raise ValueError(f"Invalid initial: {name}={initial[name]!r} is not one of its values")
                self.start.append(hits[0])
            else:
                self.start.append(len(vals) // 2)
        self.labels = {n: (labels or {}).get(n, n) for n in self.names}
        self.formats = {n: (formats or {}).get(n, "%.3g") for n in self.names}
        self.compute, self.frames, self.digits = compute, frames, digits
        self.title, self.caption, self.height = title, caption, height
        self.background = [_encode(t, digits) for t in background]
        self.layout = dict(layout or {})
        for k, v in axes.items():
            if not k.startswith(("xaxis", "yaxis")):
                raise TypeError(f"Explorer() got an unexpected keyword argument {k!r}")
            self.layout[k] = v
        self._spec: dict | None = None

    # ------------------------------------------------------------------ the data
    def _point(self, idx) -> tuple[list[dict], str]:
        kw = {n: vals[i] for n, vals, i in zip(self.names, self.values, idx)}
        out = self.compute(**kw)
        text = ""
        if isinstance(out, tuple):
            out, text = out
        if not isinstance(out, list) or not out or not all(isinstance(t, dict) for t in out):
            raise ValueError(f"Invalid compute: at {kw} it returned {type(out).__name__}, expected a non-empty list "
                             "of traces (dicts) or (traces, text)")
        return out, str(text)

    def spec(self) -> dict:
        """The JSON-ready description the page draws (computed once, on first use)."""
        if self._spec is not None:
            return self._spec
        styles = None
        points = []
        for idx in itertools.product(*(range(len(v)) for v in self.values)):
            traces, text = self._point(idx)
            style = [{k: v for k, v in t.items() if k not in ("x", "y", "z")} for t in traces]
            if styles is None:
                styles = style
            elif style != styles:
                kw = {n: vals[i] for n, vals, i in zip(self.names, self.values, idx)}
                hint = ""
                if len(style) == len(styles) and any(a.get("contours") != b.get("contours")
                                                     for a, b in zip(style, styles)):
                    hint = " (a contour's levels changed: give contour() a fixed zrange)"
                raise ValueError(f"Invalid compute: at {kw} the traces differ from the first grid point's in count "
                                 f"or style; only x, y and z may change{hint}")
            pt = {"x": [_round(t["x"], self.digits) for t in traces],
                  "y": [_round(t["y"], self.digits) for t in traces], "text": text}
            if any("z" in t for t in traces):  # a contour or heatmap that changes with the parameters
                pt["z"] = [[_round(row, self.digits) for row in np.atleast_2d(np.asarray(t["z"], dtype=float))]
                           if "z" in t else None for t in traces]
            if self.frames is not None:
                for t, s in zip(traces, style):
                    if s.get("animate") and len(np.ravel(t["x"])) != self.frames + 1:
                        raise ValueError(f"Invalid compute: an animated trace has {len(np.ravel(t['x']))} points, "
                                         f"expected frames + 1 = {self.frames + 1}")
            points.append(pt)
        assert styles is not None
        styles = [dict(st) for st in styles]
        for i, st in enumerate(styles):  # an x (or z) shared by every grid point is stored once, in the style
            for key in ("x", "z"):
                if key not in points[0] or points[0][key][i] is None:
                    continue
                first = points[0][key][i]
                if all(pt[key][i] == first for pt in points):
                    st[key] = first
                    for pt in points:
                        pt[key][i] = None
        zs: list = []  # the other matrices, each stored once: a point names its matrix by index
        seen: dict[str, int] = {}
        for pt in points:
            for i, z in enumerate(pt.get("z", [])):
                if z is not None:
                    key = json.dumps(z)
                    if key not in seen:
                        seen[key] = len(zs)
                        zs.append(z)
                    pt["z"][i] = seen[key]
        layout = {"height": self.height, "margin": {"l": 60, "r": 20, "t": 40 if self.title else 20, "b": 50},
                  "legend": {"orientation": "h", "y": -0.2, "yanchor": "top"}, "template": None, **self.layout}
        for key, axis in layout.items():  # plotly.js 3 and later read a title only as {"text": ...}
            if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict) and isinstance(axis.get("title"), str):
                layout[key] = {**axis, "title": {"text": axis["title"]}}
        if self.title:
            layout.setdefault("title", {"text": self.title, "font": {"size": 15}})
        self._spec = {
            "params": [{"name": n, "label": self.labels[n], "values": vals, "initial": i, "format": self.formats[n]}
                       for n, vals, i in zip(self.names, self.values, self.start)],
            "styles": [_encode(s, self.digits) for s in styles], "points": points, "background": self.background,
            "frames": self.frames, "layout": layout, "zs": zs,
            "config": {"displaylogo": False, "responsive": True,
                       "modeBarButtonsToRemove": ["toImage", "sendDataToCloud", "select2d", "lasso2d"]},
        }
        return self._spec

    def json(self) -> str:
        text = json.dumps(self.spec(), separators=(",", ":"), allow_nan=False)
        if len(text) > MAX_BYTES:
            raise ValueError(f"Invalid grid: the figure's data is {len(text):,} bytes, more than MAX_BYTES = "
                             f"{MAX_BYTES:,}; use fewer parameter values, frames or points")
        return text

    # ------------------------------------------------------------------ the page
    def html(self) -> str:
        data = self.json()
        ident = "gx-" + hashlib.sha1(data.encode()).hexdigest()[:10]
        safe = data.replace("</", "<\\/")  # the JSON sits in a <script> element
        caption = f'<p class="gx-caption">{self.caption}</p>' if self.caption else ""
        return (
            f'<div class="gdlab-explorer" id="{ident}">'
            '<p class="gx-note">This figure is interactive in the built book, which serves its scripts '
            "(plotly.js and gdlab's explorer.js). In Jupyter or Colab run the live version below it.</p>"
            f'<script type="application/json" class="gx-spec">{safe}</script>{caption}</div>'
            f"<script>{_LOADER}</script>"
        )

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        grid = " x ".join(str(len(v)) for v in self.values)
        return f"Explorer({', '.join(self.names)}: {grid} points, frames={self.frames})"


# Loads plotly.js and explorer.js once per page from the book's static folder, then draws every explorer not yet drawn.
# Outside the built book (no Sphinx content root) it leaves the note in place.
_LOADER = """(function () {
  var root = document.documentElement.dataset.content_root;
  if (root === undefined) return;
  var base = root + "%s";
  if (!window.gdlabExplorerLoading) {
    window.gdlabExplorerLoading = new Promise(function (resolve, reject) {
      var load = function (src, next) {
        var s = document.createElement("script");
        s.src = base + src; s.onload = next; s.onerror = function () { reject(new Error("could not load " + src)); };
        document.head.appendChild(s);
      };
      load("plotly-cartesian.min.js", function () { load("explorer.js", resolve); });
    });
  }
  window.gdlabExplorerLoading.then(function () { window.gdlabExplorer.drawAll(); });
})();""" % STATIC  # noqa: UP031 - the JavaScript's own braces would need doubling in an f-string


def show(fig: Explorer) -> None:
    """Display an explorer in a notebook (it returns nothing, so that a cell ending with it shows the figure once)."""
    from IPython.display import HTML, display

    display(HTML(fig.html()))


__all__ = ["MAX_BYTES", "STATIC", "Explorer", "contour", "line", "pad", "path_and_curve", "show"]
