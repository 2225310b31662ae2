"""Other solutions of the code exercises of labs/memory-accounting.ipynb: correct ones the checks must accept, and
plausible wrong ones they must reject."""

VARIANTS = {
    "zero_adam": {
        "correct": [
            # ZeRO's closed forms, one per stage
            "def zero_adam(psi, stage, n_devices):\n"
            "    nd = n_devices\n"
            "    return [16 * psi, 4 * psi + 12 * psi / nd, 2 * psi + 14 * psi / nd, 16 * psi / nd][stage]",
            # bytes per parameter first, then times psi
            "def zero_adam(psi, stage, n_devices):\n"
            "    shard = [1.0 if stage < s else 1.0 / n_devices for s in (3, 2, 1)]\n"
            "    per_param = 2 * shard[0] + 2 * shard[1] + (4 + 4 + 4) * shard[2]\n"
            "    return per_param * psi",
        ],
        "wrong": [
            # K = 8: the fp32 master copy forgotten
            "def zero_adam(psi, stage, n_devices):\n"
            "    nd = n_devices\n"
            "    return [12 * psi, 4 * psi + 8 * psi / nd, 2 * psi + 10 * psi / nd, 12 * psi / nd][stage]",
            # each stage shards only its own term: stage 2 shards the gradients and gathers the states again
            "def zero_adam(psi, stage, n_devices):\n"
            "    nd = n_devices\n"
            "    return [16 * psi, 4 * psi + 12 * psi / nd, 2 * psi + 2 * psi / nd + 12 * psi,\n"
            "            16 * psi / nd][stage]",
            # stage 1 sharding the moments but not the master weights
            "def zero_adam(psi, stage, n_devices):\n"
            "    nd = n_devices\n"
            "    return [16 * psi, 8 * psi + 8 * psi / nd, 2 * psi + 14 * psi / nd, 16 * psi / nd][stage]",
        ],
    },
    "moments_8bit": {
        "correct": [
            # the number of blocks as -(-n // block)
            "def moments_8bit(numels, block=2048):\n"
            "    return sum(2 * n + 8 * (-(-n // block)) if n >= 4096 else 8 * n for n in numels)",
            # codes and scales counted apart
            "import math\n"
            "def moments_8bit(numels, block=2048):\n"
            "    big = [n for n in numels if n >= 4096]\n"
            "    codes = 2 * sum(big)\n"
            "    scales = 2 * 4 * sum(math.ceil(n / block) for n in big)\n"
            "    return codes + scales + 8 * sum(n for n in numels if n < 4096)",
        ],
        "wrong": [
            # the threshold as n > 4096
            "import math\n"
            "def moments_8bit(numels, block=2048):\n"
            "    return sum(2 * n + 8 * math.ceil(n / block) if n > 4096 else 8 * n for n in numels)",
            # the last, short block left out
            "def moments_8bit(numels, block=2048):\n"
            "    return sum(2 * n + 8 * (n // block) if n >= 4096 else 8 * n for n in numels)",
            # one scale per block shared by the two moments
            "import math\n"
            "def moments_8bit(numels, block=2048):\n"
            "    return sum(2 * n + 4 * math.ceil(n / block) if n >= 4096 else 8 * n for n in numels)",
            # the block of 2048 written in: right on the visible sizes, wrong for blocks of 256 (only the hidden
            # tests catch it)
            "import math\n"
            "def moments_8bit(numels, block=2048):\n"
            "    return sum(2 * n + 8 * math.ceil(n / 2048) if n >= 4096 else 8 * n for n in numels)",
        ],
    },
}

# solutions that call gdlab's answer instead of writing it: the check must refuse them, whatever the numbers
VARIANTS["zero_adam"]["wrong"].append(  # calls gdlab
    "def zero_adam(psi, stage, n_devices):\n"
    "    from gdlab import memory as answers\n"
    "    return answers.zero_bytes(psi, stage, n_devices)"
)
VARIANTS["moments_8bit"]["wrong"].append(  # calls gdlab
    "def moments_8bit(numels, block=2048):\n"
    "    from gdlab import memory as answers\n"
    "    m = answers.predict([(n,) for n in numels], 'Adam8bit', block_size=block)\n"
    "    return m.state_total - m.state['step']"
)
