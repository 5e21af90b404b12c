"""Tier 2 (in-process host): the Bridge Sampler as a standard SAMPLER inside the stock SamplerCustomAdvanced."""
import pytest
import torch

from harness.reference import make_latent, make_prompt
from harness.small_models import small_flux, small_wan


def _host_sample(comfy_host, model, cond, latent, steps=4, t0=0.4, seed=7):
    node = comfy_host.node
    noise = node("RandomNoise")().get_noise(seed)[0]
    guider = node("BasicGuider")().get_guider(model, cond)[0]
    sampler = node("UnlockBridgeSampler").execute().result[0]
    sigmas = node("UnlockBridgeSigmas").execute(model=model, t0=t0, steps=steps, t_min=1e-4).result[0]
    out, denoised = node("SamplerCustomAdvanced")().sample(noise, guider, sampler, sigmas, {"samples": latent})
    return out["samples"], noise, sigmas


@pytest.mark.parametrize("arch", ["flux", "wan21"])
def test_host_sampling_equals_the_pure_bridge_loop(comfy_host, arch):
    """SamplerCustomAdvanced + Bridge Sampler = bridge.sample_bridge over the host's own x0 predictions."""
    from unlock_restore.bridge import sample_bridge

    model = small_flux() if arch == "flux" else small_wan()
    prompt = make_prompt(arch, 64, {"double": 2, "single": 2} if arch == "flux" else {"blocks": 2})
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                 strength=1.0).result
    y_raw = make_latent(arch, seed=3)
    out, noise_node, sigmas = _host_sample(comfy_host, patched, cond, y_raw)

    import comfy.model_management
    import comfy.samplers

    comfy.model_management.load_models_gpu([patched])
    base = patched.model
    y = base.process_latent_in(y_raw)
    noise = noise_node.generate_noise({"samples": y_raw})
    conds = base.extra_conds(noise=y, device=torch.device("cpu"), cross_attn=cond[0][0], **cond[0][1])
    kw = {k: v.cond for k, v in conds.items()}

    def x0_hat(x, t):
        return base.apply_model(x, t, **kw)

    with torch.no_grad():
        ref = base.process_latent_out(sample_bridge(x0_hat, y, noise, sigmas))
    assert out.shape == y_raw.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    assert (out - y_raw).abs().mean() > 1e-3


def test_schedule_node(comfy_host):
    from unlock_restore.bridge import time_grid

    node = comfy_host.node("UnlockBridgeSigmas")
    model = small_wan()
    assert torch.equal(node.execute(model=model, t0=0.5, steps=8, t_min=1e-3).result[0], time_grid(0.5, 8, 1e-3))
    with pytest.raises(ValueError, match="Bridge Schedule: t_min"):
        node.execute(model=model, t0=0.1, steps=8, t_min=0.2)
    eps = comfy_host.node("ModelSamplingDiscrete")().patch(model, "eps", False)[0]
    with pytest.raises(ValueError, match="Bridge Schedule: .*not a flow-matching model"):
        node.execute(model=eps, t0=0.4, steps=8, t_min=1e-4)


def test_empty_latent_is_refused(comfy_host):
    model = small_flux()
    prompt = make_prompt("flux", 64, {"double": 2, "single": 2})
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                 strength=1.0).result
    with pytest.raises(ValueError, match="Bridge Sampler: the latent to restore is empty"):
        _host_sample(comfy_host, patched, cond, torch.zeros(1, 16, 8, 8))
