"""Write the student edition of the course: the same notebooks and pages, without the solutions.

Usage: ``python tools/student.py [--out student] [SOURCE ...]`` (default sources: ``book`` and ``labs``).

For every notebook (``.ipynb``) and page (``.md``) under the sources, a copy is written under ``--out`` at the same
relative path, with two changes:

* in a code cell tagged ``solution``, each region from a line ``# BEGIN SOLUTION`` to a line ``# END SOLUTION``
  (both included) becomes one line ``raise NotImplementedError("write your solution here")`` at the indentation of
  the ``BEGIN`` line; the rest of the cell is kept, so the ``check`` cell after it still has a function to call;
* in a code cell tagged ``check``, each region from a line ``# BEGIN HIDDEN TESTS`` to a line
  ``# END HIDDEN TESTS`` (both included) is removed: the grader runs it (``tools/grade.py``), the student does not
  see it;
* every ``{solution}`` block of MyST markdown (fenced with backticks or colons, at any depth inside other
  directives) is removed, as is every gated ``{solution-start}`` ... ``{solution-end}`` region;
* every ``solution`` and ``check`` cell carries nbgrader's cell metadata (``nbgrader_cells``): a solution cell is
  where the answer is written, a check cell is an autograded test worth one point, or N points when it is tagged
  ``points-N`` or its metadata holds ``"gdlab": {"points": N}``. ``tools/grade.py`` grades submitted copies of the
  edition with nbgrader.

Every other file under the sources that a notebook may read or import (a lab's module, its stored results, data
files) is copied as it is, and so are the files at the repository's root that a page reads (``references.bib``), so
that the edition runs in a fresh folder as handed out. Build outputs, caches, vendored web assets and the compiled
bytecode are left behind.

Stored outputs are dropped. The tool refuses (``ValueError``) a solution cell without markers, markers outside a
solution cell, hidden-test markers outside a check cell, unbalanced markers of either kind, a check cell that does not
follow a solution cell, and points that are not a positive number, since each would hand out a solution, a hidden test
or a broken exercise.
"""

from __future__ import annotations

import argparse
import ast
import copy
import math
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
STUB = 'raise NotImplementedError("write your solution here")'
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
BEGIN_HIDDEN = re.compile(r"^[ \t]*# BEGIN HIDDEN TESTS[ \t]*$")
END_HIDDEN = re.compile(r"^[ \t]*# END HIDDEN TESTS[ \t]*$")
POINTS_TAG = re.compile(r"^points-(?P<points>.+)$")
# the last line of a check cell in the grader's copy: a check that ends with ``checks.close(...)`` leaves a number,
# which nbgrader would take for partial credit (0.0, the relative error, would be no points)
GRADER_END = "pass  # a test cell must leave no value: nbgrader reads a number as partial credit"
# the version of nbgrader's cell metadata written here (nbgrader 0.9)
NBGRADER_SCHEMA = 3
# a fence line: indentation, three or more backticks, tildes or colons, then the info string
FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,}|:{3,})[ \t]*(?P<info>[^\n]*)$")
SOLUTION = re.compile(r"^\{solution(?P<gate>-start|-end)?\}")
DIRECTIVE = re.compile(r"^\{[\w:.-]+\}")


def stub_code(source: str) -> str:
    """Replace each ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region of a code cell by the stub."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if inside:
                raise ValueError(f"line {number}: '# BEGIN SOLUTION' inside an open solution region")
            inside = True
            out.append(begin["indent"] + STUB)
        elif end:
            if not inside:
                raise ValueError(f"line {number}: '# END SOLUTION' without a '# BEGIN SOLUTION' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("'# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    return "\n".join(out)


def has_markers(source: str) -> bool:
    return any(BEGIN.match(line) or END.match(line) for line in source.splitlines())


def has_hidden_markers(source: str) -> bool:
    return any(BEGIN_HIDDEN.match(line) or END_HIDDEN.match(line) for line in source.splitlines())


def strip_hidden(source: str) -> str:
    """Remove each ``# BEGIN HIDDEN TESTS`` ... ``# END HIDDEN TESTS`` region (both lines included) of a check cell."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        if BEGIN_HIDDEN.match(line):
            if inside:
                raise ValueError(f"line {number}: '# BEGIN HIDDEN TESTS' inside an open hidden region")
            inside = True
        elif END_HIDDEN.match(line):
            if not inside:
                raise ValueError(f"line {number}: '# END HIDDEN TESTS' without a '# BEGIN HIDDEN TESTS' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("'# BEGIN HIDDEN TESTS' is never closed by '# END HIDDEN TESTS'")
    return "\n".join(out).rstrip("\n")


def points(cell) -> float:
    """The points of a check cell: 1, or what a ``points-N`` tag or the metadata ``"gdlab": {"points": N}`` says."""
    found = [m["points"] for m in map(POINTS_TAG.match, cell.get("metadata", {}).get("tags", [])) if m]
    meta = cell.get("metadata", {}).get("gdlab", {}).get("points")
    if meta is not None:
        found.append(meta)
    if len(found) > 1:
        raise ValueError(f"points are given {len(found)} times ({found}); give them once")
    if not found:
        return 1.0
    try:
        value = float(found[0])
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(found[0], bool) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"Invalid points: points={found[0]!r} (expected a positive number, as in the tag 'points-2')")
    return value


def _defined(tree) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def exercise_name(solution: str, check: str) -> str:
    """A name for an exercise, fit for nbgrader's ``grade_id``: what its solution defines and its check uses."""
    try:
        check_tree = ast.parse(check)
        used = {n.id for n in ast.walk(check_tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        names = sorted((_defined(ast.parse(solution)) & used) - _defined(check_tree))
    except SyntaxError:  # a cell with IPython magics: the caller numbers the exercise instead
        names = []
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(names))


def nbgrader_cells(nb) -> list[tuple[int, int, float]]:
    """Write nbgrader's metadata into the ``solution`` and ``check`` cells of ``nb`` (in place).

    A ``solution`` code cell becomes a solution cell (``"solution": true``, not graded, not locked), the ``check``
    cell after it an autograded test cell (``"grade": true``, locked, with its points). Returns, for each exercise,
    the indices of its two cells and its points. Refuses a check cell that does not follow a solution cell.
    """
    found, ids = [], set()
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for k, (index, cell) in enumerate(code):
        tags = cell.get("metadata", {}).get("tags", [])
        if "check" in tags and (k == 0 or "solution" not in code[k - 1][1].get("metadata", {}).get("tags", [])):
            raise ValueError(f"cell {index} is tagged 'check' but the code cell before it is not a 'solution' cell")
        if "solution" not in tags:
            continue
        if k + 1 == len(code) or "check" not in code[k + 1][1].get("metadata", {}).get("tags", []):
            raise ValueError(f"cell {index} is tagged 'solution' but no 'check' cell follows it")
        check_index, check = code[k + 1]
        name = exercise_name(cell.source, check.source) or f"exercise-{len(found) + 1}"
        while name in ids:
            name += "-again"
        ids.add(name)
        try:
            value = points(check)
        except ValueError as err:
            raise ValueError(f"cell {check_index}: {err}") from None
        cell.metadata["nbgrader"] = {"grade": False, "grade_id": f"{name}-solution", "locked": False,
                                     "schema_version": NBGRADER_SCHEMA, "solution": True, "task": False}
        check.metadata["nbgrader"] = {"grade": True, "grade_id": f"{name}-check", "locked": True,
                                      "points": value, "schema_version": NBGRADER_SCHEMA, "solution": False,
                                      "task": False}
        found.append((index, check_index, value))
    return found


def _closes(line: str, fence: str) -> bool:
    """True when ``line`` closes a fence opened with ``fence`` (same character, at least as many, nothing else)."""
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def strip_solutions(text: str) -> str:
    """Remove every ``{solution}`` block and gated solution region from MyST markdown.

    Fences are tracked as MyST reads them: a block ends at the first line made only of its fence character, at
    least as long as its opening fence. Directive content is searched for nested solutions; the content of a plain
    code block (say, one that shows the syntax of a solution) is left alone.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # open fences, outermost first: (fence, is_directive)
    skip_fence: str | None = None  # the fence of the solution block being removed
    gated = False  # inside a {solution-start} ... {solution-end} region
    for line in lines:
        if skip_fence is not None:  # removing a block: wait for its closing fence
            if _closes(line, skip_fence):
                skip_fence = None
            continue
        closed = next((i for i, (fence, _) in enumerate(stack) if _closes(line, fence)), None)
        if closed is not None:
            del stack[closed:]
            if not gated:
                out.append(line)
            continue
        match = FENCE.match(line)
        if match and (not stack or stack[-1][1]):  # a fence opens, outside any plain code block
            fence, info = match["fence"], match["info"].strip()
            solution = SOLUTION.match(info)
            if solution and solution["gate"] == "-start":
                gated = True
                skip_fence = fence
                continue
            if solution and solution["gate"] == "-end":
                gated = False
                skip_fence = fence
                continue
            if solution:
                skip_fence = fence
                continue
            stack.append((fence, bool(DIRECTIVE.match(info))))
        if not gated:
            out.append(line)
    if skip_fence is not None or gated:
        raise ValueError("a {solution} block is never closed")
    return re.sub(r"\n{3,}", "\n\n", "".join(out))


def student_notebook(nb, *, hidden: bool = False):
    """The student copy of a notebook (a new object; ``nb`` is left as it is), with nbgrader's metadata.

    ``hidden=True`` keeps the hidden tests and the solutions: the grader's copy (``tools/grade.py``), from which
    nbgrader makes its own release and restores the hidden tests when it grades. Its check cells end with
    ``GRADER_END``, so that nbgrader gives a passing check its points whatever value its last line has.
    """
    source, nb = nb, copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code":
            if "solution" in tags:
                if not has_markers(cell.source):
                    raise ValueError(f"cell {index} is tagged 'solution' but has no '# BEGIN SOLUTION' line")
                try:
                    stubbed = stub_code(cell.source)
                except ValueError as err:
                    raise ValueError(f"cell {index}: {err}") from None
                if not hidden:
                    cell.source = stubbed
            elif has_markers(cell.source):
                raise ValueError(f"cell {index} has solution markers but is not tagged 'solution'")
            if "check" in tags:
                try:
                    visible = strip_hidden(cell.source)
                except ValueError as err:
                    raise ValueError(f"cell {index}: {err}") from None
                if not hidden:
                    cell.source = visible
                else:  # nbgrader reads a number that a test cell leaves as its value as partial credit
                    cell.source = cell.source.rstrip("\n") + "\n" + GRADER_END
            elif has_hidden_markers(cell.source):
                raise ValueError(f"cell {index} has hidden-test markers but is not tagged 'check'")
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            stripped = strip_solutions(cell.source)
            if cell.source.strip() and not stripped.strip():
                continue  # the cell held nothing but a solution
            cell.source = stripped
        cells.append(cell)
    nb.cells = cells
    # the metadata is found on the course's cells (the names a solution defines), and every code cell is kept
    marked = copy.deepcopy(source)
    nbgrader_cells(marked)
    for cell, mark in zip((c for c in nb.cells if c.cell_type == "code"),
                          (c for c in marked.cells if c.cell_type == "code")):
        if "nbgrader" in mark.metadata:
            cell.metadata["nbgrader"] = mark.metadata["nbgrader"]
    return nb


# files at the repository's root that a notebook reads (found by searching upwards from its folder)
ROOT_FILES = ("references.bib",)
# folders and suffixes that are never part of the handout
SKIP_PARTS = {".ipynb_checkpoints", "_vendor", "__pycache__", "_build", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def support_files(paths) -> list[Path]:
    """The files under the given folders that are neither notebooks nor pages: modules, results, data."""
    found = []
    for path in paths:
        for file in sorted(Path(path).rglob("*")):
            if (file.is_file() and file.suffix not in (".ipynb", ".md") and file.suffix not in SKIP_SUFFIXES
                    and not SKIP_PARTS.intersection(file.parts)):
                found.append(file)
    return found


def sources_under(paths) -> list[Path]:
    """Notebooks and markdown pages under the given folders, in a stable order."""
    found = []
    for path in paths:
        path = Path(path)
        for file in sorted(path.rglob("*")):
            if file.suffix in (".ipynb", ".md") and ".ipynb_checkpoints" not in file.parts and "_vendor" not in file.parts:
                found.append(file)
    return found


def build(sources, out: Path, root: Path = ROOT) -> list[Path]:
    """Write the student edition of ``sources`` (folders, relative to ``root``) under ``out``; return the files."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    written = []
    for file in sources_under(root / s for s in sources):
        target = out / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if file.suffix == ".ipynb":
                nbformat.write(student_notebook(nbformat.read(file, as_version=4)), target)
            else:
                target.write_text(strip_solutions(file.read_text()))
        except ValueError as err:
            raise ValueError(f"{file.relative_to(root)}: {err}") from None
        written.append(target)
    for file in support_files(root / s for s in sources) + [root / name for name in ROOT_FILES]:
        if not file.exists():
            continue
        target = out / file.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", default=["book", "labs"], help="folders to copy (default: book labs)")
    parser.add_argument("--out", default=str(ROOT / "student"), help="where to write the student edition")
    args = parser.parse_args(argv)
    try:
        written = build(args.sources, Path(args.out))
    except ValueError as err:
        print(f"student edition not written: {err}", file=sys.stderr)
        return 1
    notebooks = sum(f.suffix == ".ipynb" for f in written)
    pages = sum(f.suffix == ".md" for f in written)
    print(f"student edition: {notebooks} notebooks, {pages} pages and {len(written) - notebooks - pages} other files "
          f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
