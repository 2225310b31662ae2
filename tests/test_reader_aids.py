"""The reader's aids of the book: every chapter and lab closes with a summary box, and the summary points only to
results its own chapter states (so that a summary cannot cite what the chapter does not prove and check)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
CHAPTERS = [c["file"] for part in TOC["parts"] if part.get("numbered") for c in part["chapters"]]
LABEL = re.compile(r"^```\{prf:\w+\}[^\n]*\n:label: ([\w-]+)", re.M)
REF = re.compile(r"\{prf:ref\}`([^`<]+?)`")


def _summary(nb) -> str:
    last = nb.cells[-1]
    assert last.cell_type == "markdown" and last.source.startswith("## Summary\n"), "the last cell is not a summary"
    return last.source


def test_the_book_has_chapters_and_labs():
    assert len(CHAPTERS) >= 17 and any(c.startswith("labs/") for c in CHAPTERS)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_closes_with_a_summary_of_its_own_results(chapter):
    nb = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    text = _summary(nb)
    assert "```{admonition} What this chapter showed" in text and text.rstrip().endswith("```")
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert 3 <= len(bullets) <= 6, f"{len(bullets)} points: a summary says three to six things"
    defined = set(LABEL.findall("\n".join(c.source for c in nb.cells if c.cell_type == "markdown")))
    cited = set(REF.findall(text))
    assert cited <= defined, f"the summary cites results of other chapters: {sorted(cited - defined)}"
    if defined:
        assert cited, "the chapter states results, and its summary names none of them"


def test_the_check_catches_a_summary_that_cites_another_chapter():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("```{prf:theorem} T\n:label: thm-here\n\nx\n```"),
        nbformat.v4.new_markdown_cell("## Summary\n\n```{admonition} What this chapter showed\n- {prf:ref}`thm-there`"
                                      "\n- b\n- c\n```"),
    ])
    defined = set(LABEL.findall(nb.cells[0].source))
    assert defined == {"thm-here"} and set(REF.findall(_summary(nb))) - defined == {"thm-there"}
