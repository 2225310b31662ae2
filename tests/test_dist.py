"""The release files: `python -m build` makes a wheel (from the sdist) and an sdist that pass `twine check --strict`,
hold the package and nothing else of the repository, and the wheel installs into a fresh environment and imports."""

from __future__ import annotations

import email.parser
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NAME, VERSION = PROJECT["name"], PROJECT["version"]


def _package_files() -> set[str]:
    """Every file of the package as it should ship: its modules, its stubs and its typing marker."""
    files = set()
    for pattern in ("*.py", "*.pyi", "py.typed"):
        for p in (ROOT / "gdlab").rglob(pattern):
            if "__pycache__" not in p.parts:
                files.add(p.relative_to(ROOT).as_posix())
    return files


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"{NAME}-{VERSION}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"{NAME}-{VERSION}.tar.gz"]
    return wheels[0], sdists[0]


def test_twine_check_strict_passes(dist):
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_holds_the_package_and_nothing_else(dist):
    wheel, _ = dist
    names = set(zipfile.ZipFile(wheel).namelist())
    info = f"{NAME}-{VERSION}.dist-info/"
    package = {n for n in names if not n.startswith(info)}
    expected = _package_files()
    assert "gdlab/py.typed" in expected, "gdlab/py.typed is missing from the source tree"
    assert package == expected, (f"missing from the wheel: {sorted(expected - package)}; "
                                 f"not part of the package: {sorted(package - expected)}")
    tops = {PurePosixPath(n).parts[0] for n in names}
    assert tops == {"gdlab", info.rstrip("/")}, tops  # no tests/, book/, labs/, tools/
    assert f"{info}licenses/LICENSE" in names


def test_wheel_metadata_is_what_pyproject_says(dist):
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as z:
        meta = email.parser.Parser().parsestr(z.read(f"{NAME}-{VERSION}.dist-info/METADATA").decode())
    assert meta["Name"] == NAME and meta["Version"] == VERSION
    assert meta["License-Expression"] == "MIT"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta["Requires-Python"] == PROJECT["requires-python"]
    assert meta.get_payload().startswith("# gdlab")  # the README is the long description
    urls = {u.split(",")[0] for u in meta.get_all("Project-URL")}
    assert {"Homepage", "Source", "Issues"} <= urls
    assert set(meta.get_all("Classifier")) == set(PROJECT["classifiers"])
    requires = {r.replace(" ", "") for r in meta.get_all("Requires-Dist")}
    for req in PROJECT["dependencies"]:
        assert req.replace(" ", "") in requires
    for extra, reqs in PROJECT["optional-dependencies"].items():
        for req in reqs:
            assert f'{req};extra=="{extra}"'.replace(" ", "") in requires, (req, extra, requires)


def test_sdist_holds_what_a_build_needs_and_no_tests(dist):
    _, sdist = dist
    prefix = f"{NAME}-{VERSION}/"
    with tarfile.open(sdist) as t:
        names = {m.name.removeprefix(prefix) for m in t.getmembers() if m.isfile()}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO"):
        assert needed in names
    assert _package_files() <= names, sorted(_package_files() - names)
    assert not [n for n in names if n.startswith(("tests/", "book/", "labs/", "tools/"))]
    # `python -m build` made the wheel from this sdist, so the wheel's contents above are what the sdist builds


def test_wheel_installs_into_a_fresh_venv_and_imports(dist, tmp_path):
    """Installed with --no-deps into an empty venv; its dependencies are borrowed from this environment by a path
    entry placed after the venv's own site-packages (so the installed copy of gdlab, not the checkout's, is
    imported), and the import runs outside the checkout."""
    wheel, _ = dist
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index",
                           "-q", str(wheel)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site) / "zz_borrowed_deps.pth").write_text("\n".join(deps) + "\n")
    code = ("import gdlab, gdlab.optim.numpy as gnp, importlib.metadata as md, sys; "
            "assert 'torch' not in sys.modules, 'importing the NumPy face imported torch'; "
            "print(gdlab.__file__); print(md.version('gdlab')); print(type(gnp.Adam(lr=0.1)).__name__)")
    run = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    where, version, cls = run.stdout.split()
    assert Path(where).is_relative_to(env_dir), where
    assert version == VERSION and cls == "Adam"
