"""A prompt on a model: the patched MODEL clone and its CONDITIONING (what Apply Restoration Prompt outputs).

Engine code shared by every node that samples with a prompt (Apply, Restore, Train's validation) and by the
benchmarks, so every path injects a prompt the same way.
"""
from ..prompt_embeds import PromptMixture
from .conditioning import prompt_conditioning
from .injection import PromptState, install_prompt
from .mixing import apply_mixture
from .model_info import check_prompt_fits, check_prompt_range, model_info
from .time_index import install_time_index

APPLY_NODE = "Apply Restoration Prompt"  # the node named in errors unless a caller names itself


def apply_prompt(model, prompt, strength: float, node: str = APPLY_NODE):
    """The patched MODEL clone, timed as the prompt was trained (`time_index`). In context mode with continuous
    timing, the model itself (the prompt rides on the CONDITIONING). The input MODEL is never modified."""
    if isinstance(prompt, PromptMixture):
        return apply_mixture(model, prompt, strength, node)
    info = model_info(model)
    check_prompt_fits(node, prompt, info)
    check_prompt_range(node, prompt, strength, model)
    if prompt.mode == "context" and prompt.time_convention == "continuous":
        return model
    patched = model.clone()
    if prompt.mode == "gated":
        install_prompt(patched, PromptState([(prompt.prompt, prompt.gates)], strength, node), info.family,
                       prompt.blocks)
    install_time_index(patched, info.arch, [prompt.time_convention])
    return patched


def prepare(model, restoration_prompt, strength: float = 1.0, conditioning=None, node: str = APPLY_NODE, clip=None):
    """(MODEL, CONDITIONING) ready for the bridge sampler; `node` names the caller in errors."""
    return (apply_prompt(model, restoration_prompt, strength, node),
            prompt_conditioning(node, restoration_prompt, conditioning, strength, clip, model_info(model).text_width))


__all__ = ["apply_prompt", "prepare"]
