"""The mutation suite (tools/mutants.py, table in tests/mutations/): the runner tells a killed mutant from one that
survived or merely crashed, and the table covers every chapter and lab with mutations that still apply."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import mutants  # noqa: E402

TABLE = mutants.load_table()
CHAPTERS = sorted(p.relative_to(ROOT).as_posix() for d in ("book", "labs") for p in (ROOT / d).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and "reference" not in p.parts)


@pytest.mark.parametrize("notebook", CHAPTERS)
def test_every_chapter_and_lab_has_three_mutations(notebook):
    mine = [m for m in TABLE if m.notebook == notebook]
    assert len(mine) >= 3, f"{notebook} has {len(mine)} mutations in tests/mutations/; it needs at least 3"
    assert len({m.why for m in mine}) == len(mine), "two mutations of one chapter with the same reason"


@pytest.mark.parametrize("m", TABLE, ids=[f"{m.notebook.split('/')[-1]}: {m.why}" for m in TABLE])
def test_each_mutation_applies_to_the_code_as_it_is(m):
    assert (ROOT / m.notebook).is_file(), f"no notebook {m.notebook}"
    assert m.file.startswith(("gdlab/", "labs/")), f"{m.file}: mutations change the code a chapter relies on"
    assert mutants.occurrences(m) == 1, f"the text to replace occurs {mutants.occurrences(m)} times in {m.file}"


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "gdlab").mkdir()
    (tmp_path / "gdlab" / "__init__.py").write_text("")
    (tmp_path / "gdlab" / "rates.py").write_text(
        "def rate(kappa):\n    # the optimal factor\n    return (kappa - 1) / (kappa + 1)\n")
    (tmp_path / "book").mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Rates"),
        nbformat.v4.new_code_cell("from gdlab.rates import rate\nq = rate(3.0)"),
        nbformat.v4.new_code_cell("assert abs(q - 0.5) < 1e-12, q"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "book" / "rates.ipynb")
    return tmp_path


def test_the_runner_tells_killed_from_survived_crashed_and_stale(tmp_path):
    root = _tree(tmp_path)
    nb, f = "book/rates.ipynb", "gdlab/rates.py"
    cases = {
        "killed": mutants.Mutation(nb, f, "return (kappa - 1) / (kappa + 1)", "return 1 - 1 / kappa", "1 - 1/kappa"),
        "survived": mutants.Mutation(nb, f, "# the optimal factor", "# a comment", "a comment only"),
        "crashed": mutants.Mutation(nb, f, "return (kappa - 1)", "return (kapa - 1)", "a typo, not a formula"),
        "stale": mutants.Mutation(nb, f, "return kappa ** 2", "return kappa", "text that is not there"),
    }
    for expected, m in cases.items():
        outcome = mutants.run_one(m, root=root)
        assert outcome.status == expected, (expected, outcome.line())
    # the scratch copy took the change, the repository did not
    assert "(kappa - 1) / (kappa + 1)" in (root / f).read_text()
