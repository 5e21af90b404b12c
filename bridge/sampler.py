"""The official sampler: deterministic DDIM-like steps on the bridge marginals, noise re-estimated each step.

The time grid ends at 0, as ComfyUI's KSAMPLER needs: the last step goes from t_min to 0, where the update
reduces to x = x0_hat(x, t_min), which is the official final evaluation. N steps cost N model evaluations.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .states import bridge_state, expand_time

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # x0_hat(x, t), t of shape (B,)


def time_grid(t0: float = 0.4, steps: int = 20, t_min: float = 1e-4) -> torch.Tensor:
    """`linspace(T0, t_min, steps)` followed by the terminal 0 (length steps + 1, float32).

    With steps == 1 the grid is [T0, 0]: one evaluation at T0, the one-step restoration.
    """
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps}")
    if not 0.0 < t_min < t0 <= 1.0:
        raise ValueError(f"need 0 < t_min < T0 <= 1, got t_min={t_min}, T0={t0}")
    ts = torch.linspace(t0, t_min, int(steps), dtype=torch.float64)
    return torch.cat([ts, ts.new_zeros(1)]).float()


def noise_estimate(x: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, t: float, t0: float,
                   t_min: float = 1e-4) -> torch.Tensor:
    """e_hat = (x - (1-t)(1-t/T0) x0 - (1-t)(t/T0) y) / max(t, t_min): the noise implied by x0 on the bridge."""
    t = float(t)
    lam = t / t0
    return (x - (1 - t) * (1 - lam) * x0 - (1 - t) * lam * y) / max(t, t_min)


def bridge_step(x: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, t: float, t_next: float, t0: float,
                t_min: float = 1e-4) -> torch.Tensor:
    """One official update from time t to t_next, given the model's prediction x0 = x0_hat(x, t)."""
    e_hat = noise_estimate(x, x0, y, t, t0, t_min)
    return bridge_state(x0, y, e_hat, float(t_next), t0)


def sample_bridge(x0_hat: Denoiser, y: torch.Tensor, noise: torch.Tensor | None, sigmas: torch.Tensor,
                  x: torch.Tensor | None = None, callback: Callable[[dict], None] | None = None,
                  t0: float | None = None) -> torch.Tensor:
    """Run the bridge from the degraded latent y over `sigmas` (T0 first, 0 last; see `time_grid`).

    The start state is x = (1 - T0) y + T0 noise unless `x` is given (ComfyUI's KSAMPLER builds it itself).
    `callback` receives ComfyUI's dict {'x', 'i', 'sigma', 'sigma_hat', 'denoised'} after every step.

    With `t0` given, `sigmas` may be one part of the bridge that starts at T0 = t0 (bridge/experts.py): it starts
    at or below t0 from the state `x` (required when it starts below t0), and the state at its last entry is
    returned (the restored latent when that entry is 0). Running consecutive parts equals running the whole.
    """
    sigmas = [float(s) for s in sigmas]
    whole = t0 is None
    if len(sigmas) < 2 or any(b >= a for a, b in zip(sigmas, sigmas[1:])) or (whole and sigmas[-1] != 0.0) \
            or sigmas[-1] < 0.0:
        raise ValueError(f"the bridge schedule must decrease strictly from T0 to exactly 0, got {sigmas}")
    t0 = sigmas[0] if whole else float(t0)
    if sigmas[0] > t0:
        raise ValueError(f"this part of the bridge starts at {sigmas[0]}, above the bridge's T0 = {t0}")
    t_min = min(sigmas[:-1])
    if x is None:
        if noise is None or sigmas[0] != t0:
            raise ValueError("give the start state x (or, for a bridge that starts at T0, the noise)")
        x = bridge_state(y, y, noise, t0, t0)  # at T0 the bridge state is (1 - T0) y + T0 e
    batch = x.shape[0]
    for i, (t, t_next) in enumerate(zip(sigmas[:-1], sigmas[1:])):
        t_vec = torch.full((batch,), t, dtype=x.dtype, device=x.device)
        x0 = x0_hat(x, t_vec)
        x = bridge_step(x, x0, y, t, t_next, t0, t_min)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": t_vec, "sigma_hat": t_vec, "denoised": x0})
    return x


def mix_predictions(denoisers: Sequence[Denoiser], weights: Sequence[float] | None = None) -> Denoiser:
    """The paper's mixed-degradation mode: evaluate every prompt's model each step and average.

    Averaging x0 predictions at the same (x, t) with weights summing to 1 equals averaging the velocities,
    since x0_hat = x - t v. K prompts cost K evaluations per step.
    """
    if not denoisers:
        raise ValueError("mix_predictions needs at least one denoiser")
    if weights is None:
        weights = [1.0] * len(denoisers)
    if len(weights) != len(denoisers):
        raise ValueError(f"{len(denoisers)} denoisers but {len(weights)} weights")
    total = float(sum(weights))
    if not all(w >= 0 for w in weights) or total <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {list(weights)}")
    norm = [float(w) / total for w in weights]

    def mixed(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = None
        for w, fn in zip(norm, denoisers):
            if w == 0.0:
                continue
            pred = w * fn(x, t)
            out = pred if out is None else out + pred
        return out

    return mixed


__all__ = ["time_grid", "noise_estimate", "bridge_step", "sample_bridge", "mix_predictions", "expand_time"]
