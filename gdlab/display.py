"""Numbers a chapter quotes in its prose, in the book and in plain Jupyter or Colab.

The book's Markdown quotes a value that the notebook computes with MyST-NB's ``{glue:text}`` role. A chapter hands the
value over with :func:`glue`, which calls ``myst_nb.glue`` when myst-nb is installed (the book build, the project's
virtual environment) and otherwise shows nothing and simply keeps the value, so that a notebook runs unchanged where
only ``gdlab[labs]`` is installed. Either way the value is recorded in :data:`GLUED` and returned.

The Colab/Jupyter edition of the course (``tools/colab.py``) has no ``{glue:text}`` role, which plain Markdown cannot
render: before each paragraph that quotes such values it puts a cell that calls :func:`show` with their names.
"""

from __future__ import annotations

import importlib.util

__all__ = ["GLUED", "glue", "show"]

#: Every value handed to :func:`glue` in this kernel, by name (the last value wins when a name is glued twice).
GLUED: dict[str, object] = {}


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"glue(): argument 'name' must be a str, not {type(name).__name__}")
    if not name.isidentifier():
        raise ValueError(f"glue(): argument 'name' must be an identifier such as 'rate_ratio', got {name!r}")
    return name


def glue(name: str, value, display: bool = True):
    """Record ``value`` under ``name`` for the prose, and return it.

    With myst-nb installed this is ``myst_nb.glue(name, value, display=display)``: the book's
    ``{glue:text}`name``` role shows the value, and ``display=True`` also shows it below the cell. Without myst-nb
    nothing is shown (whatever ``display`` says): the value is only kept in :data:`GLUED`.
    """
    _check_name(name)
    if not isinstance(display, bool):
        raise TypeError(f"glue(): argument 'display' must be a bool, not {type(display).__name__}")
    GLUED[name] = value
    if importlib.util.find_spec("myst_nb") is not None:
        from myst_nb import glue as myst_glue

        myst_glue(name, value, display=display)
    return value


def show(*names: str) -> None:
    """Print the glued values called ``names``, one ``name = value`` line each, in the order given."""
    if not names:
        raise TypeError("show(): give at least one name")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"show(): argument 'names' must hold str, not {type(name).__name__}")
    missing = [name for name in names if name not in GLUED]
    if missing:
        raise KeyError(
            f"show(): no value was glued under {', '.join(map(repr, missing))}; run the cells above this one first"
        )
    for name in names:
        print(f"{name} = {GLUED[name]}")
