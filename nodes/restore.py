"""Restore (Bridge): the one-box path. MODEL + VAE + RESTORATION_PROMPT + IMAGE in, restored IMAGE out (the engine
is nodes/restoring.py)."""
from comfy_api.latest import io

from .model_info import SUPPORTED_MODELS_HINT
from .restoring import NODE, restore
from .sampling import T0_TOOLTIP
from .types import RestorationPromptType


class UnlockRestore(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockRestore",
            display_name=NODE,
            category="unlock-restore",
            description="Restores a degraded image, image batch or (with Wan) video with a restoration prompt, in "
                        "one node: prompt injection, VAE encode, the diffusion-bridge sampler and VAE decode. Any "
                        "size or aspect ratio (padded, then cropped back), alpha and grayscale are kept; long "
                        "videos are restored in overlapping windows joined without seams.",
            inputs=[
                io.Model.Input("model", tooltip="The model the restoration prompt was made for (Load Diffusion "
                               f"Model), {SUPPORTED_MODELS_HINT}. It is not modified. For Wan 2.2 T2V-A14B: the "
                               "low-noise expert."),
                io.Vae.Input("vae", tooltip="The VAE of that model, as its restore workflow loads it (the FLUX VAE "
                             "ae.safetensors for FLUX.1, the Wan 2.1 VAE for Wan 2.1, ...). A VAE of another "
                             "family is refused with the name of the right one."),
                RestorationPromptType.Input("restoration_prompt", tooltip="Which degradation to remove: from Load "
                                            "Restoration Prompt, Mix Restoration Prompts or Train Restoration "
                                            "Prompt."),
                io.Image.Input("image", tooltip="The degraded image(s). FLUX restores every image of a batch on "
                               "its own; for Wan the batch is the frames of one video (e.g. from a video loader). "
                               "Any size; gray, RGB and RGBA (alpha is kept as it is)."),
                io.Float.Input("t0", default=0.4, min=0.01, max=1.0, step=0.01,
                               tooltip=T0_TOOLTIP),
                io.Int.Input("steps", default=20, min=1, max=1000,
                             tooltip="Model evaluations per image (per window for long videos). 20 is the "
                             "paper's default; fewer is faster."),
                io.Int.Input("seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the starting noise. The same seed and inputs give the same result. "
                             "Video windows use seed, seed + 1, ... in order."),
                io.Float.Input("strength", default=1.0, min=0.0, max=4.0, step=0.05,
                               tooltip="Scales the injected prompt. 1.0 is what it was trained for; 0 gives the "
                               "unprompted model."),
                io.Int.Input("window_frames", default=33, min=1, max=1025, step=4,
                             tooltip="Wan only: frames restored together. Longer videos are split into windows "
                             "of this length (33 as the official code; rounded down to 4k+1)."),
                io.Int.Input("overlap_frames", default=8, min=0, max=512,
                             tooltip="Wan only: frames shared by consecutive windows, cross-faded so the joins "
                             "show no seam. At most half the window; 0 gives hard cuts."),
                io.Float.Input("tile_vae_above_mp", default=4.0, min=0.0, max=1024.0, step=0.5,
                               tooltip="Images (or video frames) larger than this many megapixels are VAE-encoded "
                               "and decoded in tiles to save memory. 0 always tiles. Smaller ones use the normal "
                               "VAE, which still falls back to tiles if memory runs out."),
                io.Model.Input("high_noise_model", optional=True,
                               tooltip="Two-expert models (Wan 2.2 T2V-A14B) only: the high-noise expert "
                               "(wan2.2_t2v_high_noise_14B), with the low-noise expert on model. Steps at sigma >= "
                               "expert_boundary run on it. Used only when t0 is above the boundary (the default "
                               "t0 0.4 runs on the low-noise expert alone)."),
                RestorationPromptType.Input("high_noise_prompt", optional=True,
                                            tooltip="The restoration prompt for the high-noise expert (Train "
                                            "Restoration Prompt with expert high_noise). Default: "
                                            "restoration_prompt on both experts."),
                io.Float.Input("expert_boundary", default=0.875, min=0.01, max=0.99, step=0.005, optional=True,
                               tooltip="With high_noise_model: the sigma where the experts switch (the high-noise "
                               "expert runs at sigma >= boundary). 0.875 for Wan 2.2 T2V-A14B."),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="The restored image(s) or frames: same "
                                     "count, size and channels as the input.")],
        )

    @classmethod
    def execute(cls, model, vae, restoration_prompt, image, t0, steps, seed, strength=1.0, window_frames=33,
                overlap_frames=8, tile_vae_above_mp=4.0, high_noise_model=None, high_noise_prompt=None,
                expert_boundary=0.875) -> io.NodeOutput:
        return io.NodeOutput(restore(model, vae, restoration_prompt, image, t0, steps, seed, strength, window_frames,
                                     overlap_frames, tile_vae_above_mp, high_noise_model, high_noise_prompt,
                                     expert_boundary))


__all__ = ["UnlockRestore", "NODE"]
