"""Restoration prompts as data: the learned tensors, their .safetensors file, official import and blending.

Pure torch + safetensors: nothing here imports ComfyUI, so prompts can be made and checked on any machine.
"""
from .archs import ARCHS
from .blend import blend_prompts
from .errors import PromptFileError
from .fileio import load_prompt, read_prompt_metadata, save_prompt
from .mixture import PromptMixture, mix_prompts
from .official import convert_official, load_official
from .prompt import FORMAT_VERSION, RestorationPrompt

__all__ = ["ARCHS", "FORMAT_VERSION", "PromptFileError", "RestorationPrompt", "blend_prompts", "convert_official",
           "load_official", "load_prompt", "mix_prompts", "PromptMixture", "read_prompt_metadata", "save_prompt"]
