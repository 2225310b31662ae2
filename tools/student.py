"""Write the student edition of the course: the same notebooks and pages, without the solutions.

Usage: ``python tools/student.py [--out student] [SOURCE ...]`` (default sources: ``book`` and ``labs``).

For every notebook (``.ipynb``) and page (``.md``) under the sources, a copy is written under ``--out`` at the same
relative path, with two changes:

* in a code cell tagged ``solution``, each region from a line ``# BEGIN SOLUTION`` to a line ``# END SOLUTION``
  (both included) becomes one line ``raise NotImplementedError("write your solution here")`` at the indentation of
  the ``BEGIN`` line; the rest of the cell is kept, so the ``check`` cell after it still has a function to call;
* every ``{solution}`` block of MyST markdown (fenced with backticks or colons, at any depth inside other
  directives) is removed, as is every gated ``{solution-start}`` ... ``{solution-end}`` region.

Stored outputs are dropped. The tool refuses (``ValueError``) a solution cell without markers, markers outside a
solution cell, and unbalanced markers, since each would hand out a solution or a broken exercise.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
STUB = 'raise NotImplementedError("write your solution here")'
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
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


def student_notebook(nb):
    """The student copy of a notebook (a new object; ``nb`` is left as it is)."""
    nb = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code":
            if "solution" in tags:
                if not has_markers(cell.source):
                    raise ValueError(f"cell {index} is tagged 'solution' but has no '# BEGIN SOLUTION' line")
                try:
                    cell.source = stub_code(cell.source)
                except ValueError as err:
                    raise ValueError(f"cell {index}: {err}") from None
            elif has_markers(cell.source):
                raise ValueError(f"cell {index} has solution markers but is not tagged 'solution'")
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            stripped = strip_solutions(cell.source)
            if cell.source.strip() and not stripped.strip():
                continue  # the cell held nothing but a solution
            cell.source = stripped
        cells.append(cell)
    nb.cells = cells
    return nb


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
    print(f"student edition: {notebooks} notebooks and {len(written) - notebooks} pages written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
