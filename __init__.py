"""unlock-restore: restore degraded images and videos with frozen FLUX / Wan models in ComfyUI.

ComfyUI imports this folder as a package and calls `comfy_entrypoint` (V3 node API). Importing the package
itself pulls in no ComfyUI code, so `bridge` and `prompt_embeds` stay usable on any machine.
"""
from .nodes import comfy_entrypoint

__all__ = ["comfy_entrypoint"]
