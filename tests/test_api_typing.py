"""The optimizers' public face: signatures with types (both faces), the stub files, the documentation that help() and
the reference page share, and the errors a wrong argument gets. Table-driven over every rule.

mypy itself runs in `make typecheck` (tests/typecheck_stubs.py); here the stubs are checked to be what the rules give.
"""

from __future__ import annotations

import inspect
import pydoc
import re
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

import gdlab.optim as go
import gdlab.optim.numpy as gnp
from gdlab.optim import docs, signature
from gdlab.optim.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(RULES)
OPTION_NAMES = {face: [o.name for o in signature.OPTIONS[face]] for face in ("torch", "numpy")}


def _cls(name, face):
    return getattr(go, name) if face == "torch" else getattr(gnp, name)


def _w(*shape):
    return torch.nn.Parameter(torch.randn(*shape, dtype=torch.float64))


def _make(name, face, **kw):
    if face == "torch":
        return getattr(go, name)([_w(4, 3)], **kw)
    return getattr(gnp, name)(**kw)


# --- signatures -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("face", ["torch", "numpy"])
@pytest.mark.parametrize("name", NAMES)
def test_signature_lists_hyperparameters_with_defaults_and_types_then_options(name, face):
    rule = RULES[name]
    sig = inspect.signature(_cls(name, face))
    ps = list(sig.parameters.values())
    if face == "torch":
        assert ps[0].name == "params" and ps[0].default is inspect.Parameter.empty
        ps = ps[1:]
    assert [p.name for p in ps] == list(rule.defaults) + OPTION_NAMES[face]
    for p in ps[: len(rule.defaults)]:
        assert p.default == rule.defaults[p.name], p.name
        assert p.annotation is not inspect.Parameter.empty, p.name
        # the default has the declared type (so the annotation says something true)
        signature.check_value(p.name, p.default, p.annotation, name)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in ps[len(rule.defaults):])
    # IPython's signature line and help() read the same signature
    assert "lr: float" in str(sig) and "nonfinite: Literal['propagate', 'raise', 'skip']" in str(sig)
    assert str(sig).split("(", 1)[1] in pydoc.render_doc(_cls(name, face), renderer=pydoc.plaintext)


def _torch_positional(name):
    ps = list(inspect.signature(getattr(torch.optim, name)).parameters.values())[1:]
    return [p.name for p in ps if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]


@pytest.mark.parametrize("name", NAMES)
def test_positional_arguments_are_torchs_where_torch_has_the_optimizer(name):
    rule = RULES[name]
    ours = [p.name for p in inspect.signature(getattr(go, name)).parameters.values()
            if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD][1:]
    if hasattr(torch.optim, name):
        theirs = _torch_positional(name)
        common = []  # the longest run of torch's positional names that is also the start of our order
        for a, b in zip(theirs, rule.defaults):
            if a != b:
                break
            common.append(a)
        assert ours == common, (ours, theirs)
    else:
        assert ours == ["lr"]


@pytest.mark.parametrize("face", ["torch", "numpy"])
def test_positional_calls_as_in_torch(face):
    args = ([_w(3)],) if face == "torch" else ()
    sgd = _cls("SGD", face)(*args, 0.1, 0.9, 0.0, 1e-4, True)
    hp = sgd.param_groups[0] if face == "torch" else sgd.group
    assert (hp["lr"], hp["momentum"], hp["weight_decay"], hp["nesterov"]) == (0.1, 0.9, 1e-4, True)
    adam = _cls("Adam", face)(*args, 1e-2, (0.8, 0.9), 1e-6)
    hp = adam.param_groups[0] if face == "torch" else adam.group
    assert (hp["lr"], tuple(hp["betas"]), hp["eps"]) == (1e-2, (0.8, 0.9), 1e-6)
    with pytest.raises(TypeError, match="too many positional arguments"):
        _cls("Lion", face)(*args, 1e-3, (0.9, 0.99))  # Lion is not torch's: only lr by position


def test_a_misspelt_argument_is_a_typeerror_with_the_close_name():
    with pytest.raises(TypeError, match=r"AdamW: .*'bettas'.*did you mean 'betas'"):
        go.AdamW([_w(2)], bettas=(0.9, 0.99))
    with pytest.raises(TypeError, match=r"did you mean 'momentum'"):
        gnp.SGD(lr=0.1, momentun=0.9)


# --- stubs and the typing marker ---------------------------------------------------------------------------------
@pytest.mark.parametrize("face", ["torch", "numpy"])
def test_stub_files_are_what_the_rules_give(face):
    path = ROOT / "gdlab" / "optim" / signature.STUBS[face]
    assert path.read_text() == signature.stub(face), (
        f"{path} is stale: run python -m gdlab.optim.signature")


def test_stub_writer_writes_both_files_and_they_parse(tmp_path):
    written = signature.write_stubs(tmp_path)
    assert sorted(p.name for p in written) == sorted(signature.STUBS.values())
    for p in written:
        compile(p.read_text(), str(p), "exec")  # valid Python syntax
        for name in NAMES:
            assert f"class {name}(" in p.read_text()


def test_stubs_go_stale_when_a_default_changes(monkeypatch):
    before = signature.stub("numpy")
    monkeypatch.setitem(RULES["Lion"].defaults, "weight_decay", 0.5)
    assert signature.stub("numpy") != before


def test_the_package_says_it_is_typed():
    assert (ROOT / "gdlab" / "py.typed").exists()
    text = (ROOT / "pyproject.toml").read_text()
    assert "py.typed" in text and ".pyi" in text


# --- documentation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("face", ["torch", "numpy"])
@pytest.mark.parametrize("name", NAMES)
def test_help_shows_the_one_documentation_text(name, face):
    cls = _cls(name, face)
    assert cls.__doc__ == docs.docstring(RULES[name], face)
    shown = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for option in OPTION_NAMES[face]:
        assert f"`{option}: " in cls.__doc__ and option in shown
    for hp in RULES[name].defaults:
        assert f"`{hp}: " in cls.__doc__, hp
    assert ".. math::" not in cls.__doc__ and ":math:" not in cls.__doc__ and "``" not in cls.__doc__


_MD = MarkdownIt("commonmark").use(dollarmath_plugin, double_inline=True)


def _math_and_text(text):
    blocks, inline, leftovers = [], [], []
    for tok in _MD.parse(text):
        if tok.type == "math_block":
            blocks.append(tok.content)
        for child in tok.children or []:
            if child.type in ("math_inline", "math_inline_double"):
                inline.append(child.content)
            elif child.type == "text":
                leftovers.append(child.content)
    return blocks, inline, leftovers


@pytest.mark.parametrize("name", NAMES)
def test_documentation_markdown_parses_with_balanced_math(name):
    text = docs.docstring(RULES[name], "torch")
    blocks, inline, leftovers = _math_and_text(text)
    assert len(blocks) == text.count("\n$$\n") // 2 + (text.count("\n$$\n") % 2), text
    assert blocks, "no display equation"
    for b in blocks + inline:
        assert b.count("{") == b.count("}"), b
        assert b.count("\\begin{") == b.count("\\end{"), b
    assert not any("$" in t for t in leftovers), [t for t in leftovers if "$" in t]
    # the update as its card prints it: one aligned row per card line
    from gdlab.optim.cards import card_for

    assert all(line.line() in text for line in card_for(name).lines)


# --- type errors and structural errors ---------------------------------------------------------------------------
def _wrong_type(hint):
    """A value of the wrong type for ``hint``."""
    origin = typing.get_origin(hint)
    if hint is bool:
        return "yes"
    if origin is typing.Literal:
        return 3
    if origin is tuple:
        return "0.9"
    return "1e-3"  # float, int, float | None, float | Tensor


def _cases():
    for name in NAMES:
        for hp, hint in signature.hints(RULES[name]).items():
            yield name, hp, hint


@pytest.mark.parametrize("face", ["torch", "numpy"])
@pytest.mark.parametrize("name,hp,hint", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_a_value_of_the_wrong_type_is_a_typeerror_naming_it(name, hp, hint, face):
    bad = _wrong_type(hint)
    with pytest.raises(TypeError, match=rf"{name}: {hp} must be .*, got str {bad!r}|{name}: {hp} must be .*got int"):
        _make(name, face, **{hp: bad})


@pytest.mark.parametrize("face", ["torch", "numpy"])
def test_the_messages_of_the_brief_examples(face):
    with pytest.raises(TypeError) as err:
        _make("AdamW", face, lr="1e-3")
    want = "lr must be a float or a tensor, got str '1e-3'" if face == "torch" else "lr must be a float, got str '1e-3'"
    assert str(err.value) == f"AdamW: {want}"
    with pytest.raises(ValueError, match=r"Invalid betas value: betas=\(0.9,\) has 1 value, expected 2"):
        _make("AdamW", face, betas=(0.9,))
    with pytest.raises(ValueError, match=r"Invalid betas value: betas=\(0.9, 0.99, 0.5\) has 3 values"):
        _make("Adam", face, betas=[0.9, 0.99, 0.5])
    # torch's Adam also takes 1-element tensor betas: the torch face says so
    with pytest.raises(TypeError, match=r"betas\[1\] must be a float( or a tensor)?, got str"):
        _make("Adam", face, betas=(0.9, "0.99"))
    with pytest.raises(ValueError, match=r"Invalid nonfinite value: nonfinite='ignore' \(expected one of"):
        _make("SGD", face, nonfinite="ignore")
    with pytest.raises(ValueError, match=r"Invalid amsgrad_form value: amsgrad_form='keras'"):
        _make("Adam", face, amsgrad_form="keras")
    with pytest.raises(TypeError, match=r"track_stats must be True or False, got int 1"):
        _make("SGD", face, track_stats=1)


def test_torch_face_options_are_checked():
    with pytest.raises(ValueError, match="Invalid bf16_update value"):
        go.AdamW([_w(2)], bf16_update="round")
    with pytest.raises(TypeError, match="foreach must be True or False or None, got str"):
        go.AdamW([_w(2)], foreach="yes")
    with pytest.raises(TypeError, match=r"SGD, param group 1: lr must be a float or a tensor, got str"):
        go.SGD([{"params": [_w(2)]}, {"params": [_w(2)], "lr": "0.1"}])


@pytest.mark.parametrize("face", ["torch", "numpy"])
def test_torchs_own_values_are_accepted(face):
    _make("SGD", face, lr=1, momentum=0, weight_decay=np.float64(1e-4), nesterov=False)  # ints for floats
    _make("Adam", face, lr=np.float32(1e-3), betas=[0.9, 0.999], amsgrad=np.bool_(True))  # numpy, a list
    _make("AdamW", face, betas=(np.float64(0.9), 0.95), eps=1e-8)
    _make("Adafactor", face, eps=(None, 1e-3))
    if face == "torch":
        opt = go.Adam([_w(3)], lr=torch.tensor(1e-3))  # a 0-dim tensor lr, as torch.optim takes
        assert isinstance(opt.param_groups[0]["lr"], torch.Tensor)


# --- names in messages, Muon's shapes, missing torch -------------------------------------------------------------
def _bad_grad_step(opt, params):
    for p in params:
        p.grad = torch.full_like(p, float("nan"))
    opt.step()


def test_messages_name_parameters_from_named_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    opt = go.AdamW(model.named_parameters(), nonfinite="raise")
    with pytest.raises(FloatingPointError, match=r"gradient of parameter '0.weight' has 6 non-finite"):
        _bad_grad_step(opt, list(model.parameters()))
    # built from parameters() and named afterwards
    opt = go.SGD(model.parameters(), lr=0.1, nonfinite="raise")
    opt.set_param_names(model.named_parameters())
    with pytest.raises(FloatingPointError, match=r"parameter '0.weight'"):
        _bad_grad_step(opt, list(model.parameters()))
    # without names: place in the group and shape
    opt = go.SGD(model.parameters(), lr=0.1, nonfinite="raise")
    with pytest.raises(FloatingPointError, match=r"parameter 0 of group 0 \(shape \(2, 3\)\)"):
        _bad_grad_step(opt, list(model.parameters()))


@pytest.mark.parametrize("shape,what", [((4, 3, 3, 3), "convolution kernel"), ((5,), "shape (5,)")])
def test_muon_refuses_other_shapes_at_construction_naming_them(shape, what):
    named = [("block.w", _w(4, 3)), ("block.bad", _w(*shape))]
    with pytest.raises(ValueError, match=rf"Muon: parameter 'block.bad': .*{re.escape(what)}"):
        go.Muon(named)
    with pytest.raises(ValueError, match=r"Muon: parameter 1 of group 0 \(shape"):
        go.Muon([p for _, p in named])
    opt = go.Muon([_w(4, 3)])
    with pytest.raises(ValueError, match="second optimizer"):
        opt.add_param_group({"params": [_w(*shape)]})
    go.Muon([_w(4, 3), _w(2, 5)])  # matrices are taken


def test_without_torch_the_torch_face_says_to_install_gdlab_torch():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import gdlab.optim, gdlab.optim.numpy as gnp\n"
        "import numpy as np\n"
        "x = gnp.AdamW(lr=0.1)(np.ones(2), np.ones(2))\n"
        "try:\n"
        "    gdlab.optim.AdamW\n"
        "except ImportError as err:\n"
        "    print('ImportError:', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "ImportError:" in out.stdout and "pip install 'gdlab[torch]'" in out.stdout, out.stdout
    assert "gdlab.optim.numpy.AdamW" in out.stdout
