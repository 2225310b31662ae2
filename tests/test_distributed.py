"""Data parallelism: DDP over 2 CPU workers equals one process with twice the batch; FSDP2 halves bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gdlab import checks
from gdlab import distributed as gdist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "labs" / "linear_scaling.py"
sys.path.insert(0, str(ROOT / "labs"))
sys.path.insert(0, str(ROOT / "tests"))  # ddp_teardown, the teardown check


def _torchrun(tmp_path, *args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _parity(tmp_path, parallel, dtype, workers, per_worker_batch, steps=30):
    out = tmp_path / f"{parallel}-{dtype}-{workers}.json"
    args = ["--mode", "parity", "--parallel", parallel, "--dtype", dtype, "--steps", str(steps),
            "--per-worker-batch", str(per_worker_batch), "--out", str(out)]
    if workers == 2:
        _torchrun(tmp_path, *args)
    else:
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, env=dict(env, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)))
        assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def _flat(row):
    return np.concatenate([np.asarray(v) for _, v in sorted(row["weights"].items())])


def test_ddp_two_workers_take_exactly_the_one_process_step_in_float64(tmp_path):
    """Two gloo workers with batch n each, averaged by DDP, against one process with batch 2n: in float64 the only
    difference is the order of one sum per gradient entry, so the weights agree to a few ulps after 30 steps."""
    n = 16
    ddp = _parity(tmp_path, "ddp", "float64", 2, n)
    one = _parity(tmp_path, "ddp", "float64", 1, 2 * n)
    assert ddp["world"] == 2 and ddp["parallel"] == "ddp" and one["world"] == 1
    checks.close(_flat(ddp), _flat(one), checks.rounding(64, 4, why="an ulp per reduction, 30 steps"),
                 what="DDP weights against one process")
    assert one["step_loss"][-1] < 0.9 * one["step_loss"][0]  # it trained
    # without the averaging across workers (each worker alone, batch n) the run is another one
    alone = _parity(tmp_path, "ddp", "float64", 1, n)
    assert np.max(np.abs(_flat(alone) - _flat(one))) > 1e-4


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_data_parallel_float32_loss_trajectory_matches_one_process(tmp_path, parallel):
    """DDP and FSDP2 (fully_shard over 2 gloo ranks) in float32: the per-step loss of the global batch equals the
    one-process run with the doubled batch within float32 reduction noise (measured here: about one ulp)."""
    n = 16
    dp = _parity(tmp_path, parallel, "float32", 2, n)
    one = _parity(tmp_path, parallel, "float32", 1, 2 * n)
    assert dp["parallel"] == parallel and len(dp["step_loss"]) == len(one["step_loss"]) == 30
    tol = checks.rounding(32, 8, np.float32, why="a reordered sum per gradient entry, amplified over 30 steps")
    checks.close(dp["step_loss"], one["step_loss"], tol, what=f"{parallel} loss trajectory against one process")
    checks.close(_flat(dp), _flat(one), tol, what=f"{parallel} final weights against one process")
    assert one["step_loss"][-1] < 0.9 * one["step_loss"][0]


def test_fsdp2_halves_parameter_and_state_bytes(tmp_path):
    out = tmp_path / "fsdp.json"
    _torchrun(tmp_path, "--mode", "fsdp-memory", "--out", str(out))
    rows = json.loads(out.read_text())
    assert [r["rank"] for r in rows] == [0, 1]
    for r in rows:
        assert r["full_state"] == 2 * r["full_params"]          # Adam: m and v, fp32
        assert 2 * r["shard_params"] == r["full_params"]        # ZeRO-3: parameters / N_d
        assert 2 * r["shard_state"] == r["full_state"]          # and the optimizer state / N_d
        assert r["shard_counters"] == r["counters"] > 0         # every rank keeps each tensor's step count
        pred = r["predicted"]
        assert pred["weights"] == r["shard_params"] and pred["state"] == r["shard_state"] + r["shard_counters"]


def test_sharding_helpers_single_process():
    world = gdist.World(0, 1, 0, torch.device("cpu"), None)
    assert not world.distributed and world.main
    b1 = gdist.global_batches(100, 32, seed=3, epoch=0)
    b2 = gdist.global_batches(100, 32, seed=3, epoch=0)
    assert len(b1) == 3 and all(torch.equal(a, b) for a, b in zip(b1, b2))
    assert not torch.equal(b1[0], gdist.global_batches(100, 32, seed=3, epoch=1)[0])
    two = [gdist.World(r, 2, r, torch.device("cpu"), "gloo") for r in range(2)]
    parts = [gdist.shard(b1[0], w) for w in two]
    assert torch.equal(torch.cat(parts), b1[0])
    with pytest.raises(ValueError, match="world size"):
        gdist.shard(torch.arange(5), two[0])
    with pytest.raises(ValueError, match="batch_size"):
        gdist.global_batches(10, 11, 0, 0)
    x = torch.tensor([1.0, 2.0])
    assert torch.equal(gdist.all_reduce_mean(x, world), x)
    m = torch.nn.Linear(2, 2)
    assert gdist.check_replicas(m, world) == 0.0
    with torch.no_grad():
        m.weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="weight"):
        gdist.check_replicas(m, world)
    gdist.settle(0.0)  # no process group: returns at once
    for bad in (-1.0, float("nan"), "1", True):
        with pytest.raises(ValueError, match="seconds"):
            gdist.settle(bad)


def test_lab_schedule_and_validation():
    import linear_scaling as lab

    lrs = [lab.learning_rate(t, 90, peak=1.0, base=0.1, warmup=10) for t in range(90)]
    assert lrs[0] == pytest.approx(0.1) and lrs[10] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(lrs[:10], lrs[1:11]))               # gradual warmup rises
    assert lrs[30] == pytest.approx(0.1) and lrs[60] == pytest.approx(0.01) and lrs[80] == pytest.approx(1e-3)
    assert lab.learning_rate(5, 90, 1.0, 0.1, 10, "constant") == 0.1
    assert lab.learning_rate(5, 90, 1.0, 0.1, 10, "none") == 1.0
    with pytest.raises(ValueError, match="kind"):
        lab.learning_rate(0, 10, 1.0, 0.1, 2, "cosine")
    with pytest.raises(ValueError, match="size"):
        lab.resolve_size("huge")


def test_lab_rules_and_warmup_in_epochs():
    import linear_scaling as lab

    assert lab.peak_lr("linear+gradual", 4 * lab.BASE_BATCH) == pytest.approx(4 * lab.BASE_LR)
    assert lab.peak_lr("sqrt+gradual", 4 * lab.BASE_BATCH) == pytest.approx(2 * lab.BASE_LR)
    assert lab.peak_lr("none", 4 * lab.BASE_BATCH) == pytest.approx(lab.BASE_LR)
    # a fixed number of epochs is fewer steps at a larger batch (Goyal et al. warm up over 5 epochs)
    assert lab.warmup_steps(5, 32000, 64) == 2500 and lab.warmup_steps(5, 32000, 4096) == 35
    with pytest.raises(ValueError, match="rule"):
        lab.peak_lr("cubic", 64)


def _results(**over):
    import linear_scaling as lab

    rules = {r: {"err": [[0.1, 0.11], [0.1, None]], "loss": [[0.2, 0.2], [0.3, None]],
                 "diverged": [[False, False], [False, True]]} for r in lab.RULES}
    out = dict(size="tiny", mode="train", world=1, device="cpu", date="2026-12-01", batch_sizes=[64, 128],
               seeds=[0, 1], rules=rules, n_test=500)
    out.update(over)
    return out


def test_results_schema_is_checked():
    import linear_scaling as lab

    lab.validate(_results())
    with pytest.raises(ValueError, match="rule 'none'"):
        lab.validate(_results(rules={r: v for r, v in _results()["rules"].items() if r != "none"}))
    bad = _results()
    bad["rules"]["linear+gradual"]["err"][0] = [0.1]
    with pytest.raises(ValueError, match="2 rows of 2 values"):
        lab.validate(bad)
    bad = _results()
    bad["rules"]["sqrt+gradual"]["loss"][1][0] = float("nan")
    with pytest.raises(ValueError, match="holds nan"):
        lab.validate(bad)
    with pytest.raises(ValueError, match="'date' must be a str"):
        lab.validate(_results(date=None))
    with pytest.raises(ValueError, match="'world' must be a int"):
        lab.validate(_results(world=None))
    with pytest.raises(ValueError, match="mode 'train' on world 1"):
        lab.validate(_results(mode="parity"))


@pytest.mark.parametrize("path", sorted((ROOT / "labs" / "results").glob("linear-scaling-*-train-w*.json")),
                         ids=lambda p: p.name)
def test_stored_linear_scaling_results_follow_the_schema(path):
    import linear_scaling as lab

    res = lab.load(path.stem.removeprefix("linear-scaling-").split("-")[0], path)
    assert path.name == lab.result_name("train", res["size"], res["world"])
    assert len(res["seeds"]) >= (3 if res["size"] in ("medium", "full") else 1)
    for rule, entry in res["rules"].items():
        assert entry["lr"] == pytest.approx([lab.peak_lr(rule, b, res["base_lr"], res["base_batch"])
                                             for b in res["batch_sizes"]])


def test_flat_region_reads_the_noise_and_ignores_nothing():
    import linear_scaling as lab

    res = _results()
    fr = lab.flat_region(res)
    assert fr["B_max"] == 64  # the second batch size has a diverged seed: not within noise
    ok = _results()
    for r in lab.RULES:
        ok["rules"][r].update(err=[[0.1, 0.11], [0.105, 0.1]], loss=[[0.2, 0.2], [0.2, 0.2]])
    assert lab.flat_region(ok)["B_max"] == 128


def test_one_ddp_job_closes_cleanly_under_torchrun():
    """One 2-rank gloo DDP job through gdlab.distributed.init/close under torchrun: both ranks report that they left
    the group, torchrun exits 0 within the timeout and no process it started is left (`make ddp-teardown` runs ten,
    and checks that a hung rank and a lingering process are caught)."""
    import ddp_teardown

    ddp_teardown.run_one(job_timeout=240, group_timeout=60)  # raises saying what went wrong
