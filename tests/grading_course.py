"""nbgrader grades a chapter of the book and a lab (``make grade-check``; run by .ci/run after ``make test``).

Correct submissions, made from the student edition with the reference solutions, get every point; wrong ones
exactly the points of the exercises they get right. In the lab, one answer passes the visible check and loses its
points to the hidden test. Each notebook runs once per submission, so this takes minutes; ``tests/test_grading.py``
grades a small chapter the same way inside ``make test``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))
import grade  # noqa: E402
from test_grading import by_student, hand_in, submission  # noqa: E402


def wrong_variant(stem: str, key: str, index: int) -> str:
    spec = importlib.util.spec_from_file_location(f"grading_variants_{stem.replace('-', '_')}",
                                                  ROOT / "tests" / "exercises" / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VARIANTS[key]["wrong"][index]


CHAPTER = "heavy-ball"
LAB = "linear-scaling"


def test_grading_a_chapter_and_a_lab(tmp_path):
    """nbgrader grades a chapter and a lab: correct submissions get every point, wrong ones exactly the points of
    what they get right; in the lab, an answer that passes the visible check loses its points to the hidden test."""
    known = grade.course_notebooks()
    chapter_src = nbformat.read(known[CHAPTER], as_version=4)
    lab_src = nbformat.read(known[LAB], as_version=4)
    subs = tmp_path / "submissions"
    hand_in(subs, "right", CHAPTER, submission(chapter_src, {}))
    hand_in(subs, "right", LAB, submission(lab_src, {}))
    # the chapter: hb_pair with the momentum unsquared, critical_beta right
    hand_in(subs, "wrong", CHAPTER, submission(chapter_src, {"hb_pair": wrong_variant(CHAPTER, "hb_pair", 0)}))
    # the lab: linear_rule with the lab's n written in (right on the sweep, wrong in the hidden test), two_batch
    # right
    hand_in(subs, "wrong", LAB, submission(lab_src, {"linear_rule": wrong_variant(LAB, "linear_rule", 3)}))
    grades = by_student(grade.grade(subs, tmp_path / "course"))
    for stem in (CHAPTER, LAB):
        right = grades[("right", stem)]
        assert right.score == right.max_score == len(right.exercises), (stem, right)
    assert grades[("wrong", CHAPTER)].exercises == {"critical_beta-check": (1.0, 1.0), "hb_pair-check": (0.0, 1.0)}
    assert grades[("wrong", LAB)].exercises == {"linear_rule-check": (0.0, 1.0), "two_batch-check": (1.0, 1.0)}
    assert grades[("wrong", CHAPTER)].score == 1.0 and grades[("wrong", LAB)].score == 1.0
