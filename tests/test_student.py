"""The student edition (tools/student.py): solutions out, stubs in, checks that still bite.

For a small synthetic notebook and for every notebook in book/ and labs/:
* no line of a marked solution survives in the student copy, and no ``{solution}`` block remains;
* the student copy runs without error up to its first exercise and stops there with ``NotImplementedError``;
* every ``check`` cell fails when its solution is replaced by the stub (the check is not vacuous), and passes with the
  reference solution;
* the edition runs as handed out: written into a fresh folder outside the repository, with the files its notebooks
  read or import, each notebook runs there up to its first stub;
* a check that rejects an answer says what it got;
* every code exercise is fair: ``tests/exercises/<notebook>.py`` keeps, for each exercise, at least one other correct
  solution written with different but equivalent arithmetic, which the check must accept, and at least one plausible
  wrong solution, which the check must reject with an assertion.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import student  # noqa: E402

COLAB = (
    "import sys\n"
    'if "google.colab" in sys.modules:  # install gdlab on Colab; nothing happens elsewhere\n'
    '    %pip install -q "gdlab[labs] @ git+https://github.com/gdlab-course/gdlab@main"'
)
REAL = sorted(
    p for d in ("book", "labs") for p in (ROOT / d).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


def tagged(cell, *tags):
    cell.metadata["tags"] = list(tags)
    return cell


ROOTS_CHECK = 'assert roots(values) == [1.0, 2.0, 3.0], f"expected [1.0, 2.0, 3.0], got {roots(values)}"'


def synthetic(check_total: str = 'assert total == 14.0, f"expected 14.0, got {total}"',
              check_roots: str = ROOTS_CHECK) -> nbformat.NotebookNode:
    """A chapter in miniature: a prose exercise with three kinds of solution block and two code exercises."""
    return new_notebook(cells=[
        tagged(new_code_cell(COLAB), "colab-install", "remove-cell"),
        new_markdown_cell("# Square roots\n\nA warm-up."),
        new_code_cell("import math\nvalues = [1.0, 4.0, 9.0]"),
        new_markdown_cell(
            "```{exercise}\n:label: ex-why\nWhy is the square root increasing?\n```\n\n"
            "````{solution} ex-why\n:class: dropdown\nSECRET-PROSE-1 its derivative is positive.\n"
            "```python\nSECRET-CODE-IN-PROSE = 1\n```\n````\n\n"
            "::::{note}\nKept note.\n:::{solution} ex-why\nSECRET-PROSE-2 nested.\n:::\n::::\n\n"
            "```{solution-start} ex-why\n```\nSECRET-PROSE-3 gated.\n```{solution-end}\n```\n\nAfter."
        ),
        new_markdown_cell("```{solution} ex-why\n:class: dropdown\nSECRET-PROSE-4 alone in its cell.\n```"),
        new_markdown_cell("Write `roots(xs)`, the square roots of `xs`."),
        tagged(new_code_cell(
            "def roots(xs):\n"
            '    """Square roots of xs."""\n'
            "    # BEGIN SOLUTION\n"
            "    return [math.sqrt(x) for x in xs]  # SECRET-SOLUTION-1\n"
            "    # END SOLUTION"
        ), "solution"),
        tagged(new_code_cell(check_roots), "check"),
        new_markdown_cell("Set `total` to the sum of `values`."),
        tagged(new_code_cell("# BEGIN SOLUTION\ntotal = sum(values)  # SECRET-SOLUTION-2\n# END SOLUTION"), "solution"),
        tagged(new_code_cell(check_total), "check"),
    ])


def solution_lines(nb) -> list[str]:
    """The non-trivial lines between the markers of every solution cell (read here, not by tools/student.py)."""
    lines, inside = [], False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if line.strip() == "# BEGIN SOLUTION":
                inside = True
            elif line.strip() == "# END SOLUTION":
                inside = False
            elif inside and len(line.strip()) > 3:
                lines.append(line.strip())
    return lines


def public_text(nb) -> str:
    """The source of every code cell outside its solution regions: a line found here is not a leak."""
    kept = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            inside = False
            for line in cell.source.splitlines():
                if line.strip() in ("# BEGIN SOLUTION", "# END SOLUTION"):
                    inside = line.strip() == "# BEGIN SOLUTION"
                elif not inside:
                    kept.append(line.strip())
    return "\n".join(kept)


def leaks(source_nb, student_nb) -> list[str]:
    # whole lines, compared stripped: a short solution line (a formatter's continuation such as
    # `np.zeros(problem.dim),`) may also occur inside a longer public line without being a leak
    handout = {line.strip() for c in student_nb.cells for line in c.source.splitlines()}
    public = set(public_text(source_nb).splitlines())
    return [line for line in solution_lines(source_nb) if line in handout and line not in public]


def solution_blocks(nb) -> list[str]:
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += re.findall(r"^[ \t]*(?:`{3,}|~{3,}|:{3,})[ \t]*\{solution[^}]*\}.*$", cell.source, re.M)
    return found


def tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def exercise_key(solution: str, check: str) -> str:
    """The name an exercise is known by in ``tests/exercises``: what the solution cell defines (functions, classes and
    assigned names) that the check cell uses without defining it itself."""
    def defined(tree):
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        return names

    check_tree = ast.parse(check)
    used = {n.id for n in ast.walk(check_tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return ",".join(sorted((defined(ast.parse(solution)) & used) - defined(check_tree)))


def variants_for(notebook: Path | None) -> dict:
    """The alternative solutions kept for a notebook: ``{key: {"correct": [source, ...], "wrong": [source, ...]}}``."""
    if notebook is None:
        return {}
    path = ROOT / "tests" / "exercises" / f"{notebook.stem}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"exercise_variants_{notebook.stem.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VARIANTS


# a failing check says what it got: the word "got" followed, later on the message, by a value (a number, a name, a
# shape or a boolean)
GOT = re.compile(r"\bgot\b.*?(\d|True|False|None|[A-Za-z_]\w*\.\w+)", re.DOTALL | re.IGNORECASE)


def run_exercises(source_nb, student_nb, cwd: Path, variants: dict | None = None) -> dict:
    """Run the student copy in one kernel, exercise by exercise.

    Cells are the student's, up to each exercise. At an exercise the stub runs, then the check (which must fail);
    then each wrong solution of ``variants`` and the check (which must fail with an assertion); then each other
    correct solution and the check (which must pass); then the reference solution and the check again (which must
    pass), so that later exercises start from the state the chapter expects. Returns the name of the first error met
    by the student copy, the number of exercises checked and the keys of the exercises met; raises AssertionError for
    a cell that fails where it should pass or a check that passes where it should fail.
    """
    variants = variants or {}
    src = [c for c in source_nb.cells if c.cell_type == "code"]
    stu = [c for c in student_nb.cells if c.cell_type == "code"]
    assert len(src) == len(stu), "the student copy must keep every code cell"
    plan, i, keys = [], 0, []
    while i < len(src):
        if "solution" in tags(src[i]):
            assert i + 1 < len(src) and "check" in tags(src[i + 1]), f"code cell {i}: a solution with no check after it"
            key = exercise_key(src[i].source, src[i + 1].source) or f"the exercise at code cell {i}"
            keys.append(key)
            plan += [(stu[i], "stub", i), (src[i + 1], "must-fail", i + 1)]
            for n, wrong in enumerate(variants.get(key, {}).get("wrong", [])):
                plan += [(new_code_cell(wrong), "variant", f"{key} wrong {n}"), (src[i + 1], "reject", f"{key} wrong {n}")]
            for n, right in enumerate(variants.get(key, {}).get("correct", [])):
                plan += [(new_code_cell(right), "variant", f"{key} correct {n}"),
                         (src[i + 1], "ok", f"{key} correct {n}")]
            plan += [(src[i], "ok", i), (src[i + 1], "ok", i + 1)]
            i += 2
        else:
            plan.append((stu[i], "ok", i))
            i += 1
    cells = []
    for index, (cell, _, _) in enumerate(plan):
        cell = copy.deepcopy(cell)
        cell["id"] = f"run-{index}"  # a cell may run twice; ids must stay unique
        cells.append(cell)
    nb = new_notebook(cells=cells, metadata=source_nb.metadata)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    first_error, exercises = None, 0
    with client.setup_kernel():
        stub_error = None
        for index, (_, role, where) in enumerate(plan):
            try:
                client.execute_cell(nb.cells[index], index)
                error, message = None, ""
            except CellExecutionError as err:
                error, message = err.ename, err.evalue or ""
            if role == "stub":
                stub_error = error
            elif role == "must-fail":
                assert error is not None, f"code cell {where}: the check passes without its solution"
                exercises += 1
                if first_error is None:
                    first_error = stub_error or error
            elif role == "reject":
                assert error in ("AssertionError", "CheckFailed"), \
                    f"exercise {where}: the check should reject this solution with an assertion, got {error}"
                assert GOT.search(message), \
                    f"exercise {where}: the check's message should say what it got, got {message!r}"
            else:
                assert error is None, f"code cell {where} fails: {error}"
    return {"first_error": first_error, "exercises": exercises, "keys": keys}


# --- the two transformations, table-driven ---------------------------------------------------
STUBS = [
    ("top level", "a = 1\n# BEGIN SOLUTION\nb = 2\n# END SOLUTION\nc = 3",
     f"a = 1\n{student.STUB}\nc = 3"),
    ("indented", "def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION",
     f"def f():\n    {student.STUB}"),
    ("two regions", "# BEGIN SOLUTION\nx = 1\n# END SOLUTION\ny = 0\n# BEGIN SOLUTION\nz = 2\n# END SOLUTION",
     f"{student.STUB}\ny = 0\n{student.STUB}"),
]


@pytest.mark.parametrize("name, source, expected", STUBS, ids=[s[0] for s in STUBS])
def test_stub_code(name, source, expected):
    assert student.stub_code(source) == expected


@pytest.mark.parametrize("source, message", [
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside an open solution region"),
])
def test_stub_code_rejects_unbalanced_markers(source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        student.stub_code(source)


STRIP = [
    ("backticks", "a\n\n```{solution} ex\n:class: dropdown\nsecret\n```\n\nb\n", "a\n\nb\n"),
    ("colons", "a\n:::{solution} ex\nsecret\n:::\nb\n", "a\nb\n"),
    ("longer fence with a code block inside", "````{solution} ex\n```python\nsecret()\n```\nsecret\n````\nb\n", "b\n"),
    ("nested in a directive", "::::{note}\nkept\n:::{solution}\nsecret\n:::\n::::\n", "::::{note}\nkept\n::::\n"),
    ("gated", "a\n```{solution-start} ex\n```\nsecret\n```{solution-end}\n```\nb\n", "a\nb\n"),
    ("syntax shown in a code block is kept", "````md\n```{solution} ex\nshown\n```\n````\n",
     "````md\n```{solution} ex\nshown\n```\n````\n"),
    ("exercise kept", "```{exercise}\n:label: ex\nask\n```\n", "```{exercise}\n:label: ex\nask\n```\n"),
]


@pytest.mark.parametrize("name, text, expected", STRIP, ids=[s[0] for s in STRIP])
def test_strip_solutions(name, text, expected):
    assert student.strip_solutions(text) == expected


def test_unclosed_solution_block_is_refused():
    with pytest.raises(ValueError, match="never closed"):
        student.strip_solutions("```{solution} ex\nsecret\n")


@pytest.mark.parametrize("cell, message", [
    (tagged(new_code_cell("x = 1"), "solution"), "no '# BEGIN SOLUTION'"),
    (new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), "not tagged 'solution'"),
])
def test_badly_marked_cells_are_refused(cell, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        student.student_notebook(new_notebook(cells=[cell]))


# --- whole notebooks: the synthetic one, then every real one ---------------------------------
def test_synthetic_student_copy_hides_every_solution():
    source = synthetic()
    handout = student.student_notebook(source)
    text = "\n".join(c.source for c in handout.cells)
    assert "SECRET" not in text
    assert leaks(source, handout) == [] and solution_lines(source)
    assert solution_blocks(handout) == [] and len(solution_blocks(source)) == 5  # 3 blocks, a gated start and end
    assert "Kept note." in text and "After." in text and "Why is the square root increasing?" in text
    assert len(handout.cells) == len(source.cells) - 1  # the markdown cell holding only a solution is gone
    assert all(c.get("outputs", []) == [] for c in handout.cells)


def test_synthetic_student_copy_runs_to_its_first_stub(tmp_path):
    source = synthetic()
    result = run_exercises(source, student.student_notebook(source), tmp_path)
    assert result == {"first_error": "NotImplementedError", "exercises": 2, "keys": ["roots", "total"]}


def test_a_vacuous_check_is_caught(tmp_path):
    source = synthetic(check_total="assert sum(values) == 14.0  # never looks at total")
    with pytest.raises(AssertionError, match="passes without its solution"):
        run_exercises(source, student.student_notebook(source), tmp_path)


def test_build_writes_notebooks_and_pages(tmp_path):
    root = tmp_path / "repo"
    (root / "book" / "part").mkdir(parents=True)
    nbformat.write(synthetic(), root / "book" / "part" / "chapter.ipynb")
    (root / "book" / "page.md").write_text("# Page\n\n```{solution} ex\nSECRET-PAGE\n```\n")
    written = student.build(["book"], tmp_path / "out", root=root)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in written) == ["book/page.md", "book/part/chapter.ipynb"]
    assert "SECRET" not in (tmp_path / "out" / "book" / "page.md").read_text()
    assert "SECRET" not in (tmp_path / "out" / "book" / "part" / "chapter.ipynb").read_text()


def _real_or_synthetic(case):
    return (synthetic(), ROOT) if case is None else (nbformat.read(case, as_version=4), case.parent)


CASES = [pytest.param(None, id="synthetic")] + [pytest.param(p, id=p.relative_to(ROOT).as_posix()) for p in REAL]


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """The student edition as handed out: written by tools/student.py into a fresh folder outside the repository."""
    out = tmp_path_factory.mktemp("handout") / "student"
    assert ROOT not in out.parents, "the edition must be tried away from the repository"
    student.build(["book", "labs"], out)
    return out


def test_edition_carries_every_file_a_notebook_reads(edition):
    needed = [*sorted((ROOT / "labs").glob("*.py")), *sorted((ROOT / "labs" / "results").glob("*.json")),
              ROOT / "references.bib"]
    assert len(needed) >= 4  # the two lab modules, a stored result, the bibliography
    for file in needed:
        rel = file.relative_to(ROOT)
        assert (edition / rel).exists(), f"{rel} is not in the student edition"
    assert not list(edition.rglob("__pycache__")) and not list(edition.rglob("_vendor"))


@pytest.mark.parametrize("case", CASES)
def test_student_copy_of_every_notebook(case, tmp_path, edition):
    """Each notebook of the edition runs in the edition's folder, away from the repository, up to its first stub."""
    source, cwd = _real_or_synthetic(case)
    if case is None:
        handout = student.student_notebook(source)
    else:
        copy_path = edition / case.relative_to(ROOT)
        handout, cwd = nbformat.read(copy_path, as_version=4), copy_path.parent
    assert leaks(source, handout) == []
    assert solution_blocks(handout) == []
    variants = variants_for(case)
    result = run_exercises(source, handout, cwd, variants)
    if result["exercises"]:
        assert result["first_error"] == "NotImplementedError"
    else:
        assert result["first_error"] is None
    if case is not None:  # every code exercise keeps a correct alternative and a wrong answer, and no stale entry
        assert sorted(variants) == sorted(result["keys"]), f"tests/exercises/{case.stem}.py: keys {sorted(variants)}, " \
                                                           f"exercises {sorted(result['keys'])}"
        for key, kinds in variants.items():
            assert kinds.get("correct") and kinds.get("wrong"), f"{case.stem}: exercise {key} needs both kinds"


def test_a_check_that_accepts_a_wrong_answer_is_caught(tmp_path):
    source = synthetic()
    wrong = {"roots": {"wrong": ["def roots(xs):\n    return [x / 2 for x in xs]"], "correct": []},
             "total": {"wrong": ["total = 14.0  # the right number, computed from nothing"], "correct": []}}
    with pytest.raises(AssertionError, match="should reject this solution"):
        run_exercises(source, student.student_notebook(source), tmp_path, wrong)


def test_a_check_that_does_not_say_what_it_got_is_caught(tmp_path):
    source = synthetic(check_roots="assert roots(values) == [1.0, 2.0, 3.0]")
    wrong = {"roots": {"wrong": ["def roots(xs):\n    return [x / 2 for x in xs]"], "correct": []}}
    with pytest.raises(AssertionError, match="should say what it got"):
        run_exercises(source, student.student_notebook(source), tmp_path, wrong)


def test_a_check_that_rejects_a_correct_answer_is_caught(tmp_path):
    source = synthetic()
    fair = {"roots": {"correct": ["def roots(xs):\n    return [x ** 0.5 for x in xs]"],
                      "wrong": ["def roots(xs):\n    return [x / 2 for x in xs]"]}}
    result = run_exercises(source, student.student_notebook(source), tmp_path, fair)
    assert result["keys"] == ["roots", "total"]
    unfair = {"total": {"correct": ["total = float(sum(values)) + 1e-12  # equal up to rounding"], "wrong": []}}
    with pytest.raises(AssertionError, match="total correct 0 fails"):
        run_exercises(source, student.student_notebook(source), tmp_path, unfair)


def test_the_book_folds_solutions_and_drops_their_markers():
    """tools/gdlab_book.py, on a cell as myst-nb reads it: the solution cell is folded and loses its marker lines,
    a cell that is not a solution is left as it is."""
    import gdlab_book
    from docutils import nodes

    def cell(tags, text):
        block = nodes.literal_block(text, text)
        source = nodes.container("", block, nb_element="cell_code_source")
        return nodes.container("", source, nb_element="cell_code", cell_metadata={"tags": tags})

    solution_text = "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION\n"
    other_text = "print('# BEGIN SOLUTION is only a string here')"
    doctree = nodes.section("", cell(["solution"], solution_text), cell([], other_text))
    gdlab_book.fold_solutions(None, doctree)
    solution, other = doctree.children
    assert solution.astext() == "def f(x):\n    return 2 * x"
    assert solution["hide_mode"] == "input" and solution["prompt_show"] == "Show the solution"
    assert other.astext() == other_text and "hide_mode" not in other.attributes
