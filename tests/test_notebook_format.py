"""The code cells of every notebook fit the book's code column.

The line length is ``[tool.ruff] line-length`` in pyproject.toml: the number of characters of the theme's monospace
font that a code cell of the content column shows at the browser test's 1280 px window
(``tests/browser/test_site.py`` checks the built pages themselves). Every notebook is formatted by ``ruff format`` at
that length, and no line of a code cell the page shows is longer (ruff does not break comments and strings: they are
broken by hand). Cells the page hides (tagged ``remove-cell`` or ``remove-input``, such as the Colab install cell)
are left out of the length check. nbval's options are cell tags, never ``# NBVAL_...`` comments, which the page would
show.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for d in ("book", "labs") for p in (ROOT / d).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts
)
WIDTH = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]
HIDDEN = {"remove-cell", "remove-input"}
NBVAL_COMMENT = re.compile(r"^\s*#\s*(NBVAL|PYTEST_VALIDATE)_[A-Z_]+", re.M)


def too_long(nb, width: int = WIDTH) -> list[str]:
    """Lines longer than ``width`` in the code cells the page shows, as 'cell i: line'."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or HIDDEN & set(cell.get("metadata", {}).get("tags", [])):
            continue
        found += [f"cell {i}: {line}" for line in cell.source.splitlines() if len(line) > width]
    return found


def nbval_comments(nb) -> list[str]:
    return [f"cell {i}: {m.group(0).strip()}" for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for m in NBVAL_COMMENT.finditer(cell.source)]


def ruff_check(paths, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", "format", "--check", *extra, *map(str, paths)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_width_is_the_measured_one():
    assert 60 <= WIDTH <= 100, f"line-length {WIDTH}: not a width a code column shows"


def test_every_notebook_is_formatted_by_ruff():
    assert NOTEBOOKS
    proc = ruff_check(NOTEBOOKS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_no_shown_code_line_is_wider_than_the_column(path):
    nb = nbformat.read(path, as_version=4)
    assert too_long(nb) == []
    assert nbval_comments(nb) == [], "use nbval's cell tags (nbval-ignore-output, nbval-skip), not comments"


def test_the_checks_catch_a_long_line_a_comment_marker_and_unformatted_code(tmp_path):
    long_line = "x = " + "1 + " * WIDTH + "1"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("y = 1\n" + long_line),
        nbformat.v4.new_code_cell("# NBVAL_IGNORE_OUTPUT\nprint(2)"),
        nbformat.v4.new_code_cell("z = '" + "a" * WIDTH + "'", metadata={"tags": ["remove-cell"]}),
    ])
    assert too_long(nb) == [f"cell 0: {long_line}"]  # the hidden cell is not counted
    assert nbval_comments(nb) == ["cell 1: # NBVAL_IGNORE_OUTPUT"]
    exact = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a" * WIDTH)])
    assert too_long(exact) == [] and too_long(exact, WIDTH - 1) != []
    path = tmp_path / "wide.ipynb"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    assert ruff_check([path], "--line-length", str(WIDTH)).returncode == 1
