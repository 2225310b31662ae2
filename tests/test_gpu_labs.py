"""`make gpu-labs` runs both labs' scripts; at GPU_LABS_SIZE=tiny the same commands run on a CPU in seconds and write
results files that follow each lab's schema, with the machine they ran on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "labs"))


def test_make_gpu_labs_at_tiny_size(tmp_path):
    import linear_scaling

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(["make", "--no-print-directory", "gpu-labs", "GPU_LABS_SIZE=tiny", f"GPU_LABS_OUT={tmp_path}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    ls = linear_scaling.load("tiny", tmp_path / "linear-scaling-tiny-train-w1.json")
    assert ls["size"] == "tiny" and "cores" in ls["device"] and ls["date"]
    mem = json.loads((tmp_path / "memory-accounting-tiny-lab-w1.json").read_text())
    assert mem["size"] == "tiny" and mem["device"] and mem["date"]
    assert "B_max" in proc.stdout  # the linear-scaling summary table was printed
