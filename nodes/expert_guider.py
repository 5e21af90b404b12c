"""Bridge Expert Guider (a GUIDER): the two experts of Wan 2.2 T2V-A14B as one guider for SamplerCustomAdvanced,
the high-noise expert at sigma >= boundary and the low-noise one below, as one bridge (engine: nodes/experts.py)."""
from comfy_api.latest import io

from .experts import expert_guider

NODE = "Bridge Expert Guider"
_COND = ("Its CONDITIONING output from Apply Restoration Prompt (the empty prompt the restoration prompt was "
         "trained with).")


class UnlockExpertGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockExpertGuider",
            display_name=NODE,
            category="unlock-restore/sampling",
            description="For two-expert models (Wan 2.2 T2V-A14B): samples every step at sigma >= boundary with "
                        "the high-noise expert and the rest with the low-noise expert, as one diffusion bridge. "
                        "Use it in SamplerCustomAdvanced with Bridge Sampler and Bridge Schedule instead of two "
                        "samplers: a bridge cut into two sampler nodes would restart from the first one's output. "
                        "A bridge that starts at t0 below the boundary (0.4 by default) runs on the low-noise "
                        "expert alone. Positive only, as BasicGuider (the bridge uses no CFG).",
            inputs=[
                io.Model.Input("high_noise_model", tooltip="The high-noise expert (e.g. "
                               "wan2.2_t2v_high_noise_14B) with its restoration prompt applied (Apply Restoration "
                               "Prompt)."),
                io.Conditioning.Input("high_noise_conditioning", tooltip=_COND),
                io.Model.Input("low_noise_model", tooltip="The low-noise expert (e.g. wan2.2_t2v_low_noise_14B) "
                               "with its restoration prompt applied."),
                io.Conditioning.Input("low_noise_conditioning", tooltip=_COND),
                io.Float.Input("boundary", default=0.875, min=0.01, max=0.99, step=0.005,
                               tooltip="The sigma where the experts switch: the high-noise expert runs at sigma >= "
                               "boundary. 0.875 for Wan 2.2 T2V-A14B (the official value)."),
            ],
            outputs=[io.Guider.Output()],
        )

    @classmethod
    def execute(cls, high_noise_model, high_noise_conditioning, low_noise_model, low_noise_conditioning,
                boundary) -> io.NodeOutput:
        return io.NodeOutput(expert_guider(NODE, high_noise_model, high_noise_conditioning, low_noise_model,
                                           low_noise_conditioning, boundary))


__all__ = ["UnlockExpertGuider", "NODE"]
