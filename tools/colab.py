"""Write the Colab/Jupyter edition of the course: every notebook of the book, in Markdown that plain Jupyter renders.

Usage: ``python tools/colab.py [--out colab]`` (``make colab``). The default folder is ``gdlab_colab_edition`` in
``_config.yml``, which also tells the book's Colab buttons where the edition lives.

The book's Markdown is MyST: theorems, proofs, exercises and solutions are directives, citations and cross-references
are roles, and a few numbers are glued in from the code. JupyterLab without its MyST extension, and Google Colab, show
all of it as raw text. For every notebook of ``_toc.yml`` this tool writes a copy under ``--out`` (at the same relative
path) whose Markdown is plain:

* a statement (``{prf:theorem}``, lemma, ...) opens with a bold heading numbered as the book numbers it,
  "**Theorem 3.1 (Stability).**": the chapter's number (chapters of the numbered parts of ``_toc.yml``, counted across
  parts) and the statement's place among those of its kind in the chapter; exercises are numbered the same way;
* a proof is a blockquote, a solution a ``<details>`` element that opens on a click, an admonition (note, tip,
  warning, ...) a blockquote with a bold title, a figure or image a Markdown image;
* ``$`` and ``$$`` math is kept (an amsmath environment outside ``$$`` is wrapped in ``$$``), ``(label)=`` targets are
  dropped;
* ``{cite}`` becomes "(Author, Year)" linked to the book's bibliography, ``{prf:ref}``, ``{ref}``, ``{numref}`` and
  ``{doc}`` become text ("Theorem 3.1") linked to the page of the published book (:func:`site_url`);
* a ``{glue:text}`` role becomes the glued name in code font, and a cell placed before the paragraph prints the values
  the paragraph quotes (``gdlab.display.show``): the values exist only once the code above has run.

The first cell installs the release this edition belongs to, the git tag ``v<version>`` of ``pyproject.toml``, and
stops with an error that says what failed when pip fails; a lab's notebook also needs its script and stored results,
which are copied next to it and fetched at the same tag on Colab. Outputs are never stored. A directive or role the
tool does not know stops it with an error naming the notebook, rather than leaving MyST in the edition.
"""

from __future__ import annotations

import argparse
import codecs
import copy
import re
import shutil
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import latexcodec  # noqa: F401  (registers the "ulatex" codec that turns BibTeX accents into text)
import nbformat
import yaml
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parent.parent

# sphinx-proof's statements, by directive name (each has its own counter, as in the book: Theorem 3.1 and Lemma 3.1)
STATEMENTS = {
    f"prf:{kind}": kind.title()
    for kind in ("theorem", "lemma", "proposition", "corollary", "definition", "conjecture", "example", "remark",
                 "property", "observation", "criterion", "assumption", "axiom", "algorithm", "notation")
}
ADMONITIONS = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
               "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
               "seealso": "See also", "admonition": "", "margin": "", "sidebar": ""}
AMSMATH = ("equation", "multline", "gather", "align", "alignat", "flalign", "eqnarray")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,}|:{3,})[ \t]*(?P<info>[^\n]*)$")
DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.-]+)\}[ \t]*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
ROLE = re.compile(r"\{(?P<role>[\w:.-]+)\}`(?P<body>[^`]*)`")
TARGET = re.compile(r"^[ \t]*\((?P<label>[^()\s]+)\)=[ \t]*$")
EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
BEGIN_ENV = re.compile(r"^[ \t]*\\begin\{(?P<env>(?:" + "|".join(AMSMATH) + r")\*?)\}")
# What must not survive in the edition's Markdown (tests/test_colab_edition.py checks every cell with it).
RESIDUE = {
    "a directive fence": re.compile(r"^[ \t]*(?:`{3,}|~{3,}|:{3,})[ \t]*\{", re.M),
    "a role": re.compile(r"\{[a-z][\w:.-]*\}`"),
    "a citation": re.compile(r"\{cite[\w:]*\}"),
    "a glued value": re.compile(r"\{glue[\w:]*\}"),
    "a cross-reference": re.compile(r"\{(?:prf:ref|ref|numref|eq|doc)\}"),
    "a directive option": re.compile(r"^[ \t>]*:(?:label|class|nonumber|name):", re.M),
    "a target": re.compile(r"^[ \t>]*\([^()\s]+\)=[ \t]*$", re.M),
}


def residue(text: str) -> list[str]:
    """What MyST is left in ``text``: one entry per kind found, with the first occurrence."""
    found = []
    for what, pattern in RESIDUE.items():
        match = pattern.search(text)
        if match:
            found.append(f"{what}: {match.group(0).strip()!r}")
    return found


# --- the book: configuration, table of contents, numbers -----------------------------------------------------------
def load_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def site_url(config: dict) -> str:
    """The address of the published book, from ``repository.url``: GitHub Pages of that repository."""
    url = config.get("repository", {}).get("url", "")
    match = re.fullmatch(r"https://github\.com/(?P<org>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise ValueError(f"_config.yml: repository.url must be a GitHub repository, got {url!r}")
    return f"https://{match['org'].lower()}.github.io/{match['repo']}/"


def edition_folder(config: dict) -> str:
    folder = config.get("sphinx", {}).get("config", {}).get("gdlab_colab_edition")
    if not folder:
        raise ValueError("_config.yml: sphinx.config.gdlab_colab_edition (the edition's folder) is not set")
    return folder


def repository(config: dict) -> tuple[str, str]:
    org, repo = site_url(config).removeprefix("https://").split(".github.io/")
    return config["repository"]["url"].rstrip("/").removesuffix(".git"), repo.strip("/")


def chapters(root: Path = ROOT) -> list[tuple[str, tuple[int, ...]]]:
    """Every document of ``_toc.yml`` (path without suffix) with its chapter number, ``()`` when it has none.

    The book numbers the chapters of its numbered parts one after another across the parts (checked against a built
    book by tests/test_colab_edition.py).
    """
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    out, number = [(toc["root"], ())], 0
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            if "sections" in chapter:
                raise ValueError(f"_toc.yml: {chapter['file']} has sections, which the edition does not number yet")
            if part.get("numbered"):
                number += 1
                out.append((chapter["file"], (number,)))
            else:
                out.append((chapter["file"], ()))
    return out


def document_file(doc: str, root: Path = ROOT) -> Path:
    for suffix in (".ipynb", ".md"):
        if (root / f"{doc}{suffix}").exists():
            return root / f"{doc}{suffix}"
    raise ValueError(f"_toc.yml lists {doc}, which is neither a notebook nor a page")


def markdown_of(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    return [path.read_text()]


# --- reading MyST ----------------------------------------------------------------------------------------------
@dataclass
class Directive:
    name: str
    arg: str
    options: dict
    content: list[str]


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def blocks(text: str):
    """Split MyST markdown into lines of text, plain code blocks (lists of lines) and :class:`Directive` s."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            yield lines[i]
            i += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        end = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], fence)), None)
        if end is None:
            raise ValueError(f"the fence {lines[i].strip()!r} is never closed")
        directive = DIRECTIVE.match(info)
        if not directive:
            yield lines[i : end + 1]
        else:
            body = [line[len(match["indent"]) :] if line.startswith(match["indent"]) else line
                    for line in lines[i + 1 : end]]
            options, k = {}, 0
            while k < len(body) and OPTION.match(body[k]):
                option = OPTION.match(body[k])
                options[option["key"]] = option["value"].strip()
                k += 1
            if k < len(body) and body[k].strip() == "---":
                raise ValueError(f"{{{directive['name']}}}: YAML options are not supported, write :key: value")
            content = body[k:]
            while content and not content[0].strip():
                content.pop(0)
            while content and not content[-1].strip():
                content.pop()
            yield Directive(directive["name"], directive["arg"].strip(), options, content)
        i = end + 1


def _walk(text: str):
    """Every directive in ``text``, outer ones before the ones they hold, in document order."""
    for block in blocks(text):
        if isinstance(block, Directive):
            yield block
            yield from _walk("\n".join(block.content))


@dataclass
class Target:
    doc: str
    text: str  # what a reference shows: "Theorem 3.1", "Exercise 2.1", a section's title
    title: str = ""


@dataclass
class Book:
    """What the converter needs to know about the whole book."""

    root: Path
    base: str  # the published book's address, ending in "/"
    numbers: dict[str, tuple[int, ...]]  # chapter numbers by document
    titles: dict[str, str] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    citations: dict[str, str] = field(default_factory=dict)

    def page(self, doc: str, anchor: str = "") -> str:
        return f"{self.base}{doc}.html" + (f"#{anchor}" if anchor else "")


class Counter:
    """The book's numbering of statements and exercises: per kind, per chapter number (as Sphinx's numfig does)."""

    def __init__(self):
        self.counts: dict[tuple[str, tuple[int, ...]], int] = {}

    def next(self, kind: str, chapter: tuple[int, ...]) -> str:
        key = (kind, chapter)
        self.counts[key] = self.counts.get(key, 0) + 1
        return ".".join(map(str, (*chapter, self.counts[key])))


def _numbered(directive: Directive) -> str | None:
    """The counter of a numbered directive (``"theorem"``, ``"exercise"``), ``None`` for one without a number."""
    if "nonumber" in directive.options:
        return None
    if directive.name in STATEMENTS:
        return directive.name.removeprefix("prf:")
    if directive.name == "exercise":
        return "exercise"
    return None


def _heading_text(directive: Directive, number: str | None) -> str:
    kind = STATEMENTS.get(directive.name, "Exercise")
    return f"{kind} {number}" if number else kind


def read_book(root: Path = ROOT) -> Book:
    """Number every statement and exercise, and collect every label, title and citation of the book."""
    config = load_config(root)
    book = Book(root=root, base=site_url(config), numbers=dict(chapters(root)))
    counter = Counter()
    for doc, number in chapters(root):
        for text in markdown_of(document_file(doc, root)):
            heading = re.search(r"^# (.+)$", text, re.M)
            if heading and doc not in book.titles:
                book.titles[doc] = heading[1].strip()
            lines = text.split("\n")
            for k, line in enumerate(lines):
                target = TARGET.match(line)
                if target:
                    after = next((x for x in lines[k + 1 :] if x.strip()), "")
                    title = after.lstrip("#").strip() if after.startswith("#") else target["label"]
                    book.targets[target["label"]] = Target(doc, title, title)
            for directive in _walk(text):
                kind = _numbered(directive)
                label = directive.options.get("label")
                if kind is None and not label:
                    continue
                shown = _heading_text(directive, counter.next(kind, number) if kind else None)
                if label:
                    if label in book.targets:
                        raise ValueError(f"{doc}: the label {label!r} is used twice in the book")
                    book.targets[label] = Target(doc, shown, directive.arg)
    book.citations = read_bibliography(root / config.get("bibtex_bibfiles", ["references.bib"])[0])
    return book


def read_bibliography(path: Path) -> dict[str, str]:
    """``key -> "Author, Year"`` as the book's author-year style shows it ("Kingma and Ba", "Lessard et al.")."""
    out = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [codecs.decode(" ".join(p.prelast_names + p.last_names), "ulatex").replace("{", "").replace("}", "")
                 for p in people]
        if not names:
            raise ValueError(f"{path.name}: {key} has no author")
        who = names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2 else f"{names[0]} et al."
        out[key] = f"{who}, {entry.fields.get('year', 'n.d.')}"
    return out


# --- writing plain Markdown ------------------------------------------------------------------------------------
class Converter:
    """Turns the MyST of one document into plain Markdown; records the glued names each cell quotes."""

    def __init__(self, book: Book, doc: str, counter: Counter):
        self.book, self.doc, self.counter = book, doc, counter
        self.chapter = book.numbers.get(doc, ())
        self.glued: list[str] = []

    # roles
    def _link(self, text: str, url: str) -> str:
        return f"[{text}]({url})"

    def _reference(self, role: str, body: str) -> str:
        explicit = EXPLICIT.match(body)
        text, label = (explicit["text"], explicit["target"]) if explicit else (None, body.strip())
        if role == "doc":
            doc = str((Path(self.doc).parent / label).as_posix()) if not label.startswith("/") else label.lstrip("/")
            doc = re.sub(r"[^/]+/\.\./", "", doc)
            return self._link(text or self.book.titles.get(doc, doc), self.book.page(doc))
        target = self.book.targets.get(label)
        if target is None:
            raise ValueError(f"{{{role}}}`{body}`: no statement, exercise or section of the book has this label")
        if role == "numref" and text:
            text = text.replace("%s", target.text.rsplit(" ", 1)[-1]).replace("{number}", target.text.rsplit(" ", 1)[-1])
        return self._link(text or target.text, self.book.page(target.doc, label))

    def _cite(self, role: str, body: str) -> str:
        keys = [k.strip() for k in body.split(",") if k.strip()]
        missing = [k for k in keys if k not in self.book.citations]
        if missing:
            raise ValueError(f"{{{role}}}`{body}`: {', '.join(missing)} not in the bibliography")
        bibliography = self.book.page("book/reference/bibliography")
        if role in ("cite:t", "cite:ts"):
            parts = [f"{who} ({year})" for who, year in (self.book.citations[k].rsplit(", ", 1) for k in keys)]
            return self._link("; ".join(parts), bibliography)
        return "(" + self._link("; ".join(self.book.citations[k] for k in keys), bibliography) + ")"

    def _glue(self, role: str, body: str) -> str:
        name, _, spec = body.strip().partition(":")
        if spec:
            raise ValueError(f"{{{role}}}`{body}`: format the value in the glue() call, not in the role")
        if not name.isidentifier():
            raise ValueError(f"{{{role}}}`{body}`: a glued name must be an identifier")
        if name not in self.glued:
            self.glued.append(name)
        return f"`{name}`"

    def role(self, match: re.Match) -> str:
        role, body = match["role"], match["body"]
        if role in ("cite", "cite:p", "cite:ps", "cite:t", "cite:ts"):
            return self._cite(role, body)
        if role in ("prf:ref", "ref", "numref", "doc"):
            return self._reference(role, body)
        if role in ("glue", "glue:", "glue:text", "glue:md", "glue:any"):
            return self._glue(role, body)
        if role == "math":
            return f"${body}$"
        raise ValueError(f"the role {{{role}}} has no plain Markdown form in the edition")

    def inline(self, text: str) -> str:
        return ROLE.sub(self.role, text)

    # blocks
    def convert(self, text: str) -> str:
        out: list[str] = []
        separate = False  # a converted directive ends here: the next text starts a paragraph of its own
        for block in blocks(text):
            if isinstance(block, Directive):
                if out and out[-1].strip():
                    out.append("")
                out.extend(self.directive(block).split("\n"))
                separate = True
                continue
            lines = block if isinstance(block, list) else [] if TARGET.match(block) else [self.inline(block)]
            if separate and lines and lines[0].strip():
                out.append("")
            if lines:
                separate = False
            out.extend(lines)
        return "\n".join(_display_math(out))

    def directive(self, d: Directive) -> str:
        body = self.convert("\n".join(d.content))
        title = self.inline(d.arg)
        kind = _numbered(d)
        if d.name in STATEMENTS or d.name == "exercise":
            number = self.counter.next(kind, self.chapter) if kind else None
            heading = _heading_text(d, number) + (f" ({title})" if title else "")
            return _lead(f"**{heading}.**", body)
        if d.name == "prf:proof":
            return _quote(_lead("*Proof.*", body) + " ∎")
        if d.name == "solution":
            exercise = self.book.targets.get(d.arg)
            if exercise is None:
                raise ValueError(f"{{solution}} {d.arg}: no exercise has this label")
            return f"<details>\n<summary><b>Solution to {exercise.text}</b></summary>\n\n{body}\n\n</details>"
        if d.name == "dropdown":
            return f"<details>\n<summary><b>{title or 'Details'}</b></summary>\n\n{body}\n\n</details>"
        if d.name in ADMONITIONS:
            name = title or ADMONITIONS[d.name] or d.name.title()
            return _quote(_lead(f"**{name}.**", body))
        if d.name == "math":
            if "label" in d.options:
                raise ValueError("{math} with a :label: (a numbered equation) has no plain Markdown form yet")
            return "$$\n" + "\n".join(d.content) + "\n$$"
        if d.name in ("figure", "image"):
            alt = d.options.get("alt", "")
            image = f"![{alt}]({d.arg})"
            return image + (f"\n\n*{body}*" if d.name == "figure" and body.strip() else "")
        raise ValueError(f"the directive {{{d.name}}} has no plain Markdown form in the edition")


def _lead(heading: str, body: str) -> str:
    """``heading`` run into the first paragraph of ``body`` when that paragraph is plain text."""
    first = body.split("\n", 1)[0] if body else ""
    if first.strip() and not re.match(r"[ \t]*(\$\$|[-*+>|#<]|\d+[.)]\s|`{3}|~{3})", first):
        return f"{heading} {body}"
    return f"{heading}\n\n{body}" if body else heading


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.split("\n"))


def _display_math(lines: list[str]) -> list[str]:
    """Display math set off by blank lines (every renderer then reads it as a block), amsmath wrapped in ``$$``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        env = BEGIN_ENV.match(line)
        if stripped.startswith("$$") or env:
            if env:  # an amsmath environment outside $$
                close = re.compile(r"\\end\{" + re.escape(env["env"]) + r"\}")
                end = next((j for j in range(i, len(lines)) if close.search(lines[j])), None)
                block = ["$$", *lines[i : (end if end is not None else i) + 1], "$$"]
            else:
                one_line = len(stripped) > 2 and stripped.endswith("$$")
                end = i if one_line else next((j for j in range(i + 1, len(lines)) if lines[j].strip().endswith("$$")), None)
                block = lines[i : (end if end is not None else i) + 1]
            if end is None:
                raise ValueError(f"display math opened by {stripped[:40]!r} is never closed")
            if out and out[-1].strip():
                out.append("")
            out.extend(block)
            if end + 1 < len(lines) and lines[end + 1].strip():
                out.append("")
            i = end + 1
            continue
        out.append(line)
        i += 1
    return out


# --- notebooks -------------------------------------------------------------------------------------------------
def version(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


# Stored results a page reads that are named after another page (by the notebook's stem)
READS = {"which-optimizer": ["results/benchmarks-cpu.json"]}


def lab_files(notebook: Path) -> list[str]:
    """What a notebook reads besides gdlab, relative to the notebook: a lab's script (``<stem>.py`` with ``_`` for
    ``-``), the stored results ``results/<stem>-*.json`` (a lab's, or the Benchmarks page's recorded run), and the
    files :data:`READS` names for it."""
    script = notebook.with_name(notebook.stem.replace("-", "_") + ".py")
    results = [r.relative_to(notebook.parent).as_posix()
               for r in sorted(notebook.parent.glob(f"results/{notebook.stem}-*.json"))]
    extra = [name for name in READS.get(notebook.stem, []) if name not in results]
    return [*([script.name] if script.exists() else []), *results, *extra]


# Colab-only packages a notebook's first cell installs beyond gdlab (the GPU sections use them; no CPU run needs them)
COLAB_EXTRAS = {"labs/memory-accounting": ["bitsandbytes"]}


def install_cell(repo_url: str, ref: str, comment: list[str], files: list[str] = (), folder: str = "",
                 extras: list[str] = ()) -> str:
    """The first cell of a notebook: on Colab, install gdlab at ``ref`` (and fetch ``files`` from ``folder``)."""
    package = f"gdlab[labs] @ git+{repo_url}@{ref}"
    lines = [
        "import subprocess",
        "import sys",
        "",
        *comment,
        'if "google.colab" in sys.modules:',
        f'    GDLAB = "{package}"',
        "    for what in [GDLAB" + "".join(f', "{extra}"' for extra in extras) + "]:",
        '        pip = [sys.executable, "-m", "pip", "install", "-q", what]',
        "        if subprocess.run(pip).returncode != 0:",
        "            raise RuntimeError(",
        '                f"pip could not install {what}: read its message "',
        '                "above, fix the cause (often the network) and run "',
        '                "this cell again"',
        "            )",
    ]
    if files:
        raw = repo_url.replace("https://github.com/", "https://raw.githubusercontent.com/")
        lines += [
            "    from pathlib import Path",
            "    from urllib.request import urlretrieve",
            "",
            "    # the lab's script and stored results, next to this notebook",
            *([f'    RAW = "{raw}/{ref}/{folder}"'] if len(f'    RAW = "{raw}/{ref}/{folder}"') <= 77 else
              ["    RAW = (", f'        "{raw}/"', f'        "{ref}/{folder}"', "    )"]),  # ruff's width
            "    for name in [",
            *(f'        "{f}",' for f in files),
            "    ]:",
            "        if not Path(name).exists():",
            "            Path(name).parent.mkdir(parents=True, exist_ok=True)",
            "            try:",
            "                urlretrieve(RAW + name, name)",
            "            except OSError as err:",
            "                raise RuntimeError(",
            '                    f"could not fetch {RAW + name} ({err}): check "',
            '                    "the network and run this cell again"',
            "                ) from err",
        ]
    return "\n".join(lines)


def book_install_cell(doc: str, root: Path = ROOT) -> str:
    """The first cell of a notebook of the book itself: gdlab from the main branch."""
    url, _ = repository(load_config(root))
    notebook = root / f"{doc}.ipynb"
    folder = notebook.parent.relative_to(root).as_posix() + "/"
    comment = ["# on Colab, install gdlab from the main branch of its repository;",
               "# nothing happens elsewhere"]
    return install_cell(url, "main", comment, lab_files(notebook), folder, COLAB_EXTRAS.get(doc, []))


def _glued_in(source: str, name: str) -> bool:
    return re.search(r"glue\(\s*[\"']" + re.escape(name) + r"[\"']", source) is not None


def _values_cell(names: list[str], where: str, cell_id: str):
    cell = nbformat.v4.new_code_cell(
        "from gdlab.display import show\n\n"
        + "show(" + ", ".join(f'"{n}"' for n in names) + f")  # the values quoted in the text {where}"
    )
    cell.id = cell_id[:64]
    cell.metadata["tags"] = ["glued-values"]
    return cell


def edition_notebook(nb, book: Book, doc: str, counter: Counter, install: str):
    """The edition's copy of a notebook (a new object).

    A paragraph that quotes glued values gets a cell that prints them: just before it when the code above has glued
    them all, otherwise just after the code cell that glues the last of them.
    """
    nb = copy.deepcopy(nb)
    converter = Converter(book, doc, counter)
    before: dict[int, list] = {}  # cells to insert before cell i
    after: dict[int, list] = {}  # cells to insert after cell i
    title_done = False
    for index, cell in enumerate(nb.cells):
        if index == 0:
            if cell.cell_type != "code" or "colab-install" not in cell.metadata.get("tags", []):
                raise ValueError("the first cell is not the Colab install cell")
            cell.source = install
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            continue
        if cell.cell_type != "markdown":
            continue
        converter.glued = []
        source = converter.convert(cell.source)
        if not title_done and source.lstrip().startswith("# "):
            title_done = True
            source += (f"\n\n*The Colab and Jupyter edition of a page of the course "
                       f"[gdlab]({book.base}); the book shows it at <{book.page(doc)}>.*")
        if converter.glued:
            where = {}
            for name in converter.glued:
                found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _glued_in(c.source, name)]
                if not found:
                    raise ValueError(f"markdown cell {index} quotes {name!r}, which no code cell glues")
                earlier = [i for i in found if i < index]
                where[name] = earlier[-1] if earlier else found[0]
            last = max(where.values())
            cell_id = f"{cell.get('id', index)}-values"
            if last < index:
                before.setdefault(index, []).append(_values_cell(converter.glued, "below", cell_id))
            else:
                after.setdefault(last, []).append(_values_cell(converter.glued, "above", cell_id))
        cell.source = source
        left = residue(source)
        if left:
            raise ValueError(f"markdown cell {index} still holds MyST: {'; '.join(left)}")
    cells = []
    for index, cell in enumerate(nb.cells):
        cells += before.get(index, []) + [cell] + after.get(index, [])
    nb.cells = cells
    return nb


def build(out: Path, root: Path = ROOT) -> list[Path]:
    """Write the edition of every notebook of the table of contents under ``out``; return the files written."""
    out = Path(out)
    book = read_book(root)
    config = load_config(root)
    url, _ = repository(config)
    ref = f"v{version(root)}"
    edition = edition_folder(config)  # where the edition lives in the repository, whatever ``out`` is
    if out.exists():
        shutil.rmtree(out)
    counter, written = Counter(), []
    for doc, _ in chapters(root):
        path = document_file(doc, root)
        if path.suffix != ".ipynb":
            for text in markdown_of(path):  # keep the numbering in step with the book
                for directive in _walk(text):
                    kind = _numbered(directive)
                    if kind:
                        counter.next(kind, book.numbers[doc])
            continue
        files = lab_files(path)
        folder = f"{edition}/{path.parent.relative_to(root).as_posix()}/"
        comment = [f"# on Colab, install gdlab at the git tag {ref}, the release this edition",
                   "# of the course was written from; nothing happens elsewhere"]
        install = install_cell(url, ref, comment, files, folder, COLAB_EXTRAS.get(doc, []))
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            nb = edition_notebook(nbformat.read(path, as_version=4), book, doc, counter, install)
        except ValueError as err:
            raise ValueError(f"{path.relative_to(root)}: {err}") from None
        nbformat.validate(nb)
        nbformat.write(nb, target)
        written.append(target)
        for name in files:
            (target.parent / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path.parent / name, target.parent / name)
            written.append(target.parent / name)
    return written


def main(argv=None) -> int:
    config = load_config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / edition_folder(config)), help="where to write the edition")
    args = parser.parse_args(argv)
    try:
        written = build(Path(args.out))
    except ValueError as err:
        print(f"Colab/Jupyter edition not written: {err}", file=sys.stderr)
        return 1
    notebooks = sum(f.suffix == ".ipynb" for f in written)
    print(f"Colab/Jupyter edition: {notebooks} notebooks and {len(written) - notebooks} lab files written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
