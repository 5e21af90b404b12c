"""Bridge Sampler (a standard SAMPLER) and Bridge Schedule (SIGMAS): the official E-Bridge sampling in the host.

The update is a plain sampler function (nodes/sampling.py) wrapped in the host's KSAMPLER, so previews, the progress
bar, cancel, SamplerCustomAdvanced and tiling packs that take SAMPLER + SIGMAS all work unchanged.
"""
import comfy.samplers
from comfy_api.latest import io

from ..bridge import time_grid
from .model_info import SUPPORTED_TEXT, family_name, is_plain_flow, sampling_type
from .sampling import SAMPLER_NODE, T0_TOOLTIP, sample_unlock_bridge

SIGMAS_NODE = "Bridge Schedule"


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
                io.Model.Input("model", tooltip="The model that will sample; checked to be a plain flow-matching "
                               "model, as every family the pack supports is."),
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
                f"matching (CONST), as every supported family uses ({SUPPORTED_TEXT}). Load one of those "
                "with Load Diffusion Model.")
        if not t_min < t0:
            raise ValueError(f"{SIGMAS_NODE}: t_min ({t_min}) must be smaller than t0 ({t0}); lower t_min or "
                             "raise t0.")
        return io.NodeOutput(time_grid(t0, steps, t_min))
