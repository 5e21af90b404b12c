"""Host glue: the V3 extension ComfyUI loads. The registry is imported only when ComfyUI asks for it."""


async def comfy_entrypoint():
    # Imported lazily so that importing the pack (e.g. for its pure-torch math) never imports ComfyUI.
    from .registry import UnlockRestoreExtension, register_model_folders

    register_model_folders()
    return UnlockRestoreExtension()
