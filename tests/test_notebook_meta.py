"""Every notebook in book/ and labs/ follows the chapter template of CONTRIBUTING.md.

* the first cell is the Colab install cell, tagged ``colab-install`` (and ``remove-cell``, so the book hides it);
* no outputs or execution counts are stored;
* the notebook has a title (its first markdown cell opens with a ``# `` heading);
* every code cell tagged ``solution`` is followed by a code cell tagged ``check``.

``problems(nb)`` lists what is wrong with one notebook; the table of broken notebooks below shows that each rule
catches what it is meant to catch.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for d in ("book", "labs") for p in (ROOT / d).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
COLAB_GUARD = 'if "google.colab" in sys.modules:'
COLAB_INSTALL = '"gdlab[labs] @ git+https://github.com/gdlab-course/gdlab@main"'


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def problems(nb) -> list[str]:
    found = []
    cells = nb.cells
    first = cells[0] if cells else None
    if first is None or first.cell_type != "code":
        found.append("the first cell is not the Colab install cell")
    else:
        for tag in ("colab-install", "remove-cell"):
            if tag not in tags(first):
                found.append(f"the first cell is not tagged {tag!r}")
        if COLAB_GUARD not in first.source or COLAB_INSTALL not in first.source:
            found.append("the first cell does not install gdlab on Colab as CONTRIBUTING.md shows")
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            found.append(f"cell {i} stores outputs or an execution count")
    markdown = [c for c in cells if c.cell_type == "markdown" and c.source.strip()]
    if not markdown or not markdown[0].source.lstrip().startswith("# "):
        found.append("no title: the first markdown cell must open with a '# ' heading")
    for i, cell in enumerate(cells):
        if "solution" in tags(cell):
            after = cells[i + 1] if i + 1 < len(cells) else None
            if cell.cell_type != "code" or after is None or after.cell_type != "code" or "check" not in tags(after):
                found.append(f"cell {i} is tagged 'solution' but the next cell is not a code cell tagged 'check'")
    return found


def good() -> nbformat.NotebookNode:
    colab = new_code_cell(f"import sys\n{COLAB_GUARD}  # install gdlab on Colab; nothing happens elsewhere\n"
                          f"    {COLAB_INSTALL}")
    colab.metadata["tags"] = ["colab-install", "remove-cell"]
    solution = new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")
    solution.metadata["tags"] = ["solution"]
    check = new_code_cell("assert x == 1")
    check.metadata["tags"] = ["check"]
    return new_notebook(cells=[colab, new_markdown_cell("# A title\n\nText."), solution, check])


def _without_tag(nb, index, tag):
    nb.cells[index].metadata["tags"].remove(tag)


def _with_output(nb):
    nb.cells[3].outputs = [new_output("stream", name="stdout", text="1\n")]
    nb.cells[3].execution_count = 1


BROKEN = [
    ("no colab tag", lambda nb: _without_tag(nb, 0, "colab-install"), "not tagged 'colab-install'"),
    ("colab cell shown", lambda nb: _without_tag(nb, 0, "remove-cell"), "not tagged 'remove-cell'"),
    ("colab cell moved", lambda nb: nb.cells.insert(0, new_code_cell("import numpy")), "not tagged 'colab-install'"),
    ("no install line", lambda nb: setattr(nb.cells[0], "source", "import sys"), "does not install gdlab"),
    ("stored output", _with_output, "stores outputs"),
    ("no title", lambda nb: setattr(nb.cells[1], "source", "Text without a heading."), "no title"),
    ("title of level 2", lambda nb: setattr(nb.cells[1], "source", "## Not a title"), "no title"),
    ("check untagged", lambda nb: _without_tag(nb, 3, "check"), "next cell is not a code cell tagged 'check'"),
    ("solution last", lambda nb: nb.cells.pop(), "next cell is not a code cell tagged 'check'"),
]


def test_the_template_notebook_has_no_problem():
    assert problems(good()) == []


@pytest.mark.parametrize("name, breaks, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_each_rule_catches_its_breakage(name, breaks, message):
    nb = copy.deepcopy(good())
    breaks(nb)
    assert any(message in p for p in problems(nb)), problems(nb)


def test_every_notebook_follows_the_template():
    found = {p.relative_to(ROOT).as_posix(): problems(nbformat.read(p, as_version=4)) for p in NOTEBOOKS}
    assert {name: found_ for name, found_ in found.items() if found_} == {}
