"""Tier 2 (in-process host): what is Z-Image's own beside the family contract (tests/test_families.py): the host's
own model detection of the real Z-Image layout is driven, Lumina Image 2.0 (the same class) is refused by name, the
caption rows past K are left alone, and gradient checkpointing (an object patch per layer: the host's layer loop has
no patches_replace entry) really recomputes each layer in backward and changes no gradient."""
import pytest
import torch

from harness.gradcheck import trainer_loss
from harness.reference import make_prompt, run_model
from harness.small_models import small_z_image, stock_detected

BLOCKS = {"layers": 2}


@pytest.fixture
def z_host(comfy_host):
    import comfy.supported_models

    if not hasattr(comfy.supported_models, "ZImage"):
        pytest.skip("Z-IMAGE SKIPPED: this host has no comfy.supported_models.ZImage (ComfyUI v0.3.64 predates it)")
    return comfy_host


def _stock_detected(config: dict):
    """The host's own detection of a NextDiT state dict with `config` (meta device, no weights)."""
    import comfy.ldm.lumina.model

    return stock_detected(comfy.ldm.lumina.model.NextDiT, config)


# Z-Image Turbo's and Lumina Image 2.0's diffusion models as their released files hold them.
Z_IMAGE_TURBO = dict(patch_size=2, in_channels=16, dim=3840, cap_feat_dim=2560, n_layers=30, qk_norm=True, n_heads=30,
                     n_kv_heads=30, axes_dims=[32, 48, 48], axes_lens=[1536, 512, 512], rope_theta=256.0,
                     ffn_dim_multiplier=8.0 / 3.0, z_image_modulation=True, time_scale=1000.0, pad_tokens_multiple=32)
LUMINA_2 = dict(patch_size=2, in_channels=16, dim=2304, cap_feat_dim=2304, n_layers=26, qk_norm=True, n_heads=24,
                n_kv_heads=8, axes_dims=[32, 32, 32], axes_lens=[300, 512, 512], ffn_dim_multiplier=4.0)


def test_the_hosts_detection_of_z_image_turbo_is_driven_at_its_real_layout(z_host):
    from unlock_restore.nodes.model_info import model_info
    from unlock_restore.prompt_embeds import ARCHS

    info = model_info(_stock_detected(Z_IMAGE_TURBO))
    assert (info.arch, info.width, info.blocks, info.text_width) == ("z_image", 3840, {"layers": 30}, 2560)
    assert ARCHS["z_image"].model_for(3840, {"layers": 30}) == "Z-Image"


def test_lumina_image_2_shares_the_class_and_is_refused_by_name(comfy_host):
    """Lumina Image 2.0 (Gemma-2 text, width 2304) loads as the same comfy.model_base.Lumina2: not this family."""
    from unlock_restore.nodes.model_info import model_info

    info = model_info(_stock_detected(LUMINA_2))
    assert info.arch is None and info.family is None
    assert info.label.startswith("Lumina Image 2.0 (Lumina2, lumina2), a family unlock-restore does not support"), \
        info.label


def test_caption_rows_past_k_are_left_alone(z_host):
    """K = 8 text rows, which the model pads to 32 with its own token: of each layer's qkv projection only the first 8
    rows move (a row-wise map of its input; the reference in tests/test_families.py checks the values)."""
    model = small_z_image()
    prompt = make_prompt("z_image", 256, BLOCKS, seed=2)
    seen = []
    # The patched copy shares the original's hook dict, so one hook sees both runs.
    qkv = model.get_model_object("diffusion_model.layers.0.attention.qkv")
    hook = qkv.register_forward_hook(lambda mod, args, out: seen.append(out.clone()))
    x = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(1))
    try:
        patched, cond = z_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                 strength=1.0).result
        run_model(model, cond, x)
        run_model(patched, cond, x)
    finally:
        hook.remove()
    clean, prompted = seen
    assert clean.shape[1] == 32 + 32  # caption 8 -> 32 rows, 16 image tokens -> 32
    assert (prompted[:, :8] - clean[:, :8]).abs().max() > 1e-3
    torch.testing.assert_close(prompted[:, 8:], clean[:, 8:])


def _trainer(z_host, host_models, checkpointing):
    from unlock_restore.nodes.training import PromptTrainer

    vae = z_host.node("VAELoader")().load_vae(host_models["taesd_flux"])[0]
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 32, 32, 3, generator=g)
    degraded = (0.6 * clean + 0.3).clamp(0, 1)
    tr = PromptTrainer(small_z_image(), vae, clean, degraded, mode="gated", objective="bridge", t0=0.4, seed=0,
                       node="z-checkpointing", tokens=8, gradient_checkpointing=checkpointing,
                       time_index="continuous")
    with torch.inference_mode(False), torch.no_grad():
        g = torch.Generator().manual_seed(11)
        tr.prompt.copy_(0.5 * torch.randn(tr.prompt.shape, generator=g))
        tr.gates.copy_(torch.randn(tr.gates.shape, generator=g))
    return tr


def test_gradient_checkpointing_recomputes_each_layer_and_changes_no_gradient(z_host, host_models):
    import comfy.ldm.lumina.model

    block = comfy.ldm.lumina.model.JointTransformerBlock
    calls = []
    original = block.forward

    def counted(self, *args, **kwargs):
        calls.append(self.layer_id)
        return original(self, *args, **kwargs)

    grads = {}
    block.forward = counted
    try:
        for checkpointing in (False, True):
            tr = _trainer(z_host, host_models, checkpointing)
            batch = tr.batch(2, torch.Generator().manual_seed(5))
            calls.clear()
            with torch.inference_mode(False):
                trainer_loss(tr, batch).backward()
            # 2 noise- and 2 context-refiner layers and the 2 joint layers run once forward; with checkpointing
            # the joint layers run again in backward.
            assert len(calls) == (6 if not checkpointing else 8), (checkpointing, calls)
            grads[checkpointing] = [t.grad.clone() for t in tr.trainables]
    finally:
        block.forward = original
    for plain, ckpt in zip(grads[False], grads[True]):
        assert plain.abs().max() > 0
        torch.testing.assert_close(ckpt, plain, atol=1e-6, rtol=1e-5)


def test_the_hosts_tokenizer_gives_the_token_stream_the_family_expects(z_host):
    """Load CLIP (type lumina2) with Qwen3-4B tokenises with ZImageTokenizer: its stream is how a connected CLIP is
    recognised as Z-Image's, and the empty text with its chat template (8 tokens) fits in K."""
    import comfy.text_encoders.z_image

    from unlock_restore.prompt_embeds import ARCHS

    tokens = comfy.text_encoders.z_image.ZImageTokenizer().tokenize_with_weights("")
    assert (tuple(sorted(tokens)),) == ARCHS["z_image"].text_streams
    assert len(tokens["qwen3_4b"][0]) == 8 < ARCHS["z_image"].tokens


def test_hosts_that_fuse_qkv_still_call_the_prompted_projection(z_host, monkeypatch):
    """Late-2026 hosts compute an INT8 layer's qkv in a fused kernel unless the Linear has comfy_force_cast_weights
    (read in their comfy/ldm/lumina/model.py, not run here): where the host has that fusion, the patched qkv
    carries the flag; where it does not (v0.20.1), the module is left as the host made it."""
    import comfy.ldm.lumina.model

    from unlock_restore.nodes.injection import PromptState
    from unlock_restore.nodes.families import family

    def patched_qkv():
        model = small_z_image()
        state = PromptState([(torch.zeros(8, 256), torch.zeros(2))], 1.0, "test")
        return family("z_image").object_patches(model, state, BLOCKS)["diffusion_model.layers.1.attention.qkv"]

    fuses = hasattr(comfy.ldm.lumina.model, "_fused_rms_modulated_linear")
    assert ("comfy_force_cast_weights" in patched_qkv().__dict__) == fuses
    monkeypatch.setattr(comfy.ldm.lumina.model, "_fused_rms_modulated_linear", lambda *a: None, raising=False)
    assert patched_qkv().__dict__["comfy_force_cast_weights"] is True


def test_flux2_kleins_encoder_of_the_same_file_is_refused_by_name(z_host):
    """FLUX.2 klein 4B's text encoder loads the same qwen_3_4b file and gives the same qwen3_4b token stream, but
    with its own chat template, 512-token padding and three layers concatenated: a real CLIP built as Load CLIP
    (type flux2) builds it (small) is refused on a Z-Image prompt before anything is encoded, naming the loader."""
    from harness.small_models import small_klein_clip
    from unlock_restore.prompt_embeds import ARCHS

    with pytest.raises(ValueError) as e:
        z_host.node("UnlockPromptApply").execute(model=small_z_image(), restoration_prompt=make_prompt(
            "z_image", 256, BLOCKS), strength=1.0, clip=small_klein_clip())
    msg = str(e.value)
    assert msg.startswith("Apply Restoration Prompt: the connected CLIP is another model's encoder (it tokenizes "
                          "with KleinTokenizer), not Z-Image's (ZImageTokenizer)"), msg
    assert msg.endswith(f"Connect {ARCHS['z_image'].encoder}."), msg
