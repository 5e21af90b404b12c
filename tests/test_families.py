"""Tier 2 (in-process host): every supported model family, one row each, through the same contract.

A row is a small model of the family built from the host's own classes (the stock loaders hard-code full widths
for the FLUX-type families), its block layout and its VAE. For each row: the pack detects it as that family; Apply
injects exactly the independent reference's rule (harness/reference.py); the training gradients of P and the
gates equal central finite differences, plain and with gradient checkpointing; Apply + Bridge Sampler run inside
the stock SamplerCustomAdvanced and equal the pure bridge loop; Restore restores an image (or a clip); and a
prompt of one family is refused on another with a message naming both. Adding a family adds a row here.
"""
from typing import Callable, NamedTuple

import pytest
import torch

from harness.gradcheck import directional_check, prompt_gradient_direction
from harness.reference import make_latent, make_prompt, prompt_shape, reference_model, run_model
from harness.small_models import (HostLacks, pixel_space_vae, small_chroma, small_chroma_radiance, small_flux,
                                  small_flux2, small_hunyuan_video15, small_qwen_image, small_taef2, small_taehv,
                                  small_wan, small_wan22, small_z_image)


class Row(NamedTuple):
    build: Callable
    arch: str
    width: int
    blocks: dict
    vae: object  # a tiny file key, or a builder
    host_class: str  # the host class it needs (comfy.model_base, unless another comfy module is named)
    reference: str  # the injection rule of the independent reference its blocks follow (harness.reference.RULES)
    # Velocity-loss gradient check at these t instead of the drawn ones (test_gradients_match_finite_differences).
    velocity_t: tuple | None = None
    # Gradient check of P along autograd's own gradient instead of a random direction, and the finite-difference
    # step for the gates (FLUX.2: see test_gradients_match_finite_differences).
    p_along_gradient: bool = False
    gate_eps: float = 1e-2


# At the drawn t = 4e-3 the velocity weight 1/t^2 (7e4) leaves float32 differences of a small loss change as rounding
# noise for three rows: FLUX.2 (512 text tokens beside 4 image tokens, so P moves this loss by ~1e-4 of itself) 7-20 %
# at every step from 1e-3 to 0.1, HunyuanVideo 1.5's gates 0-850 % with autograd steady to 5 digits, Chroma
# Radiance's single-block gates 2.7 % on v0.20.1 (1.3 % on v0.3.64); at t = 0.12, 0.31 they agree with autograd
# within 0.6 % (measured; Radiance 0.46 %). The other rows pass at the drawn t, and small t is covered
# exactly by tests/test_bridge.py (velocity = x0 loss / t^2 per sample).
VELOCITY_T = (0.12, 0.31)

ROWS = {
    "flux": Row(lambda: small_flux(depth=2, single=2), "flux", 64, {"double": 2, "single": 2}, "taesd_flux", "Flux",
                "flux_blocks"),
    "chroma": Row(lambda: small_chroma(depth=2, single=2), "chroma", 64, {"double": 2, "single": 2}, "taesd_flux",
                  "Chroma", "flux_blocks"),
    # Chroma Radiance: Chroma on RGB pixels (3 channels, no VAE: pixel_space), 4 px patches here.
    "chroma_radiance": Row(lambda: small_chroma_radiance(), "chroma_radiance", 64, {"double": 2, "single": 2},
                           pixel_space_vae, "ChromaRadiance", "flux_blocks", VELOCITY_T),
    # FLUX.2: 128 latent channels (its TAE, taef2, built in-process), text left-padded by the model to 512 tokens.
    "flux2": Row(lambda: small_flux2(depth=2, single=2), "flux2", 64, {"double": 2, "single": 2}, small_taef2,
                 "Flux2", "flux_blocks", VELOCITY_T, p_along_gradient=True, gate_eps=5e-2),
    # Qwen-Image: an image model with Wan 2.1's video VAE (each image a one-frame clip), 3-D latents.
    "qwen_image": Row(lambda: small_qwen_image(), "qwen_image", 64, {"blocks": 2}, "wan21_vae", "QwenImage",
                      "text_projections"),
    # Z-Image: Lumina 2's class with the ZImage config (v0.20.1); 256 wide, the smallest its modulation allows.
    "z_image": Row(lambda: small_z_image(), "z_image", 256, {"layers": 2}, "taesd_flux", "supported_models.ZImage",
                   "first_k_joint_qkv"),
    # HunyuanVideo 1.5 (v0.20.1): double blocks only, the LLM text last; its VAE here is lighttae_hv15's TAEHV.
    "hunyuan_video15": Row(lambda: small_hunyuan_video15(), "hunyuan_video15", 64, {"double": 2},
                           lambda: small_taehv(32), "HunyuanVideo15", "last_k_text_qkv", VELOCITY_T),
    "wan21": Row(lambda: small_wan(), "wan21", 64, {"blocks": 2}, "wan21_vae", "WAN21", "cross_attention"),
    # Wan 2.2 TI2V-5B: 48 latent channels; its VAE here is taew2_2's TAEHV (hosts without TAEHV skip the VAE tests).
    "wan22": Row(lambda: small_wan22(), "wan22", 64, {"blocks": 2}, lambda: small_taehv(48), "WAN22",
                 "cross_attention"),
}


@pytest.fixture(params=list(ROWS))
def row(request, comfy_host):
    import comfy.model_base

    import comfy.supported_models

    build, arch, width, blocks, vae, cls = ROWS[request.param][:6]
    where, _, name = cls.rpartition(".")  # a comfy.model_base class unless another comfy module is named
    if not hasattr(getattr(comfy, where or "model_base"), name):
        pytest.skip(f"{request.param.upper()} SKIPPED: this host has no comfy.{where or 'model_base'}.{name}")
    return request.param, build, arch, width, blocks, vae


def test_detected_as_its_family(row):
    from unlock_restore.nodes.model_info import model_info

    _, build, arch, width, blocks, _ = row
    info = model_info(build())
    assert info.arch == arch and info.family.arch == arch and info.blocks == blocks and info.width == width


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_injection_matches_the_reference(comfy_host, row, strength):
    name, build, arch, width, blocks, _ = row
    model, prompt = build(), make_prompt(arch, width, blocks, seed=4)
    x = make_latent(arch, model=model)
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                 strength=strength).result
    ours = run_model(patched, cond, x)
    assert (ours - run_model(model, cond, x)).abs().max() > 1e-3, "the prompt changed nothing"
    torch.testing.assert_close(ours, run_model(reference_model(model, prompt, strength, ROWS[name].reference), cond,
                                               x), atol=2e-5, rtol=1e-4)


def _vae(comfy_host, host_models, row):
    vae = row[5]
    if not callable(vae):
        return comfy_host.node("VAELoader")().load_vae(host_models[vae])[0]
    try:
        return vae()
    except HostLacks as e:
        pytest.skip(f"{row[0].upper()} VAE tests SKIPPED: {e}; detection, injection, sampling and refusal run")


def _trainer(comfy_host, host_models, row, checkpointing, time_index="continuous", loss="x0"):
    from unlock_restore.nodes.training import PromptTrainer
    from unlock_restore.prompt_embeds import ARCHS

    _, build, arch, _, _, _ = row
    vae = _vae(comfy_host, host_models, row)
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 32, 32, 3, generator=g)
    degraded = (0.6 * clean + 0.3 + 0.05 * torch.randn(clean.shape, generator=g)).clamp(0, 1)
    # Continuous timing, as tests/test_training_grad.py explains: the timestep is not a function of P or the gates.
    tr = PromptTrainer(build(), vae, clean, degraded, mode="gated", objective="bridge", t0=0.4, seed=0,
                       node="family-grad", tokens=prompt_shape(arch)[0] if ARCHS[arch].pad_left else 4,
                       gradient_checkpointing=checkpointing, time_index=time_index, loss=loss)
    with torch.inference_mode(False), torch.no_grad():
        g = torch.Generator().manual_seed(11)
        tr.prompt.copy_(0.5 * torch.randn(tr.prompt.shape, generator=g))
        tr.gates.copy_(torch.randn(tr.gates.shape, generator=g))  # zero gates would make dL/dP vanish
    return tr


@pytest.mark.parametrize("loss", ["x0", "velocity"])
@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "checkpointing"])
def test_gradients_match_finite_differences(comfy_host, host_models, row, checkpointing, loss):
    """Both loss weightings (tests/test_bridge.py checks the velocity one is the x0 error over t^2 per sample)."""
    tr = _trainer(comfy_host, host_models, row, checkpointing, loss=loss)
    batch = tr.batch(2, torch.Generator().manual_seed(5))
    if loss == "velocity" and ROWS[row[0]].velocity_t:
        batch = (batch[0], batch[1], torch.tensor(ROWS[row[0]].velocity_t, device=batch[2].device), batch[3])
    g = torch.Generator().manual_seed(3)
    directions = {"P": [torch.randn(tr.prompt.shape, generator=g), torch.zeros_like(tr.gates)]}
    if ROWS[row[0]].p_along_gradient:
        # A random direction in FLUX.2's 512 x 64 P moves this loss by ~3e-5 per unit (x0; 3e-4 velocity), at the
        # edge of float32: a rebuilt v0.20.1 environment (comfy-kitchen 0.2.40) gave 2.8 % / 8 % at a 1e-2 step
        # and no step from 1e-2 to 2e-1 under 2 % for velocity (measured). Along autograd's own gradient, at the
        # same norm, the loss moves ~1000x more and they agree within 0.2 % / 0.8 % (measured).
        directions["P"][0] = prompt_gradient_direction(tr, batch, directions["P"][0])
    start = 0
    for kind, n in tr.info.blocks.items():  # each block kind's gates on their own
        dg = torch.zeros_like(tr.gates)
        dg[start:start + n] = torch.randn(n, generator=g)
        directions[f"{kind} gates"] = [torch.zeros_like(tr.prompt), dg]
        start += n
    for name, direction in directions.items():
        # FLUX.2's single-block gates move this loss by ~1e-4 of itself per unit: at a 1e-2 step the float32
        # difference is rounding noise (3-8 %); at 3e-2..1e-1 it converges on autograd (measured 0.6 %).
        eps = ROWS[row[0]].gate_eps if "gates" in name else 1e-2
        analytic, numeric = directional_check(tr, batch, direction, eps=eps)
        assert abs(numeric) > 1e-6, f"{name}: the loss does not depend on it"
        rel = abs(analytic - numeric) / abs(numeric)
        assert rel < 2e-2, f"{row[0]} {name}: autograd {analytic:.6g} vs finite differences {numeric:.6g} ({rel:.2%})"


def test_a_new_prompt_is_timed_as_its_family(comfy_host, host_models, row):
    """The official time index where the family has official prompts (FLUX.1, Wan), the continuous t elsewhere;
    the file records it, so restoring times the network as training did."""
    from unlock_restore.prompt_embeds import ARCHS

    tr = _trainer(comfy_host, host_models, row, False, time_index=None)
    assert tr.snapshot({}).time_index == ("official" if ARCHS[row[2]].time_grid else "continuous")


def test_apply_and_bridge_sampler_in_sampler_custom_advanced(comfy_host, row):
    """The stock SamplerCustomAdvanced with Bridge Sampler + Bridge Schedule equals bridge.sample_bridge over the
    patched model's own predictions."""
    import comfy.model_management

    from unlock_restore.bridge import sample_bridge

    _, build, arch, width, blocks, _ = row
    node = comfy_host.node
    model, prompt = build(), make_prompt(arch, width, blocks, seed=5)
    patched, cond = node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt, strength=1.0).result
    y_raw = make_latent(arch, seed=3, model=model)
    noise_node = node("RandomNoise")().get_noise(7)[0]
    guider = node("BasicGuider")().get_guider(patched, cond)[0]
    sampler = node("UnlockBridgeSampler").execute().result[0]
    sigmas = node("UnlockBridgeSigmas").execute(model=patched, t0=0.4, steps=3, t_min=1e-4).result[0]
    out = node("SamplerCustomAdvanced")().sample(noise_node, guider, sampler, sigmas, {"samples": y_raw})[0]["samples"]

    comfy.model_management.load_models_gpu([patched])
    base = patched.model
    y = base.process_latent_in(y_raw)
    conds = base.extra_conds(noise=y, device=torch.device("cpu"), cross_attn=cond[0][0], **cond[0][1])
    kw = {k: v.cond for k, v in conds.items()}
    with torch.no_grad():
        ref = base.process_latent_out(sample_bridge(lambda x, t: base.apply_model(
            x, t, transformer_options={"wrappers": patched.wrappers}, **kw), y,
            noise_node.generate_noise({"samples": y_raw}), sigmas))
    assert out.shape == y_raw.shape and torch.isfinite(out).all() and (out - y_raw).abs().mean() > 1e-3
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_restore(comfy_host, host_models, row):
    from unlock_restore.prompt_embeds import ARCHS

    _, build, arch, width, blocks, _ = row
    vae = _vae(comfy_host, host_models, row)
    frames = 5 if ARCHS[arch].video else 2  # a clip of 4k + 1 frames, or two images
    image = torch.rand(frames, 40, 56, 3, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():  # as the host runs a node
        out = comfy_host.node("UnlockRestore").execute(model=build(), vae=vae, restoration_prompt=make_prompt(
            arch, width, blocks, seed=6), image=image, t0=0.4, steps=2, seed=0).result[0]
    assert out.shape == image.shape and torch.isfinite(out).all() and 0 <= float(out.min()) <= float(out.max()) <= 1


def test_a_prompt_of_another_family_is_refused(comfy_host, row):
    from unlock_restore.prompt_embeds import ARCHS

    name, build, arch, width, blocks, _ = row
    model = build()
    for other, other_row in ROWS.items():
        other_arch, other_blocks = other_row.arch, other_row.blocks
        if ARCHS[other_arch].group == ARCHS[arch].group:
            continue
        with pytest.raises(ValueError) as e:
            comfy_host.node("UnlockPromptApply").execute(
                model=model, restoration_prompt=make_prompt(other_arch, width, other_blocks), strength=1.0)
        msg = str(e.value)
        assert msg.startswith("Apply Restoration Prompt: this restoration prompt was made for "), msg
        assert ARCHS[other_arch].label in msg and ARCHS[arch].label in msg, msg
