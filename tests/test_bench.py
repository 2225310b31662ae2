"""The optimizer benchmark's machinery, at smoke size: the script runs, writes a result gdlab.bench reads, and the
targets, tables and roofline are computed from it. (The timings themselves are not tested: see make benchmarks.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from gdlab import bench  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_optimizers  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    assert bench_optimizers.main(["--layout", "b", "--quick", "--only", "SGD,Adagrad", "--rounds", "2",
                                  "--budget", "0.5", "--warmup", "2", "--threads", "1", "--compile", "Adagrad",
                                  "--out", str(out), "--stem", "smoke"]) == 0
    return out / "smoke.json"


def test_result_is_complete_and_readable(run):
    data = bench.load(run)
    assert data["meta"]["rounds"] == 2 and len(data["meta"]["loadavg_end"]) == 3
    res = data["layouts"]["b"]["Adagrad"]
    assert {"gdlab", "gdlab compiled", bench.GATHERS, "torch fused", "copy"} <= set(res["impls"])
    assert res["fused_route"] == ["flat"]
    # Adagrad keeps one state value per parameter: 4 (3 + 2) = 20 bytes per float32 parameter
    assert res["state_elements_per_param"] == 1.0 and res["bytes_per_step"] == 20 * res["params"]
    assert bench.bytes_per_param(res["state_elements_per_param"]) == 20.0
    assert 0 < res["ratios"]["gdlab compiled / torch fused"]["p25"] <= res["ratios"]["gdlab compiled / torch fused"][
        "median"] <= res["ratios"]["gdlab compiled / torch fused"]["p75"]


def test_verdicts_follow_the_ratios(run):
    data = bench.load(run)
    rows = bench.verdicts("b", data["layouts"]["b"])
    assert rows == data["targets"]
    fused = [r for r in rows if r["case"] == "Adagrad" and r["target"] == "compiled <= 1 vs torch fused"]
    assert len(fused) == 1 and fused[0]["met"] == (fused[0]["ratio"] <= 1.0)
    sgd = [r for r in rows if r["case"] == "SGD" and r["target"].startswith("<= 1 vs torch")]
    assert len(sgd) == 1


def test_summary_and_roofline(run):
    data = bench.load(run)
    table = bench.summary(data, "b")
    assert table.count("\n") == 2 + len(data["layouts"]["b"])
    assert "| Adagrad |" in table and "flat" in table
    ax = bench.roofline(data, "b")
    assert ax.get_ylabel() == "achieved GB/s" and len(ax.collections) >= 2
    with pytest.raises(ValueError, match="layout"):
        bench.roofline(data, "z")


def test_load_refuses_an_incomplete_file(tmp_path, run):
    data = json.loads(run.read_text())
    del data["meta"]["loadavg_start"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="loadavg_start"):
        bench.load(bad)
    with pytest.raises(FileNotFoundError, match="path"):
        bench.load(tmp_path / "missing.json")


import bench_matrix  # noqa: E402


def test_matrix_run_is_complete_and_its_table_lists_every_reference(tmp_path):
    """bench_matrix.py at smoke size: Muon against torch.optim.Muon and pytorch_optimizer, one round."""
    assert bench_matrix.main(["--only", "Muon", "--rounds", "1", "--d", "16", "--interval", "2",
                              "--threads", "1", "--out", str(tmp_path), "--stem", "m"]) == 0
    data = bench.load_matrix(tmp_path / "m.json")
    res = data["rules"]["Muon"]
    assert {"gdlab", "gdlab compiled", "torch.optim.Muon", "pytorch_optimizer"} <= set(res["impls"])
    assert data["params"] == 12 * 16 ** 2 == res["params"] and data["meta"]["interval"] == 2
    assert set(data["rules"]) == {"Muon", "Muon(ns_form=full)"}  # (both iterations: bfloat16 and float32)
    times, ratios = bench.matrix_summary(data), bench.matrix_summary(data, "ratios")
    assert times.count("\n") == 2 + 2 and "| torch.optim.Muon | pytorch_optimizer |" in times
    assert ratios.count("\n") == 2 + 2 * 2  # each case against each of the two references
    assert "| Muon | torch.optim.Muon |" in ratios and "| Muon(ns_form=full) | pytorch_optimizer |" in ratios
    with pytest.raises(ValueError, match="part"):
        bench.matrix_summary(data, "both")
    (tmp_path / "other.json").write_text(json.dumps({"meta": data["meta"], "layouts": {}}))
    with pytest.raises(ValueError, match="not a bench_matrix.py result"):
        bench.load_matrix(tmp_path / "other.json")
