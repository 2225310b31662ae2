"""Mutations of what the adamw chapter relies on: where and how gdlab's AdamW (and SGD's decoupled option) apply the
weight decay (gdlab/optim/rules/adam.py and the decoupled_weight_decay piece)."""

from mutants import Mutation

NB = "book/adaptive/adamw.ipynb"
PIECES = "gdlab/optim/pieces.py"
RULE = "gdlab/optim/rules/adam.py"

_UPDATE = '''        if self.decoupled or hp.get("decoupled_weight_decay", False):
            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)
            g = ctx.grads
        else:
            g = l2_into_gradient(ctx, ctx.grads)              # g ← g + λθ
        m, v = adam_moments(ctx, g)
        if hp["amsgrad"] and hp.get("amsgrad_form", "torch") == "optax":
            vhat_max = amsgrad_max_corrected(ctx, v)          # v̂max ← max(v̂max, v/(1−β₂ᵗ))
            b1 = hp["betas"][0]
            den = ctx.ops.sqrt(vhat_max)
            ctx.ops.add_(den, hp["eps"])
            apply_ratio(ctx, m, den, [1.0 / (1.0 - b1**t) for t in ctx.steps])  # θ ← θ − η m̂/(√v̂max + ε)
            return
        if hp["amsgrad"]:
            v = amsgrad_max(ctx, v)                           # vmax ← max(vmax, v)
        if not is_number(hp["lr"]) and not hp.get("eps_inside", False):
            # a tensor lr: torch's arithmetic, step size η/(1−β₁ᵗ) in the lr's dtype, √v/√(1−β₂ᵗ) + ε
            b1, b2 = hp["betas"]
            den = ctx.ops.sqrt(v)
            ctx.ops.div_(den, [c ** 0.5 for c in bias_correction(b2, ctx.steps)])
            ctx.ops.add_(den, hp["eps"])
            ctx.ops.addcdiv_(ctx.params, m, den, [-(hp["lr"] / c) for c in bias_correction(b1, ctx.steps)])
            return
        num, den, scale = adam_ratio(ctx, m, v, eps_inside=hp.get("eps_inside", False))
        apply_ratio(ctx, num, den, scale)                     # θ ← θ − η m̂/(√v̂ + ε)
'''
_DECAY_AFTER = (_UPDATE
                .replace('''        if self.decoupled or hp.get("decoupled_weight_decay", False):
            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)
            g = ctx.grads
''', '''        decay_after = self.decoupled or hp.get("decoupled_weight_decay", False)
        if decay_after:
            g = ctx.grads
''')
                .replace('''        apply_ratio(ctx, num, den, scale)                     # θ ← θ − η m̂/(√v̂ + ε)
''', '''        apply_ratio(ctx, num, den, scale)                     # θ ← θ − η m̂/(√v̂ + ε)
        if decay_after:
            decoupled_weight_decay(ctx)                       # the new θ decays
'''))

MUTATIONS = [
    Mutation(NB, RULE, _UPDATE, _DECAY_AFTER, "the decay applied after the Adam step, to the new weights"),
    Mutation(NB, PIECES, '    factor = 1.0 - (ctx.group["lr"] * wd if lr_scaled else wd)\n',
             "    factor = 1.0 - wd\n", "the decay not multiplied by the learning rate"),
    Mutation(NB, PIECES, '    factor = 1.0 - (ctx.group["lr"] * wd if lr_scaled else wd)\n',
             '    factor = 1.0 - (ctx.group["lr"] ** 2 * wd if lr_scaled else wd)\n',
             "the decay multiplied by the square of the learning rate"),
    Mutation(NB, RULE, "            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)\n            g = ctx.grads\n",
             "            decoupled_weight_decay(ctx)                       # θ ← θ(1 − ηλ)\n"
             "            g = l2_into_gradient(ctx, ctx.grads)\n",
             "AdamW also adds the L2 gradient wd * theta to the gradient"),
    Mutation(NB, RULE, '        if self.decoupled or hp.get("decoupled_weight_decay", False):\n',
             '        if hp.get("decoupled_weight_decay", False):\n',
             "AdamW falls back to Adam's coupled L2"),
]
