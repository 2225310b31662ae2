"""Options shared by every test run of the repository.

The browser test (``tests/browser``) needs the built book and Chromium, so the unit run (``pytest tests``) leaves it
out; ``make test`` runs it after the build with ``pytest tests/browser --browser``.
"""

from pathlib import Path

BROWSER_TESTS = Path(__file__).parent / "tests" / "browser"


def pytest_addoption(parser):
    parser.addoption("--browser", action="store_true", help="run the browser test of the built book (tests/browser)")


def pytest_ignore_collect(collection_path, config):
    if not config.getoption("--browser") and BROWSER_TESTS in (collection_path, *collection_path.parents):
        return True
    return None
