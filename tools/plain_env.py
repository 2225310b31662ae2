"""Run notebooks in the environment of a reader: the Python that runs this script, with only what ``gdlab[labs]`` needs.

Usage: ``PYTHON tools/plain_env.py [--jobs N] [--timeout S] PATH ...`` (``make plain-env`` builds that environment
and runs every notebook of the Colab/Jupyter edition and of the book with it). A path is a notebook or a folder
searched for notebooks. Each notebook is executed by nbclient, in its own folder, with a kernel started from this
very interpreter, after a first cell that checks the kernel is that interpreter and that the book's build tools
(myst-nb) are not importable there. Nothing is written back; the script prints each notebook's time and exits
non-zero when any notebook fails, naming it and the error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "gdlab-plain-env"
CHECK = """import importlib.util
import sys

assert sys.prefix == {prefix!r}, f"the kernel runs {{sys.prefix}}, not {prefix!r}"
assert importlib.util.find_spec("myst_nb") is None, "myst_nb is importable in the plain environment"
"""


def notebooks(paths) -> list[Path]:
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb":
            found.append(path)
        else:
            raise SystemExit(f"plain_env.py: {path} is neither a notebook nor a folder")
    return found


def kernel_dir() -> str:
    """A kernelspec for this interpreter, in a folder of its own (so no kernel installed elsewhere is picked)."""
    folder = Path(tempfile.mkdtemp(prefix="gdlab-plain-kernel-"))
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gdlab (plain environment)",
        "language": "python",
    }))
    return str(folder)


def run(path: str, timeout: int) -> tuple[str, float, str]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    check = nbformat.v4.new_code_cell(CHECK.format(prefix=sys.prefix))
    check.id = "plain-env-check"
    nb.cells.insert(0, check)
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name=KERNEL,
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    except Exception as err:  # the notebook's error, reported with its name below
        return path, time.perf_counter() - start, f"{type(err).__name__}: {err}"[-3000:]
    return path, time.perf_counter() - start, ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="notebooks, or folders of notebooks")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds one cell may take (default 600)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("argument --jobs must be at least 1")
    files = notebooks(args.paths)
    if not files:
        raise SystemExit("plain_env.py: no notebook found")
    os.environ["JUPYTER_PATH"] = kernel_dir()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(ROOT / "artifacts" / "inductor-plain")
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(args.jobs) as pool:
        for path, seconds, error in pool.map(run, map(str, files), [args.timeout] * len(files)):
            print(f"{'ok    ' if not error else 'FAILED'} {seconds:6.1f} s  {path}", flush=True)
            if error:
                failed.append((path, error))
    for path, error in failed:
        print(f"\n==> {path} failed:\n{error}", file=sys.stderr)
    print(f"==> plain environment ({sys.prefix}): {len(files) - len(failed)} of {len(files)} notebooks ran "
          f"in {time.perf_counter() - start:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
