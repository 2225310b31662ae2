"""Autograding (tools/grade.py, with nbgrader): points, hidden tests and graded runs.

* the student edition carries nbgrader's metadata on every exercise: a solution cell, then a locked, autograded check
  cell with its points (1, or what a ``points-N`` tag or the ``gdlab`` metadata says); its check cells hold no hidden
  test, while the grader's copy keeps them;
* nbgrader grades a small chapter written here: a correct submission gets every point, a wrong one exactly the points
  of the exercises it gets right, and a submission that passes the visible check but not the hidden test loses that
  exercise's points (so the grader runs the hidden tests the student never saw);
* the same on a chapter of the book and on a lab: ``tests/grading_course.py`` (``make grade-check``, minutes: it runs
  both notebooks four times).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import student  # noqa: E402

HIDDEN_LINE = "HIDDEN-ONLY"


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


def chapter() -> nbformat.NotebookNode:
    """Three exercises; the second is worth 2 points (a tag), the third 3 (metadata), and has a hidden test."""
    third_check = tagged(new_code_cell(
        "from gdlab import checks\n"
        "checks.close(cube(2.0), 8.0, checks.rounding(2), what='cube(2)')\n"
        "# BEGIN HIDDEN TESTS\n"
        f"checks.close(cube(-3.0), -27.0, checks.rounding(2), what='cube(-3)')  # {HIDDEN_LINE}\n"
        "# END HIDDEN TESTS"), "check")
    third_check.metadata["gdlab"] = {"points": 3}
    return new_notebook(cells=[
        new_markdown_cell("# Powers\n\nThree small exercises."),
        new_code_cell("values = [1.0, 2.0, 3.0]"),
        new_markdown_cell("Write `double(x)`."),
        tagged(new_code_cell("def double(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"),
               "solution"),
        tagged(new_code_cell("assert double(3) == 6, f'expected 6, got {double(3)}'"), "check"),
        new_markdown_cell("Set `total` to the sum of `values`."),
        tagged(new_code_cell("# BEGIN SOLUTION\ntotal = sum(values)\n# END SOLUTION"), "solution"),
        tagged(new_code_cell("assert total == 6.0, f'expected 6.0, got {total}'"), "check", "points-2"),
        new_markdown_cell("Write `cube(x)`."),
        tagged(new_code_cell("def cube(x):\n    # BEGIN SOLUTION\n    return x ** 3\n    # END SOLUTION"),
               "solution"),
        third_check,
    ])


def nbgrader_meta(nb):
    return [c.metadata.get("nbgrader") for c in nb.cells if c.cell_type == "code"]


def test_the_edition_carries_points_and_no_hidden_test():
    source = chapter()
    handout = student.student_notebook(source)
    meta = nbgrader_meta(handout)
    assert meta[0] is None  # a cell that is not an exercise is left alone
    checks_meta = [m for m in meta if m and m["grade"]]
    assert [(m["grade_id"], m["points"], m["locked"]) for m in checks_meta] == \
        [("double-check", 1.0, True), ("total-check", 2.0, True), ("cube-check", 3.0, True)]
    solutions = [m for m in meta if m and m["solution"]]
    assert [(m["grade_id"], m["locked"], m["grade"]) for m in solutions] == \
        [("double-solution", False, False), ("total-solution", False, False), ("cube-solution", False, False)]
    text = "\n".join(c.source for c in handout.cells)
    assert HIDDEN_LINE not in text and "HIDDEN TESTS" not in text
    assert "cube(2.0)" in text  # the visible part of the check stays
    graders = student.student_notebook(source, hidden=True)
    assert HIDDEN_LINE in graders.cells[-1].source and "return x ** 3" in graders.cells[-2].source
    assert nbgrader_meta(graders) == meta


@pytest.mark.parametrize("cells, message", [
    ([tagged(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), "solution"),
      tagged(new_code_cell("assert x == 1\n# BEGIN HIDDEN TESTS\nassert x"), "check")], "never closed"),
    ([new_code_cell("# BEGIN HIDDEN TESTS\nassert 1\n# END HIDDEN TESTS")], "not tagged 'check'"),
    ([tagged(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), "solution"),
      tagged(new_code_cell("assert x == 1"), "check", "points-0")], "Invalid points: points='0'"),
    ([tagged(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), "solution"),
      tagged(new_code_cell("assert x == 1"), "check", "points-two")], "Invalid points: points='two'"),
    ([tagged(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), "solution"), new_code_cell("y = 2")],
     "no 'check' cell follows"),
    ([new_code_cell("x = 1"), tagged(new_code_cell("assert x == 1"), "check")], "is not a 'solution' cell"),
])
def test_badly_marked_exercises_are_refused(cells, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        student.student_notebook(new_notebook(cells=cells))


def test_every_check_of_the_course_has_its_points_and_the_labs_have_hidden_tests():
    """Every notebook's exercises get nbgrader metadata; the labs' exercises have hidden tests; the edition holds none."""
    with_hidden = set()
    for stem, path in grade.course_notebooks().items():
        nb = nbformat.read(path, as_version=4)
        handout = student.student_notebook(nb)
        graded = [c for c in handout.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert len(graded) == sum("check" in c.metadata.get("tags", []) for c in nb.cells), stem
        assert all(c.metadata["nbgrader"]["points"] > 0 for c in graded)
        assert "HIDDEN TESTS" not in "\n".join(c.source for c in handout.cells), stem
        if any("# BEGIN HIDDEN TESTS" in c.source for c in nb.cells):
            with_hidden.add(stem)
    assert {"linear-scaling", "memory-accounting"} <= with_hidden


# --- graded runs with nbgrader -----------------------------------------------------------------
def submission(source, answers: dict[str, str | None]) -> nbformat.NotebookNode:
    """The student edition of ``source`` as a student hands it in: each exercise's solution cell (by grade id without
    ``-solution``) holds the given source, the reference solution where none is given, or the stub for ``None``."""
    handout = student.student_notebook(source)
    reference = student.student_notebook(source, hidden=True)
    for cell, ref in zip(handout.cells, reference.cells):
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            name = meta["grade_id"].removesuffix("-solution")
            answer = answers.get(name, ref.source)
            if answer is not None:
                cell.source = answer
    return handout


def hand_in(folder: Path, who: str, stem: str, nb) -> None:
    (folder / who).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / who / f"{stem}.ipynb")


def by_student(grades):
    return {(g.student, g.notebook): g for g in grades}


def test_nbgrader_grades_a_small_chapter_with_its_hidden_test(tmp_path):
    repo = tmp_path / "repo"
    (repo / "book" / "part").mkdir(parents=True)
    nbformat.write(chapter(), repo / "book" / "part" / "powers.ipynb")
    source = chapter()
    subs = tmp_path / "submissions"
    hand_in(subs, "right", "powers", submission(source, {}))
    # double wrong (loses 1), total right; cube as x * x * 2, which equals x ** 3 at 2 only: it passes the visible
    # check (below) and fails the hidden one (loses 3)
    lucky_cube = "def cube(x):\n    return x * x * 2"
    visible = {"checks": __import__("gdlab.checks", fromlist=["checks"])}
    exec(lucky_cube, visible)
    exec(student.strip_hidden(source.cells[-1].source), visible)  # raises if the visible check refused it
    hand_in(subs, "wrong", "powers", submission(source, {"double": "def double(x):\n    return x + 2",
                                                        "cube": lucky_cube}))
    grades = by_student(grade.grade(subs, tmp_path / "course", timeout=60, root=repo))
    assert {k: (g.score, g.max_score) for k, g in grades.items()} == {
        ("right", "powers"): (6.0, 6.0), ("wrong", "powers"): (2.0, 6.0)}
    assert grades[("wrong", "powers")].exercises == {
        "cube-check": (0.0, 3.0), "double-check": (0.0, 1.0), "total-check": (2.0, 2.0)}
    # the release nbgrader made is the student edition: no hidden test in it
    release = (tmp_path / "course" / "release" / "powers" / "powers.ipynb").read_text()
    assert HIDDEN_LINE not in release and "return x ** 3" not in release
    assert (tmp_path / "course" / "gradebook.db").exists()


def test_submissions_that_are_not_course_notebooks_are_refused(tmp_path):
    hand_in(tmp_path / "subs", "ada", "no-such-chapter", new_notebook())
    with pytest.raises(ValueError, match="no notebook of the course is named no-such-chapter.ipynb"):
        grade.grade(tmp_path / "subs", tmp_path / "course")
    with pytest.raises(ValueError, match="Invalid submissions"):
        grade.grade(tmp_path / "empty", tmp_path / "course")
