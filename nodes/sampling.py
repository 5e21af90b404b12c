"""The bridge sampler as a host sampler function: the official E-Bridge update (bridge.sample_bridge) wrapped for
ComfyUI's KSAMPLER, so previews, the progress bar, cancel, SamplerCustomAdvanced and tiling packs that take
SAMPLER + SIGMAS all work unchanged. Engine code shared by Bridge Sampler and Restore."""
import torch

import comfy.samplers

from ..bridge import sample_bridge

SAMPLER_NODE = "Bridge Sampler"
T0_TOOLTIP = ("Where the bridge starts: how much noise is put on the degraded input. Higher removes stronger "
              "degradations but changes content more (0.4 is the paper's default).")
NONFINITE_FIX = ("Usual causes: a strength or prompt too large for the model's dtype (lower strength, or load the "
                 "model with weight_dtype default instead of fp16), or a prompt file whose values overflowed in "
                 "training (use an earlier checkpoint)")


class BridgeHandoff:
    """The bridge state carried from one part of a schedule to the next (two-expert models, nodes/experts.py):
    the part that runs first stores the state it ends in, the next part starts from it. `t0` is the whole
    bridge's start, which the update needs in every part."""

    def __init__(self, t0: float):
        self.t0 = float(t0)
        self.x = None


def sample_unlock_bridge(model, x, sigmas, extra_args=None, callback=None, disable=None, node=SAMPLER_NODE,
                         handoff: BridgeHandoff | None = None):
    """KSAMPLER sampler function. `x` is the host's start state s0 e + (1 - s0) Y (the bridge start when the
    schedule starts at T0); the degraded latent Y is the sampled LATENT, which KSAMPLER hands over as
    `model.latent_image` (already in the model's latent space). `node` names the node in errors (Restore passes
    its own name through KSAMPLER's extra_options). A non-finite latent or model prediction stops sampling with
    an error: a NaN output is never returned as a result. With `handoff` (KSAMPLER extra_options), `sigmas` is one
    part of the bridge: it starts from the state the previous part left there, if any, and leaves its own."""
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

    if handoff is not None and handoff.x is not None:
        x = handoff.x.to(x)
    out = sample_bridge(x0_hat, y.to(x), None, sigmas.to(x), x=x, callback=callback,
                        t0=None if handoff is None else handoff.t0)
    if handoff is not None:
        handoff.x = out
    return out


def positive_guider(model, conditioning):
    """The host guider the bridge samples with: the positive CONDITIONING only, no CFG (as the stock BasicGuider),
    shared by Restore and the two-expert guider."""
    guider = comfy.samplers.CFGGuider(model)
    guider.inner_set_conds({"positive": conditioning})
    return guider


__all__ = ["BridgeHandoff", "NONFINITE_FIX", "SAMPLER_NODE", "T0_TOOLTIP", "positive_guider", "sample_unlock_bridge"]
