"""Grade submitted notebooks of the student edition with nbgrader, hidden tests included.

Usage: ``python tools/grade.py SUBMISSIONS [--course artifacts/grading] [--csv FILE] [--timeout 600]``

``SUBMISSIONS`` holds one folder per student, named by the student's id, with the notebooks that student hands in,
named as in the edition (``SUBMISSIONS/ada/heavy-ball.ipynb``, ``SUBMISSIONS/ada/linear-scaling.ipynb``). Each
notebook is one nbgrader assignment, named by its file's stem. The tool:

1. writes a fresh nbgrader course folder (``--course``): for each notebook handed in, ``source/<stem>/<stem>.ipynb``
   is the course's notebook with nbgrader's cell metadata, its solutions and its hidden tests
   (``tools/student.py``, ``student_notebook(..., hidden=True)``), beside the files the notebook reads (a lab's
   module and stored results, the bibliography); the gradebook is ``gradebook.db`` (sqlite) in that folder;
2. runs ``nbgrader generate_assignment``, which records every check cell, its points and its hidden tests in the
   gradebook (its release, ``release/``, is the student edition again, with nbgrader's stubs);
3. copies each submission to ``submitted/<student>/<stem>/`` and runs ``nbgrader autograde``: nbgrader puts back the
   course's check cells, hidden tests included, runs the notebook from top to bottom beside the course's support
   files, and gives each check cell its points when it runs without an error;
4. prints the points of each student, notebook and exercise, and writes them to ``--csv``
   (default ``<course>/grades.csv``).

Everything runs offline in this environment: nbgrader's own kernel is the ``python3`` kernel of the Python that runs
this tool. A submission whose notebook is not in the course is refused (``ValueError``), as is an empty folder.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import student  # noqa: E402

COURSE_ID = "gdlab"
SOURCES = ("book", "labs")


@dataclass
class Grade:
    """One student's points on one notebook: the total, the most there is, and each exercise's (by grade id)."""

    student: str
    notebook: str
    score: float
    max_score: float
    exercises: dict[str, tuple[float, float]] = field(default_factory=dict)


def course_notebooks(root: Path = ROOT) -> dict[str, Path]:
    """The course's notebooks by stem (the name an nbgrader assignment gets); refuses a stem used twice."""
    found: dict[str, Path] = {}
    for path in student.sources_under(root / s for s in SOURCES):
        if path.suffix != ".ipynb":
            continue
        if path.stem in found:
            raise ValueError(f"two notebooks are named {path.stem}: {found[path.stem]} and {path}")
        found[path.stem] = path
    return found


def submissions_in(folder: Path, known: dict[str, Path]) -> dict[str, dict[str, Path]]:
    """``{student: {stem: notebook}}`` from ``folder/<student>/<stem>.ipynb``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"Invalid submissions: submissions={str(folder)!r} is not a folder")
    found: dict[str, dict[str, Path]] = {}
    for who in sorted(p for p in folder.iterdir() if p.is_dir()):
        for nb in sorted(who.glob("*.ipynb")):
            if nb.stem not in known:
                raise ValueError(f"{nb}: no notebook of the course is named {nb.name}")
            found.setdefault(who.name, {})[nb.stem] = nb
    if not found:
        raise ValueError(f"Invalid submissions: no <student>/<notebook>.ipynb in {folder}")
    return found


def _config(course: Path, timeout: int) -> str:
    return "\n".join([
        "c = get_config()  # noqa: F821",
        f"c.CourseDirectory.root = {str(course)!r}",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(course / 'gradebook.db')!r}",
        # the stub of tools/student.py; the markers are the course's (nbgrader's defaults)
        f"c.ClearSolutions.code_stub = {{'python': {student.STUB!r}}}",
        "c.ClearSolutions.begin_solution_delimeter = 'BEGIN SOLUTION'",
        "c.ClearSolutions.end_solution_delimeter = 'END SOLUTION'",
        "c.ClearHiddenTests.begin_test_delimeter = 'BEGIN HIDDEN TESTS'",
        "c.ClearHiddenTests.end_test_delimeter = 'END HIDDEN TESTS'",
        f"c.Execute.timeout = {int(timeout)}",
        "",
    ])


def write_course(course: Path, stems, known: dict[str, Path], timeout: int, root: Path = ROOT) -> None:
    """A fresh nbgrader course folder with the source version of each notebook and the files it reads."""
    if course.exists():
        shutil.rmtree(course)
    (course / "source").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(_config(course, timeout))
    for stem in sorted(stems):
        path = known[stem]
        target = course / "source" / stem
        target.mkdir()
        try:
            graded = student.student_notebook(nbformat.read(path, as_version=4), hidden=True)
        except ValueError as err:
            raise ValueError(f"{path.relative_to(root)}: {err}") from None
        nbformat.write(graded, target / f"{stem}.ipynb")
        support = student.support_files([path.parent]) + [root / name for name in student.ROOT_FILES]
        for file in support:
            if not file.exists():
                continue
            rel = file.relative_to(path.parent) if path.parent in file.parents else Path(file.name)
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target / rel)


def _nbgrader(course: Path, *args: str) -> None:
    # nbgrader migrates its gradebook with the `alembic` command: the one installed beside this Python
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=course, env=env,
                            capture_output=True, text=True)
    log = course / "nbgrader.log"
    with log.open("a") as out:
        out.write(f"$ nbgrader {' '.join(args)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {result.returncode}); its log: {log}\n"
                           f"{result.stderr[-3000:]}")


def read_grades(course: Path, submitted: dict[str, dict[str, Path]]) -> list[Grade]:
    from nbgrader.api import Gradebook

    grades = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for who, notebooks in sorted(submitted.items()):
            for stem in sorted(notebooks):
                nb = gb.find_submission_notebook(stem, stem, who)
                cells = {g.name: (float(g.score), float(g.max_score)) for g in nb.grades}
                grades.append(Grade(who, stem, float(nb.score), float(nb.max_score), dict(sorted(cells.items()))))
    return grades


def grade(submissions: Path, course: Path, timeout: int = 600, root: Path = ROOT) -> list[Grade]:
    """Grade every notebook under ``submissions`` with nbgrader in the course folder ``course``; see the module."""
    known = course_notebooks(root)
    submitted = submissions_in(Path(submissions), known)
    course = Path(course).resolve()
    stems = {stem for notebooks in submitted.values() for stem in notebooks}
    write_course(course, stems, known, timeout, root)
    for stem in sorted(stems):
        _nbgrader(course, "generate_assignment", stem)
    for who, notebooks in submitted.items():
        for stem, path in notebooks.items():
            target = course / "submitted" / who / stem
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / f"{stem}.ipynb")
    for stem in sorted(stems):
        _nbgrader(course, "autograde", stem)
    return read_grades(course, submitted)


def write_csv(grades: list[Grade], path: Path) -> None:
    with Path(path).open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["student", "notebook", "exercise", "points", "max_points"])
        for g in grades:
            for name, (score, most) in g.exercises.items():
                w.writerow([g.student, g.notebook, name, f"{score:g}", f"{most:g}"])
            w.writerow([g.student, g.notebook, "total", f"{g.score:g}", f"{g.max_score:g}"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", help="a folder with one folder of notebooks per student")
    parser.add_argument("--course", default=str(ROOT / "artifacts" / "grading"),
                        help="the nbgrader course folder to write (replaced; default artifacts/grading)")
    parser.add_argument("--csv", default=None, help="where to write the points (default <course>/grades.csv)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run (default 600)")
    args = parser.parse_args(argv)
    try:
        grades = grade(Path(args.submissions), Path(args.course), args.timeout)
    except (ValueError, RuntimeError) as err:
        print(f"not graded: {err}", file=sys.stderr)
        return 1
    out = Path(args.csv) if args.csv else Path(args.course) / "grades.csv"
    write_csv(grades, out)
    for g in grades:
        detail = ", ".join(f"{name.removesuffix('-check')} {s:g}/{m:g}" for name, (s, m) in g.exercises.items())
        print(f"{g.student:<16} {g.notebook:<28} {g.score:g}/{g.max_score:g}   ({detail})")
    print(f"points written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
