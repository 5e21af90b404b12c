"""The official time index: the network gets the official code's quantised timestep, the algebra keeps t.

Tier 1: the grids are diffusers 0.33.1's own (the version the official YPT code runs), and prompt files record the
convention. Tier 2: the pack's 20-step bridge restore against an independent implementation of the official loop
written here (the official `ebr_custom_multistep_sample`: continuous t in the bridge algebra, the scheduler's
timestep into the network), with the timestep the network embedded recorded at every evaluation.
"""
from __future__ import annotations

import pytest
import torch

from harness.official_loop import (STEPS, T0, T_MIN, assert_times, host_network, official_loop,
                                   official_network_time, record_time_embeddings, schedulers)
from harness.reference import make_latent, make_prompt
from unlock_restore.bridge import time_grid


# -- tier 1 ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch,grid", [("flux", "flux_euler"), ("wan21", "wan_unipc")])
def test_grids_are_the_official_schedulers(arch, grid):
    from unlock_restore.bridge.time_index import official_grid, official_model_time

    sched = schedulers()[arch]
    sigmas, inputs = official_grid(grid)
    assert torch.equal(sigmas, sched.sigmas)
    want = sched.timesteps.float() / 1000.0 if arch == "flux" else sched.timesteps.float()
    assert torch.equal(inputs, want)
    # Every time the bridge can visit, densely, plus the grid's own entries, midpoints and ends.
    t = torch.cat([torch.linspace(0.0, 1.0, 20001), sigmas, (sigmas[1:] + sigmas[:-1]) / 2])
    assert torch.equal(official_model_time(t, grid), official_network_time(arch, t))


def test_the_index_of_the_issue_examples():
    from unlock_restore.bridge.time_index import official_grid, official_model_time

    t = torch.tensor([0.4, 0.02115, 1e-4])
    assert official_model_time(t, "wan_unipc").tolist() == [399.0, 20.0, 0.0]
    assert torch.equal(official_model_time(t, "flux_euler"), torch.tensor([400.0, 21.0, 1.0]) / 1000.0)
    with pytest.raises(ValueError, match="unknown time grid 'nearest'"):
        official_grid("nearest")


def test_prompt_files_record_the_convention(tmp_path):
    import json

    import safetensors.torch as st

    from unlock_restore.prompt_embeds import PromptFileError, load_prompt, save_prompt

    trained = make_prompt("wan21", 16, {"blocks": 2})
    assert trained.time_convention == "continuous"  # no field, trained: what the pack did before 0.2
    official = make_prompt("wan21", 16, {"blocks": 2}, provenance={"degradations": [], "source": "official:a.pt"})
    assert official.time_convention == "official"
    new = make_prompt("wan21", 16, {"blocks": 2}, time_index="official")
    for p, want in ((trained, "continuous"), (official, "official"), (new, "official")):
        path = save_prompt(p, tmp_path / f"{want}_{id(p)}.safetensors")
        assert load_prompt(path).time_index == want  # written resolved: a re-save keeps the convention
    # A file written before the field existed: its metadata has no time_index.
    path = tmp_path / "old_official.safetensors"
    save_prompt(official, path)
    tensors = st.load_file(str(path))
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    meta = json.loads(header["unlock_restore.meta"])
    meta.pop("time_index")
    st.save_file(tensors, str(path), metadata={**header, "unlock_restore.meta": json.dumps(meta)})
    old = load_prompt(path)
    assert old.time_index is None and old.time_convention == "official"
    with pytest.raises(PromptFileError, match="time index 'nearest' is unknown"):
        make_prompt("wan21", 16, {"blocks": 2}, time_index="nearest").validate()


def test_blend_refuses_mixed_conventions():
    from unlock_restore.prompt_embeds import PromptFileError, blend_prompts

    a = make_prompt("wan21", 16, {"blocks": 2}, seed=1, time_index="official")
    b = make_prompt("wan21", 16, {"blocks": 2}, seed=2)
    b.null_context = a.null_context
    with pytest.raises(PromptFileError, match="time index continuous but .* has time index official"):
        blend_prompts([a, b], [1, 1])
    b.time_index = "official"
    assert blend_prompts([a, b], [1, 1]).time_index == "official"


# -- tier 2 ----------------------------------------------------------------------------------------------------
def _sample(comfy_host, patched, cond, latent, seed=7):
    node = comfy_host.node
    noise = node("RandomNoise")().get_noise(seed)[0]
    guider = node("BasicGuider")().get_guider(patched, cond)[0]
    sampler = node("UnlockBridgeSampler").execute().result[0]
    sigmas = node("UnlockBridgeSigmas").execute(model=patched, t0=T0, steps=STEPS, t_min=T_MIN).result[0]
    out = node("SamplerCustomAdvanced")().sample(noise, guider, sampler, sigmas, {"samples": latent})[0]
    return out["samples"], noise.generate_noise({"samples": latent})


@pytest.mark.parametrize("arch", ["flux", "wan21"])
def test_bridge_restore_matches_the_official_loop(comfy_host, arch):
    import comfy.model_management

    from harness.small_models import small_flux, small_wan

    model = small_flux() if arch == "flux" else small_wan()
    blocks = {"double": 2, "single": 2} if arch == "flux" else {"blocks": 2}
    prompt = make_prompt(arch, 64, blocks, time_index="official")
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                 strength=1.0).result
    y_raw = make_latent(arch, seed=3)
    with record_time_embeddings(patched) as seen:
        out, noise = _sample(comfy_host, patched, cond, y_raw)
    comfy.model_management.load_models_gpu([patched])
    base = patched.model
    y = base.process_latent_in(y_raw)
    with record_time_embeddings(patched) as ref_seen:
        ref, ts = official_loop(host_network(base, cond, y), y, noise, arch)
    ref = base.process_latent_out(ref)
    assert torch.isfinite(out).all() and (out - y_raw).abs().mean() > 1e-3
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=2e-5)

    # The network was given the official index at each of the 20 evaluations, as in the reference loop. The pack's
    # grid (linspace in float64) and the official one (float32) differ by an ulp at most: the same indices.
    grid = time_grid(T0, STEPS, T_MIN)[:-1]
    official = official_network_time(arch, ts)
    assert torch.equal(official_network_time(arch, grid), official)
    assert_times(patched, seen, official, "pack")
    assert_times(patched, ref_seen, official, "reference")
    scale = 1.0 if arch == "flux" else 1000.0
    assert not torch.equal(official, grid * scale)  # the index is not t itself

    # The same prompt timed as before 0.2 (continuous): the host's own input, a measurably different result.
    prompt.time_index = "continuous"
    cont, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                              strength=1.0).result
    with record_time_embeddings(cont) as seen_cont:
        out_cont, _ = _sample(comfy_host, cont, cond, y_raw)
    assert_times(cont, seen_cont, grid * scale, "continuous")
    assert (out_cont - out).abs().max() > 1e-6


def test_restore_node_times_the_network_officially(comfy_host, host_models):
    """Restore (one box, VAE and all) gives the network the official index at every step."""
    from harness.graphs import tiny_prompt

    (model,) = comfy_host.node("UNETLoader")().load_unet(host_models["wan21_t2v"], "default")
    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models["wan21_vae"])
    image = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    prompt = tiny_prompt("wan21", time_index="official")
    with record_time_embeddings(model) as seen, torch.inference_mode():
        out = comfy_host.node("UnlockRestore").execute(model=model, vae=vae, restoration_prompt=prompt, image=image,
                                                       t0=T0, steps=STEPS, seed=0).result[0]
    assert out.shape == image.shape and torch.isfinite(out).all()
    assert_times(model, seen, official_network_time("wan21", time_grid(T0, STEPS, T_MIN)[:-1]), "Restore")


def test_average_mixture_times_each_prompt_as_trained(comfy_host):
    from harness.small_models import small_wan

    model = small_wan()
    a = make_prompt("wan21", 64, {"blocks": 2}, seed=1, time_index="official")
    b = make_prompt("wan21", 64, {"blocks": 2}, seed=2)  # continuous (trained before 0.2)
    b.null_context = a.null_context
    mixture = comfy_host.node("UnlockPromptMix").execute(prompt_1=a, weight_1=1.0, prompt_2=b, weight_2=1.0,
                                                         mode="average").result[0]
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=mixture,
                                                                 strength=1.0).result
    with record_time_embeddings(patched) as seen:
        _sample(comfy_host, patched, cond, make_latent("wan21", seed=3))
    ts = time_grid(T0, STEPS, T_MIN)[:-1]
    official = official_network_time("wan21", ts)
    expected = [v for pair in zip(official, ts * 1000.0) for v in pair]  # prompt a, then prompt b, each step
    assert_times(patched, seen, expected, "average mixture")


def test_training_times_the_network_as_it_will_restore(comfy_host, host_models):
    """A new prompt trains under the official index and records it; a resumed one keeps its own convention."""
    from unlock_restore.nodes.training import PromptTrainer

    from harness.small_models import small_flux

    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models["taesd_flux"])
    model = small_flux()
    images = torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    kw = dict(mode="gated", objective="bridge", t0=T0, seed=0, node="Train", tokens=8)
    trainer = PromptTrainer(model, vae, images, images.flip(1), **kw)
    assert trainer.time_index == "official"
    x0, y, t, noise = trainer.batch(2, torch.Generator().manual_seed(0))
    with record_time_embeddings(trainer.patched) as seen, torch.inference_mode(False), torch.enable_grad():
        trainer.loss(x0, y, t, noise).backward()
    assert_times(trainer.patched, [e[i:i + 1] for e in seen for i in range(2)], official_network_time("flux", t),
                 "training")
    assert trainer.snapshot({}).time_index == "official"

    old = trainer.snapshot({})
    old.time_index = None  # a file trained before 0.2
    resumed = PromptTrainer(model, vae, images, images.flip(1), init=old, **kw)
    assert resumed.time_index == "continuous" and resumed.snapshot({}).time_index == "continuous"
    with pytest.raises(ValueError, match="trained with the continuous time index, not official"):
        PromptTrainer(model, vae, images, images.flip(1), init=old, time_index="official", **kw)


def test_a_second_prompt_replaces_the_timing_instead_of_stacking_it(comfy_host):
    """Context-mode prompts can be applied on top of each other; the network still gets one official index."""
    from harness.small_models import small_wan
    from unlock_restore.prompt_embeds import RestorationPrompt

    def context_prompt(seed):
        g = torch.Generator().manual_seed(seed)
        return RestorationPrompt(prompt=0.01 * torch.randn(8, 4096, generator=g), gates=None, mode="context",
                                 arch="wan21", blocks={"blocks": 2}, time_index="official",
                                 null_context=0.1 * torch.randn(8, 4096, generator=g))

    apply = comfy_host.node("UnlockPromptApply")
    once = apply.execute(model=small_wan(), restoration_prompt=context_prompt(1), strength=1.0).result[0]
    twice, cond = apply.execute(model=once, restoration_prompt=context_prompt(2), strength=1.0).result
    with record_time_embeddings(twice) as seen:
        _sample(comfy_host, twice, cond, make_latent("wan21", seed=3))
    assert_times(twice, seen, official_network_time("wan21", time_grid(T0, STEPS, T_MIN)[:-1]), "applied twice")
