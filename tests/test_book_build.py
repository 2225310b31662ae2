"""`make book` fails loudly: a notebook that fails to execute stops the build with a non-zero exit status and an
error naming the notebook and the failing cell, so that a half-built chapter is never published.

The test runs the project's own Makefile and _config.yml on a one-chapter book in a scratch folder, with the
project's virtual environment linked in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


def _book(tmp_path: Path, claim: str) -> Path:
    for name in ("Makefile", "_config.yml", "references.bib", "requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)  # copy2 keeps the times, so make sees .venv as up to date
    shutil.copytree(ROOT / "tools", tmp_path / "tools")
    (tmp_path / ".venv").symlink_to(VENV)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_vendor").symlink_to(ROOT / "book" / "_vendor")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/claim\n")
    (tmp_path / "book" / "intro.md").write_text("# A one-chapter book\n\nIt has one chapter.\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# The claim"),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell(claim),
        nbformat.v4.new_code_cell("print('the last cell ran')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "book" / "claim.ipynb")
    return tmp_path


def _make_book(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    return subprocess.run(["make", "--no-print-directory", "book"], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def test_make_book_fails_on_a_failing_notebook_and_names_it(tmp_path):
    root = _book(tmp_path, "assert x == 2, 'the claim is false'")
    result = _make_book(root)
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert "book/claim.ipynb" in log                                  # the notebook
    assert "assert x == 2, 'the claim is false'" in log              # the failing cell's source
    assert "AssertionError" in log and "the claim is false" in log   # and what it raised
    assert not (root / "_build" / "html" / "book" / "claim.html").exists() or \
        "the last cell ran" not in (root / "_build" / "html" / "book" / "claim.html").read_text()


def test_make_book_publishes_a_notebook_that_runs(tmp_path):
    root = _book(tmp_path, "assert x == 1")
    result = _make_book(root)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "the last cell ran" in (root / "_build" / "html" / "book" / "claim.html").read_text()
