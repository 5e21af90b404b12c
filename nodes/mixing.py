"""The 'average' mixing mode in the host: one model evaluation per prompt per step, predictions averaged.

All gated prompts of a mixture share one set of patched blocks (a PromptState with several entries); an
APPLY_MODEL wrapper runs the model once per prompt, switching the active entry (or adding a context prompt's
residual to the text conditioning), and returns the weighted mean of the x0 predictions. With weights summing
to 1, averaging x0 predictions at the same (x, t) equals averaging velocities.
"""
import comfy.patcher_extension

from ..bridge import mix_predictions
from .injection import PromptState, install_prompt
from .model_info import check_prompt_fits, check_prompt_range, model_info
from .time_index import install_time_index

WRAPPER_KEY = "unlock_restore.mixture"


def apply_mixture(model, mixture, strength: float, node: str):
    info = model_info(model)
    for p in mixture.prompts:
        check_prompt_fits(node, p, info, what="mixture's prompt")
        check_prompt_range(node, p, strength, model, what="mixture's prompt")
    patched = model.clone()
    gated = [i for i, p in enumerate(mixture.prompts) if p.mode == "gated"]
    slot = {i: j for j, i in enumerate(gated)}
    state = None
    if gated:
        first = mixture.prompts[gated[0]]
        state = PromptState([(mixture.prompts[i].prompt, mixture.prompts[i].gates) for i in gated], strength, node)
        install_prompt(patched, state, info.family, first.blocks)
    residuals = {i: p.prompt for i, p in enumerate(mixture.prompts) if p.mode == "context"}
    weights = list(mixture.weights)
    # Each prompt is timed as it was trained (an official import next to a prompt trained before 0.2, say).
    timing = install_time_index(patched, info.arch, [p.time_convention for p in mixture.prompts])

    def average(executor, x, t, c_concat, c_crossattn, control, transformer_options, **kwargs):
        def evaluate(i):
            def x0_hat(x_, t_):
                if state is not None:
                    state.active = slot.get(i)  # None for a context prompt: its residual rides on the text instead
                if timing is not None:
                    timing.active = i
                c = c_crossattn
                if i in residuals:
                    c = c_crossattn + strength * residuals[i].to(c_crossattn).unsqueeze(0)
                return executor(x_, t_, c_concat, c, control, transformer_options, **kwargs)
            return x0_hat

        try:  # the pure, tested mixing rule; a zero-weight prompt costs no evaluation
            return mix_predictions([evaluate(i) for i in range(len(weights))], weights)(x, t)
        finally:
            if state is not None:
                state.active = 0
            if timing is not None:
                timing.active = 0

    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, WRAPPER_KEY, average)
    return patched
