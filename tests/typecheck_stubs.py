"""mypy against the optimizer stubs (`make typecheck`, run by .ci/run after make test: mypy reads torch's own
annotations, 30 s to 3 min on 2 cores). A user script with right calls must pass; each wrong call must be one error.

The folder holding `gdlab/` is put on MYPYPATH (the editable install's import hook is invisible to mypy) and
imports outside the script are followed silently, so only the script's own lines can be reported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''\
import torch
import gdlab.optim
from gdlab.optim import numpy as gnp

model = torch.nn.Linear(3, 2)
opt = gdlab.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95))
gdlab.optim.SGD(model.parameters(), 0.1, 0.9)
gdlab.optim.Muon(model.named_parameters(), lr=0.02, nonfinite="skip", track_stats=True)
gdlab.optim.Adam(model.parameters(), lr=torch.tensor(1e-3), compile=False, bf16_update="kahan")
opt.step()
gnp.Adam(lr=0.1, betas=(0.9, 0.99))
'''

# each line is a call mypy must refuse, with the words of the error it must give
BAD = {
    'gdlab.optim.AdamW(model.parameters(), lr="x")': 'Argument "lr" to "AdamW" has incompatible type "str"',
    "gdlab.optim.AdamW(model.parameters(), betas=(0.9,))": 'Argument "betas" to "AdamW" has incompatible type',
    'gdlab.optim.SGD(model.parameters(), nonfinite="ignore")': 'Argument "nonfinite" to "SGD"',
    'gnp.Adam(lr="x")': 'Argument "lr" to "Adam" has incompatible type "str"',
    "gdlab.optim.Adam(model.parameters(), bettas=(0.9, 0.99))": 'Unexpected keyword argument "bettas"',
}


def _mypy(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(text)
    env = dict(os.environ, MYPYPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary",
                           "--cache-dir", str(ROOT / "artifacts" / "mypy-cache"), str(script)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


def test_right_calls_pass_and_each_wrong_call_is_an_error(tmp_path):
    good = _mypy(tmp_path, GOOD)
    assert good.returncode == 0, good.stdout + good.stderr
    header = "\n".join(GOOD.splitlines()[:5]) + "\n"
    bad = _mypy(tmp_path, header + "\n".join(BAD) + "\n")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    errors = [line for line in bad.stdout.splitlines() if ": error:" in line]
    lines = {int(re.match(r".*?:(\d+):", e).group(1)) for e in errors}
    assert lines == set(range(6, 6 + len(BAD))), bad.stdout  # one error on each wrong call, none elsewhere
    for i, want in enumerate(BAD.values()):
        assert any(e.split(":")[1] == str(6 + i) and want in e for e in errors), (want, bad.stdout)
