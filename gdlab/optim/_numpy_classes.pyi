# The NumPy face's classes as type checkers and editors see them: gdlab/optim/numpy.py
# makes them at import time from the rules (gdlab/optim/rules/). Written by `python -m gdlab.optim.signature`
# from gdlab/optim/signature.py; tests/test_api_typing.py fails when it differs from what the rules give.

from typing import Literal

from .numpy import NumpyOptimizer

__all__ = ["Adafactor", "Adam", "AdamW", "Adagrad", "RMSprop", "NAdam", "RAdam", "LAMB", "LARS", "AdamP", "Muon", "ScheduleFreeAdamW", "SGD", "Shampoo", "SOAP", "SignSGD", "Lion", "Sophia", "Adam8bit"]


class Adafactor(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.01,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 0.001),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        eps_form: Literal['torch', 'paper'] = 'torch',
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Adam(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        eps_inside: bool = False,
        amsgrad_form: Literal['torch', 'optax'] = 'torch',
        decoupled_weight_decay: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class AdamW(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        eps_inside: bool = False,
        amsgrad_form: Literal['torch', 'optax'] = 'torch',
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Adagrad(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class RMSprop(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        eps_inside: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class NAdam(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.002,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        momentum_decay: float = 0.004,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class RAdam(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        rect_threshold: float = 5.0,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class LAMB(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-06,
        weight_decay: float = 0.01,
        trust_clip: float | None = None,
        always_adapt: bool = True,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class LARS(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.1,
        *,
        momentum: float = 0.9,
        weight_decay: float = 0.0005,
        trust_coefficient: float = 0.001,
        exclude_1d: bool = False,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class AdamP(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        nesterov: bool = False,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Muon(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
        eps: float = 1e-07,
        ns_steps: int = 5,
        adjust_lr_fn: Literal['original', 'match_rms_adamw', None] = None,
        *,
        maximize: bool = False,
        ns_form: Literal['full', 'torch'] = 'full',
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class ScheduleFreeAdamW(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.0025,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class SGD(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        momentum_form: Literal['torch', 'polyak', 'sutskever'] = 'torch',
        nesterov_form: Literal['torch', 'lookahead'] = 'torch',
        decoupled_weight_decay: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Shampoo(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.1,
        *,
        eps: float = 0.0001,
        update_freq: int = 1,
        exponent_override: float | None = None,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class SOAP(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.003,
        *,
        betas: tuple[float, float] = (0.95, 0.95),
        shampoo_beta: float | None = None,
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        precondition_frequency: int = 10,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class SignSGD(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        *,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Lion(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.0001,
        *,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Sophia(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.0001,
        *,
        betas: tuple[float, float] = (0.965, 0.99),
        gamma: float = 0.01,
        eps: float = 1e-12,
        weight_decay: float = 0.1,
        update_period: int = 10,
        maximize: bool = False,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...


class Adam8bit(NumpyOptimizer):
    def __init__(
        self,
        lr: float = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        block_size: int = 2048,
        min_8bit_size: int = 4096,
        track_stats: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
    ) -> None: ...
