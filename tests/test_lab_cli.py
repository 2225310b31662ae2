"""The labs' command lines: `--help` describes every option, with its default and examples; a run ends with a
summary table; each mode writes a file of its own by default; the machine is named in the results."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gdlab import distributed as gdist

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "labs"))

LABS = ["linear_scaling", "memory_accounting"]


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return dict(env, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


@pytest.mark.parametrize("name", LABS)
def test_help_describes_every_option(name):
    lab = __import__(name)
    proc = subprocess.run([sys.executable, str(ROOT / "labs" / f"{name}.py"), "--help"], capture_output=True,
                          check=False, text=True, timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # argparse wraps the help text
    options = [a for a in lab.parser()._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert len(options) >= 3
    for action in options:
        flag = action.option_strings[-1]
        assert action.help and len(action.help.split()) >= 3, f"{flag} has no description"
        assert flag in text
        if action.default is not None:
            assert f"(default: {action.default})" in text, f"{flag}: its default is not shown"
    assert "examples:" in proc.stdout and proc.stdout.count(f"labs/{name}.py --") >= 2
    assert "labs/results/" in text  # where the results go


def test_tiny_sweep_prints_the_summary_table_and_records_the_machine(tmp_path, monkeypatch, capsys):
    import linear_scaling as lab

    monkeypatch.setattr(lab, "RESULTS", tmp_path)
    lab.main(["--size", "tiny", "--jobs", "1"])
    out = capsys.readouterr().out
    path = tmp_path / "linear-scaling-tiny-train-w1.json"
    assert f"saved {path}" in out
    res = lab.load("tiny", path)
    assert res["mode"] == "train" and res["world"] == 1 and res["device"] == gdist.device_name("cpu")
    assert len(res["seeds"]) == 1  # one seed: the table prints each value without a spread
    table = out[out.index("test error, % (one seed, n = 1: no spread)"):]
    assert "±" not in table
    header = table.splitlines()[1].split()
    assert header == ["B", "seeds", *lab.RULES]
    rows = {int(line.split()[0]): line for line in table.splitlines()[2:] if re.match(r"\s*\d+\s", line)}
    assert sorted(rows) == res["batch_sizes"]
    for b, line in rows.items():
        i = res["batch_sizes"].index(b)
        cells = re.findall(r"(\d+\.\d\d)[* ]", line + " ")
        assert len(cells) == len(lab.RULES) and int(line.split()[1]) == len(res["seeds"])
        for rule, mean in zip(lab.RULES, cells):
            st = lab.stats(res, rule)[i]
            assert float(mean) == pytest.approx(100 * st.mean, abs=0.005)  # printed to two decimals
    assert f"B_max (linear+gradual within noise of B_0) = {lab.flat_region(res)['B_max']}" in out


def test_two_modes_write_two_files(tmp_path, monkeypatch, capsys):
    import linear_scaling as lab

    monkeypatch.setattr(lab, "RESULTS", tmp_path)
    lab.main(["--mode", "parity", "--steps", "3", "--dtype", "float32"])
    lab.main(["--mode", "parity", "--steps", "3"])
    out = capsys.readouterr().out
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["linear-scaling-parity-none-float32-w1.json", "linear-scaling-parity-none-float64-w1.json"]
    assert out.count("parity run, none over 1 worker(s)") == 2
    row = json.loads((tmp_path / names[1]).read_text())
    assert row["mode"] == "parity" and row["world"] == 1 and row["steps"] == 3 == len(row["step_loss"])
    assert row["device"] == gdist.device_name("cpu")
    # the sweep, the parity runs and the FSDP-memory runs never share a default name, at any world size
    names = {lab.result_name("train", size) for size in lab.SIZES}
    names |= {lab.result_name("parity", world=w, parallel=p, dtype=d)
              for w in (1, 2, 4) for p in ("none", "ddp", "fsdp") for d in ("float32", "float64")}
    names |= {lab.result_name("fsdp-memory", world=w) for w in (2, 4)}
    assert len(names) == len(lab.SIZES) + 18 + 2
    with pytest.raises(ValueError, match="mode"):
        lab.result_name("sweep")


def test_bad_arguments_are_refused_with_the_option_named(capsys):
    import linear_scaling as lab

    with pytest.raises(SystemExit):
        lab.main(["--mode", "parity", "--steps", "0"])
    assert "--steps must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        lab.main(["--size", "huge"])
    assert "--size" in capsys.readouterr().err


def test_memory_lab_names_its_results_by_size_mode_and_world():
    import memory_accounting as lab

    assert lab.path_for("tiny") == lab.RESULTS / "memory-accounting-tiny-lab-w1.json"
    assert lab.path_for("full").name == "memory-accounting-full-lab-w1.json"
    with pytest.raises(ValueError, match="size"):
        lab.path_for("huge")


def test_cpu_model_reads_the_os_and_says_when_it_cannot(monkeypatch, tmp_path):
    import io

    def cpuinfo(text):
        return lambda *a, **k: io.StringIO(text)

    monkeypatch.setattr(gdist.platform, "system", lambda: "Linux")
    monkeypatch.setattr(gdist, "open", cpuinfo("processor\t: 0\nmodel\t\t: 1\nmodel name\t: Some CPU 9000\n"),
                        raising=False)
    assert gdist.cpu_model() == "Some CPU 9000"
    assert gdist.device_name("cpu") == f"Some CPU 9000, {os.cpu_count()} cores"
    # an ARM board: no "model name", its hardware line instead
    monkeypatch.setattr(gdist, "open", cpuinfo("processor\t: 0\nCPU part\t: 0xd08\nHardware\t: BCM2835\n"),
                        raising=False)
    assert gdist.cpu_model() == "BCM2835"

    def no_proc(*a, **k):
        raise OSError("no /proc")

    monkeypatch.setattr(gdist, "open", no_proc, raising=False)
    monkeypatch.setattr(gdist.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(gdist.platform, "processor", lambda: "x86_64")
    assert gdist.cpu_model() == "x86_64 CPU (model unknown)"  # never the bare architecture as if it were a model
    monkeypatch.setattr(gdist.platform, "processor", lambda: "Intel64 Family 6 Model 85 Stepping 7")
    assert gdist.cpu_model() == "Intel64 Family 6 Model 85 Stepping 7"


def test_device_name_of_cuda_without_cuda_is_an_error(monkeypatch):
    monkeypatch.setattr(gdist.torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        gdist.device_name("cuda")
