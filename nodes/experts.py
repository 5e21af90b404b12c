"""Two-expert models in the host (Wan 2.2 T2V-A14B: a high-noise and a low-noise expert, each loaded as its own
MODEL): one guider that samples the steps at sigma >= boundary with the high-noise expert's guider and the rest
with the low-noise expert's, as one trajectory. Engine code shared by Bridge Expert Guider and Restore.

The schedule is cut by bridge.split_schedule and each part is sampled by the host (each expert loaded by its own
guider, as the stock two-sampler Wan 2.2 workflow loads them). With the Bridge Sampler the second part starts from
the bridge state the first ended in and keeps the degraded latent Y and T0 (a BridgeHandoff): sampling the parts
separately through the stock nodes would restart the bridge from the first part's output. Any other sampler is
chained as the stock KSamplerAdvanced pair does (the first part's latent, no new noise).
"""
from __future__ import annotations

import logging

import torch

import comfy.samplers

from ..bridge import split_schedule
from ..bridge.experts import check_boundary
from .model_info import model_info
from .sampling import BridgeHandoff, positive_guider, sample_unlock_bridge

log = logging.getLogger("unlock_restore")


def check_experts(node: str, high, low, boundary: float) -> float:
    """Refuse a pair of MODELs that are not two experts of one two-expert family; the boundary, checked."""
    try:
        boundary = check_boundary(boundary)
    except ValueError as e:
        raise ValueError(f"{node}: {e}. The Wan 2.2 T2V-A14B experts switch at 0.875.") from None
    hi, lo = model_info(high), model_info(low)
    for info, name in ((hi, "high-noise"), (lo, "low-noise")):
        if info.arch is None:
            raise ValueError(f"{node}: the {name} MODEL is {info.label}, which unlock-restore does not drive. "
                             "Connect the two experts of a Wan 2.2 A14B model.")
    if lo.family.spec.expert_boundary is None:
        raise ValueError(f"{node}: {lo.label} ships one model, not a high-noise and a low-noise expert. Disconnect "
                         "the high-noise model (the one MODEL runs the whole bridge).")
    if hi.arch != lo.arch or hi.width != lo.width or hi.blocks != lo.blocks:
        raise ValueError(f"{node}: the high-noise MODEL is {hi.describe()} but the low-noise MODEL is "
                         f"{lo.describe()}: the two experts of one model have the same architecture. Load the "
                         "high-noise and low-noise files of the same model (e.g. wan2.2_t2v_high_noise_14B and "
                         "wan2.2_t2v_low_noise_14B).")
    return boundary


def check_expert_prompt(node: str, prompt, expert: str, input_name: str) -> None:
    """Refuse a prompt trained for the other expert (Train's `expert`, recorded in the file) on this one."""
    trained = getattr(prompt, "expert", "all")
    if trained not in ("all", expert):
        other = "high_noise_prompt" if trained == "high_noise" else "restoration_prompt"
        raise ValueError(f"{node}: the prompt on {input_name} was trained for the {trained.replace('_', '-')} "
                         f"expert, but {input_name} drives the {expert.replace('_', '-')} expert. Connect it to "
                         f"{other} instead.")


def is_bridge_sampler(sampler) -> bool:
    return getattr(sampler, "sampler_function", None) is sample_unlock_bridge


class ExpertGuider:
    """A GUIDER (what SamplerCustomAdvanced and Restore sample with) over two experts' guiders."""

    def __init__(self, high, low, boundary: float, node: str):
        self.high, self.low, self.boundary, self.node = high, low, float(boundary), node
        # What SamplerCustomAdvanced reads from a guider (latent previews, empty-latent channels): the experts
        # share one latent space, so the low-noise one (which runs the end of every bridge) stands for both.
        self.model_patcher = low.model_patcher
        self.model_options = low.model_options

    def sample(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, disable_pbar=False,
               seed=None):
        high, low = split_schedule(sigmas, self.boundary)
        if high is None or low is None:  # the whole schedule on one side of the boundary
            if high is None:
                log.info("%s: the schedule starts at sigma %.4g, below the expert boundary %.4g: the low-noise "
                         "expert runs every step", self.node, float(sigmas[0]), self.boundary)
            guider = self.low if high is None else self.high
            return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)
        total, first = int(sigmas.shape[-1]) - 1, int(high.shape[-1]) - 1

        def part(offset):  # one progress bar / preview over both parts
            if callback is None:
                return None
            return lambda step, x0, x, _steps: callback(offset + step, x0, x, total)

        if is_bridge_sampler(sampler):
            handoff = BridgeHandoff(float(sigmas[0]))
            sampler = comfy.samplers.KSAMPLER(sample_unlock_bridge, extra_options={**sampler.extra_options,
                                                                                   "handoff": handoff},
                                              inpaint_options=sampler.inpaint_options)
            self.high.sample(noise, latent_image, sampler, high, denoise_mask, part(0), disable_pbar, seed)
            return self.low.sample(noise, latent_image, sampler, low, denoise_mask, part(first), disable_pbar, seed)
        mid = self.high.sample(noise, latent_image, sampler, high, denoise_mask, part(0), disable_pbar, seed)
        return self.low.sample(torch.zeros_like(noise), mid, sampler, low, denoise_mask, part(first), disable_pbar,
                               seed)


def expert_guider(node: str, high_model, high_cond, low_model, low_cond, boundary: float) -> ExpertGuider:
    """Two experts' (patched MODEL, CONDITIONING) as one guider, positive only as the stock BasicGuider."""
    boundary = check_experts(node, high_model, low_model, boundary)
    return ExpertGuider(positive_guider(high_model, high_cond), positive_guider(low_model, low_cond), boundary, node)


__all__ = ["ExpertGuider", "check_expert_prompt", "check_experts", "expert_guider", "is_bridge_sampler"]
