"""The official time index in the host: the network gets the official code's timestep, the sampler keeps t.

A DIFFUSION_MODEL wrapper on the patched MODEL swaps only the timestep the diffusion model receives. The host
computes it from the continuous sigma (`model_sampling.timestep`, FLUX: t, Wan: 1000 t) and afterwards still
computes x0 = x - t v with that continuous sigma, so every sampler (the Bridge Sampler, Restore, or a stock one)
keeps the bridge algebra in continuous t, exactly as the official loop does. Training goes through the same
wrapper (the trainer runs the patched model's wrappers), so a prompt is timed the same way in training and in
restoring. The grids themselves are the pure `bridge.time_index`.
"""
from __future__ import annotations

import torch

import comfy.patcher_extension

from ..bridge.time_index import official_model_time
from ..prompt_embeds import ARCHS

WRAPPER_KEY = "unlock_restore.time_index"


class TimeIndex:
    """The convention of each prompt on a patched model; a mixture switches `active` per evaluation."""

    def __init__(self, conventions: list[str], grid: str, scale: float):
        self.conventions, self.grid, self.scale = list(conventions), grid, float(scale)
        self.active = 0

    def model_input(self, timestep: torch.Tensor) -> torch.Tensor:
        if self.conventions[self.active] == "continuous":
            return timestep  # the host's own input
        # The continuous t back from the host's input (a multiplication by 1 or 1000): the nearest grid entry is
        # the same unless t lies within float32 rounding of a midpoint between two entries.
        return official_model_time(timestep.float() / self.scale, self.grid).to(timestep)


def install_time_index(patcher, arch: str, conventions: list[str]) -> TimeIndex | None:
    """Put the wrapper on `patcher` (a clone the caller owns) when any prompt uses the official index; returns its
    state (None when every prompt is timed as the host times it, and nothing is installed)."""
    if all(c == "continuous" for c in conventions):
        return None
    sampling = patcher.get_model_object("model_sampling")
    scale = float(sampling.timestep(torch.ones(1)).flatten()[0])  # FLUX 1, Wan 1000: t -> the host's input
    state = TimeIndex(conventions, ARCHS[arch].time_grid, scale)

    def official_time(executor, x, timestep, *args, **kwargs):
        return executor(x, state.model_input(timestep), *args, **kwargs)

    kind = comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL
    # Once per model: applying a second (context-mode) prompt replaces the timing instead of stacking it (a Wan
    # index fed back as t would move down the grid by one).
    patcher.remove_wrappers_with_key(kind, WRAPPER_KEY)
    patcher.add_wrapper_with_key(kind, WRAPPER_KEY, official_time)
    return state


__all__ = ["TimeIndex", "install_time_index"]
