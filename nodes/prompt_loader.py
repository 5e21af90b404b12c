"""Load Restoration Prompt: a .safetensors from models/prompt_embeds -> RESTORATION_PROMPT."""
import os

import folder_paths
from comfy_api.latest import io

from ..prompt_embeds import PromptFileError, load_prompt
from .folders import PROMPT_FOLDER, prompt_file_path
from .types import RestorationPromptType

NODE = "Load Restoration Prompt"


class UnlockPromptLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockPromptLoader",
            display_name=NODE,
            category="unlock-restore/prompts",
            description="Loads a learned restoration prompt (.safetensors) from models/prompt_embeds.",
            inputs=[
                io.Combo.Input(
                    "prompt_name",
                    options=folder_paths.get_filename_list(PROMPT_FOLDER),
                    tooltip="A restoration prompt file in models/prompt_embeds. Official .pt prompts must be "
                    "converted first with 'Import Official Restoration Prompt'.",
                ),
            ],
            outputs=[RestorationPromptType.Output(display_name="restoration_prompt")],
        )

    @classmethod
    def fingerprint_inputs(cls, prompt_name):
        # Re-load when the file on disk changes (e.g. a training run saved a new checkpoint under the same name).
        path = folder_paths.get_full_path(PROMPT_FOLDER, prompt_name)
        return os.path.getmtime(path) if path else prompt_name

    @classmethod
    def execute(cls, prompt_name) -> io.NodeOutput:
        path = prompt_file_path(NODE, prompt_name)
        try:
            prompt = load_prompt(path)
        except PromptFileError as e:
            raise PromptFileError(f"{NODE}: {e}", kind=e.kind) from e
        return io.NodeOutput(prompt)
