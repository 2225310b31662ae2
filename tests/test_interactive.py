"""gdlab.interactive: the data an explorer figure carries, and its errors. The browser side is tests/browser."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from gdlab import interactive, problems


def _powers(alpha, beta=1.0):
    k = np.arange(6)
    return [interactive.line(k, beta * alpha**k, name="powers", animate=True),
            interactive.line([0, 5], [0, beta], name="chord")], f"alpha={alpha}"


def test_spec_holds_every_grid_point_in_row_major_order():
    fig = interactive.Explorer({"alpha": [0.5, 2.0], "beta": [1.0, 3.0, 5.0]}, _powers, frames=5,
                               initial={"alpha": 2.0, "beta": 5.0})
    spec = fig.spec()
    assert [p["name"] for p in spec["params"]] == ["alpha", "beta"]
    assert [p["initial"] for p in spec["params"]] == [1, 2]
    assert len(spec["points"]) == 6 and spec["frames"] == 5
    for n, (a, b) in enumerate([(a, b) for a in (0.5, 2.0) for b in (1.0, 3.0, 5.0)]):
        pt = spec["points"][n]
        assert pt["y"][0] == pytest.approx([b * a**k for k in range(6)], rel=1e-3)
        assert pt["text"] == f"alpha={a}"
    # the x of each trace is the same at every point: stored once, in the style
    assert spec["styles"][0]["x"] == [0, 1, 2, 3, 4, 5] and all(pt["x"] == [None, None] for pt in spec["points"])
    assert spec["styles"][0]["animate"] is True and "animate" not in spec["styles"][1]


def test_values_keep_the_digits_asked_and_non_finite_values_become_gaps():
    def compute(s):
        return [interactive.line([0, 1, 2, 3], [math.pi * s, math.inf, math.nan, -1.23456789e-7 * s])]

    fig = interactive.Explorer({"s": [1.0, 2.0]}, compute, digits=3)
    y = fig.spec()["points"][0]["y"][0]
    assert y == [3.14, None, None, -1.23e-7]
    text = fig.json()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text)  # strict JSON


def test_x_that_changes_with_the_parameter_stays_per_point():
    fig = interactive.Explorer({"n": [2, 3]}, lambda n: [interactive.line(range(int(n)), range(int(n)))])
    spec = fig.spec()
    assert "x" not in spec["styles"][0]
    assert [pt["x"][0] for pt in spec["points"]] == [[0, 1], [0, 1, 2]]


def test_html_carries_the_json_and_a_note_for_jupyter():
    fig = interactive.Explorer({"alpha": [0.5, 2.0]}, _powers, frames=5, caption="a <b>caption</b>")
    page = fig._repr_html_()
    m = re.search(r'<script type="application/json" class="gx-spec">(.*?)</script>', page, re.S)
    assert m and json.loads(m.group(1)) == json.loads(fig.json())
    assert 'class="gx-note"' in page and "content_root" in page and interactive.STATIC in page
    assert "<b>caption</b>" in page
    # a "</script>" inside the data cannot end the element early
    fig2 = interactive.Explorer({"a": [1.0, 2.0]}, lambda a: ([interactive.line([0], [a])], "</script><i>"))
    assert "</script><i>" not in fig2.html() and json.loads(
        re.search(r'class="gx-spec">(.*?)</script>', fig2.html(), re.S).group(1).replace("<\\/", "</")
    )["points"][0]["text"] == "</script><i>"


def test_contour_of_a_rotated_quadratic_is_log_spaced_and_finite():
    q = problems.Quadratic.rotated([1.0, 0.01], 0.4)
    tr = interactive.contour(q, (-2, 2), (-1, 1), n=21)
    z = np.asarray(tr["z"])
    assert z.shape == (21, 21) and np.all(np.isfinite(z))
    assert tr["contours"]["start"] < tr["contours"]["end"]
    with pytest.raises(ValueError, match="2-D"):
        interactive.contour(problems.Quadratic([1.0, 2.0, 3.0]), (-1, 1), (-1, 1))


def test_rotated_quadratic_has_its_eigenvectors_on_the_turned_axes():
    theta = 0.7
    q = problems.Quadratic.rotated([2.0, 0.5], theta, x0=[1.0, -1.0])
    u = np.array([math.cos(theta), math.sin(theta)])
    v = np.array([-math.sin(theta), math.cos(theta)])
    np.testing.assert_allclose(q.A @ u, 2.0 * u, rtol=0, atol=1e-15)
    np.testing.assert_allclose(q.A @ v, 0.5 * v, rtol=0, atol=1e-15)
    assert (q.L, q.mu) == (2.0, 0.5) and q.x0.tolist() == [1.0, -1.0]
    np.testing.assert_array_equal(problems.Quadratic.rotated([3.0, 1.0], 0.0).A, np.diag([3.0, 1.0]))
    with pytest.raises(ValueError, match="two numbers"):
        problems.Quadratic.rotated([1.0, 2.0, 3.0], 0.1)
    with pytest.raises(ValueError, match="angle"):
        problems.Quadratic.rotated([1.0, 2.0], math.nan)


@pytest.mark.parametrize("kwargs, match", [
    ({"params": {}}, "params"),
    ({"params": {"a": [1.0]}}, "at least two"),
    ({"params": {"a": [1.0, math.nan]}}, "finite"),
    ({"frames": 0}, "frames"),
    ({"frames": True}, "frames"),
    ({"digits": 1}, "digits"),
    ({"initial": {"alpha": 0.7}}, "not one of its values"),
    ({"initial": {"gamma": 1.0}}, "unknown parameter"),
    ({"labels": {"gamma": "γ"}}, "unknown parameter"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = {"params": {"alpha": [0.5, 2.0]}, "compute": _powers, **kwargs}
    with pytest.raises(ValueError, match=match):
        interactive.Explorer(**args).spec()


def test_bad_axis_keyword_is_a_typeerror():
    with pytest.raises(TypeError, match="heigth"):
        interactive.Explorer({"alpha": [0.5, 2.0]}, _powers, heigth=3)


def test_compute_must_return_the_same_traces_everywhere():
    def changing(a):
        n = 1 if a < 1 else 2
        return [interactive.line([0, 1], [a, a], name=f"t{i}") for i in range(n)]

    with pytest.raises(ValueError, match="only x, y and z may change"):
        interactive.Explorer({"a": [0.5, 2.0]}, changing).spec()
    with pytest.raises(ValueError, match="expected a non-empty list"):
        interactive.Explorer({"a": [0.5, 2.0]}, lambda a: a).spec()
    with pytest.raises(ValueError, match="frames \\+ 1 = 6"):
        interactive.Explorer({"a": [0.5, 2.0]}, lambda a: [interactive.line([0, 1], [a, a], animate=True)],
                             frames=5).spec()


def test_a_grid_too_large_for_a_page_is_refused(monkeypatch):
    monkeypatch.setattr(interactive, "MAX_BYTES", 200)
    with pytest.raises(ValueError, match="MAX_BYTES"):
        interactive.Explorer({"alpha": [0.5, 2.0]}, _powers).json()


def test_repr_names_the_grid():
    assert repr(interactive.Explorer({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, _powers)) == \
        "Explorer(a, b: 2 x 3 points, frames=None)"


def test_a_contour_that_turns_with_the_parameter_is_stored_per_point():
    def compute(angle):
        q = problems.Quadratic.rotated([1.0, 0.1], angle)
        return [interactive.contour(q, (-1, 1), (-1, 1), n=5, zrange=(-3.0, 0.0)), interactive.line([0, 1], [0, 1])]

    spec = interactive.Explorer({"angle": [0.0, 0.5]}, compute).spec()
    assert [pt["z"][0] for pt in spec["points"]] == [0, 1]
    z0, z1 = (np.asarray(z, dtype=float) for z in spec["zs"])
    assert z0.shape == (5, 5) and not np.allclose(z0, z1)
    # a matrix that repeats over a parameter it does not depend on is stored once
    twice = interactive.Explorer({"angle": [0.0, 0.5], "b": [1.0, 2.0]},
                                 lambda angle, b: compute(angle) + [interactive.line([0, 1], [0, b])]).spec()
    assert len(twice["zs"]) == 2 and [pt["z"][0] for pt in twice["points"]] == [0, 0, 1, 1]
    assert all(pt["z"][1] is None for pt in spec["points"]) and "z" not in spec["styles"][0]
    assert spec["styles"][0]["contours"]["start"] == -3.0
    # the same contour at every point: stored once
    same = interactive.Explorer({"a": [1.0, 2.0]}, lambda a: [
        interactive.contour(problems.Quadratic.rotated([1.0, 0.1], 0.3), (-1, 1), (-1, 1), n=5),
        interactive.line([0, 1], [0, a])]).spec()
    assert np.asarray(same["styles"][0]["z"]).shape == (5, 5) and all(pt["z"][0] is None for pt in same["points"])
    with pytest.raises(ValueError, match="zrange"):
        interactive.contour(problems.Quadratic.rotated([1.0, 0.1], 0.3), (-1, 1), (-1, 1), zrange=(1.0, 1.0))


def test_axis_titles_are_written_as_plotly_reads_them():
    spec = interactive.Explorer({"alpha": [1.0, 2.0]}, _powers, xaxis={"title": "k"},
                                yaxis2={"title": {"text": "y", "font": {"size": 9}}}).spec()
    assert spec["layout"]["xaxis"]["title"] == {"text": "k"}
    assert spec["layout"]["yaxis2"]["title"] == {"text": "y", "font": {"size": 9}}


def test_pad_and_the_two_panel_axes():
    out = interactive.pad([[1.0, 2.0], [3.0, 4.0]], 4)
    assert out.shape == (4, 2) and out[1].tolist() == [3.0, 4.0] and np.isnan(out[2:]).all()
    assert interactive.pad([1.0], 1).tolist() == [1.0]
    with pytest.raises(ValueError, match="length"):
        interactive.pad([1.0, 2.0], 1)
    axes = interactive.path_and_curve((-1, 1), (-2, 2), 50, curve_range=(-6, 1))
    spec = interactive.Explorer({"alpha": [1.0, 2.0]}, _powers, **axes).spec()["layout"]
    assert spec["xaxis2"]["range"] == [0, 50] and spec["yaxis2"]["type"] == "log"
    assert spec["yaxis"]["title"] == {"text": "x₂"} and spec["yaxis2"]["anchor"] == "x2"


def test_a_choice_of_names_is_a_parameter():
    seen = []

    def compute(shape, lr):
        seen.append((shape, lr))
        return [interactive.line([0, 1], [lr, lr if shape == "constant" else lr / 2])]

    spec = interactive.Explorer({"shape": ["constant", "halved"], "lr": [0.1, 0.2]}, compute,
                                initial={"shape": "halved"}).spec()
    assert spec["params"][0]["values"] == ["constant", "halved"] and spec["params"][0]["initial"] == 1
    assert seen == [("constant", 0.1), ("constant", 0.2), ("halved", 0.1), ("halved", 0.2)]
    for bad in (["a", "a"], ["a", 1.0], ["a"]):
        with pytest.raises(ValueError, match="distinct names"):
            interactive.Explorer({"shape": bad}, compute)
    with pytest.raises(ValueError, match="not one of its values"):
        interactive.Explorer({"shape": ["a", "b"]}, compute, initial={"shape": "c"})
