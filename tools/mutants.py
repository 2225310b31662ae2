"""The mutation suite: plausible wrong formulas put into the code a chapter relies on, each of which must turn that
chapter red.

Usage: ``python tools/mutants.py [--jobs 2] [--only SUBSTRING] [--list]``.

The table lives in ``tests/mutations/*.py``: each module defines ``MUTATIONS``, a list of :class:`Mutation`
(the notebook, the file to change, the exact text to replace, its replacement, and why the wrong formula is a
plausible one). For every mutation the runner copies the repository (without ``.venv``, ``.git`` and build outputs)
into a scratch folder, makes the one replacement there, and runs the notebook top to bottom in a fresh kernel whose
``PYTHONPATH`` puts the mutated copy first. The outcome is

* ``killed``: a cell raised an assertion (``AssertionError`` or ``gdlab.checks.CheckFailed``), the chapter's checks
  caught the wrong formula;
* ``survived``: every cell ran: the chapter cannot tell the wrong formula from the right one;
* ``crashed``: a cell raised another exception (a ``NameError``, a ``ValueError`` ...): the mutation broke the code
  rather than the mathematics, which proves nothing about the checks;
* ``stale``: the text to replace is not in the file exactly once (the table must follow the code).

Only ``killed`` passes. The command prints one line per mutation, writes them to ``artifacts/mutants.txt``, and exits
non-zero unless every mutation was killed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = "tests/mutations"
# not copied into the scratch tree: environments, history and build outputs
SKIP = {".venv", ".git", "_build", "student", "artifacts", "_vendor", "__pycache__", ".ipynb_checkpoints",
        "screenshots"}
ASSERTIONS = ("AssertionError", "CheckFailed")


@dataclass(frozen=True)
class Mutation:
    """One wrong formula: in ``file``, the text ``old`` (found exactly once) becomes ``new``; ``notebook`` must fail."""

    notebook: str
    file: str
    old: str
    new: str
    why: str

    def __post_init__(self):
        if self.old == self.new:
            raise ValueError(f"mutation {self.why!r}: old and new are the same text")
        if not self.why:
            raise ValueError("a mutation needs its reason: why=...")


@dataclass
class Outcome:
    mutation: Mutation
    status: str  # killed | survived | crashed | stale
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{self.status:8s} {self.seconds:5.1f}s  {self.mutation.notebook}  {self.mutation.why}  [{self.detail}]"


def load_table(root: Path = ROOT) -> list[Mutation]:
    """Every mutation of ``tests/mutations/*.py``, in file order."""
    out: list[Mutation] = []
    for path in sorted((root / TABLE).glob("*.py")):
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"gdlab_mutations_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault("mutants", sys.modules[__name__])
        spec.loader.exec_module(module)
        out.extend(module.MUTATIONS)
    return out


def occurrences(m: Mutation, root: Path = ROOT) -> int:
    path = root / m.file
    return path.read_text().count(m.old) if path.is_file() else 0


def _copy_tree(root: Path, dest: Path) -> None:
    def ignore(directory, names):
        return [n for n in names if n in SKIP]

    shutil.copytree(root, dest, ignore=ignore, symlinks=True)


def run_one(m: Mutation, root: Path = ROOT, timeout: int = 300) -> Outcome:
    """Apply ``m`` to a scratch copy of ``root`` and run its notebook there."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    start = time.time()
    if occurrences(m, root) != 1:
        return Outcome(m, "stale", f"the text to replace occurs {occurrences(m, root)} times in {m.file}", 0.0)
    with tempfile.TemporaryDirectory(prefix="gdlab-mutant-") as scratch:
        tree = Path(scratch) / "tree"
        _copy_tree(root, tree)
        target = tree / m.file
        target.write_text(target.read_text().replace(m.old, m.new, 1))
        nb_path = tree / m.notebook
        nb = nbformat.read(nb_path, as_version=4)
        # first, prove that the kernel imports the mutated copy and not the installed package
        guard = nbformat.v4.new_code_cell(
            "import gdlab as _g, os as _os\n"
            f"assert _os.path.realpath(_g.__file__).startswith({str(tree.resolve())!r}), _g.__file__\n"
            "del _g, _os")
        nb.cells.insert(0, guard)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                   OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(nb_path.parent)}})
        try:
            client.execute(env=env)
        except CellExecutionError as err:
            index = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and any(
                o.get("output_type") == "error" for o in c.get("outputs", []))), None)
            where = f"cell {index - 1}" if index is not None else "a cell"
            message = (str(err.evalue) or "").strip().splitlines()
            summary = f"{err.ename} in {where}" + (f": {message[0][:120]}" if message else "")
            if index == 0:
                return Outcome(m, "crashed", "the mutated copy was not the one imported: " + summary, time.time() - start)
            status = "killed" if err.ename in ASSERTIONS else "crashed"
            return Outcome(m, status, summary, time.time() - start)
        except CellTimeoutError:
            return Outcome(m, "crashed", f"a cell ran past {timeout} s", time.time() - start)
        return Outcome(m, "survived", "every cell ran", time.time() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (one kernel each)")
    parser.add_argument("--only", default="", help="run only the mutations whose notebook path contains this text")
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    parser.add_argument("--out", default="artifacts/mutants.txt", help="where to write the outcome lines")
    args = parser.parse_args(argv)
    table = [m for m in load_table() if args.only in m.notebook]
    if args.list:
        for m in table:
            print(f"{m.notebook}  {m.file}  {m.why}")
        return 0
    if not table:
        print("no mutation matches", file=sys.stderr)
        return 2
    print(f"==> {len(table)} mutations, {args.jobs} at a time")
    outcomes = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for outcome in pool.map(run_one, table):
            print(outcome.line(), flush=True)
            outcomes.append(outcome)
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(o.line() + "\n" for o in outcomes))
    bad = [o for o in outcomes if o.status != "killed"]
    per_nb: dict[str, int] = {}
    for o in outcomes:
        per_nb[o.mutation.notebook] = per_nb.get(o.mutation.notebook, 0) + (o.status == "killed")
    print(f"==> killed {len(outcomes) - len(bad)} of {len(outcomes)} mutations over {len(per_nb)} notebooks")
    for o in bad:
        print(f"NOT KILLED: {o.line()}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
