"""The Colab/Jupyter edition (``colab/``, written by ``make colab``) and ``gdlab.display``.

* ``colab/`` is exactly what ``tools/colab.py`` writes from the book now: a stale edition fails, naming the files;
* no MyST is left in its Markdown (directive fences, roles, options, targets), and the detector catches each kind;
* its statements and exercises carry the book's numbers, by the numbering rule on a small book made here (the browser
  stage, ``tests/browser/test_site.py``, compares them with the built book);
* the first cell installs the pinned release, stops on a failed install, and fetches a lab's files;
* each notebook of the book itself installs on Colab what its first cell should (``tools/colab.py`` writes it);
* ``gdlab.display.glue`` runs without myst-nb, shows nothing there, keeps and returns the value.
"""

from __future__ import annotations

import filecmp
import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab  # noqa: E402

from gdlab import display  # noqa: E402

EDITION = ROOT / colab.edition_folder(colab.load_config(ROOT))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "colab"
    colab.build(out, ROOT)
    return out


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_the_committed_edition_is_what_make_colab_writes_now(fresh):
    assert EDITION.is_dir(), "colab/ is missing: run make colab"
    assert _files(EDITION) == _files(fresh), "colab/ holds other files than make colab writes: run make colab"
    stale = [name for name in _files(fresh) if not filecmp.cmp(EDITION / name, fresh / name, shallow=False)]
    assert not stale, f"colab/ is stale, run make colab: {stale}"


def _edition_notebooks(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.ipynb"))


def test_every_notebook_of_the_book_has_its_edition(fresh):
    expected = sorted(f"{doc}.ipynb" for doc, _ in colab.chapters(ROOT) if (ROOT / f"{doc}.ipynb").exists())
    assert sorted(p.relative_to(fresh).as_posix() for p in _edition_notebooks(fresh)) == expected


def test_no_myst_is_left_in_the_edition(fresh):
    for path in _edition_notebooks(fresh):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                assert colab.residue(cell.source) == [], f"{path.relative_to(fresh)} cell {i}"
            else:
                assert cell.outputs == [] and cell.execution_count is None


# one planted piece of MyST per kind the detector must catch
PLANTED = [
    "As shown by {cite}`polyak1964some`.",
    "See {prf:ref}`thm-hb-stable`.",
    "See {ref}`the exercise <ex-x>`.",
    "Figure {numref}`fig-x`.",
    "Equation {eq}`eq-x`.",
    "The {doc}`notation <notation>` page.",
    "The value {glue:text}`rate`.",
    "```{prf:theorem} Title\nText.\n```",
    ":::{note}\nText.\n:::",
    ":label: thm-x",
    "(sec-x)=",
    "> :class: dropdown",
]


@pytest.mark.parametrize("text", PLANTED)
def test_the_residue_detector_catches_planted_myst(text):
    clean = "**Theorem 3.1 (Stability).** Let $h = \\alpha\\lambda$ and `code` with {braces}.\n\n"
    assert colab.residue(clean) == []
    assert colab.residue(clean + text + "\n"), f"the detector missed {text!r}"


def test_the_converter_refuses_what_it_cannot_convert():
    book = colab.read_book(ROOT)
    converter = colab.Converter(book, "book/deterministic/heavy-ball", colab.Counter())
    with pytest.raises(ValueError, match=r"\{unknownthing\}"):
        converter.convert("```{unknownthing}\ntext\n```")
    with pytest.raises(ValueError, match="no-such-label"):
        converter.convert("See {prf:ref}`no-such-label`.")
    with pytest.raises(ValueError, match="nokey1234"):
        converter.convert("As in {cite}`nokey1234`.")
    with pytest.raises(ValueError, match=r"\{eq\}"):
        converter.convert("By {eq}`eq-x`.")


def _small_book(tmp_path: Path) -> Path:
    """A book of three notebooks in two numbered parts and one unnumbered part."""
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/some-org/course\n  branch: main\n"
        "bibtex_bibfiles:\n  - references.bib\nsphinx:\n  config:\n    gdlab_colab_edition: colab\n"
    )
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: intro
        parts:
          - caption: Start
            numbered: false
            chapters:
              - file: notes
          - caption: One
            numbered: true
            chapters:
              - file: a/first
          - caption: Two
            numbered: true
            chapters:
              - file: a/second
              - file: b/third
        """))
    (tmp_path / "references.bib").write_text(textwrap.dedent("""\
        @article{one2001,
          author = {M{\\"u}ller, Anna},
          title = {One}, journal = {J}, year = {2001}
        }
        @article{two2002,
          author = {Kim, Bo and Lee, Cy},
          title = {Two}, journal = {J}, year = {2002}
        }
        @article{three2003,
          author = {Ada, D. and Bea, E. and Cid, F.},
          title = {Three}, journal = {J}, year = {2003}
        }
        """))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "gdlab"\nversion = "9.8.7"\n')
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "notes.md").write_text("# Notes\n")

    def notebook(path, *markdown):
        first = nbformat.v4.new_code_cell("import sys")
        first.metadata["tags"] = ["colab-install", "remove-cell"]
        nb = nbformat.v4.new_notebook(cells=[first, *map(nbformat.v4.new_markdown_cell, markdown)])
        for k, cell in enumerate(nb.cells):
            cell.id = f"c{k}"
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, tmp_path / path)

    notebook("a/first.ipynb", "# First\n\n```{prf:theorem} Alpha\n:label: thm-alpha\n\nText.\n```\n\n"
             "```{prf:lemma}\n:label: lem-one\nA lemma.\n```\n\n```{prf:theorem}\n:label: thm-beta\nMore.\n```")
    notebook("a/second.ipynb", "# Second\n\n(sec-intro)=\n## Setting\n\n:::{prf:theorem} Gamma\n:label: thm-gamma\n"
             "Uses {prf:ref}`thm-beta` and {ref}`the lemma <lem-one>`, {cite}`one2001`.\n:::\n\n"
             "```{exercise}\n:label: ex-a\nDo it.\n```\n\n```{solution} ex-a\n:class: dropdown\nDone.\n```\n\n"
             "```{note}\nA note with $x$ and {cite}`two2002,three2003`.\n```\nAfter the note.")
    notebook("b/third.ipynb", "# Third\n\n```{exercise}\n:label: ex-b\nAgain, see {ref}`sec-intro`.\n```\n\n"
             "\\begin{align}\nx &= 1\n\\end{align}")
    return tmp_path


def test_numbers_links_and_blocks_follow_the_book_rules(tmp_path):
    root = _small_book(tmp_path)
    assert colab.chapters(root) == [("intro", ()), ("notes", ()), ("a/first", (1,)), ("a/second", (2,)),
                                    ("b/third", (3,))]
    colab.build(root / "colab", root)
    first, second, third = (nbformat.read(root / "colab" / p, as_version=4).cells
                            for p in ("a/first.ipynb", "a/second.ipynb", "b/third.ipynb"))
    base = "https://some-org.github.io/course/"
    text = first[1].source
    # numbered per kind within the chapter, the chapter's number first
    assert "**Theorem 1.1 (Alpha).** Text." in text and "**Lemma 1.1.** A lemma." in text
    assert "**Theorem 1.2.** More." in text
    text = second[1].source
    assert "**Theorem 2.1 (Gamma).**" in text  # numbering continues across parts
    assert f"[Theorem 1.2]({base}a/first.html#thm-beta)" in text
    assert f"[the lemma]({base}a/first.html#lem-one)" in text
    assert f"([Müller, 2001]({base}book/reference/bibliography.html))" in text
    assert "(sec-intro)=" not in text and "## Setting" in text
    assert "**Exercise 2.1.** Do it." in text
    assert "<details>\n<summary><b>Solution to Exercise 2.1</b></summary>\n\nDone.\n\n</details>" in text
    assert "> **Note.** A note with $x$ and ([Kim and Lee, 2002; Ada et al., 2003](" in text
    assert ".html)).\n\nAfter the note." in text  # a paragraph of its own, not swallowed by the blockquote
    text = third[1].source
    assert "**Exercise 3.1.** Again, see [Setting](" in text
    assert "$$\n\\begin{align}\nx &= 1\n\\end{align}\n$$" in text
    install = first[0].source
    assert '"gdlab[labs] @ git+https://github.com/some-org/course@v9.8.7"' in install
    assert colab.residue("\n".join(c.source for c in (*first, *second, *third) if c.cell_type == "markdown")) == []


def test_glued_values_are_shown_by_a_cell_next_to_the_paragraph():
    nb = nbformat.read(EDITION / "book/deterministic/heavy-ball.ipynb", as_version=4)
    shows = [(i, c) for i, c in enumerate(nb.cells) if "glued-values" in c.metadata.get("tags", [])]
    assert shows, "no cell shows the glued values"
    for i, cell in shows:
        names = re.findall(r'"(\w+)"', cell.source)
        below = "below" in cell.source
        paragraph = nb.cells[i + 1 if below else i - 1]
        if not below:  # the values are glued by the code cell just above, after the paragraph that quotes them
            paragraph = next(c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown")
        assert all(f"`{n}`" in paragraph.source for n in names)
        gluing = [c for c in nb.cells[:i] if c.cell_type == "code" and any(f'"{n}"' in c.source for n in names)]
        assert all(any(re.search(r'glue\(\s*"' + n, c.source) for c in gluing) for n in names)


def test_the_install_cell_pins_the_release_and_stops_when_pip_fails(tmp_path):
    version = colab.version(ROOT)
    for path in _edition_notebooks(EDITION):
        source = nbformat.read(path, as_version=4).cells[0].source
        assert f"gdlab@v{version}\"" in source and "subprocess.run(pip)" in source, path
        assert "raise RuntimeError" in source
    # run the lab's cell as on Colab, with a pip that fails: it must raise, naming what failed
    source = nbformat.read(EDITION / "labs/linear-scaling.ipynb", as_version=4).cells[0].source
    fake = tmp_path / "google"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "colab.py").write_text("")
    script = tmp_path / "cell.py"
    script.write_text("import sys\nsys.executable = '/bin/false'\nimport google.colab\n" + source)
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode != 0 and "RuntimeError: pip could not install gdlab[labs]" in run.stderr


def test_a_lab_edition_holds_and_fetches_what_the_lab_reads():
    for lab in ("labs/linear-scaling", "labs/memory-accounting"):
        files = colab.lab_files(ROOT / f"{lab}.ipynb")
        assert files and files[0].endswith(".py")
        source = nbformat.read(EDITION / f"{lab}.ipynb", as_version=4).cells[0].source
        for name in files:
            assert (EDITION / "labs" / name).read_bytes() == (ROOT / "labs" / name).read_bytes()
            assert f'"{name}",' in source
        joined = source.replace('/"\n        "', "/")  # the address, split in two strings for ruff's width
        assert f"https://raw.githubusercontent.com/gdlab-course/gdlab/v{colab.version(ROOT)}/{EDITION.name}/labs/" in joined


def test_the_book_notebooks_install_what_their_first_cell_should():
    for doc, _ in colab.chapters(ROOT):
        path = ROOT / f"{doc}.ipynb"
        if path.exists():
            first = nbformat.read(path, as_version=4).cells[0].source
            assert first == colab.book_install_cell(doc, ROOT), (
                f"{doc}: its first cell is not what tools/colab.py writes (book_install_cell)")


def test_the_site_address_comes_from_the_repository():
    assert colab.site_url({"repository": {"url": "https://github.com/gdlab-course/gdlab"}}) == (
        "https://gdlab-course.github.io/gdlab/")
    with pytest.raises(ValueError, match="repository.url"):
        colab.site_url({"repository": {"url": "https://gitlab.com/a/b"}})


# --- gdlab.display ---------------------------------------------------------------------------------------------
def test_glue_without_myst_nb_shows_nothing_and_returns_the_value(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "myst_nb" else real(name, *a))
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # an import would fail
    assert display.glue("rate_ratio", "1.25", display=False) == "1.25"
    assert display.glue("rate_ratio", "1.50") == "1.50"
    assert capsys.readouterr().out == ""
    display.show("rate_ratio")
    assert capsys.readouterr().out == "rate_ratio = 1.50\n"


def test_glue_and_show_refuse_bad_arguments():
    with pytest.raises(TypeError, match="'name'"):
        display.glue(3, "x")
    with pytest.raises(ValueError, match="'name'"):
        display.glue("not a name", "x")
    with pytest.raises(TypeError, match="'display'"):
        display.glue("ok", "x", display="no")
    with pytest.raises(KeyError, match="never_glued"):
        display.show("never_glued")
    with pytest.raises(TypeError):
        display.show()
