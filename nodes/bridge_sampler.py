"""Bridge Sampler (a standard SAMPLER) and Bridge Schedule (SIGMAS): the official E-Bridge sampling in the host.

The update is written as a plain sampler function wrapped in the host's KSAMPLER, so previews, the progress bar,
cancel, SamplerCustomAdvanced and tiling packs that take SAMPLER + SIGMAS all work unchanged.
"""
import torch

import comfy.samplers
from comfy_api.latest import io

from ..bridge import sample_bridge, time_grid
from .model_info import family_name, is_plain_flow, sampling_type

SAMPLER_NODE = "Bridge Sampler"
SIGMAS_NODE = "Bridge Schedule"
T0_TOOLTIP = ("Where the bridge starts: how much noise is put on the degraded input. Higher removes stronger "
              "degradations but changes content more (0.4 is the paper's default).")


NONFINITE_FIX = ("Usual causes: a strength or prompt too large for the model's dtype (lower strength, or load the "
                 "model with weight_dtype default instead of fp16), or a prompt file whose values overflowed in "
                 "training (use an earlier checkpoint)")


def sample_unlock_bridge(model, x, sigmas, extra_args=None, callback=None, disable=None, node=SAMPLER_NODE):
    """KSAMPLER sampler function. `x` is the host's start state s0 e + (1 - s0) Y (the bridge start when the
    schedule starts at T0); the degraded latent Y is the sampled LATENT, which KSAMPLER hands over as
    `model.latent_image` (already in the model's latent space). `node` names the node in errors (Restore passes
    its own name through KSAMPLER's extra_options). A non-finite latent or model prediction stops sampling with
    an error: a NaN output is never returned as a result."""
    y = getattr(model, "latent_image", None)
    if y is None or not torch.count_nonzero(y):
        raise ValueError(
            f"{node}: the latent to restore is empty. The bridge starts from the degraded input: connect "
            "the VAE-encoded degraded image/video (VAE Encode) to the sampler's latent_image, not an empty latent.")
    if not torch.isfinite(y).all() or not torch.isfinite(x).all():
        raise FloatingPointError(
            f"{node}: the latent to restore contains NaN or infinite values. Check the image and the VAE Encode "
            "before the sampler (an fp16 VAE can overflow: load the VAE in bf16 or fp32).")
    extra_args = {} if extra_args is None else extra_args
    steps = len(sigmas) - 1
    calls = [0]

    def x0_hat(xt, t):
        out = model(xt, t, **extra_args)
        calls[0] += 1
        if not torch.isfinite(out).all():
            at = float(torch.as_tensor(t).flatten()[0])
            raise FloatingPointError(
                f"{node}: the model's prediction went non-finite (NaN or Inf) at evaluation {calls[0]} of {steps} "
                f"(t = {at:.4g}), so sampling stopped instead of returning a broken image. {NONFINITE_FIX}.")
        return out

    return sample_bridge(x0_hat, y.to(x), None, sigmas.to(x), x=x, callback=callback)


class UnlockBridgeSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockBridgeSampler",
            display_name=SAMPLER_NODE,
            category="unlock-restore/sampling",
            description="The diffusion-bridge sampler of the restoration method: starts from the noisy degraded "
                        "latent and re-estimates the noise each step. Use with Bridge Schedule in "
                        "SamplerCustomAdvanced; the latent must be the encoded degraded input.",
            inputs=[],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput(comfy.samplers.KSAMPLER(sample_unlock_bridge))


class UnlockBridgeSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockBridgeSigmas",
            display_name=SIGMAS_NODE,
            category="unlock-restore/sampling",
            description="The bridge time grid linspace(t0, t_min, steps) followed by 0, for the Bridge Sampler.",
            inputs=[
                io.Model.Input("model", tooltip="The model that will sample; checked to be a flow-matching model "
                               "(FLUX or Wan)."),
                io.Float.Input("t0", default=0.4, min=0.01, max=1.0, step=0.01,
                               tooltip=T0_TOOLTIP),
                io.Int.Input("steps", default=20, min=1, max=1000,
                             tooltip="Model evaluations. 20 is the paper's default."),
                io.Float.Input("t_min", default=1e-4, min=1e-6, max=0.5, step=1e-4, round=False,
                               tooltip="The last nonzero time of the grid, before the final step to 0."),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, model, t0, steps, t_min) -> io.NodeOutput:
        sampling = model.get_model_object("model_sampling")
        if not is_plain_flow(sampling):
            raise ValueError(
                f"{SIGMAS_NODE}: the connected model ({family_name(model.model)}) samples with "
                f"{sampling_type(sampling)}, so it is not a flow-matching model: the bridge needs plain flow "
                "matching (CONST), as FLUX and Wan use. Load one of those with Load Diffusion Model.")
        if not t_min < t0:
            raise ValueError(f"{SIGMAS_NODE}: t_min ({t_min}) must be smaller than t0 ({t0}); lower t_min or "
                             "raise t0.")
        return io.NodeOutput(time_grid(t0, steps, t_min))
