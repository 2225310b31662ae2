"""Mutations of what the memory lab relies on: gdlab.memory's formulas, ZeRO, 8-bit Adam and the bf16 updates."""

from mutants import Mutation

NB = "labs/memory-accounting.ipynb"

MUTATIONS = [
    Mutation(NB, "gdlab/memory.py", "a * batch * seq * seq + 4 * T", "batch * seq * seq + 4 * T",
             "the attention probabilities counted once, not once per head (abs^2 without a)"),
    Mutation(NB, "gdlab/memory.py", "    if zero_stage >= 3:\n        w = w / nd",
             "    if zero_stage >= 2:\n        w = w / nd",
             "ZeRO stage 2 sharding the weights too (stage 3's formula)"),
    Mutation(NB, "gdlab/memory.py", "return 2 * bytes_per_element * batch * seq * vocab",
             "return bytes_per_element * batch * seq * vocab",
             "the backward pass's first temporary as one TV tensor, not the two of the cross-entropy"),
    Mutation(NB, "gdlab/optim/rules/quantized.py",
             "decoupled_weight_decay=False, block_size=Q.BLOCK_SIZE, min_8bit_size=4096)",
             "decoupled_weight_decay=False, block_size=256, min_8bit_size=4096)",
             "8-bit Adam with bitsandbytes' 256-value blocks while the lab states the paper's 2048"),
    Mutation(NB, "gdlab/optim/quantize.py", "    amax = blocks.abs().amax(dim=1)",
             "    amax = blocks.abs().amax().expand(nb)",
             "one absmax for the whole tensor instead of one per block"),
    Mutation(NB, "gdlab/optim/lowprec.py", 'st["kahan_comp"].copy_(x - p.float())',
             'st["kahan_comp"].copy_(p.float() - x)',
             "Kahan's compensation with the wrong sign"),
    Mutation(NB, "gdlab/optim/lowprec.py", "torch.randint(0, 1 << 16, x.shape",
             "torch.randint(0, 1 << 15, x.shape",
             "stochastic rounding with half the random bits (biased toward zero)"),
    Mutation(NB, "gdlab/zero.py",
             "            p.grad = None                                          # and frees the full gradient",
             "            pass",
             "ZeRO stage 2 keeping the full gradients after averaging them"),
]
