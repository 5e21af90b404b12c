"""The time the network sees: the official code's quantised time index, next to the continuous bridge time.

The official YPT sampler and trainer keep the continuous t for the bridge algebra (states, noise estimate,
x0 = x - t v) but give the network the timestep of its diffusers scheduler's grid entry nearest to t
(`utils.py` make_model_input / get_bridge_input: nearest `scheduler.sigmas` entry, index clamped to the last
timestep, `scheduler.timesteps[k]`). The grids are rebuilt here exactly as diffusers 0.33.1 builds them after
`set_timesteps(1000)` (numpy float64, then float32), so the index is the official one bit for bit:

- "flux_euler": FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0). sigmas 1.000, 0.999, ...,
  0.001 (float32) then 0; timesteps = sigmas * 1000 in float32. The FLUX transformer is given timestep / 1000
  (`model_prompts.py:464`), so t = 0.4 reaches the network as 0.4 and t = 0.02115 as 0.021.
- "wan_unipc": UniPCMultistepScheduler(flow_prediction, use_flow_sigmas=True, flow_shift=1.0). sigmas
  k * 0.000999 for k = 1000 ... 1, then 0; timesteps = int64(sigmas * 1000), truncated. The Wan transformer is
  given that integer: t = 0.4 -> 399, t = 0.02115 -> 20.

In both, the value returned is in the units the network's timestep input takes, which are also the units
ComfyUI's FLUX (t) and Wan (1000 t) diffusion models take. The other convention a prompt can record,
"continuous" (prompt_embeds.prompt.TIME_INDEX), is the host's own input and needs nothing here.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

TRAIN_STEPS = 1000


@functools.cache
def _flux_euler() -> tuple[torch.Tensor, torch.Tensor]:
    # diffusers __init__: timesteps linspace(1, 1000, 1000) float32, reversed; sigmas = timesteps / 1000 (float32);
    # sigma_min / sigma_max are Python floats of those float32 values.
    init = torch.from_numpy(np.linspace(1, TRAIN_STEPS, TRAIN_STEPS, dtype=np.float32)[::-1].copy()) / TRAIN_STEPS
    sigma_max, sigma_min = init[0].item(), init[-1].item()
    # set_timesteps(1000): float64 linspace in timestep units, / 1000, shift 1 (an identity), float32.
    ts = np.linspace(sigma_max * TRAIN_STEPS, sigma_min * TRAIN_STEPS, TRAIN_STEPS)
    sigmas = torch.from_numpy(ts / TRAIN_STEPS).to(torch.float32)
    timesteps = sigmas * TRAIN_STEPS  # float32
    return torch.cat([sigmas, torch.zeros(1)]), timesteps / 1000.0  # the transformer takes timestep / 1000


@functools.cache
def _wan_unipc() -> tuple[torch.Tensor, torch.Tensor]:
    alphas = np.linspace(1, 1 / TRAIN_STEPS, TRAIN_STEPS + 1)
    sigmas = np.flip(1.0 - alphas)[:-1].copy()  # flow_shift 1: the shift formula is an identity
    timesteps = torch.from_numpy((sigmas * TRAIN_STEPS).copy()).to(torch.int64)  # truncation, as diffusers does
    grid = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
    return grid, timesteps.to(torch.float32)  # the integer index, as the float the network computes with


GRIDS = {"flux_euler": _flux_euler, "wan_unipc": _wan_unipc}


def official_grid(grid: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigmas with the trailing 0, float32, length 1001; the network input of each of the first 1000 entries)."""
    if grid not in GRIDS:
        raise ValueError(f"unknown time grid {grid!r} (known: {', '.join(GRIDS)})")
    return GRIDS[grid]()


def official_model_time(t: torch.Tensor, grid: str) -> torch.Tensor:
    """The network input the official code gives for continuous time(s) `t` (any shape): the timestep of the
    nearest grid sigma (first on ties, as argmin), the index clamped to the last timestep. Computed in float32 as
    the official code does; returned in t's dtype and device."""
    sigmas, inputs = official_grid(grid)
    t = torch.as_tensor(t)
    flat = t.detach().reshape(-1).to("cpu", torch.float32)
    k = (sigmas.view(1, -1) - flat.view(-1, 1)).abs().argmin(dim=1).clamp(max=inputs.numel() - 1)
    return inputs[k].reshape(t.shape).to(device=t.device, dtype=t.dtype if t.is_floating_point() else torch.float32)


__all__ = ["GRIDS", "official_grid", "official_model_time"]
