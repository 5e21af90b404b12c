"""unlock-restore: restore degraded images and videos with frozen FLUX / Wan models in ComfyUI.

ComfyUI imports this folder as a package and calls `comfy_entrypoint` (V3 node API). Importing the package
itself pulls in no ComfyUI code, so `bridge` and `prompt_embeds` stay usable on any machine.
"""
if __package__:  # ComfyUI imports the folder as a package whatever its name; pytest may import this file alone
    from .nodes import comfy_entrypoint

    __all__ = ["comfy_entrypoint"]
