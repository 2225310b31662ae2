"""What the Optimizer reference page (`book/reference/optimizers.ipynb`) prints, made here so that the page holds
no generator code.

- `read_bib(path)` and `find_bib(start)`: the entries of the book's `references.bib` (enough for authors, titles,
  years and venues);
- `reference_text(entry, key)`: one entry as a line of the page;
- `state_bytes_per_param(name, **options)`: the bytes of optimizer state per parameter after one step of
  `gdlab.optim.<name>` on a small network (imports torch);
- `card_markdown(rule, measured, bib)`: one optimizer's card: its heading, `gdlab.optim.docs.rule_text(rule)`
  (what `help(gdlab.optim.<Name>)` shows), the measured state and the paper.
"""

from __future__ import annotations

import re
from pathlib import Path


def find_bib(start: Path | None = None) -> Path:
    """`references.bib` in ``start`` (the working folder by default) or the nearest folder above it."""
    start = Path.cwd() if start is None else Path(start)
    for d in [start, *start.parents]:
        if (d / "references.bib").exists():
            return d / "references.bib"
    raise FileNotFoundError(f"references.bib not found in {start} or any folder above it")


def read_bib(path: Path) -> dict[str, dict[str, str]]:
    """key -> {field: value} for every entry of a BibTeX file; field names in lower case, braces removed."""
    entries = {}
    for m in re.finditer(r"@\w+\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", Path(path).read_text(), flags=re.DOTALL):
        fields = re.findall(r"(\w+)\s*=\s*[{\"](.*?)[}\"]\s*,?\s*$", m.group(2), flags=re.MULTILINE)
        entries[m.group(1)] = {k.lower(): v.replace("{", "").replace("}", "") for k, v in fields}
    return entries


def reference_text(entry: dict[str, str], key: str) -> str:
    """Authors (year). *Title*. Venue."""
    venue = entry.get("journal") or entry.get("booktitle") or entry.get("publisher") or entry.get("howpublished", "")
    authors = entry.get("author", "").replace(" and ", ", ")
    return f"{authors} ({entry.get('year', 'n.d.')}). *{entry.get('title', key)}*. {venue}".strip()


def _tiny_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))


def state_bytes_per_param(name: str, **options) -> float | str:
    """Bytes of optimizer state per parameter after one step of `gdlab.optim.<name>` on a 16-32-8 network
    (the per-tensor step counters left out).

    An optimizer that refuses some parameters (Muon: vectors) is measured on those it takes (the weight
    matrices); one that cannot step from a closure alone is reported as not measured, with the exception's type.
    """
    import torch

    import gdlab.optim as gopt

    cls = getattr(gopt, name)
    model = _tiny_model()
    params = list(model.parameters())
    try:
        opt = cls(params, **options)
    except ValueError:  # an optimizer for matrices only
        params = [p for p in params if p.ndim >= 2]
        opt = cls(params, **options)
    if hasattr(opt, "train"):
        opt.train()
    x, y = torch.randn(64, 16), torch.randn(64, 8)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward(create_graph=getattr(opt, "needs_hessian", False))
        return loss

    try:
        opt.step(closure)
    except Exception as exc:  # noqa: BLE001 -- reported on the page, not guessed
        return f"not measured ({type(exc).__name__})"
    # the buffers that grow with the parameters: the 0-dim counters (each tensor's 4-byte step, as torch.optim
    # keeps it; NAdam's running product) are left out
    nbytes = sum(v.numel() * v.element_size() for p in params for v in opt.state[p].values()
                 if isinstance(v, torch.Tensor) and v.dim() > 0)
    return nbytes / sum(p.numel() for p in params)


def card_markdown(rule: type, measured: float | str, bib: dict[str, dict[str, str]]) -> str:
    """One optimizer's card on the reference page: heading, the text `help()` shows, measured state, paper."""
    from . import docs

    if rule.cite not in bib:
        raise KeyError(f"{rule.name}: cite key {rule.cite!r} is not in references.bib")
    mem = f"{measured:.2f} bytes per parameter at the defaults (float32)" if isinstance(measured, float) else measured
    return "\n\n".join([
        f"### {rule.name}",
        docs.rule_text(rule, "torch"),
        f"**State, measured:** {mem}.",
        f"**Reference:** {reference_text(bib[rule.cite], rule.cite)} (`{rule.cite}`)",
    ])
