"""Apply Restoration Prompt: a patched clone of the MODEL (gated) and the matching CONDITIONING."""
from comfy_api.latest import io

from .model_info import SUPPORTED_MODELS_HINT
from .prompting import prepare
from .types import RestorationPromptType

NODE = "Apply Restoration Prompt"


class UnlockPromptApply(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockPromptApply",
            display_name=NODE,
            category="unlock-restore/prompts",
            description="Injects a restoration prompt into the model (gated mode) or the conditioning (context "
                        "mode), and times the model as the prompt was trained: official imports and prompts "
                        "trained since 0.2 give the network the official code's time index (FLUX round(1000 t), "
                        "Wan its scheduler's grid) while samplers keep the continuous t. Sample with the "
                        "CONDITIONING output: it is the empty prompt the restoration prompt was trained with, so no "
                        "text encoder is needed.",
            inputs=[
                io.Model.Input("model", tooltip=f"The model the prompt was made for, {SUPPORTED_MODELS_HINT}. "
                               "It is not modified: a patched copy comes out."),
                RestorationPromptType.Input("restoration_prompt", tooltip="From Load Restoration Prompt, Mix "
                                            "Restoration Prompts or Train Restoration Prompt."),
                io.Float.Input("strength", default=1.0, min=0.0, max=4.0, step=0.05,
                               tooltip="Scales the injected prompt. 1.0 is what it was trained for; 0 gives the "
                               "unprompted model."),
                io.Conditioning.Input("conditioning", optional=True,
                                      tooltip="Optional: the empty text encoded by the model's text encoder. Needed "
                                      "only for prompts without a stored null context (official imports without "
                                      "one); when connected it is used instead of the stored one, cut or padded "
                                      "to the prompt's token count (for FLUX an approximation unless it has exactly "
                                      "that many tokens: prefer the clip input)."),
                io.Clip.Input("clip", optional=True,
                              tooltip="Optional: the model's text encoder, to encode the empty text here at the "
                              "prompt's token count (FLUX: T5 over exactly K tokens, unmasked, as the official "
                              "code). Used instead of the stored null context and of conditioning."),
            ],
            outputs=[io.Model.Output(display_name="model"), io.Conditioning.Output(display_name="conditioning")],
        )

    @classmethod
    def execute(cls, model, restoration_prompt, strength, conditioning=None, clip=None) -> io.NodeOutput:
        return io.NodeOutput(*prepare(model, restoration_prompt, strength, conditioning, node=NODE, clip=clip))
