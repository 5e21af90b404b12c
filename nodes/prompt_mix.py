"""Mix Restoration Prompts: for mixed degradations (e.g. rain at night): 'average' or 'blend'."""
from comfy_api.latest import io

from ..prompt_embeds import PromptFileError, PromptMixture, blend_prompts, mix_prompts
from .types import RestorationPromptType

NODE = "Mix Restoration Prompts"
MODES = ["average", "blend"]


def _prompt_input(name: str, optional: bool = False):
    return RestorationPromptType.Input(name, optional=optional,
                                       tooltip="A restoration prompt (Load Restoration Prompt, or another Mix).")


def _weight_input(name: str):
    return io.Float.Input(name, default=1.0, min=0.0, max=100.0, step=0.05,
                          tooltip="Relative weight of the prompt above; weights are normalised to sum 1.")


class UnlockPromptMix(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockPromptMix",
            display_name=NODE,
            category="unlock-restore/prompts",
            description="Combines restoration prompts for images with several degradations. 'average' (the "
                        "paper's mode) runs the model once per prompt each step and averages: best quality, N "
                        "times the cost. 'blend' merges them into one prompt: one evaluation per step.",
            inputs=[
                _prompt_input("prompt_1"), _weight_input("weight_1"),
                _prompt_input("prompt_2"), _weight_input("weight_2"),
                io.Combo.Input("mode", options=MODES, default="average",
                               tooltip="average: one model evaluation per prompt per step, predictions averaged "
                               "(N x cost). blend: one prompt with weighted-average parameters (1 x cost; all "
                               "prompts must be of the same kind)."),
                _prompt_input("prompt_3", optional=True), _weight_input("weight_3"),
                _prompt_input("prompt_4", optional=True), _weight_input("weight_4"),
            ],
            outputs=[RestorationPromptType.Output(display_name="restoration_prompt")],
        )

    @classmethod
    def execute(cls, prompt_1, weight_1, prompt_2, weight_2, mode, prompt_3=None, weight_3=1.0, prompt_4=None,
                weight_4=1.0) -> io.NodeOutput:
        pairs = [(p, w) for p, w in [(prompt_1, weight_1), (prompt_2, weight_2), (prompt_3, weight_3),
                                     (prompt_4, weight_4)] if p is not None]
        prompts, weights = [p for p, _ in pairs], [w for _, w in pairs]
        try:
            if mode == "average":
                return io.NodeOutput(mix_prompts(prompts, weights))
            if mode != "blend":
                raise ValueError(f"{NODE}: unknown mode {mode!r}; choose one of {MODES}.")
            if any(isinstance(p, PromptMixture) for p in prompts):
                raise ValueError(f"{NODE}: 'blend' needs plain prompts, but an input is an 'average' mixture. Set "
                                 "the upstream Mix node to 'blend' too, or use 'average' here.")
            return io.NodeOutput(blend_prompts(prompts, weights))
        except PromptFileError as e:
            raise PromptFileError(f"{NODE}: {e}", kind=e.kind) from e
