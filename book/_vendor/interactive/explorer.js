/* gdlab's explorer: draws the figures of gdlab.interactive.Explorer from the JSON each one carries.
   Every picture was computed in Python when the book was built; this script only picks the one the sliders name,
   and, for a figure with a time axis, shows the first t + 1 points of its animated traces. */
(function () {
  "use strict";

  var CSS = ".gdlab-explorer{margin:1em 0}.gx-controls{display:flex;flex-wrap:wrap;gap:.4em 1.6em;align-items:center;" +
    "font-size:.9em;margin-bottom:.3em}.gx-param,.gx-time{display:flex;align-items:center;gap:.5em}" +
    ".gx-param input{width:11em}.gx-time input{width:14em}.gx-value{font-variant-numeric:tabular-nums;min-width:4.5em}" +
    ".gx-time button{font-size:.95em;padding:.1em .7em;border:1px solid #999;border-radius:4px;background:#f6f6f6;" +
    "cursor:pointer}.gx-text{font-size:.9em;margin:.2em 0 0;min-height:1.3em}.gx-caption{font-size:.9em;color:#444}";

  function style() {
    if (document.getElementById("gdlab-explorer-css")) return;
    var s = document.createElement("style");
    s.id = "gdlab-explorer-css"; s.textContent = CSS;
    document.head.appendChild(s);
  }

  function format(fmt, v) {
    if (typeof v === "string") return v;
    var m = /^%\.(\d+)([fge])$/.exec(fmt || "%.3g");
    if (!m) return String(v);
    var n = +m[1];
    if (m[2] === "f") return v.toFixed(n);
    if (m[2] === "e") return v.toExponential(n);
    return String(+v.toPrecision(Math.max(n, 1)));
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function draw(root) {
    if (root.dataset.drawn) return;
    style();
    var spec = JSON.parse(root.querySelector("script.gx-spec").textContent);
    var state = { idx: spec.params.map(function (p) { return p.initial; }), t: spec.frames, timer: null };
    var note = root.querySelector(".gx-note");
    if (note) note.hidden = true;

    var controls = el("div", "gx-controls");
    var plot = el("div", "gx-plot");
    plot.style.height = (spec.layout.height || 420) + "px";
    var text = el("p", "gx-text");
    root.insertBefore(controls, root.querySelector(".gx-caption"));
    root.insertBefore(plot, root.querySelector(".gx-caption"));
    root.insertBefore(text, root.querySelector(".gx-caption"));

    spec.params.forEach(function (p, i) {
      var label = el("label", "gx-param");
      var name = el("span", "gx-name");
      name.innerHTML = p.label;
      var input = el("input");
      input.type = "range"; input.min = 0; input.max = p.values.length - 1; input.step = 1;
      input.value = p.initial; input.dataset.param = p.name;
      input.setAttribute("aria-label", p.name);
      var out = el("output", "gx-value", format(p.format, p.values[p.initial]));
      input.addEventListener("input", function () {
        state.idx[i] = +input.value;
        out.textContent = format(p.format, p.values[state.idx[i]]);
        render();
      });
      label.appendChild(name); label.appendChild(input); label.appendChild(out);
      controls.appendChild(label);
    });

    var time = null, play = null, step = null, tout = null;
    if (spec.frames) {
      var bar = el("div", "gx-time");
      play = el("button", "gx-play", "\u25B6 play"); play.type = "button"; play.dataset.action = "play";
      step = el("button", "gx-step", "step"); step.type = "button"; step.dataset.action = "step";
      time = el("input"); time.type = "range"; time.min = 0; time.max = spec.frames; time.step = 1;
      time.value = spec.frames; time.dataset.param = "t"; time.setAttribute("aria-label", "iteration");
      tout = el("output", "gx-value", "k = " + spec.frames);
      bar.appendChild(play); bar.appendChild(step); bar.appendChild(time); bar.appendChild(tout);
      controls.appendChild(bar);
      var setT = function (t) {
        state.t = Math.max(0, Math.min(spec.frames, t));
        time.value = state.t; tout.textContent = "k = " + state.t;
        render();
      };
      var stop = function () {
        if (state.timer) clearInterval(state.timer);
        state.timer = null; play.textContent = "\u25B6 play";
      };
      time.addEventListener("input", function () { stop(); setT(+time.value); });
      step.addEventListener("click", function () { stop(); setT(state.t >= spec.frames ? 0 : state.t + 1); });
      play.addEventListener("click", function () {
        if (state.timer) { stop(); return; }
        if (state.t >= spec.frames) setT(0);
        play.textContent = "\u25A0 pause";
        var per = Math.max(15, Math.min(120, 4000 / spec.frames));
        state.timer = setInterval(function () {
          if (state.t >= spec.frames) { stop(); return; }
          setT(state.t + 1);
        }, per);
      });
    }

    function current() {
      var k = 0;
      spec.params.forEach(function (p, i) { k = k * p.values.length + state.idx[i]; });
      return spec.points[k];
    }

    function render() {
      var pt = current();
      var traces = spec.background.slice();
      spec.styles.forEach(function (s, i) {
        var tr = Object.assign({}, s);
        delete tr.animate;
        var x = pt.x[i] === null ? s.x : pt.x[i], y = pt.y[i];
        if (spec.frames && s.animate) {
          x = x.slice(0, state.t + 1); y = y.slice(0, state.t + 1);
        }
        tr.x = x; tr.y = y;
        if (pt.z && pt.z[i] !== null) tr.z = spec.zs[pt.z[i]];
        traces.push(tr);
      });
      text.textContent = pt.text || "";
      if (plot.data) {  // keep what the reader showed or hid in the legend
        plot.data.forEach(function (shown, i) {
          if (i < traces.length && shown.visible !== undefined) traces[i].visible = shown.visible;
        });
      }
      window.Plotly.react(plot, traces, spec.layout, spec.config);
    }

    root.gdlab = state;
    root.dataset.drawn = "1";
    render();
  }

  window.gdlabExplorer = {
    draw: draw,
    drawAll: function () { document.querySelectorAll(".gdlab-explorer").forEach(draw); }
  };
})();
