"""Training objective: MSE on bridge (or naive) states, in x0 space or as flow-matching velocities (derived in
method.md; the official code released none)."""
from __future__ import annotations

from typing import Callable

import torch

from .states import bridge_state, expand_time, naive_state, naive_velocity_target, velocity_target

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # x0_hat(x, t), t of shape (B,)
OBJECTIVES = ("bridge", "naive")
# How the error is weighted: "x0" the MSE of the clean-latent prediction (uniform in t); "velocity" the MSE of the
# velocity v = (X_t - x0_hat) / t against the path's exact target, which is the x0 error divided by t^2 per sample.
LOSSES = ("x0", "velocity")


def sample_times(batch: int, t0: float, t_min: float = 1e-4, power: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """t = t_min + (T0 - t_min) u^power, u ~ U[0, 1) (power > 1 skews towards t_min, < 1 towards T0)."""
    if not 0.0 < t_min < t0 <= 1.0:
        raise ValueError(f"need 0 < t_min < T0 <= 1, got t_min={t_min}, T0={t0}")
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    u = torch.rand(batch, generator=generator, dtype=torch.float64)
    return (t_min + (t0 - t_min) * u.pow(power)).float()


def training_states(x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, t0: float,
                    objective: str = "bridge") -> torch.Tensor:
    """The model inputs for a batch of (clean, degraded) latent pairs at times t."""
    if objective == "bridge":
        return bridge_state(x0, y, noise, t, t0)
    if objective == "naive":
        return naive_state(y, noise, t)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def bridge_loss(x0_hat: Denoiser, x0: torch.Tensor, y: torch.Tensor, t0: float = 0.4, t_min: float = 1e-4,
                power: float = 1.0, objective: str = "bridge", generator: torch.Generator | None = None,
                t: torch.Tensor | None = None, noise: torch.Tensor | None = None, loss: str = "x0") -> torch.Tensor:
    """Mean squared error between x0_hat(X_t, t) and the clean latent, for X_t on the bridge (or naive) path;
    with `loss="velocity"`, between the predicted velocity (X_t - x0_hat) / t and the path's exact target
    (`velocity_target` for the bridge, `naive_velocity_target` for naive).

    `t` and `noise` are drawn from `generator` unless given (pass both to evaluate a fixed held-out batch).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if x0.shape != y.shape:
        raise ValueError(f"clean and degraded latents differ in shape: {tuple(x0.shape)} vs {tuple(y.shape)}")
    if t is None:
        t = sample_times(x0.shape[0], t0, t_min, power, generator)
    t = t.to(device=x0.device, dtype=x0.dtype)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(x0)
    x_t = training_states(x0, y, t, noise, t0, objective)
    pred = x0_hat(x_t, t)
    if loss == "x0":
        return torch.mean((pred - x0) ** 2)
    target = (velocity_target(x0, y, noise, t, t0) if objective == "bridge"
              else naive_velocity_target(x0, y, noise, t))
    return torch.mean(((x_t - pred) / expand_time(t, x0) - target) ** 2)
