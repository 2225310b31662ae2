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
