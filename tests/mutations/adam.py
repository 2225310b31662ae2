"""Mutations of what the adam chapter relies on: Adam's moments, bias correction, placement of epsilon and AMSGrad's
maximum in gdlab.optim (pieces.py and rules/adam.py)."""

from mutants import Mutation

NB = "book/adaptive/adam.ipynb"
PIECES = "gdlab/optim/pieces.py"
RULE = "gdlab/optim/rules/adam.py"

MUTATIONS = [
    Mutation(NB, PIECES, "    c1 = bias_correction(b1, ctx.steps)\n",
             "    c1 = bias_correction(b1, [t + 1 for t in ctx.steps])\n",
             "the first moment's bias correction off by one step, 1 - beta1^(t+1)"),
    Mutation(NB, PIECES, "    c2 = bias_correction(b2, ctx.steps)\n", "    c2 = [1.0 for _ in ctx.steps]\n",
             "no bias correction on v"),
    Mutation(NB, PIECES,
             "    ops.lerp_(m, grads, 1.0 - b1)\n    ops.mul_(v, b2)\n    ops.addcmul_(v, grads, grads, 1.0 - b2)\n",
             "    ops.lerp_(m, grads, 1.0 - b2)\n    ops.mul_(v, b1)\n    ops.addcmul_(v, grads, grads, 1.0 - b1)\n",
             "beta1 and beta2 swapped in the moments"),
    Mutation(NB, PIECES,
             "    den = ops.sqrt(v)\n    ops.add_(den, eps if eps_inside else [eps * s for s in sc2])\n",
             "    den = ops.sqrt_(ops.add(v, eps if eps_inside else [eps * s for s in sc2]))\n",
             "epsilon inside the square root"),
    Mutation(NB, PIECES, "    ops.add_(den, eps if eps_inside else [eps * s for s in sc2])\n",
             "    ops.add_(den, eps)\n",
             "the eps-hat placement in the paper's form (eps added to the raw sqrt(v))"),
    Mutation(NB, RULE, '        if hp["amsgrad"] and hp.get("amsgrad_form", "torch") == "optax":\n',
             '        if hp["amsgrad"]:\n',
             "AMSGrad's maximum taken of the bias-corrected v (optax's form) in torch's form"),
    Mutation(NB, PIECES, "    ctx.ops.maximum_(vmax, v)\n", "    ctx.ops.maximum_(vmax, ctx.ops.div(v, bias_correction(ctx.group['betas'][1], ctx.steps)))\n",
             "AMSGrad's torch form keeps the maximum of v-hat and corrects it again"),
]
