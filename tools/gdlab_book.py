"""Sphinx extension of the gdlab book: index pages that are generated at every build.

Two directives, each used once in ``book/reference/``:

* ``{exercise-index}`` lists, chapter by chapter, every ``{exercise}`` (with its label and
  number) and every code exercise (a code cell tagged ``solution``);
* ``{results-index}`` lists every numbered statement of ``sphinx_proof`` (theorems,
  lemmas, ...), every optimizer registered in :mod:`gdlab.optim` and every schedule in
  :mod:`gdlab.schedules`, each with links to the chapters that use it.

It also folds every code exercise's solution on the page and drops its marker lines
(:func:`fold_solutions`).

Nothing here is typed by hand, so the pages stay true as chapters are added. What each
document holds is collected when it is read (``doctree-read``) and kept in the build
environment; the placeholders are filled when the index page is written
(``doctree-resolved``), once every document has been read.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode

_IDENT = re.compile(r"[A-Za-z_]\w*")


class gdlab_placeholder(nodes.General, nodes.Element):
    """Filled at ``doctree-resolved``: ``kind`` says with what."""


# --- collecting, per document -------------------------------------------------------------
def _store(env) -> dict:
    if not hasattr(env, "gdlab_index"):
        env.gdlab_index = {}
    return env.gdlab_index


def _section_id(node) -> str:
    while node is not None:
        if isinstance(node, nodes.section) and node["ids"]:
            return node["ids"][0]
        node = node.parent
    return ""


def collect(app, doctree) -> None:
    """Record the statements, exercises and code identifiers of the document just read."""
    env = app.env
    statements, exercises, code_exercises, code = [], [], [], []
    for node in doctree.findall(nodes.Element):
        if "realtype" in node and node.get("label"):  # sphinx_proof's numbered statements
            title = node.get("title", "").strip()  # sphinx_proof stores it as " (%t)"
            title = title[1:-1] if title.startswith("(") and title.endswith(")") else title
            statements.append({"label": node["label"], "type": node["realtype"], "counter": node.get("countertype", ""),
                               "title": title.replace("$", "")})
        elif node.get("type") in ("exercise", "exercise-start") and node.get("label"):
            subtitle = [c.astext() for c in node.children[0].children[1:]] if node.children else []
            title = " ".join(subtitle).strip()
            title = title[1:-1] if title.startswith("(") and title.endswith(")") else title
            exercises.append({"label": node["label"], "title": title})
        elif isinstance(node, nodes.container) and node.get("nb_element") == "cell_code":
            tags = node.get("cell_metadata", {}).get("tags", [])
            if "solution" in tags:
                code_exercises.append({"anchor": _section_id(node)})
            code.append(node.astext())
    text = "\n".join(code)
    _store(env)[env.docname] = {
        "statements": statements,
        "exercises": exercises,
        "code_exercises": code_exercises,
        "identifiers": sorted(set(_IDENT.findall(text))) if "gdlab" in text else [],
        "is_index": any(True for _ in doctree.findall(gdlab_placeholder)),
    }


# --- code exercises: the solution folded, its markers out of the page ---------------------
_MARKER = re.compile(r"^[ \t]*# (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)
SOLUTION_PROMPTS = ("Show the solution", "Hide the solution")
# a check cell's hidden tests: the grader runs them (tools/grade.py); neither the student edition nor the page shows
# them, and both drop them with the same function (tools/ is on the build's path as the extension's folder)
from student import strip_hidden  # noqa: E402


def _strip_hidden(doctree) -> None:
    for node in doctree.findall(nodes.container):
        if node.get("nb_element") != "cell_code" or "check" not in node.get("cell_metadata", {}).get("tags", []):
            continue
        for block in node.findall(nodes.literal_block):
            text = block.astext()
            if "# BEGIN HIDDEN TESTS" in text:
                kept = strip_hidden(text)  # raises on unbalanced markers, naming the line
                block.children = [nodes.Text(kept)]
                block.rawsource = kept


def fold_solutions(app, doctree) -> None:
    """Fold the input of every code cell tagged ``solution`` and drop its ``# BEGIN/END SOLUTION`` lines.

    The markers stay in the notebook (``tools/student.py`` finds the solution by them); the page shows the code
    between them, under a button, as myst-nb folds a cell tagged ``hide-input``. A check cell's hidden tests
    (``# BEGIN HIDDEN TESTS`` ... ``# END HIDDEN TESTS``) are left off the page, as off the student edition.
    """
    _strip_hidden(doctree)
    for node in doctree.findall(nodes.container):
        if node.get("nb_element") != "cell_code" or "solution" not in node.get("cell_metadata", {}).get("tags", []):
            continue
        for block in node.findall(nodes.literal_block):
            text = block.astext()
            if _MARKER.search(text):
                kept = _MARKER.sub("", text).rstrip("\n")
                block.children = [nodes.Text(kept)]
                block.rawsource = kept
        if not node.get("hide_mode"):
            node["hide_mode"] = "input"
            node["prompt_show"], node["prompt_hide"] = SOLUTION_PROMPTS
        elif node["hide_mode"] == "output":
            node["hide_mode"] = "input+output"


def outdated(app, env, added, changed, removed) -> list[str]:
    """Index pages are written again whenever any other page is read again."""
    if not (added or changed or removed):
        return []
    return [d for d, info in _store(env).items() if info.get("is_index") and d not in changed | added]


def purge(app, env, docname) -> None:
    _store(env).pop(docname, None)


def merge(app, env, docnames, other) -> None:
    _store(env).update({d: v for d, v in getattr(other, "gdlab_index", {}).items() if d in docnames})


# --- directives: placeholders, and what can be known while the page is read ---------------
class ExerciseIndex(SphinxDirective):
    """Placeholder for the list of every exercise, filled once every chapter is read."""

    def run(self):
        return [gdlab_placeholder(kind="exercises")]


class ResultsIndex(SphinxDirective):
    """Statements, optimizers and schedules, each with the chapters that use it."""

    def run(self):
        out = [gdlab_placeholder(kind="statements")]
        out += self._section("Optimizers", "optimizers", self._optimizers())
        out += self._section("Schedules", "schedules", self._schedules())
        return out

    def _section(self, title: str, anchor: str, body: list) -> list:
        rubric = nodes.rubric(title, title, ids=[f"results-{anchor}"])
        return [rubric, *body]

    def _parse(self, markup: str) -> list:
        holder = nodes.container()
        self.state.nested_parse(StringList(markup.splitlines()), self.content_offset, holder)
        return holder.children

    def _optimizers(self) -> list:
        from gdlab.optim.rules import RULES

        items = nodes.bullet_list()
        for name, rule in RULES.items():
            item = nodes.list_item()
            head = f"**{name}**" + (f" {{cite:p}}`{rule.cite}`" if rule.cite else "")
            item += self._parse(head)
            if rule.convention:
                item += nodes.paragraph(rule.convention, rule.convention)
            if rule.equation:
                item += nodes.math_block(rule.equation, rule.equation, nowrap=False, number=None)
            item += gdlab_placeholder(kind="uses", module="optim", name=name)
            items += item
        return [items] if RULES else [nodes.paragraph(text="gdlab.optim registers no optimizer yet.")]

    def _schedules(self) -> list:
        try:
            module = importlib.import_module("gdlab.schedules")
        except ModuleNotFoundError:
            return [nodes.paragraph(text="gdlab.schedules does not exist yet.")]
        names = getattr(module, "__all__", None) or [
            n for n, obj in vars(module).items()
            if not n.startswith("_") and callable(obj) and getattr(obj, "__module__", "") == module.__name__
        ]
        items = nodes.bullet_list()
        for name in names:
            doc = inspect.getdoc(getattr(module, name)) or ""
            first = doc.split("\n\n")[0].replace("\n", " ")
            item = nodes.list_item()
            para = nodes.paragraph()
            para += nodes.literal(name, name)
            if first:
                para += nodes.Text(f": {first}")
            item += para
            item += gdlab_placeholder(kind="uses", module="schedules", name=name)
            items += item
        return [items] if names else [nodes.paragraph(text="gdlab.schedules defines no schedule yet.")]


# --- filling the placeholders -------------------------------------------------------------
def _doc_order(env) -> list[str]:
    """Documents in the order of the table of contents."""
    seen, order = set(), []

    def walk(doc):
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return [d for d in order if d in _store(env)]


def _chapter_text(env, docname: str) -> str:
    number = env.toc_secnumbers.get(docname, {}).get("")
    title = env.titles[docname].astext() if docname in env.titles else docname
    return f"{'.'.join(map(str, number))}. {title}" if number else title


def _number(env, docname: str, figtype: str, label: str) -> str:
    number = env.toc_fignumbers.get(docname, {}).get(figtype, {}).get(label)
    return ".".join(map(str, number)) if number else ""


def _link(builder, fromdoc, todoc, anchor, text):
    return make_refnode(builder, fromdoc, todoc, anchor, nodes.inline(text, text))


def _paragraph(*parts) -> nodes.paragraph:
    para = nodes.paragraph()
    for i, part in enumerate(parts):
        if i:
            para += nodes.Text(", ")
        para += part
    return para


def _fill_exercises(app, env, fromdoc) -> list:
    items = nodes.bullet_list()
    total_prose = total_code = 0
    for doc in _doc_order(env):
        info = _store(env)[doc]
        if not (info["exercises"] or info["code_exercises"]):
            continue
        item = nodes.list_item()
        item += nodes.paragraph("", "", nodes.strong("", "", _link(app.builder, fromdoc, doc, "", _chapter_text(env, doc))))
        links = []
        for ex in info["exercises"]:
            number = _number(env, doc, "exercise", ex["label"])
            text = f"Exercise {number}".strip() + (f" ({ex['title']})" if ex["title"] else "")
            links.append(_link(app.builder, fromdoc, doc, ex["label"], text))
        for k, ex in enumerate(info["code_exercises"], start=1):
            links.append(_link(app.builder, fromdoc, doc, ex["anchor"], f"code exercise {k}"))
        total_prose += len(info["exercises"])
        total_code += len(info["code_exercises"])
        item += _paragraph(*links)
        items += item
    summary = nodes.paragraph(
        text=f"{total_prose} prose exercises and {total_code} code exercises, in the order of the chapters."
    )
    return [summary, items] if len(items) else [nodes.paragraph(text="No chapter has exercises yet.")]


def _fill_statements(app, env, fromdoc) -> list:
    items = nodes.bullet_list()
    for doc in _doc_order(env):
        for st in _store(env)[doc]["statements"]:
            number = _number(env, doc, st["counter"], st["label"])
            text = f"{st['type'].title()} {number}".strip() + (f" ({st['title']})" if st["title"] else "")
            para = nodes.paragraph()
            para += _link(app.builder, fromdoc, doc, st["label"], text)
            para += nodes.Text(" in ")
            para += _link(app.builder, fromdoc, doc, "", _chapter_text(env, doc))
            items += nodes.list_item("", para)
    rubric = nodes.rubric("Theorems and other numbered statements", "Theorems and other numbered statements",
                          ids=["results-statements"])
    body = [items] if len(items) else [nodes.paragraph(text="No chapter states a numbered result yet.")]
    return [rubric, *body]


def _fill_uses(app, env, fromdoc, module: str, name: str) -> list:
    docs = [d for d in _doc_order(env) if {module, name} <= set(_store(env)[d]["identifiers"])]
    if not docs:
        return [nodes.paragraph(text="Not used in a chapter yet.")]
    para = _paragraph(*[_link(app.builder, fromdoc, d, "", _chapter_text(env, d)) for d in docs])
    para.insert(0, nodes.Text("Used in: "))
    return [para]


def fill(app, doctree, fromdoc) -> None:
    env = app.env
    for node in list(doctree.findall(gdlab_placeholder)):
        kind = node["kind"]
        if kind == "exercises":
            new = _fill_exercises(app, env, fromdoc)
        elif kind == "statements":
            new = _fill_statements(app, env, fromdoc)
        else:
            new = _fill_uses(app, env, fromdoc, node["module"], node["name"])
        node.replace_self(new)


def unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated ``<script>`` entries from a page.

    With Sphinx 7.4, scripts that extensions add at ``env-before-read-docs`` (sphinx-thebe's configuration, which
    declares ``const THEBE_JS_URL``; sphinx-togglebutton's selector) reach every page twice, and the second
    declaration of a ``const`` is a JavaScript error on every page. The first occurrence is kept.
    """
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # the same inline script comes once with filename None and once with filename ""
        key = (getattr(script, "filename", script) or "", repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique


def colab_edition_buttons(app, pagename, templatename, context, doctree) -> None:
    """Point the page's Colab button at the notebook's copy in the Colab/Jupyter edition (``make colab``).

    sphinx-book-theme links ``colab_url/github/<org>/<repo>/blob/<branch>/<page>.ipynb``; the edition holds the same
    notebook, in Markdown that Colab renders, at ``<gdlab_colab_edition>/<page>.ipynb``.
    """
    folder = app.config.gdlab_colab_edition.strip("/")
    if not folder:
        return

    def rewrite(buttons):
        for button in buttons:
            if isinstance(button, dict):
                url = button.get("url", "")
                if button.get("text") == "Colab" and "/blob/" in url:
                    head, _, tail = url.partition("/blob/")
                    branch, _, path = tail.partition("/")
                    if not path.startswith(folder + "/"):
                        button["url"] = f"{head}/blob/{branch}/{folder}/{path}"
                rewrite(button.get("buttons", []))

    rewrite(context.get("header_buttons", []))


ASSETS = Path(__file__).resolve().parent.parent / "book" / "_assets"


def add_assets(app, config) -> None:
    """Serve ``book/_assets`` (the stylesheet ``gdlab.css``: wide tables and equations scroll in their own box)."""
    if str(ASSETS) not in config.html_static_path:
        config.html_static_path.append(str(ASSETS))


def setup(app):
    # progress bars are for an interactive session: the executed notebooks of the book show none (tqdm reads it)
    os.environ.setdefault("TQDM_DISABLE", "1")
    app.add_config_value("gdlab_colab_edition", "", "html")
    app.connect("config-inited", add_assets)
    app.add_css_file("gdlab.css")
    app.add_node(gdlab_placeholder)
    app.add_directive("exercise-index", ExerciseIndex)
    app.add_directive("results-index", ResultsIndex)
    app.connect("doctree-read", collect)
    app.connect("doctree-read", fold_solutions)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    app.connect("env-get-outdated", outdated)
    app.connect("doctree-resolved", fill)
    app.connect("html-page-context", unique_scripts, priority=100)
    # after sphinx-book-theme has added its launch buttons (priority 501)
    app.connect("html-page-context", colab_edition_buttons, priority=600)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 3}
