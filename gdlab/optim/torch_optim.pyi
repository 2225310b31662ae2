# The torch face's classes as type checkers and editors see them: gdlab/optim/torch_optim.py
# makes them at import time from the rules (gdlab/optim/rules/). Written by `python -m gdlab.optim.signature`
# from gdlab/optim/signature.py; tests/test_api_typing.py fails when it differs from what the rules give.

from typing import Literal

from torch import Tensor
from torch.optim.optimizer import ParamsT

from .torch_face import RuleOptimizer as RuleOptimizer
from .rules.schedule_free import ScheduleFreeTorchMethods
from .rules.sophia import SophiaTorchMethods

__all__ = ["RuleOptimizer", "Adafactor", "Adam", "AdamW", "Adagrad", "RMSprop", "NAdam", "RAdam", "LAMB", "LARS", "AdamP", "Muon", "ScheduleFreeAdamW", "SGD", "Shampoo", "SOAP", "SignSGD", "Lion", "Sophia", "Adam8bit"]


class Adafactor(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.01,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 0.001),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        eps_form: Literal['torch', 'paper'] = 'torch',
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Adam(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        eps_inside: bool = False,
        amsgrad_form: Literal['torch', 'optax'] = 'torch',
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class AdamW(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        eps_inside: bool = False,
        amsgrad_form: Literal['torch', 'optax'] = 'torch',
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Adagrad(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class RMSprop(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        eps_inside: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class NAdam(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.002,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        momentum_decay: float = 0.004,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class RAdam(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        rect_threshold: float = 5.0,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class LAMB(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-06,
        weight_decay: float = 0.01,
        trust_clip: float | None = None,
        always_adapt: bool = True,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class LARS(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.1,
        *,
        momentum: float = 0.9,
        weight_decay: float = 0.0005,
        trust_coefficient: float = 0.001,
        exclude_1d: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class AdamP(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        delta: float = 0.1,
        wd_ratio: float = 0.1,
        nesterov: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Muon(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
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
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class ScheduleFreeAdamW(ScheduleFreeTorchMethods, RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.0025,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class SGD(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        momentum_form: Literal['torch', 'polyak', 'sutskever'] = 'torch',
        nesterov_form: Literal['torch', 'lookahead'] = 'torch',
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Shampoo(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.1,
        *,
        eps: float = 0.0001,
        update_freq: int = 1,
        exponent_override: float | None = None,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class SOAP(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.003,
        *,
        betas: tuple[float, float] = (0.95, 0.95),
        shampoo_beta: float | None = None,
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        precondition_frequency: int = 10,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class SignSGD(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        *,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Lion(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.0001,
        *,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Sophia(SophiaTorchMethods, RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.0001,
        *,
        betas: tuple[float, float] = (0.965, 0.99),
        gamma: float = 0.01,
        eps: float = 1e-12,
        weight_decay: float = 0.1,
        update_period: int = 10,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...


class Adam8bit(RuleOptimizer):
    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.0,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        block_size: int = 2048,
        min_8bit_size: int = 4096,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        nonfinite: Literal['propagate', 'raise', 'skip'] = 'propagate',
        track_stats: bool = False,
        compile: bool = False,
        bf16_update: Literal['nearest', 'kahan', 'stochastic'] = 'nearest',
        bf16_seed: int = 0,
    ) -> None: ...
