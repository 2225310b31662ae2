"""Every page of the built book, opened in headless Chromium.

Run after the build (``make test`` does): ``pytest tests/browser --browser``. The book in ``_build/html`` is served by
``python -m http.server`` on 127.0.0.1; every request to another host is aborted and recorded. For every page:
no failed request, no request leaving the machine, MathJax rendered wherever the page has math (and no MathJax error),
every image loaded, no console error of the page's own making, and every internal link (and its ``#anchor``) resolves.
A full-page screenshot of each page goes to ``artifacts/screenshots/``.

The generated index pages are checked against the site: every exercise and every numbered statement on any page is
linked from the exercises index and the results index.
"""

from __future__ import annotations

import html.parser
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "artifacts" / "screenshots"
SKIP_DIRS = {"_static", "_sources", "_images", "_sphinx_design_static", "_panels_static"}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = sorted(
    p.relative_to(SITE).as_posix() for p in SITE.rglob("*.html") if not SKIP_DIRS & set(p.relative_to(SITE).parts)
) or ["book/intro.html"]  # with no build, this one page fails and says so


# the text of the page outside code, scripts and rendered math, around its first dollar sign
RAW_TEX = """() => {
  const main = document.querySelector("main") || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll("pre, code, script, style, mjx-container, .highlight").forEach(e => e.remove());
  const text = copy.textContent;
  const at = text.indexOf("$");
  return at < 0 ? "" : text.slice(Math.max(0, at - 40), at + 40).replace(/\\s+/g, " ");
}"""


# --- reading the built HTML -----------------------------------------------------------------
class _Scan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.divs = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "div" and attrs.get("id"):
            self.divs.append((set((attrs.get("class") or "").split()), attrs["id"]))


@lru_cache(maxsize=None)
def scan(relpath: str) -> _Scan:
    parser = _Scan()
    parser.feed((SITE / relpath).read_text(encoding="utf-8"))
    return parser


def has_math(relpath: str) -> bool:
    return 'class="math notranslate' in (SITE / relpath).read_text(encoding="utf-8")


def broken_links(relpath: str) -> list[str]:
    """Internal links of a page that lead to no file, or to a file without the anchor."""
    broken = []
    for href in scan(relpath).hrefs:
        target = urlparse(href)
        if target.scheme or target.netloc or href.startswith(("mailto:", "javascript:")):
            continue  # an outside link: shown, never requested
        path, fragment = urldefrag(href)
        resolved = (SITE / relpath).parent / unquote(path) if path else SITE / relpath
        resolved = resolved.resolve()
        if resolved.is_dir():
            resolved = resolved / "index.html"
        if not resolved.is_file() or SITE.resolve() not in resolved.parents:
            broken.append(href)
        elif fragment and resolved.suffix == ".html":
            if unquote(fragment) not in scan(resolved.relative_to(SITE.resolve()).as_posix()).ids:
                broken.append(href)
    return broken


# --- the server and the browser ---------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    assert (SITE / "index.html").is_file(), f"no built book in {SITE}: run the build first"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(SITE)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the local HTTP server did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Chromium is not installed (make test installs Debian's chromium)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def context(browser):
    """One browser context for every page; each request goes to the report of the page being visited."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.reports = []

    def route(route):
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            context.reports[-1]["outside"].append(url)
            route.abort()

    context.route("**/*", route)
    yield context
    context.close()


def visit(context, base: str, relpath: str) -> dict:
    """Open one page; return what went wrong, by kind."""
    report = {"outside": [], "failed": [], "console": [], "images": [], "math": []}
    context.reports.append(report)
    page = context.new_page()
    page.on("requestfailed", lambda r: r.url not in report["outside"] and report["failed"].append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and report["failed"].append(f"{r.url}: HTTP {r.status}"))
    page.on("pageerror", lambda e: report["console"].append(f"uncaught: {e}"))

    def console(msg):
        source = (msg.location or {}).get("url", "")
        if msg.type == "error" and source not in report["outside"] and not any(u in msg.text for u in report["outside"]):
            report["console"].append(msg.text)

    page.on("console", console)
    try:
        page.goto(base + relpath, wait_until="networkidle", timeout=60_000)
        if has_math(relpath):
            try:
                page.wait_for_selector("mjx-container", timeout=20_000)
            except Exception:  # noqa: BLE001 - reported below as missing math
                pass
            if page.locator("mjx-container").count() == 0:
                report["math"].append("the page has math but MathJax rendered none of it")
            raw = page.evaluate(RAW_TEX)
            if raw:
                report["math"].append(f"TeX left unrendered: {raw}")
            if page.locator("mjx-merror").count():
                report["math"].append(f"{page.locator('mjx-merror').count()} MathJax errors")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        try:
            page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)
        except Exception:  # noqa: BLE001 - the images still loading are reported below
            pass
        report["images"] = page.evaluate(
            "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (relpath.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
    finally:
        page.close()
    return report


@pytest.mark.parametrize("relpath", PAGES)
def test_page(relpath, server, context):
    report = visit(context, server, relpath)
    report["links"] = broken_links(relpath)
    problems = {kind: found for kind, found in report.items() if found}
    assert not problems, "\n".join(f"{kind}: {item}" for kind, found in problems.items() for item in found)


def test_the_checks_catch_a_broken_page(server, context):
    """A page with an outside script, a missing image, a broken link and a script error fails every check."""
    bad = SITE / "_gdlab_broken_page.html"
    bad.write_text(
        '<html><body><span class="math notranslate nohighlight">\\(x\\)</span><p>raw $x^2$ left</p>'
        '<img src="missing.png"><a href="nowhere.html">x</a><a href="#no-anchor">y</a>'
        '<script src="https://cdn.example.org/x.js"></script><script>undefined_function()</script></body></html>'
    )
    try:
        report = visit(context, server, bad.name)
        report["links"] = broken_links(bad.name)
    finally:
        bad.unlink()
        (SHOTS / "_gdlab_broken_page.png").unlink(missing_ok=True)
    assert report["outside"] == ["https://cdn.example.org/x.js"]
    assert any("missing.png" in f for f in report["failed"])
    assert report["images"] and any("TeX left unrendered" in m for m in report["math"])
    assert any("undefined_function" in c for c in report["console"])
    assert sorted(report["links"]) == ["#no-anchor", "nowhere.html"]


def _anchors(kind: str) -> dict[str, str]:
    """Every element of one kind on any page, as anchor -> page."""
    found = {}
    for relpath in PAGES:
        for classes, ident in scan(relpath).divs:
            if kind in classes and ("proof" in classes or kind == "exercise"):
                found[ident] = relpath
    return found


@pytest.mark.parametrize("index, kind", [("book/reference/exercises.html", "exercise"),
                                         ("book/reference/results.html", "theorem")])
def test_index_pages_link_to_everything(index, kind):
    linked = set()
    for href in scan(index).hrefs:
        path, fragment = urldefrag(href)
        if fragment:
            target = ((SITE / index).parent / path).resolve().relative_to(SITE.resolve()).as_posix()
            linked.add((target, fragment))
    missing = {ident: page for ident, page in _anchors(kind).items() if (page, ident) not in linked}
    assert missing == {}


def test_code_solutions_are_folded_without_their_markers(server, context):
    """A chapter's code exercises: each solution sits under a closed fold that opens on a click, and no
    ``# BEGIN SOLUTION`` / ``# END SOLUTION`` line is on the page (the notebook keeps them for the student edition)."""
    import nbformat

    chapter = "book/deterministic/heavy-ball"
    source = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    solutions = [c for c in source.cells if "solution" in c.get("metadata", {}).get("tags", [])]
    assert len(solutions) >= 2 and all("# BEGIN SOLUTION" in c.source for c in solutions)
    context.reports.append({"outside": [], "failed": [], "console": [], "images": [], "math": []})
    page = context.new_page()
    try:
        page.goto(server + f"{chapter}.html", wait_until="networkidle", timeout=60_000)
        html_text = page.content()
        assert "BEGIN SOLUTION" not in html_text and "END SOLUTION" not in html_text
        folds = page.locator("details.hide.above-input")
        assert folds.count() == len(solutions)
        for n, cell in enumerate(solutions):
            fold = folds.nth(n)
            first_line = cell.source.splitlines()[0]  # the line before the markers, e.g. "def hb_pair(...):"
            assert fold.evaluate("d => d.open") is False
            assert not fold.locator("pre").first.is_visible(), f"solution {n} is shown unfolded"
            fold.locator("summary").click()
            assert fold.locator("pre").first.is_visible(), f"solution {n} does not open on a click"
            assert first_line in fold.locator("pre").first.inner_text()
    finally:
        page.close()


@pytest.mark.parametrize("lab", ["labs/linear-scaling", "labs/memory-accounting"])
def test_hidden_tests_are_not_on_the_page(lab, server, context):
    """A lab's check cells keep their hidden tests (``# BEGIN HIDDEN TESTS`` ... ``# END HIDDEN TESTS``) for the
    grader; the page shows the rest of the check cell and not one line of a hidden region, nor its markers."""
    import nbformat

    source = nbformat.read(ROOT / f"{lab}.ipynb", as_version=4)
    hidden, shown = [], []
    for cell in source.cells:
        if "check" not in cell.get("metadata", {}).get("tags", []) or "# BEGIN HIDDEN TESTS" not in cell.source:
            continue
        inside = False
        for line in cell.source.splitlines():
            if line.strip() in ("# BEGIN HIDDEN TESTS", "# END HIDDEN TESTS"):
                inside = line.strip().startswith("# BEGIN")
            elif line.strip():
                (hidden if inside else shown).append(" ".join(line.split()))
    # a line of punctuation only (a closing bracket) is on every page; what identifies a hidden test has a word
    hidden = [line for line in hidden if any(ch.isalnum() for ch in line)]
    assert hidden and shown
    context.reports.append({"outside": [], "failed": [], "console": [], "images": [], "math": []})
    page = context.new_page()
    try:
        page.goto(server + f"{lab}.html", wait_until="networkidle", timeout=60_000)
        # textContent: a check cell's input may sit under a closed fold, where innerText is empty
        code = page.evaluate('() => [...document.querySelectorAll("div.cell_input pre")].map(e => e.textContent)')
        lines = {" ".join(line.split()) for block in code for line in block.splitlines()}
        assert "HIDDEN TESTS" not in page.content()
        assert [line for line in hidden if line in lines] == []
        assert [line for line in shown if line not in lines] == []
    finally:
        page.close()


def test_the_colab_edition_numbers_as_the_built_book():
    """Every numbered statement and exercise that the Colab edition names ("Theorem 3.1") has that number on the
    built page too (tools/colab.py numbers them by the book's rule; Sphinx numbers the site)."""
    import re

    sys.path.insert(0, str(ROOT / "tools"))
    import colab

    book = colab.read_book(ROOT)
    checked = []
    for label, target in book.targets.items():
        page = SITE / f"{target.doc}.html"
        if not re.search(r"\d+\.\d+$", target.text):
            continue
        assert page.exists(), f"{label}: the edition links to {target.doc}.html, which the build did not write"
        kind, number = target.text.rsplit(" ", 1)
        found = re.search(r'id="' + re.escape(label) + r'".{0,2000}?caption-number">\s*' + kind + r" ([\d.]+)",
                          page.read_text(), re.S)
        assert found and found[1] == number, f"{label}: the edition says {target.text}, the book {found and found[1]}"
        checked.append(label)
    assert len(checked) >= 20


# --- the page fits its column ------------------------------------------------------------------
# What on a page is wider than the content column (the article) and does not scroll in a box of its own: a code block
# with a horizontal scroll bar, a table wider than the column outside a scrolling box, a display equation wider than
# its box where the box clips it. And what a progress bar leaves in a page: a bar printed to stderr, an empty output row.
FIT = """() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const width = column.clientWidth;
  const scrolls = e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
  const inScrollBox = el => {
    for (let e = el; e && e !== column && e !== document.body; e = e.parentElement)
      if (scrolls(e) && e.getBoundingClientRect().width <= width + 1) return true;
    return false;
  };
  const text = e => e.textContent.trim().replace(/\\s+/g, " ").slice(0, 60);
  const found = [];
  for (const pre of document.querySelectorAll("div.cell_input pre, div.highlight pre"))
    if (pre.scrollWidth > pre.clientWidth + 1)
      found.push(`code block ${pre.scrollWidth} px wide in ${pre.clientWidth} px: ${text(pre)}`);
  for (const table of column.querySelectorAll("table")) {
    const w = Math.max(table.scrollWidth, table.getBoundingClientRect().width);
    if (w > width + 1 && !inScrollBox(table))
      found.push(`table ${Math.round(w)} px wide in a ${width} px column: ${text(table)}`);
  }
  for (const eq of document.querySelectorAll('mjx-container[display="true"]')) {
    const math = eq.querySelector("mjx-math") || eq;
    const w = Math.max(eq.scrollWidth, math.getBoundingClientRect().width);
    const box = eq.getBoundingClientRect().width;
    if ((w > eq.clientWidth + 1 && !scrolls(eq) && !inScrollBox(eq.parentElement)) || (box > width + 1 && !inScrollBox(eq)))
      found.push(`equation ${Math.round(w)} px wide in a ${Math.round(Math.min(box, width))} px box that does not scroll`);
  }
  for (const out of document.querySelectorAll("div.cell_output .output.stderr, div.cell_output .stderr"))
    if (/\\d+%\\|/.test(out.textContent) || /it\\/s\\]/.test(out.textContent))
      found.push(`a progress bar printed to stderr: ${text(out)}`);
  const media = "img, svg, canvas, iframe, video, input, mjx-container";  // an output that is, or holds, a picture
  for (const out of document.querySelectorAll("div.cell_output > *"))
    if (!out.textContent.trim() && !out.matches(media) && !out.querySelector(media)
        && out.getBoundingClientRect().height > 2)
      found.push(`an empty output row, ${Math.round(out.getBoundingClientRect().height)} px high`);
  return found;
}"""


def misfits(context, base: str, relpath: str) -> list[str]:
    page = context.new_page()
    try:
        page.goto(base + relpath, wait_until="networkidle", timeout=60_000)
        if has_math(relpath):
            try:
                page.wait_for_selector("mjx-container", timeout=20_000)
                page.wait_for_function("!window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=5_000)
                page.evaluate("window.MathJax && MathJax.startup && MathJax.startup.promise")
            except Exception:  # noqa: BLE001 - missing math is test_page's to report
                pass
        return page.evaluate(FIT)
    finally:
        page.close()


@pytest.mark.parametrize("relpath", PAGES)
def test_page_fits_its_column(relpath, server, context):
    """At the 1280 px window no code block scrolls sideways, no table or equation spills out of the column or is
    clipped, and no progress bar left rows in the page."""
    context.reports.append({"outside": []})
    assert misfits(context, server, relpath) == []


def test_the_fit_check_catches_what_spills(server, context):
    """A page with a wide code block, a wide table, a clipped equation, a printed progress bar and an empty output
    row fails on each of them; a wide table and a wide equation that scroll in their own box pass, and so does a
    figure output (an image with no text)."""
    bad = SITE / "_gdlab_wide_page.html"
    wide = "x" * 400
    bad.write_text(
        '<html><body style="margin:0"><article class="bd-article" style="width:600px">'
        f'<div class="highlight"><pre style="overflow-x:auto">{wide}</pre></div>'
        f'<table id="spills"><tr><td style="white-space:nowrap">{wide}</td></tr></table>'
        f'<div style="overflow-x:auto"><table><tr><td style="white-space:nowrap">{wide}</td></tr></table></div>'
        '<mjx-container display="true" style="display:block;overflow:hidden">'
        '<mjx-math style="display:inline-block;width:900px">a</mjx-math></mjx-container>'
        '<mjx-container display="true" style="display:block;overflow-x:auto">'
        '<mjx-math style="display:inline-block;width:900px">b</mjx-math></mjx-container>'
        '<div class="cell_output"><div class="output stderr"><pre>40%|####      | 4/10 [00:01&lt;00:01, 3.9it/s]</pre>'
        '</div><div class="output" style="height:32px"></div>'
        # a figure output is the image itself (myst-nb writes <img> straight under cell_output): not empty
        '<img alt="" style="display:block;width:200px;height:120px" '
        'src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></div>'
        "</article></body></html>"
    )
    try:
        context.reports.append({"outside": []})
        found = misfits(context, server, bad.name)
    finally:
        bad.unlink()
    kinds = sorted(f.split(" ")[0] + (" " + f.split(" ")[1] if f.startswith("a") else "") for f in found)
    assert kinds == ["a progress", "an empty", "code", "equation", "table"], found
    assert any("32 px high" in f for f in found) and any("900 px wide" in f for f in found)


# --- interactive figures (gdlab.interactive) --------------------------------------------------------------------------
# Every chapter and lab (each has a result that depends on a parameter) carries an explorer; every page with one is
# driven below.
INTERACTIVE = {
    "book/foundations/gd-three-rates.html", "book/deterministic/step-size.html", "book/deterministic/heavy-ball.html",
    "book/deterministic/nesterov.html", "book/stochastic/sgd-robbins-monro.html",
    "book/stochastic/minibatch-noise-scale.html", "book/stochastic/sgd-langevin.html",
    "book/stochastic/sharp-flat-saddles.html", "book/adaptive/adagrad-rmsprop.html", "book/adaptive/adam.html",
    "book/adaptive/adamw.html", "book/adaptive/beyond-adam.html", "book/practice/schedules.html",
    "book/practice/clipping-mixed-precision.html", "book/practice/lr-finder.html", "labs/linear-scaling.html",
    "labs/memory-accounting.html",
}
EXPLORER_PAGES = [p for p in PAGES if 'class="gdlab-explorer"' in (SITE / p).read_text(encoding="utf-8")]

# What each explorer plots now: the x and y of every trace, as one string.
PLOTTED = "e => JSON.stringify(e.querySelector('.gx-plot').data.map(t => [t.x, t.y]))"


def explorer_failures(context, base: str, relpath: str) -> list[str]:
    """Open a page and drive each of its explorers: it must draw, each slider it has must change the plotted data (and
    the value shown beside it), and play and step must change it too. Returns what did not."""
    page = context.new_page()
    found = []
    try:
        page.goto(base + relpath, wait_until="networkidle", timeout=60_000)
        roots = page.locator(".gdlab-explorer")
        n = roots.count()
        try:
            page.wait_for_function(f"document.querySelectorAll('.gdlab-explorer[data-drawn]').length === {n}",
                                   timeout=20_000)
        except Exception:  # noqa: BLE001 - reported as undrawn below
            pass
        for i in range(n):
            root = roots.nth(i)
            name = f"explorer {i + 1} of {n}"
            if root.get_attribute("data-drawn") is None:
                found.append(f"{name}: not drawn")
                continue
            if root.locator(".gx-note").is_visible():
                found.append(f"{name}: the note for Jupyter is still shown")
            sliders = root.locator("input[type=range]")
            if sliders.count() == 0:
                found.append(f"{name}: no slider")
            for j in range(sliders.count()):
                slider = sliders.nth(j)
                param = slider.get_attribute("data-param")
                before = root.evaluate(PLOTTED)
                shown = slider.evaluate("s => s.nextElementSibling.textContent")
                slider.evaluate("s => { s.value = (+s.value + 1) % (+s.max + 1); s.dispatchEvent(new Event('input')); }")
                if root.evaluate(PLOTTED) == before:
                    found.append(f"{name}: moving the {param} slider did not change the plot")
                if slider.evaluate("s => s.nextElementSibling.textContent") == shown:
                    found.append(f"{name}: the {param} slider's value did not change")
            play, step = root.locator("button[data-action=play]"), root.locator("button[data-action=step]")
            if play.count():
                play.click()  # from the last iteration: back to k = 0, then one iteration per tick
                seen = set()
                for _ in range(20):
                    seen.add(root.evaluate(PLOTTED))
                    page.wait_for_timeout(50)
                if len(seen) < 3:
                    found.append(f"{name}: play showed {len(seen)} picture(s) in one second, not an animation")
                play.click()  # pause
                before = root.evaluate(PLOTTED)
                step.click()
                if root.evaluate(PLOTTED) == before:
                    found.append(f"{name}: step did not change the plot")
    finally:
        page.close()
    return found


def test_the_chapters_with_a_parameter_have_an_explorer():
    assert INTERACTIVE <= set(EXPLORER_PAGES), f"no explorer on {sorted(INTERACTIVE - set(EXPLORER_PAGES))}"


@pytest.mark.parametrize("relpath", EXPLORER_PAGES or ["book/deterministic/heavy-ball.html"])
def test_every_explorer_responds_offline(relpath, server, context):
    """Each explorer draws from the book's own scripts, and each of its sliders, its play and its step buttons change
    what it plots; no request leaves the machine (the context aborts and records any)."""
    report = {"outside": []}
    context.reports.append(report)
    assert explorer_failures(context, server, relpath) == []
    assert report["outside"] == []


def test_the_explorer_check_catches_a_dead_figure(server, context):
    """A figure whose sliders change nothing fails the check; one without its scripts is reported undrawn."""
    import numpy as np

    from gdlab import interactive

    dead = interactive.Explorer({"a": [1.0, 2.0]}, lambda a: [interactive.line(range(21), range(21), animate=True)],
                                frames=20)
    live = interactive.Explorer({"a": [1.0, 2.0]}, lambda a: [interactive.line(np.arange(3), a * np.arange(3))])
    pages = {"_gdlab_dead_explorer.html": ("./", dead), "_gdlab_unserved_explorer.html": ("./nowhere/", live)}
    try:
        for name, (root, fig) in pages.items():
            (SITE / name).write_text(f'<html data-content_root="{root}"><body>{fig.html()}</body></html>')
        context.reports.append({"outside": []})
        found = explorer_failures(context, server, "_gdlab_dead_explorer.html")
        context.reports.append({"outside": []})
        missing = explorer_failures(context, server, "_gdlab_unserved_explorer.html")
    finally:
        for name in pages:
            (SITE / name).unlink()
    assert found == ["explorer 1 of 1: moving the a slider did not change the plot"], found
    assert missing == ["explorer 1 of 1: not drawn"], missing
