"""Consecutive 2-rank gloo DDP jobs under torchrun, each ended by :func:`gdlab.distributed.close`: none may hang or
leave a process behind.

One job (``--job``, run by torchrun as each worker): join the group through :func:`gdlab.distributed.init`, take a
few DDP steps of a small linear model on this worker's shard of a fixed batch, check that the replicas agree, leave
through :func:`gdlab.distributed.close`, and only then print ``rank R of N closed``, so a line from every rank means
every rank came out of the barrier and ``destroy_process_group``.

The driver (``python tests/ddp_teardown.py --runs 10``) starts ``torchrun --standalone --nproc_per_node=2`` on that
job ``--runs`` times, one after another, each under ``--job-timeout`` seconds, with an environment variable that marks every process it starts. It
fails, naming the run, when a job hangs (its processes are then killed), exits non-zero, misses a rank's line, or
leaves any marked process running after torchrun has exited. ``make ddp-teardown`` first checks that it catches a rank that never
reaches ``close()`` (the barrier's timeout ends the job) and a process left behind, then runs it ten times;
``tests/test_distributed.py`` runs one job.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent


def job(group_timeout: float, fault: str | None = None) -> str:
    import torch

    from gdlab import distributed as gdist

    world = gdist.init(device="cpu", timeout=group_timeout)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    y = x.sum(1, keepdim=True)
    idx = gdist.shard(torch.arange(16), world)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp(x[idx]), y[idx]).backward()
        opt.step()
    gdist.check_replicas(model, world)
    if fault == "linger" and world.rank == 1:  # a process of the job's session that outlives it
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if fault == "hang" and world.rank == 1:  # never reaches close(): rank 0 waits at the barrier
        time.sleep(3600)
    rank, size = world.rank, world.size
    gdist.close(world)
    if torch.distributed.is_initialized():
        raise RuntimeError(f"rank {rank}: the process group is still initialised after close()")
    return f"rank {rank} of {size} closed"


def _marked(token: str) -> list[int]:
    """Live processes whose environment holds ``GDLAB_TEARDOWN_RUN=token`` (every process a job starts inherits
    it, whatever its session or parent becomes)."""
    mark = f"GDLAB_TEARDOWN_RUN={token}".encode()
    out = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if mark in (proc / "environ").read_bytes().split(b"\0") and \
                    (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                out.append(int(proc.name))
        except OSError:
            continue
    return out


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_one(job_timeout: float, group_timeout: float, fault: str | None = None) -> float:
    """One torchrun job; its seconds. Raises ``RuntimeError`` saying what went wrong."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                                 "MASTER_PORT")}
    token = f"{os.getpid()}-{time.time_ns()}"
    env.update(GDLAB_TEARDOWN_RUN=token, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(HERE), "--job",
           "--group-timeout", str(group_timeout), *(["--fault", fault] if fault else [])]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=job_timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _kill(_marked(token))
        proc.communicate()
        raise RuntimeError(f"hung: the job was still running after {job_timeout:.0f} s (its processes were killed)")
    seconds = time.perf_counter() - t0
    left = _marked(token)
    if left:
        _kill(left)
        raise RuntimeError(f"processes left running after torchrun exited: {left}")
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun exited with {proc.returncode}: {err[-2000:]}")
    # the ranks share torchrun's stdout: their lines may run together ("rank 1 of 2 closedrank 0 of 2 closed")
    closed = sorted(re.findall(r"rank \d+ of \d+ closed", out))
    if closed != ["rank 0 of 2 closed", "rank 1 of 2 closed"]:
        raise RuntimeError(f"expected a 'closed' line from each rank, got {closed}")
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Consecutive 2-rank gloo DDP jobs under torchrun, none of which may "
                                             "hang at teardown or leave a process behind.")
    ap.add_argument("--runs", type=int, default=10, help="jobs to run one after another")
    ap.add_argument("--job-timeout", type=float, default=120.0,
                    help="seconds a job may take before it counts as hung")
    ap.add_argument("--group-timeout", type=float, default=60.0,
                    help="the process group's timeout in seconds (init and the barrier in close)")
    ap.add_argument("--fault", choices=["hang", "linger"], default=None,
                    help="make rank 1 misbehave, to see the check fail")
    ap.add_argument("--check-faults", action="store_true",
                    help="first check that a hung rank (the barrier's timeout ends the job) and a lingering process "
                         "are caught")
    ap.add_argument("--job", action="store_true", help="run as one torchrun worker")
    a = ap.parse_args(argv)
    if a.job:
        print(job(a.group_timeout, a.fault), flush=True)
        return 0
    if a.check_faults:
        for fault, group_timeout, expect in (("hang", 5.0, "torchrun exited with"),
                                             ("linger", a.group_timeout, "processes left running")):
            try:
                run_one(a.job_timeout, group_timeout, fault)
            except RuntimeError as e:
                if expect not in str(e):
                    print(f"ddp teardown: --fault {fault} failed otherwise than expected: {e}", file=sys.stderr)
                    return 1
                print(f"ddp teardown: --fault {fault} caught: {str(e)[:120]}")
            else:
                print(f"ddp teardown: --fault {fault} was not caught", file=sys.stderr)
                return 1
    seconds = []
    for i in range(a.runs):
        try:
            seconds.append(run_one(a.job_timeout, a.group_timeout, a.fault))
        except RuntimeError as e:
            print(f"ddp teardown: run {i + 1} of {a.runs}: {e}", file=sys.stderr)
            return 1
    print(json.dumps({"runs": len(seconds), "seconds": [round(s, 2) for s in seconds], "total": round(sum(seconds), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
