"""Tier 2 (in-process host): finite in, finite out. Every float input of every node refuses NaN/Inf and every fixed
combo refuses a value outside its list, by the node's name; the samplers stop when the model's prediction goes
non-finite instead of returning a black image; a prompt whose injection overflows the model's dtype is refused."""
import math

import pytest
import torch

from harness.reference import make_latent, make_prompt
from harness.small_models import small_flux, small_wan


def _nodes():
    from unlock_restore.nodes.registry import NODES

    return NODES


def _call_with(cls, **override):
    """execute() with every input at its default (None where there is none), then `override`."""
    schema = cls.define_schema()
    kwargs = {i.id: getattr(i, "default", None) for i in schema.inputs}
    kwargs.update(override)
    return cls.execute(**kwargs)


def test_every_float_and_fixed_combo_input_is_guarded(comfy_host):
    from unlock_restore.nodes.input_checks import OWN_MESSAGES
    from comfy_api.latest import io

    checked = 0
    for cls in _nodes():
        schema = cls.define_schema()
        for spec in schema.inputs:
            if isinstance(spec, io.Float.Input):
                bad_values = [math.nan, math.inf, -math.inf]
                words = "must be a finite number"
            elif isinstance(spec, io.Combo.Input) and spec.id not in OWN_MESSAGES and spec.options:
                bad_values = ["not-an-option"]
                words = "must be one of"
            else:
                continue
            for bad in bad_values:
                with pytest.raises(ValueError) as e:
                    _call_with(cls, **{spec.id: bad})
                msg = str(e.value)
                assert msg.startswith(f"{schema.display_name}: {spec.id} ") and words in msg, msg
                checked += 1
    assert checked >= 20, checked  # every node with a float or a fixed list was reached


def test_the_bridge_sampler_stops_on_a_non_finite_prediction(comfy_host):
    from unlock_restore.nodes.bridge_sampler import sample_unlock_bridge
    from unlock_restore.bridge import time_grid

    class Model:
        latent_image = torch.ones(1, 4, 8, 8)

        def __init__(self, bad_at):
            self.calls, self.bad_at = 0, bad_at

        def __call__(self, x, t, **kw):
            self.calls += 1
            return x * (float("nan") if self.calls == self.bad_at else 0.5)

    sigmas = time_grid(0.4, 4)
    with pytest.raises(FloatingPointError, match=r"^Bridge Sampler: the model's prediction went non-finite .* "
                                                 r"evaluation 3 of 4 \(t = 0.133\d\)"):
        sample_unlock_bridge(Model(3), torch.ones(1, 4, 8, 8), sigmas)
    with pytest.raises(FloatingPointError, match="^Restore \\(Bridge\\): the latent to restore contains NaN"):
        bad = Model(0)
        bad.latent_image = torch.full((1, 4, 8, 8), float("nan"))
        sample_unlock_bridge(bad, torch.ones(1, 4, 8, 8), sigmas, node="Restore (Bridge)")
    out = sample_unlock_bridge(Model(0), torch.ones(1, 4, 8, 8), sigmas)
    assert torch.isfinite(out).all()


def test_restore_never_returns_an_image_from_a_nan_model(comfy_host, host_models):
    """A model that goes NaN inside (here: a wrapper multiplying its output by NaN) fails Restore by name."""
    (model,) = comfy_host.node("UNETLoader")().load_unet(host_models["flux_dev"], "default")
    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models["taesd_flux"])
    broken = model.clone()
    broken.set_model_unet_function_wrapper(lambda apply, a: apply(a["input"], a["timestep"], **a["c"]) * float("nan"))
    from harness.graphs import tiny_prompt

    with torch.inference_mode(), pytest.raises(FloatingPointError) as e:
        comfy_host.node("UnlockRestore").execute(model=broken, vae=vae, restoration_prompt=tiny_prompt("flux"),
                                                 image=torch.rand(1, 64, 64, 3), t0=0.4, steps=2, seed=0)
    assert str(e.value).startswith("Restore (Bridge): the model's prediction went non-finite"), str(e.value)


@pytest.mark.parametrize("arch", ["flux", "wan21"])
def test_a_prompt_that_overflows_the_models_dtype_is_refused(comfy_host, arch):
    model = small_flux() if arch == "flux" else small_wan()
    blocks = {"double": 2, "single": 2} if arch == "flux" else {"blocks": 2}
    prompt = make_prompt(arch, 64, blocks)
    prompt.prompt[0, 0] = 3e38
    prompt.gates[:] = 2.0
    apply = comfy_host.node("UnlockPromptApply")
    with pytest.raises(ValueError, match=r"^Apply Restoration Prompt: .*up to 6e\+38.*float32.*would overflow"):
        apply.execute(model=model, restoration_prompt=prompt, strength=1.0)
    if arch == "flux":  # FLUX scales P by strength x gate before adding it: small enough, the same file runs.
        patched, cond = apply.execute(model=model, restoration_prompt=prompt, strength=1e-30).result
        from harness.reference import run_model

        assert torch.isfinite(run_model(patched, cond, make_latent(arch))).all()
