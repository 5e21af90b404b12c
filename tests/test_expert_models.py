"""Tier 2 (in-process host): two-expert models (Wan 2.2 T2V-A14B, each expert loaded as a WAN21 MODEL).

Two small Wan models from different seeds stand for the experts. Bridge Expert Guider in the stock
SamplerCustomAdvanced equals the pure bridge loop that asks the high-noise expert at t >= boundary and the
low-noise one below (bridge.expert_denoiser over each patched model's own predictions); Restore with
high_noise_model runs the same trajectory; Train trains one expert on its part of the bridge; what cannot work
is refused by name.
"""
import pytest
import torch

from harness.reference import make_latent, make_prompt
from harness.small_models import small_flux, small_wan, small_wan22

BLOCKS = {"blocks": 2}
BOUNDARY = 0.875


def _experts(comfy_host, high_seed=1, low_seed=0):
    node = comfy_host.node
    out = []
    for seed, prompt_seed in ((high_seed, 21), (low_seed, 22)):
        patched, cond = node("UnlockPromptApply").execute(
            model=small_wan(seed), restoration_prompt=make_prompt("wan21", 64, BLOCKS, seed=prompt_seed),
            strength=1.0).result
        out += [patched, cond]
    return out  # high model, high cond, low model, low cond


def _sample(comfy_host, guider, sampler, t0, steps, y_raw, seed=7):
    node = comfy_host.node
    noise = node("RandomNoise")().get_noise(seed)[0]
    sigmas = node("UnlockBridgeSigmas").execute(model=guider.model_patcher, t0=t0, steps=steps,
                                                t_min=1e-4).result[0]
    out = node("SamplerCustomAdvanced")().sample(noise, guider, sampler, sigmas, {"samples": y_raw})[0]["samples"]
    return out, noise, sigmas


def _denoiser(patcher, cond, y):
    base = patcher.model
    conds = base.extra_conds(noise=y, device=torch.device("cpu"), cross_attn=cond[0][0], **cond[0][1])
    kw = {k: v.cond for k, v in conds.items()}
    return lambda x, t: base.apply_model(x, t, transformer_options={"wrappers": patcher.wrappers}, **kw)


def test_expert_guider_in_sampler_custom_advanced_equals_the_switching_bridge(comfy_host):
    import comfy.model_management

    from unlock_restore.bridge import expert_denoiser, sample_bridge

    high, high_cond, low, low_cond = _experts(comfy_host)
    guider = comfy_host.node("UnlockExpertGuider").execute(
        high_noise_model=high, high_noise_conditioning=high_cond, low_noise_model=low,
        low_noise_conditioning=low_cond, boundary=BOUNDARY).result[0]
    sampler = comfy_host.node("UnlockBridgeSampler").execute().result[0]
    y_raw = make_latent("wan21", seed=3)
    out, noise, sigmas = _sample(comfy_host, guider, sampler, 0.95, 5, y_raw)
    assert [float(s) >= BOUNDARY for s in sigmas[:-1]].count(True) == 1  # 0.95 high; 0.71 ... 1e-4 low

    comfy.model_management.load_models_gpu([high, low])
    y = low.model.process_latent_in(y_raw)
    with torch.no_grad():
        switching = expert_denoiser(_denoiser(high, high_cond, y), _denoiser(low, low_cond, y), BOUNDARY)
        ref = low.model.process_latent_out(sample_bridge(switching, y, noise.generate_noise({"samples": y_raw}),
                                                         sigmas))
        low_only = low.model.process_latent_out(sample_bridge(_denoiser(low, low_cond, y), y,
                                                              noise.generate_noise({"samples": y_raw}), sigmas))
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
    assert (out - low_only).abs().max() > 1e-3, "the high-noise expert changed nothing"


def test_below_the_boundary_the_low_noise_expert_runs_alone(comfy_host):
    high, high_cond, low, low_cond = _experts(comfy_host)
    node = comfy_host.node
    sampler = node("UnlockBridgeSampler").execute().result[0]
    y_raw = make_latent("wan21", seed=3)
    pair = node("UnlockExpertGuider").execute(high_noise_model=high, high_noise_conditioning=high_cond,
                                              low_noise_model=low, low_noise_conditioning=low_cond,
                                              boundary=BOUNDARY).result[0]
    alone = node("BasicGuider")().get_guider(low, low_cond)[0]
    assert torch.equal(_sample(comfy_host, pair, sampler, 0.4, 3, y_raw)[0],
                       _sample(comfy_host, alone, sampler, 0.4, 3, y_raw)[0])


@pytest.mark.parametrize("sampler_name", ["bridge", "euler"])
def test_one_model_as_both_experts_is_the_one_model_run(comfy_host, sampler_name):
    """Cutting the schedule changes nothing when both experts are one model: the bridge continues from the exact
    state (no restart), and any other sampler is chained as the stock two-sampler workflow does."""
    node = comfy_host.node
    model, cond = node("UnlockPromptApply").execute(
        model=small_wan(0), restoration_prompt=make_prompt("wan21", 64, BLOCKS, seed=22), strength=1.0).result
    sampler = (node("UnlockBridgeSampler").execute().result[0] if sampler_name == "bridge"
               else node("KSamplerSelect")().get_sampler("euler")[0])
    y_raw = make_latent("wan21", seed=3)
    pair = node("UnlockExpertGuider").execute(high_noise_model=model, high_noise_conditioning=cond,
                                              low_noise_model=model, low_noise_conditioning=cond,
                                              boundary=BOUNDARY).result[0]
    alone = node("BasicGuider")().get_guider(model, cond)[0]
    split = _sample(comfy_host, pair, sampler, 0.95, 5, y_raw)[0]
    whole = _sample(comfy_host, alone, sampler, 0.95, 5, y_raw)[0]
    assert torch.isfinite(split).all() and (split - y_raw).abs().mean() > 1e-3
    torch.testing.assert_close(split, whole, atol=1e-5, rtol=1e-5)


def _restore(comfy_host, vae, image, t0, **kw):
    with torch.inference_mode():
        return comfy_host.node("UnlockRestore").execute(
            model=small_wan(0), vae=vae, restoration_prompt=make_prompt("wan21", 64, BLOCKS, seed=22), image=image,
            t0=t0, steps=4, seed=0, **kw).result[0]


def test_restore_switches_experts_above_the_boundary(comfy_host, host_models):
    vae = comfy_host.node("VAELoader")().load_vae(host_models["wan21_vae"])[0]
    image = torch.rand(5, 40, 56, 3, generator=torch.Generator().manual_seed(2))
    high = dict(high_noise_model=small_wan(1), high_noise_prompt=make_prompt("wan21", 64, BLOCKS, seed=21))
    # Below the boundary the high-noise expert is not used: exactly the one-model result.
    assert torch.equal(_restore(comfy_host, vae, image, 0.4, **high), _restore(comfy_host, vae, image, 0.4))
    # The low-noise expert as its own high-noise expert: the same trajectory as one model.
    same = dict(high_noise_model=small_wan(0), high_noise_prompt=make_prompt("wan21", 64, BLOCKS, seed=22))
    one = _restore(comfy_host, vae, image, 0.95)
    torch.testing.assert_close(_restore(comfy_host, vae, image, 0.95, **same), one, atol=1e-5, rtol=1e-5)
    two = _restore(comfy_host, vae, image, 0.95, **high)
    assert two.shape == image.shape and torch.isfinite(two).all() and (two - one).abs().max() > 1e-3


def test_what_cannot_be_two_experts_is_refused(comfy_host, host_models):
    from unlock_restore.prompt_embeds import RestorationPrompt

    node = comfy_host.node
    guider = node("UnlockExpertGuider")
    flux, flux_cond = node("UnlockPromptApply").execute(
        model=small_flux(), restoration_prompt=make_prompt("flux", 64, {"double": 2, "single": 2}),
        strength=1.0).result
    _, _, low, low_cond = _experts(comfy_host)
    with pytest.raises(ValueError, match=r"^Bridge Expert Guider: the high-noise MODEL is FLUX.* but the "
                                         r"low-noise MODEL is Wan 2\.1"):
        guider.execute(high_noise_model=flux, high_noise_conditioning=flux_cond, low_noise_model=low,
                       low_noise_conditioning=low_cond, boundary=BOUNDARY)
    one = small_wan22()
    with pytest.raises(ValueError, match=r"^Bridge Expert Guider: Wan 2\.2 ships one model"):
        guider.execute(high_noise_model=one, high_noise_conditioning=low_cond, low_noise_model=one,
                       low_noise_conditioning=low_cond, boundary=BOUNDARY)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        guider.execute(high_noise_model=low, high_noise_conditioning=low_cond, low_noise_model=low,
                       low_noise_conditioning=low_cond, boundary=1.5)

    vae = comfy_host.node("VAELoader")().load_vae(host_models["wan21_vae"])[0]
    image = torch.rand(1, 32, 32, 3)
    with pytest.raises(ValueError, match=r"^Restore \(Bridge\): high_noise_prompt is connected but "
                                         "high_noise_model is not"):
        _restore(comfy_host, vae, image, 0.95, high_noise_prompt=make_prompt("wan21", 64, BLOCKS))
    p = make_prompt("wan21", 64, BLOCKS)
    high_only = RestorationPrompt(**{**p.__dict__, "provenance": {"training": {"expert": "high_noise"}}})
    with pytest.raises(ValueError, match="trained for the high-noise expert, but restoration_prompt drives the "
                                         "low-noise expert. Connect it to high_noise_prompt instead"):
        comfy_host.node("UnlockRestore").execute(model=small_wan(0), vae=vae, restoration_prompt=high_only,
                                                 image=image, t0=0.95, steps=2, seed=0)


def _trainer(comfy_host, host_models, expert, t0=0.95, build=small_wan, vae="wan21_vae", **kw):
    from unlock_restore.nodes.training import PromptTrainer

    vae = comfy_host.node("VAELoader")().load_vae(host_models[vae])[0]
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 32, 32, 3, generator=g)
    degraded = (0.6 * clean + 0.3).clamp(0, 1)
    return PromptTrainer(build(), vae, clean, degraded, mode="gated", objective="bridge", t0=t0, seed=0,
                         node="Train Restoration Prompt", tokens=4, expert=expert, **kw)


@pytest.mark.parametrize("expert,low,high", [("high_noise", BOUNDARY, 0.95), ("low_noise", 0.0, BOUNDARY),
                                              ("all", 0.0, 0.95)])
def test_train_one_expert_on_its_part_of_the_bridge(comfy_host, host_models, monkeypatch, expert, low, high):
    import unlock_restore.nodes.training as training

    tr = _trainer(comfy_host, host_models, expert)
    x0, y, t, noise = tr.batch(64, torch.Generator().manual_seed(1))
    assert float(t.min()) >= low and float(t.max()) <= high and float(t.max() - t.min()) > 0.5 * (high - low)
    # The states are the whole bridge's (T0 = 0.95) at those times, not those of a bridge that starts elsewhere.
    seen = {}
    real = training.bridge_loss
    monkeypatch.setattr(training, "bridge_loss", lambda *a, **kw: seen.update(t0=a[3], t=kw["t"]) or real(*a, **kw))
    with torch.no_grad():
        tr.loss(x0[:2], y[:2], t[:2], noise[:2])
    assert seen["t0"] == 0.95 and torch.equal(seen["t"], t[:2])
    prompt = tr.snapshot({})
    assert prompt.expert == expert and prompt.provenance["training"]["expert"] == expert
    if expert != "all":
        assert prompt.provenance["training"]["expert_boundary"] == BOUNDARY


def test_train_refuses_an_expert_it_cannot_train(comfy_host, host_models):
    with pytest.raises(ValueError, match=r"^Train Restoration Prompt: the high-noise expert only runs at "
                                         r"t >= 0\.875, above where this bridge starts \(t0 = 0\.4\)"):
        _trainer(comfy_host, host_models, "high_noise", t0=0.4)
    with pytest.raises(ValueError, match=r"^Train Restoration Prompt: expert is low_noise, but FLUX.* ships one "
                                         "model"):
        _trainer(comfy_host, host_models, "low_noise", build=lambda: small_flux(depth=1, single=1),
                 vae="taesd_flux")
    low = _trainer(comfy_host, host_models, "low_noise").snapshot({})
    with pytest.raises(ValueError, match="trained for expert low_noise, not high_noise"):
        _trainer(comfy_host, host_models, "high_noise", init=low)
