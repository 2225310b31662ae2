"""Options shared by every test run of the repository.

The browser test (``tests/browser``) needs the built book and Chromium, so the unit run (``pytest tests``) leaves it
out; ``make test`` runs it after the build with ``pytest tests/browser --browser``.
"""

import sys
from pathlib import Path

import pytest

BROWSER_TESTS = Path(__file__).parent / "tests" / "browser"


def pytest_addoption(parser):
    parser.addoption("--browser", action="store_true", help="run the browser test of the built book (tests/browser)")


def pytest_ignore_collect(collection_path, config):
    if not config.getoption("--browser") and BROWSER_TESTS in (collection_path, *collection_path.parents):
        return True
    return None



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """A test that changes torch's default dtype and does not restore it silently changes every later test in the
    same worker (it once doubled the measured optimizer state); after the test and its fixtures are torn down,
    fail the leaking test itself instead."""
    yield
    torch = sys.modules.get("torch")
    if torch is None or torch.get_default_dtype() == torch.float32:
        return
    if nextitem is not None and nextitem.module is item.module:
        return  # a module-scoped fixture may keep another dtype until the module's last test
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    raise AssertionError(f"{item.nodeid} left torch's default dtype at {dtype}")


@pytest.fixture
def float64_default():
    """torch's default dtype set to float64 for one test (torch keeps some optimizer scalars, such as NAdam's
    momentum product, in the default dtype), and restored afterwards."""
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
