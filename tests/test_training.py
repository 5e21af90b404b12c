"""Tier 2 (in-process host): Train Restoration Prompt learns, saves, resumes, stops cleanly, leaves the model as
it was."""
import pytest
import torch

from harness.small_models import small_flux, small_wan


def _pairs(n=4, size=32, seed=0):
    """Clean images and a fixed, learnable degradation of them (darker, hazier, tinted)."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, size, size, 3, generator=g)
    clean = torch.nn.functional.avg_pool2d(clean.permute(0, 3, 1, 2), 3, 1, 1).permute(0, 2, 3, 1)  # smoother
    degraded = (0.5 * clean + torch.tensor([0.35, 0.3, 0.25])).clamp(0, 1)
    return clean, degraded


def _vae(comfy_host, host_models, arch):
    return comfy_host.node("VAELoader")().load_vae(host_models["taesd_flux" if arch == "flux" else "wan21_vae"])[0]


def _train(comfy_host, model, vae, save_name, **kw):
    clean, degraded = kw.pop("pairs", None) or _pairs()
    args = dict(model=model, vae=vae, clean_images=clean, degraded_images=degraded, steps=30, learning_rate=5e-2,
                batch_size=2, resolution=0, t0=0.4, seed=0, mode="gated", objective="bridge", save_name=save_name,
                checkpoint_every=10, tokens=4, degradation="tint")
    args.update(kw)
    with torch.inference_mode():  # as the host runs every node
        return comfy_host.node("UnlockPromptTrain").execute(**args)


@pytest.mark.parametrize("arch,mode", [("flux", "gated"), ("wan21", "gated"), ("flux", "context")])
def test_training_lowers_the_held_loss_and_saves(comfy_host, host_models, arch, mode):
    model = small_flux() if arch == "flux" else small_wan()
    before = {k: v.clone() for k, v in model.model.state_dict().items()}
    out = _train(comfy_host, model, _vae(comfy_host, host_models, arch), f"t_{arch}_{mode}", mode=mode)
    prompt, graph = out.result
    text = out.ui.as_dict()["text"][0]
    held = [float(x) for x in text.split("Held-out loss ")[1].split(";")[0].rstrip(".").split(" -> ")]
    assert held[1] < 0.95 * held[0], text  # the loss on a fixed held batch (same t, noise, crops) went down
    assert prompt.provenance["training"]["steps_done"] == 30 and prompt.provenance["degradations"] == ["tint"]
    assert prompt.mode == mode and prompt.has_null_context and graph.shape[0] == 1 and graph.shape[-1] == 3
    # The model's weights are bit-identical afterwards.
    after = model.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # The saved prompt is the returned one, loadable by the loader node.
    loaded = comfy_host.node("UnlockPromptLoader").execute(prompt_name=f"t_{arch}_{mode}.safetensors").result[0]
    assert torch.equal(loaded.prompt, prompt.prompt)


def test_resume_continues_the_step_count(comfy_host, host_models):
    model, vae = small_wan(), _vae(comfy_host, host_models, "wan21")
    first = _train(comfy_host, model, vae, "resume_me", steps=6, checkpoint_every=3).result[0]
    assert first.provenance["training"]["steps_done"] == 6
    resumed = _train(comfy_host, model, vae, "resume_me", steps=4, restoration_prompt=first).result[0]
    assert resumed.provenance["training"]["steps_done"] == 10
    assert not torch.equal(resumed.prompt, first.prompt)
    with pytest.raises(ValueError, match="Train Restoration Prompt: the prompt to resume from is a gated"):
        _train(comfy_host, model, vae, "resume_me", steps=1, restoration_prompt=first, mode="context")


def test_nan_loss_stops_and_keeps_the_last_good_prompt(comfy_host, host_models):
    from unlock_restore.prompt_embeds import load_prompt

    model, vae = small_flux(), _vae(comfy_host, host_models, "flux")
    with pytest.raises(FloatingPointError, match="Train Restoration Prompt: the loss became .* Lower the learning"):
        _train(comfy_host, model, vae, "diverge", steps=50, learning_rate=1e30, checkpoint_every=1)
    saved = load_prompt(comfy_host.base / "models" / "prompt_embeds" / "diverge.safetensors")  # finite, valid
    assert torch.isfinite(saved.prompt).all() and saved.provenance["training"]["steps_done"] >= 1


def test_bad_inputs_name_the_node(comfy_host, host_models):
    model, vae = small_wan(), _vae(comfy_host, host_models, "wan21")
    clean, degraded = _pairs()
    cases = [
        (dict(pairs=(clean[:0], degraded[:0])), "an image batch is empty"),
        (dict(pairs=(clean, degraded[:2])), "differ in shape"),
        (dict(pairs=(clean, degraded * float("nan"))), "NaN or infinite"),
        (dict(resolution=4096), "resolution 4096 is larger"),
        (dict(save_name="../escape"), "not a plain file name"),
        (dict(objective="ddpm"), "objective must be one of"),
    ]
    for kw, words in cases:
        with pytest.raises(ValueError, match=f"Train Restoration Prompt: .*{words}"):
            _train(comfy_host, model, vae, kw.pop("save_name", "bad"), steps=1, **kw)
    flux_prompt = _train(comfy_host, small_flux(), _vae(comfy_host, host_models, "flux"), "fluxp", steps=1).result[0]
    with pytest.raises(ValueError, match="made for FLUX"):
        _train(comfy_host, model, vae, "bad", steps=1, restoration_prompt=flux_prompt)


def test_held_out_validation_pair_is_restored_and_scored(comfy_host, host_models):
    clean, degraded = _pairs(n=4, seed=0)
    val_clean, val_degraded = _pairs(n=1, seed=9)  # not among the training pairs
    out = _train(comfy_host, small_flux(), _vae(comfy_host, host_models, "flux"), "validated", steps=3,
                 validation_clean=val_clean, validation_degraded=val_degraded)
    text = out.ui.as_dict()["text"][0]
    assert "Validation (1 held-out image(s), 20 steps): PSNR " in text, text
    psnr_before = float(text.split("PSNR ")[1].split(" ->")[0])
    from unlock_restore.imaging.metrics import psnr_ssim

    assert psnr_before == pytest.approx(psnr_ssim(val_degraded, val_clean)[0][0], abs=0.01)
    with pytest.raises(ValueError, match="validation_clean .* differ in shape"):
        _train(comfy_host, small_flux(), _vae(comfy_host, host_models, "flux"), "validated", steps=1,
               validation_clean=val_clean, validation_degraded=degraded)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_training_runs_with_the_hosts_training_flag_and_restores_it(comfy_host, host_models, checkpointing):
    """ComfyUI >= 0.8 keeps backward-less comfy-kitchen kernels (rope, later adaln and fused linears) out of autograd
    only while `comfy.model_management.in_training` is set. Every forward with grad (loss, checkpoint recompute in
    backward) sees it set; afterwards, also after a failed run, it is back to what it was. On v0.3.64 there is no
    flag and nothing may add one."""
    import comfy.model_management as mm

    model = small_flux()
    dm = model.model.diffusion_model
    seen = []
    hook = dm.double_blocks[0].register_forward_pre_hook(
        lambda m, a: seen.append((getattr(mm, "in_training", "absent"), torch.is_grad_enabled())))
    try:
        _train(comfy_host, model, _vae(comfy_host, host_models, "flux"), "", steps=2,
               gradient_checkpointing=checkpointing)
        if not hasattr(mm, "in_training"):
            assert {s[0] for s in seen} == {"absent"}  # an old host: untouched
            return
        assert mm.in_training is False
        # One forward with grad per step: the loss's, or with checkpointing the recompute inside backward (the
        # checkpointed forward itself runs without grad); the held-out losses run without grad, flag set as well.
        assert sum(grad for _, grad in seen) == 2, seen
        assert all(flag is True for flag, _ in seen), seen
        # A run that fails (a NaN learning rate: the optimizer refuses it, or the loss goes non-finite) restores it.
        mm.in_training = "sentinel"
        with pytest.raises((FloatingPointError, ValueError)):
            _train(comfy_host, model, _vae(comfy_host, host_models, "flux"), "", steps=2, learning_rate=float("nan"),
                   gradient_checkpointing=checkpointing)
        assert mm.in_training == "sentinel"
    finally:
        hook.remove()
        if hasattr(mm, "in_training"):
            mm.in_training = False
