"""Data parallelism: DDP over 2 CPU workers equals one process with twice the batch; FSDP2 halves bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gdlab import distributed as gdist

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "labs" / "linear_scaling.py"
sys.path.insert(0, str(ROOT / "labs"))


def _torchrun(tmp_path, *args, timeout=120):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(SCRIPT), *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_ddp_two_workers_equal_one_process_with_double_batch(tmp_path, monkeypatch):
    import linear_scaling as lab

    out = tmp_path / "ddp.pt"
    n, steps = 16, 12
    _torchrun(tmp_path, "--mode", "ddp-check", "--out", str(out), "--per-worker-batch", str(n), "--steps", str(steps))
    ddp = torch.load(out)
    assert ddp.pop("_world") == 2
    # the same run in this process, one worker, global batch 2n
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    single = tmp_path / "single.pt"
    lab.ddp_check(str(single), per_worker_batch=2 * n, steps=steps)
    one = torch.load(single)
    assert one.pop("_world") == 1
    init = lab.make_model(32, seed=0, dtype=torch.float64).state_dict()
    for k, w in one.items():
        assert w.dtype == torch.float64
        assert torch.allclose(ddp[k], w, rtol=1e-10, atol=1e-12), (k, float((ddp[k] - w).abs().max()))
        assert not torch.allclose(w, init[k])  # training moved the weights
    # and per-worker batch n alone (no averaging across workers) would differ
    half = tmp_path / "half.pt"
    lab.ddp_check(str(half), per_worker_batch=n, steps=steps)
    other = torch.load(half)
    assert max(float((other[k] - one[k]).abs().max()) for k in one) > 1e-6


def test_fsdp2_halves_parameter_and_state_bytes(tmp_path):
    out = tmp_path / "fsdp.json"
    _torchrun(tmp_path, "--mode", "fsdp-memory", "--out", str(out))
    rows = json.loads(out.read_text())
    assert [r["rank"] for r in rows] == [0, 1]
    for r in rows:
        assert r["full_state"] == 2 * r["full_params"]          # Adam: m and v, fp32
        assert 2 * r["shard_params"] == r["full_params"]        # ZeRO-3: parameters / N_d
        assert 2 * r["shard_state"] == r["full_state"]          # and the optimizer state / N_d
        pred = r["predicted"]
        assert pred["weights"] == r["shard_params"] and pred["state"] == r["shard_state"]


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
