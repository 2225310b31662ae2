"""What the Optimizer reference page (book/reference/optimizers.ipynb) prints must exist for every rule.

The page is generated from the rule classes; these checks fail when a rule lands without the
fields its card needs, or cites a key that references.bib lacks.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from gdlab.optim import RULES

ROOT = Path(__file__).resolve().parents[1]
BIB_KEYS = set(re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", (ROOT / "references.bib").read_text()))
PAGE = ROOT / "book" / "reference" / "optimizers.ipynb"


def test_there_are_rules():
    assert {"SGD", "Adam", "AdamW"} <= set(RULES)


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_has_a_card(name):
    rule = RULES[name]
    assert rule.name == name
    assert rule.equation.strip(), f"{name}: empty equation"
    assert rule.equation.count("{") == rule.equation.count("}"), f"{name}: unbalanced braces in the equation"
    assert "$" not in rule.equation, f"{name}: the equation is wrapped in $$ by the page; give bare LaTeX"
    assert rule.convention.strip(), f"{name}: empty convention"
    assert (rule.__doc__ or "").strip(), f"{name}: no docstring"
    assert rule.cite in BIB_KEYS, f"{name}: cite key {rule.cite!r} not in references.bib"
    doc = rule.__doc__ or ""
    # docstrings are Markdown: display math between lines holding only $$ (see gdlab.optim.docs)
    assert re.search(r"^\s*\$\$\s*$(.|\n)+?^\s*\$\$\s*$", doc, re.M), \
        f"{name}: the docstring does not state the update in LaTeX between $$ lines"
    assert ".. math::" not in doc and ":math:" not in doc, f"{name}: reST math in a Markdown docstring"
    assert "byte" in doc.lower(), f"{name}: the docstring does not give the state's bytes per parameter"
    assert rule.buffers, f"{name}: no state buffers named"
    assert "lr" in rule.defaults, f"{name}: no lr in defaults"


def test_page_starts_with_the_colab_cell_and_is_in_the_toc():
    nb = nbformat.read(PAGE, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and {"colab-install", "remove-cell"} <= set(first.metadata.get("tags", []))
    assert "google.colab" in first.source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "stored outputs"
    toc = (ROOT / "_toc.yml").read_text()
    assert re.search(r"^\s*-\s*file:\s*book/reference/optimizers\s*$", toc, flags=re.M)
    assert re.search(r"^\s*-\s*file:\s*book/reference/benchmarks\s*$", toc, flags=re.M)
    # the cards come from RULES, not from a list typed into the page
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "for name, rule in RULES.items()" in code
