"""Two-expert models (Wan 2.2 A14B: a high-noise and a low-noise expert that share one latent space and switch at a
noise level, the boundary). The bridge runs as one trajectory whatever model evaluates each step, so the rule is
per evaluation: the high-noise expert predicts at every time t >= boundary, the low-noise expert below it (the
official Wan 2.2 code's `t >= boundary` rule). A bridge that starts at T0 <= boundary never meets the high-noise
expert.

A host that loads each expert on its own runs the schedule in two parts: `split_schedule` cuts it, and
`bridge.sample_bridge(..., t0=T0)` runs each part, the second from the state the first ended in. Running the two
parts equals one run with `expert_denoiser` (tests/test_experts.py checks it exactly).
"""
from __future__ import annotations

from typing import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # x0_hat(x, t), t of shape (B,)
EXPERTS = ("all", "high_noise", "low_noise")  # what a prompt is trained for: the whole bridge or one expert's part


def check_boundary(boundary: float) -> float:
    boundary = float(boundary)
    if not 0.0 < boundary < 1.0:
        raise ValueError(f"the expert boundary must lie strictly between 0 and 1, got {boundary}")
    return boundary


def split_schedule(sigmas: torch.Tensor, boundary: float) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(high part, low part) of a schedule (decreasing, ending at 0). The high part holds every evaluation at
    t >= boundary and ends at the first time below it, where the low part starts; a part with no evaluation is
    None. Each part is a schedule of its own: consecutive pairs are the steps, the last entry is not evaluated."""
    boundary = check_boundary(boundary)
    evaluated = [float(s) for s in sigmas[:-1]]
    k = sum(1 for s in evaluated if s >= boundary)
    if any(s >= boundary for s in evaluated[k:]):
        raise ValueError(f"the schedule must decrease, got {[float(s) for s in sigmas]}")
    high = sigmas[:k + 1] if k > 0 else None
    low = sigmas[k:] if k < len(evaluated) else None
    return high, low


def expert_denoiser(high: Denoiser, low: Denoiser, boundary: float) -> Denoiser:
    """One denoiser that asks the high-noise expert at t >= boundary and the low-noise one below (the reference
    of what the host's two-part run does; every row of a batch shares its time in the bridge sampler)."""
    boundary = check_boundary(boundary)

    def x0_hat(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        at = float(torch.as_tensor(t).flatten()[0])
        return (high if at >= boundary else low)(x, t)

    return x0_hat


def expert_times(expert: str, t0: float, boundary: float, t_min: float = 1e-4) -> tuple[float, float]:
    """The range (lowest, highest) of training times t for a prompt of `expert` on a bridge that starts at T0: the
    whole [t_min, T0], or the part of it that expert evaluates when restoring. Raises when that part is empty."""
    if expert not in EXPERTS:
        raise ValueError(f"expert must be one of {EXPERTS}, got {expert!r}")
    t0, t_min = float(t0), float(t_min)
    if expert == "all":
        return t_min, t0
    boundary = check_boundary(boundary)
    if expert == "high_noise":
        if not t0 > boundary:
            raise ValueError(f"the high-noise expert only runs at t >= {boundary}, above where this bridge starts "
                             f"(t0 = {t0}): raise t0 above {boundary}, or train the low-noise expert")
        return boundary, t0
    return t_min, min(t0, boundary)


__all__ = ["EXPERTS", "check_boundary", "expert_denoiser", "expert_times", "split_schedule"]
