"""Import Official Restoration Prompt: an official YPT .pt -> a .safetensors in models/prompt_embeds."""
import os

import folder_paths
from comfy_api.latest import io, ui

from ..prompt_embeds import ARCHS, PromptFileError, load_official, save_prompt
from .conditioning import clip_null_context, encoded_null_context, length_note
from .folders import OFFICIAL_FOLDER, save_path
from .types import RestorationPromptType

NODE = "Import Official Restoration Prompt"


class UnlockPromptImport(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockPromptImport",
            display_name=NODE,
            category="unlock-restore/prompts",
            description="Converts an official released prompt (.pt, put in models/prompt_embeds_official) into a "
                        "restoration prompt file in models/prompt_embeds. Connect the model's text encoder (clip) "
                        "so the file carries the exact null context the official code uses and needs no encoder "
                        "later. The file records the official time index: restoring gives the network the "
                        "official code's timestep.",
            is_output_node=True,
            inputs=[
                io.Combo.Input("official_file", options=folder_paths.get_filename_list(OFFICIAL_FOLDER),
                               tooltip="An official prompt checkpoint (e.g. wan_haze.pt, flux_rain.pt) placed in "
                               "models/prompt_embeds_official. Loaded safely (tensors only)."),
                io.String.Input("save_name", default="",
                                tooltip="File name for the converted prompt in models/prompt_embeds. Empty: "
                                "'ypt_<official name>.safetensors'."),
                io.Conditioning.Input("conditioning", optional=True,
                                      tooltip="The EMPTY text encoded with the model's text encoder (FLUX: "
                                      "DualCLIPLoader t5xxl + clip_l, type flux; Wan: umt5_xxl, type wan). "
                                      "Stored as the prompt's null context."),
                io.String.Input("degradation", default="",
                                tooltip="Label stored in the file (haze, rain, ...). Empty: taken from the file "
                                "name."),
                io.Boolean.Input("overwrite", default=False,
                                 tooltip="Replace an existing file of the same name. Off: an existing file is kept "
                                 "and the import stops with an error."),
                io.Clip.Input("clip", optional=True,
                              tooltip="The model's text encoder (FLUX: DualCLIPLoader t5xxl + clip_l, type flux; "
                              "Wan: Load CLIP umt5_xxl, type wan). The empty text is encoded here at the length "
                              "the prompt needs (FLUX: 512 T5 tokens without a mask, as the official code), the "
                              "exact null context. Used instead of conditioning when both are connected."),
            ],
            outputs=[RestorationPromptType.Output(display_name="restoration_prompt")],
        )

    @classmethod
    def execute(cls, official_file, save_name="", conditioning=None, degradation="", overwrite=False, clip=None):
        src = folder_paths.get_full_path(OFFICIAL_FOLDER, official_file)
        if src is None:
            raise FileNotFoundError(f"{NODE}: '{official_file}' is not in models/{OFFICIAL_FOLDER}. Put the "
                                    "official .pt file there and refresh (press R).")
        stem = os.path.splitext(os.path.basename(official_file))[0]
        dst = save_path(NODE, save_name or f"ypt_{stem}")
        if os.path.exists(dst) and not overwrite:
            raise FileExistsError(f"{NODE}: {dst} already exists. Choose another save_name, or turn on overwrite.")
        caveat = None
        try:
            prompt = load_official(src, degradation=degradation.strip() or None,
                                   warn_missing=conditioning is None and clip is None)
            if clip is not None:
                prompt.null_context, prompt.pooled = clip_null_context(NODE, clip, prompt.tokens, prompt.arch)
                prompt.provenance["null_context"] = "empty text encoded from the connected CLIP (exact)"
            elif conditioning is not None:
                prompt.null_context, prompt.pooled = encoded_null_context(NODE, conditioning, prompt.tokens,
                                                                          prompt.arch)
                caveat = length_note(NODE, conditioning[0][0].shape[1], prompt.tokens, prompt.arch)
                prompt.provenance["null_context"] = ("connected CONDITIONING" + (", approximate" if caveat else ""))
            save_prompt(prompt, dst)
        except PromptFileError as e:
            raise PromptFileError(f"{NODE}: {e}", kind=e.kind) from e
        note = f"Saved {os.path.basename(dst)}: {prompt.describe()}."
        if caveat:
            note += " " + caveat
        if not prompt.has_null_context:
            encoder = ARCHS[prompt.arch].encoder
            note += (f" No null context stored: connect the text encoder ({encoder}) to clip here and "
                     "import again, or connect it to Apply Restoration Prompt's clip input.")
        return io.NodeOutput(prompt, ui=ui.PreviewText(note))

