r"""Each optimizer's documentation, written once and shown twice: by `help()` and on the Optimizer reference page.

The format of every docstring in `gdlab.optim` is Markdown that reads as plain text: code in single backticks,
math between `$` signs inline and between lines holding only `$$` for display (`\begin{aligned}` where lines
align), lists with `-` or `*`, labels in `**bold**`, no headings and no reST roles or directives. `help()` prints it
as it is; the reference page (`book/reference/optimizers.ipynb`) renders it, math included.

- `rule_text(rule, face)`: one optimizer: its summary, how to call it, its update as its card prints it (the card
  that `tests/test_reference_cards.py` runs against the code), the rule's docstring, its arguments with their
  types, defaults and symbols, its buffers, its convention and its paper;
- `options_text(face)`: gdlab's own options of a face (`gdlab.optim.signature.OPTIONS`);
- `docstring(rule, face)`: the two together, the `__doc__` of `gdlab.optim.<Name>` (`face="torch"`) and of
  `gdlab.optim.numpy.<Name>` (`face="numpy"`).

The reference page prints `options_text("torch")` once and `rule_text(rule, "torch")` for every rule, so what it
shows is what `help(gdlab.optim.<Name>)` shows.
"""

from __future__ import annotations

import inspect
import re
import textwrap

from . import signature

_FACES = ("torch", "numpy")

#: the arguments whose meaning no rule's docstring spells out
COMMON = {
    "maximize": "follow $+g$ instead of $-g$ (maximize the objective), as torch.optim's `maximize` does",
}


def _summary_and_body(rule: type) -> tuple[str, str]:
    doc = inspect.cleandoc(rule.__doc__ or "")
    summary, _, body = doc.partition("\n\n")
    return " ".join(summary.split()), body.strip()


def _display(lines: list[str]) -> str:
    """A display equation: one line per row of an `aligned` block, between `$$` lines."""
    if len(lines) == 1:
        return "$$\n" + lines[0] + "\n$$"
    return "$$\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n$$"


def symbols(rule: type) -> dict[str, str]:
    """Each hyperparameter the rule's card reads, with the LaTeX it is printed as (a pair's in index order)."""
    from .cards import card_for

    found: dict[str, dict[int, str]] = {}
    for s in card_for(rule.name).symbols():
        if isinstance(s.source, str) and s.source.startswith("hp:"):
            name, _, index = s.source[3:].partition(".")
            found.setdefault(name, {})
            found[name].setdefault(int(index) if index.isdigit() else len(found[name]), s.tex())
    return {name: ", ".join(tex for _, tex in sorted(parts.items())) for name, parts in found.items()}


def _wrap(text: str, width: int = 110) -> str:
    """Fill a paragraph or a list item to ``width`` columns (list items hang by two spaces), never breaking
    inside a code span or inline math."""
    guarded = re.sub(r"`[^`]*`|\$[^$]*\$", lambda m: m.group(0).replace(" ", "\x01"), text)
    hang = "  " if text.startswith("- ") else ""
    lines = textwrap.wrap(guarded, width=width, subsequent_indent=hang, break_long_words=False,
                          break_on_hyphens=False)
    return "\n".join(lines).replace("\x01", " ")


def _argument(name: str, param: inspect.Parameter, symbol: str | None) -> str:
    text = f"- `{name}: {signature.source(param.annotation)} = {param.default!r}`"
    notes = []
    if symbol and not re.fullmatch(r"[A-Za-z]{2,}", symbol):  # a flag printed as a word is no symbol
        notes.append(f"${symbol}$")
    if name in COMMON:
        notes.append(COMMON[name])
    return _wrap(text + (": " + "; ".join(notes) if notes else ""))


def _call(rule: type, face: str) -> str:
    name = rule.name
    torch_call = f"`gdlab.optim.{name}(params, lr={rule.defaults['lr']!r}, ...)`"
    numpy_call = f"`gdlab.optim.numpy.{name}(lr={rule.defaults['lr']!r}, ...)`"
    if face == "torch":
        return (f"{torch_call} is a `torch.optim.Optimizer`; the same rule on NumPy arrays is {numpy_call}, "
                "called as `x = opt(x, g)`.")
    return (f"{numpy_call} acts on NumPy arrays, called as `x = opt(x, g)`; the same rule as a "
            f"`torch.optim.Optimizer` is {torch_call}.")


def rule_text(rule: type, face: str = "torch") -> str:
    """The documentation of one optimizer (Markdown that reads as plain text)."""
    from .cards import card_for

    if face not in _FACES:
        raise ValueError(f"Invalid face value: face={face!r} (expected 'torch' or 'numpy')")
    summary, body = _summary_and_body(rule)
    card = card_for(rule.name)
    sig = signature.face_signature(rule, face) if face == "torch" else signature.signature(rule, "numpy")
    syms = symbols(rule)
    args = []
    if face == "torch":
        args.append(_wrap("- `params`: what to update: `model.parameters()`, `model.named_parameters()` (messages then "
                    "name the parameters), or a list of dicts, param groups with their own values of the "
                    "arguments below"))
    args += [_argument(k, sig.parameters[k], syms.get(k)) for k in rule.defaults]
    blocks = [
        summary,
        _wrap(_call(rule, face)),
        "The update, as its card prints it (the Optimizer reference page runs the card against this code):",
        _display([line.line() for line in card.lines]),
        card.where,
        body,
        "**Arguments**, with their types and defaults (symbols as in the update):\n\n" + "\n".join(args),
        "**State** (per parameter): " + ", ".join(f"`{b}`" for b in rule.buffers) + ".",
        _wrap(f"**Convention:** {rule.convention}"),
        f"**Paper:** `{rule.cite}` in the book's bibliography.",
    ]
    return "\n\n".join(b.strip() for b in blocks if b.strip())


def options_text(face: str = "torch") -> str:
    """gdlab's own options of one face, which every optimizer of that face takes after its arguments."""
    if face not in _FACES:
        raise ValueError(f"Invalid face value: face={face!r} (expected 'torch' or 'numpy')")
    intro = _wrap("**gdlab's own options**, which every optimizer of the torch face takes after its arguments (torch.optim "
             "has none of them):" if face == "torch" else
             "**gdlab's own options**, which every optimizer of the NumPy face takes after its arguments:")
    items = [_wrap(f"- `{o.name}: {signature.source(o.hint)} = {o.default!r}`: {o.doc}") for o in signature.OPTIONS[face]]
    return intro + "\n\n" + "\n".join(items)


def docstring(rule: type, face: str) -> str:
    """The `__doc__` of the class of ``rule`` in ``face``: `rule_text` then `options_text`."""
    return rule_text(rule, face) + "\n\n" + options_text(face)
