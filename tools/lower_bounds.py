"""Print the requirements that pin every dependency of gdlab at its lower bound in pyproject.toml.

`make oldest` installs exactly these into a fresh virtual environment and runs the tests there, so a lower bound in
pyproject.toml is a version that was run, not a guess. With ``--extras`` the optional groups named are included (all
of them by default); with ``--tools`` the test tools follow, at the versions requirements.txt pins.

    python tools/lower_bounds.py                 # numpy==..., scipy==..., torch==..., ...
    python tools/lower_bounds.py --tools         # and pytest, nbval, ... as in requirements.txt
    python tools/lower_bounds.py --check         # in the environment: exactly these installed, torch without CUDA
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: what the unit tests and the notebooks need besides gdlab's own dependencies: the test runners; torch's optimizer
#: test database (expecttest); the book's extension and the Colab edition's writer (Jupyter Book and its extensions:
#: sphinx, markdown-it, pybtex with latexcodec); the notebook formatter (ruff); the grader (nbgrader, with the
#: notebook and JupyterLab releases requirements.txt pins beside it); packaging (build, twine)
TEST_TOOLS = ("pytest", "pytest-xdist", "nbval", "ipykernel", "nbformat", "nbclient", "pytorch_optimizer", "expecttest",
              "jupyter-book", "sphinx-proof", "sphinx-exercise", "sphinxcontrib-bibtex", "ruff", "nbgrader", "notebook",
              "jupyterlab", "build", "twine")
_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*)$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lower_bound(requirement: str) -> str:
    """``name==V`` for a requirement written ``name>=V`` (optionally with an upper bound after a comma)."""
    m = _SPEC.match(requirement)
    if not m:
        raise ValueError(f"Invalid requirement: requirement={requirement!r}")
    name, spec = m.group(1), m.group(3)
    lows = re.findall(r">=\s*([0-9][^,;\s]*)", spec)
    if len(lows) != 1:
        raise ValueError(f"requirement {requirement!r} has no single lower bound '>=V' (pyproject.toml must give one)")
    return f"{name}=={lows[0]}"


def bounds(extras: list[str] | None = None, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = project.get("optional-dependencies", {})
    groups = list(optional) if extras is None else extras
    unknown = [g for g in groups if g not in optional]
    if unknown:
        raise ValueError(f"Invalid extras: {unknown} (pyproject.toml has {sorted(optional)})")
    out, seen = [], set()
    for req in [*project["dependencies"], *(r for g in groups for r in optional[g])]:
        pin = lower_bound(req)
        key = _norm(pin.split("==")[0])
        if key not in seen:
            seen.add(key)
            out.append(pin)
    return out


def tool_pins(requirements: Path = ROOT / "requirements.txt") -> list[str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            pins[_norm(line.split("==")[0])] = line
    missing = [t for t in TEST_TOOLS if _norm(t) not in pins]
    if missing:
        raise ValueError(f"requirements.txt pins no version of {missing}")
    return [pins[_norm(t)] for t in TEST_TOOLS]


def check(pins: list[str]) -> list[str]:
    """What is wrong with this environment: a dependency not at its pinned version, a CUDA build of torch, or CUDA
    packages pulled in beside it (the oldest run is a CPU run)."""
    from importlib import metadata

    problems = []
    for pin in pins:
        name, want = pin.split("==")
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (expected {want})")
            continue
        if got.split("+")[0] != want:
            problems.append(f"{name} {got} is installed, expected {want}")
    cuda = sorted(d.metadata["Name"] for d in metadata.distributions()
                  if _norm(d.metadata["Name"] or "").startswith(("nvidia-", "cuda-", "triton")))
    if cuda:
        problems.append(f"CUDA packages were installed: {', '.join(cuda)}")
    import torch

    if torch.version.cuda is not None:
        problems.append(f"torch {torch.__version__} is a CUDA {torch.version.cuda} build, expected the CPU build")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Print gdlab's dependencies pinned at their lower bounds.")
    ap.add_argument("--extras", nargs="*", default=None, help="optional groups to include (default: all)")
    ap.add_argument("--tools", action="store_true", help="add the test tools at requirements.txt's pins")
    ap.add_argument("--check", action="store_true",
                    help="check that this environment holds exactly the lower bounds, with the CPU build of torch")
    a = ap.parse_args(argv)
    lines = bounds(a.extras) + (tool_pins() if a.tools else [])
    if a.check:
        problems = check(bounds(a.extras))
        for line in problems:
            print(f"lower bounds: {line}", file=sys.stderr)
        if not problems:
            print("lower bounds: " + ", ".join(bounds(a.extras)))
        return 1 if problems else 0
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
