"""Forward states of the E-Bridge used by the official code, and the naive baseline (method.md, "The bridge").

Notation: x0 clean latent, y degraded latent, e standard noise, t in [t_min, T0], lam = t / T0.
    X_t = (1 - t) * ((1 - lam) x0 + lam y) + t e
Every function broadcasts `t` (a float, a 0-d tensor or one value per batch item) over the latent dims.
"""
from __future__ import annotations

import torch

TimeLike = float | torch.Tensor


def expand_time(t: TimeLike, like: torch.Tensor) -> torch.Tensor:
    """`t` as a tensor shaped (B, 1, 1, ...) (or scalar) broadcastable against `like`, in its dtype/device."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 1:
        t = t.reshape(-1, *([1] * (like.ndim - 1)))
    elif t.ndim != 0:
        raise ValueError(f"time must be a scalar or one value per batch item, got shape {tuple(t.shape)}")
    return t


def bridge_coefficients(t: TimeLike, t0: float) -> tuple:
    """Coefficients of X_t on (x0, y, e): ((1 - t)(1 - t/T0), (1 - t) t / T0, t)."""
    if not 0.0 < t0 <= 1.0:
        raise ValueError(f"T0 must be in (0, 1], got {t0}")
    lam = t / t0
    return (1 - t) * (1 - lam), (1 - t) * lam, t


def bridge_state(x0: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, t: TimeLike, t0: float) -> torch.Tensor:
    """X_t on the bridge from y (at t = T0, plus noise) to x0 (at t = 0)."""
    c_x0, c_y, c_e = bridge_coefficients(expand_time(t, x0), t0)
    return c_x0 * x0 + c_y * y + c_e * noise


def naive_state(y: torch.Tensor, noise: torch.Tensor, t: TimeLike) -> torch.Tensor:
    """The naive baseline: the ordinary flow-matching forward process applied to the degraded latent."""
    t = expand_time(t, y)
    return (1 - t) * y + t * noise


def velocity_target(x0: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, t: TimeLike, t0: float) -> torch.Tensor:
    """The velocity that maps X_t to x0 through x0 = X_t - t v (derived): (e - x0) + ((1 - t)/T0)(y - x0)."""
    t = expand_time(t, x0)
    return (noise - x0) + ((1 - t) / t0) * (y - x0)


def naive_velocity_target(x0: torch.Tensor, y: torch.Tensor, noise: torch.Tensor, t: TimeLike) -> torch.Tensor:
    """The velocity that maps the naive state X_t = (1 - t) y + t e to x0 through x0 = X_t - t v:
    (X_t - x0) / t = (e - y) + (y - x0) / t. Exact, with no clipping: it grows like 1/t as t -> 0 (the
    instability of naive training under the flow-matching weighting, method.md)."""
    t = expand_time(t, x0)
    return (noise - y) + (y - x0) / t
