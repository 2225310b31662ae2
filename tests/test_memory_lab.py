"""The memory lab's measurements: gdlab.memory.measure_step, gdlab.zero, and labs/memory_accounting.py at its tiny size
(which runs ZeRO stages 1-3 under torchrun with 2 gloo ranks)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gdlab import memory, zero
from gdlab import optim as gopt

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "labs" / "memory_accounting.py"
sys.path.insert(0, str(ROOT / "labs"))
CFG = dict(vocab=64, d_model=64, n_heads=2, n_layers=2, d_ff=128, seq=16)


def _batch(b=4, cfg=CFG):
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, cfg["vocab"], (b, cfg["seq"]), generator=g),
            torch.randint(0, cfg["vocab"], (b, cfg["seq"]), generator=g))


def _build(opt="Adam", checkpoint=False, cfg=CFG, **hp):
    def build():
        torch.manual_seed(0)
        model = memory.TinyTransformer(**cfg, checkpoint=checkpoint)
        return model, getattr(gopt, opt)(model.parameters(), **hp)
    return build


# ------------------------------------------------------------------------------------ measure_step
@pytest.mark.parametrize("opt,hp", [("SGD", dict(lr=0.1)), ("Adam", dict(lr=1e-3)), ("Lion", dict(lr=1e-4)),
                                    ("Adam8bit", dict(lr=1e-3))])
def test_measured_peak_equals_the_prediction(opt, hp):
    b = 8
    m = memory.measure_step(_build(opt, **hp), _batch(b), steps=2)
    pred = memory.transformer_step_peak(m.model, opt, b, **hp)
    assert m.peak_phase == "backward"
    assert abs(m.peak - pred["peak"]) <= 1e-3 * pred["peak"]
    assert abs(m.at_rest - pred["at_rest"]) <= 1e-3 * pred["at_rest"]
    # the forward pass ends with the activations of the formula on top of what rests between steps
    assert abs(m.phase_start["backward"] - m.at_rest - pred["activations"]) <= 64
    # and the peak is the loss's gradient, 2eTV, on top of that
    assert abs(m.peak - m.phase_start["backward"] - pred["transient"]) <= 64
    assert m.losses[1] < m.losses[0] and m.source.startswith("torch.profiler")


def test_without_the_loss_gradient_the_prediction_falls_short():
    b = 8
    m = memory.measure_step(_build(lr=1e-3), _batch(b), steps=2)
    pred = memory.transformer_step_peak(m.model, "Adam", b, lr=1e-3)
    short = pred["peak"] - pred["transient"]
    assert m.peak - short == pytest.approx(memory.transformer_loss_grad_bytes(b, CFG["seq"], CFG["vocab"]), abs=64)


def test_gradients_freed_between_steps_lower_the_peak_and_timeline():
    kept = memory.measure_step(_build(lr=1e-3), _batch(8), steps=2, timeline=True)
    freed = memory.measure_step(_build(lr=1e-3), _batch(8), steps=2, set_to_none=True)
    W = memory.tensor_bytes(kept.model.parameters())
    assert freed.peak < kept.peak
    # set_to_none frees the gradients at zero_grad: the forward pass starts without them
    assert kept.phase_start["forward"] - freed.phase_start["forward"] == pytest.approx(W, abs=64)
    assert max(kept.timeline) == kept.peak and min(kept.timeline) >= kept.at_rest - 64


def test_first_step_creates_the_state():
    m = memory.measure_step(_build(lr=1e-3), _batch(8), steps=1)
    W = memory.tensor_bytes(m.model.parameters())
    pred = memory.transformer_step_peak(m.model, "Adam", 8, lr=1e-3)
    # gradients appear in the backward pass and Adam's two moments in the first step
    assert m.phase_start["step"] - m.phase_start["backward"] < 0  # activations freed, gradients written
    assert m.phase_peak["step"] - m.phase_start["step"] >= 2 * W
    assert abs(m.at_rest - pred["at_rest"]) <= 64


def test_checkpointing_keeps_only_block_inputs():
    b, cfg = 8, dict(CFG, n_layers=4)
    plain = memory.measure_step(_build(lr=1e-3, cfg=cfg), _batch(b, cfg), steps=2)
    ck = memory.measure_step(_build(lr=1e-3, checkpoint=True, cfg=cfg), _batch(b, cfg), steps=2)
    for m in (plain, ck):
        pred = memory.transformer_step_peak(m.model, "Adam", b, lr=1e-3)
        assert abs(m.phase_start["backward"] - m.at_rest - pred["activations"]) <= 64
    T, h = b * cfg["seq"], cfg["d_model"]
    A = memory.transformer_activation_bytes(b, cfg["seq"], h, cfg["n_heads"], 4, cfg["d_ff"], cfg["vocab"])
    A_ck = memory.transformer_activation_bytes(b, cfg["seq"], h, cfg["n_heads"], 4, cfg["d_ff"], cfg["vocab"],
                                              checkpoint=True)
    block = memory.transformer_block_activation_bytes(b, cfg["seq"], h, cfg["n_heads"], cfg["d_ff"])
    assert A - A_ck == 4 * (block - 4 * T * h)  # each of the 4 blocks keeps its input instead of its activations
    assert ck.losses == plain.losses  # recomputation changes nothing


def test_measure_step_validation_and_settle():
    with pytest.raises(ValueError, match="steps"):
        memory.measure_step(_build(lr=1e-3), _batch(), steps=0)
    calls = []
    memory.measure_step(_build(lr=1e-3), _batch(), steps=1, settle=lambda: calls.append(1))
    assert calls == [1]


# ------------------------------------------------------------------------------------ gdlab.zero in one process
@pytest.mark.parametrize("stage", [1, 2])
def test_zero_optimizer_alone_is_the_wrapped_optimizer(stage):
    torch.manual_seed(0)
    a = memory.TinyTransformer(**CFG)
    b = copy.deepcopy(a)
    oz = zero.ZeroOptimizer(a.parameters(), gopt.Adam, stage=stage, lr=1e-2)
    oa = gopt.Adam(b.parameters(), lr=1e-2)
    idx, tgt = _batch()
    for _ in range(3):
        for model, opt in ((a, oz), (b, oa)):
            opt.zero_grad(set_to_none=False)
            model.loss(idx, tgt).backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    assert sum(memory.state_bytes(oz).values()) == sum(memory.state_bytes(oa).values())
    if stage == 2:
        assert all(p.grad is None for p in a.parameters())  # the full gradients are freed during backward
    oz.close()


def test_zero_slices_and_validation():
    assert [zero.slice_bounds(10, r, 3) for r in range(3)] == [(0, 4), (4, 8), (8, 10)]
    assert zero.slice_bounds(1, 1, 2) == (1, 1)
    with pytest.raises(ValueError, match="stage"):
        zero.ZeroOptimizer([torch.nn.Parameter(torch.zeros(3))], gopt.Adam, stage=3)


# ------------------------------------------------------------------------------------ the lab's script, tiny size
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("memlab") / "tiny.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--size", "tiny", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "ZeRO over 2 gloo ranks" in proc.stdout and "8B parameters" in proc.stdout  # the summary table
    return json.loads(out.read_text())


def test_tiny_run_has_the_schema_and_records_the_machine(tiny):
    import memory_accounting as lab

    lab.check_schema(tiny)
    assert tiny["size"] == "tiny" and tiny["device"].endswith(" cores") and tiny["measured_on"] == "cpu"


def test_tiny_run_zero_stages_shard_and_train(tiny):
    z = tiny["sections"]["zero"]
    assert z["world"] == 2 and len(z["ranks"]) == 2
    W = z["weights"]
    expect = dict(zero1=3.0, zero2=2.5, zero3=2.0, fsdp2_keep=2.0)  # Adam: W + G + S/2, W + (G + S)/2, (W+G+S)/2
    for st, units in expect.items():
        pred = z["predicted"][st]
        for rank in z["ranks"]:
            m = rank[st]["measured"]
            assert abs(m["at_rest"] - pred["at_rest"]) <= 64, (st, m["at_rest"], pred["at_rest"])
            # Adam's state share is W in every stage, plus the 4-byte step count of each parameter tensor the
            # rank holds (kept as torch.optim keeps it): the prediction's state beyond W
            counters = pred["state"] - W
            assert 0 <= counters <= 4 * 64
            assert abs(m["at_rest"] - pred["buffers"] - pred.get("bucket", 0) - units * W - counters) <= 64
            if st in ("zero1", "zero2"):  # at this shape (f = 2V, 2 sequences a rank) the MLP's backward temporaries
                # outgrow the loss's 2eTV by eTV: 1.4% of the peak; the notebook's shape is exact
                assert abs(m["peak"] - pred["peak"]) <= 0.02 * pred["peak"], st
            torch.testing.assert_close(torch.tensor(rank[st]["losses"]), torch.tensor(z["reference"]["losses"]),
                                       rtol=3e-5, atol=0)
    assert z["reference"]["losses"][-1] < z["reference"]["losses"][0]


def test_tiny_run_state_and_lost_updates(tiny):
    s = tiny["sections"]
    for name, row in s["peaks"]["rows"].items():
        assert row["state_measured"] == row["predicted"]["state"], name
        if row["measured"]["peak_phase"] == "backward":
            assert abs(row["measured"]["peak"] / row["predicted"]["peak"] - 1) <= 1e-3, name
    assert s["peaks"]["rows"]["Adam8bit"]["state_measured"] == s["peaks"]["rows"]["Adam8bit"]["state_formula"]
    assert s["adam8bit"]["adam8bit"]["state"] == s["adam8bit"]["formula_state"] == s["adam8bit"]["predicted_state"]
    toy = s["bf16"]["toy"]
    assert toy["bf16"]["progress"] == 0.0 and toy["one_minus"] == 1.0
    assert toy["kahan"]["progress"] > 0.95 * toy["fp32"]["progress"]
    assert s["accounting"]["standard"]["total"] == 128e9 and s["accounting"]["bf16_moments"]["total"] == 96e9


# ------------------------------------------------------------------------------------ stored results
def test_stored_results_have_the_schema():
    import memory_accounting as lab

    stored = sorted((ROOT / "labs" / "results").glob("memory-accounting-*.json"))
    for path in stored:
        res = lab.check_schema(json.loads(path.read_text()))
        assert path == lab.path_for(res["size"], res["mode"], res["world"])
        if res["size"] == "full":
            assert res["measured_on"] in ("cuda", "cpu") and res["device"]


def test_schema_check_names_what_is_missing(tiny):
    import memory_accounting as lab

    broken = copy.deepcopy(tiny)
    del broken["sections"]["zero"]["ranks"]
    with pytest.raises(ValueError, match="ranks"):
        lab.check_schema(broken)
    broken = copy.deepcopy(tiny)
    del broken["date"]
    with pytest.raises(ValueError, match="date"):
        lab.check_schema(broken)
    broken = copy.deepcopy(tiny)
    broken["sections"]["peaks"]["rows"].pop("Lion")
    with pytest.raises(ValueError, match="rows"):
        lab.check_schema(broken)
