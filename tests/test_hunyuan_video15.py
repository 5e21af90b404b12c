"""Tier 2 (in-process host): what is HunyuanVideo 1.5's own beside the family contract (tests/test_families.py): the
host's own model detection of the real layout is driven, HunyuanVideo 1.0 and the 1.5 super-resolution model are
refused by name, the prompt lands on the LLM rows behind the byT5 glyph and vision tokens the model puts in front
(and leaves those alone), a text encoding of another length stops with a clear error, a step-distilled (mean-flow)
model trains with its one-step x0, and the host's tokenizer gives the stream and length the family expects."""
import types

import pytest
import torch

from harness.gradcheck import trainer_loss
from harness.reference import make_latent, make_prompt, reference_model, run_model
from harness.small_models import small_hunyuan_video15, small_taehv, stock_detected

BLOCKS = {"double": 2}


@pytest.fixture
def hv_host(comfy_host):
    import comfy.model_base

    if not hasattr(comfy.model_base, "HunyuanVideo15"):
        pytest.skip("HUNYUANVIDEO 1.5 SKIPPED: this host has no comfy.model_base.HunyuanVideo15 (ComfyUI v0.3.64 "
                    "predates it)")
    return comfy_host


def _stock_detected(config: dict):
    """The host's own detection of a HunyuanVideo state dict with `config` (meta device, no weights)."""
    import comfy.ldm.hunyuan_video.model

    return stock_detected(comfy.ldm.hunyuan_video.model.HunyuanVideo, config)


# HunyuanVideo 1.5 (480p / 720p T2V and I2V), its super-resolution model and HunyuanVideo 1.0 as their released
# files hold them (the fields comfy/model_detection.py reads).
HV15 = dict(in_channels=65, out_channels=32, patch_size=[1, 1, 1], vec_in_dim=None, context_in_dim=3584,
            hidden_size=2048, mlp_ratio=4.0, num_heads=16, depth=54, depth_single_blocks=0, axes_dim=[16, 56, 56],
            theta=256, qkv_bias=True, guidance_embed=False, byt5=True, meanflow=False, use_cond_type_embedding=True,
            vision_in_dim=1152, meanflow_sum=True)
HV15_SR = {**HV15, "in_channels": 98}
HV10 = dict(in_channels=16, out_channels=16, patch_size=[1, 2, 2], vec_in_dim=768, context_in_dim=4096,
            hidden_size=3072, mlp_ratio=4.0, num_heads=24, depth=20, depth_single_blocks=40, axes_dim=[16, 56, 56],
            theta=256, qkv_bias=True, guidance_embed=True, byt5=False, meanflow=False, use_cond_type_embedding=False,
            vision_in_dim=None, meanflow_sum=False)


def test_the_hosts_detection_of_hunyuan_video_15_is_driven_at_its_real_layout(hv_host):
    from unlock_restore.nodes.model_info import model_info
    from unlock_restore.prompt_embeds import ARCHS

    info = model_info(_stock_detected(HV15))
    assert (info.arch, info.width, info.blocks, info.text_width) == ("hunyuan_video15", 2048, {"double": 54}, 3584)
    assert ARCHS["hunyuan_video15"].model_for(2048, {"double": 54}) == "HunyuanVideo-1.5"


@pytest.mark.parametrize("config,name", [(HV15_SR, "HunyuanVideo15_SR_Distilled"), (HV10, "HunyuanVideo")],
                         ids=["1.5 super-resolution", "1.0"])
def test_the_other_hunyuan_video_models_are_refused_by_name(hv_host, config, name):
    from unlock_restore.nodes.model_info import model_info

    info = model_info(_stock_detected(config))
    assert info.arch is None and info.family is None
    assert info.label.endswith(f"({name}, hunyuan_video), a family unlock-restore does not support"), info.label


def _prefixed(cond, byt5_rows: int, vision_rows: int):
    """The pack's CONDITIONING with byT5 glyph tokens (quoted text in a prompt) and an image-to-video image's CLIP
    vision tokens added, as the host's text encoder and HunyuanVideo15ImageToVideo add them."""
    g = torch.Generator().manual_seed(9)
    extra = dict(cond[0][1], conditioning_byt5small=torch.randn(1, byt5_rows, 1472, generator=g),
                 clip_vision_output=types.SimpleNamespace(last_hidden_state=torch.randn(1, vision_rows, 1152,
                                                                                        generator=g)))
    return [[cond[0][0], extra]]


def test_the_prompt_lands_on_the_llm_rows_behind_glyph_and_vision_tokens(hv_host):
    """The text stream is [4 vision, 3 byT5, K = 8 LLM] rows: the patched model equals the reference's rule (last K
    rows) and, of the first block's text qkv, only those last 8 rows move."""
    model = small_hunyuan_video15()
    prompt = make_prompt("hunyuan_video15", 64, BLOCKS, seed=2)
    x = make_latent("hunyuan_video15", model=model)
    seen = []
    # The patched copy shares the original's hook dict, so one hook sees both runs.
    qkv = model.get_model_object("diffusion_model.double_blocks.0.txt_attn.qkv")
    hook = qkv.register_forward_hook(lambda mod, args, out: seen.append(out.clone()))
    try:
        patched, cond = hv_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                  strength=1.0).result
        cond = _prefixed(cond, byt5_rows=3, vision_rows=4)
        run_model(model, cond, x)
        ours = run_model(patched, cond, x)
    finally:
        hook.remove()
    clean, prompted = seen
    assert clean.shape[1] == 4 + 3 + 8
    torch.testing.assert_close(prompted[:, :7], clean[:, :7])
    assert (prompted[:, 7:] - clean[:, 7:]).abs().max() > 1e-3
    reference = reference_model(model, prompt, rule="last_k_text_qkv")
    torch.testing.assert_close(ours, run_model(reference, cond, x), atol=2e-5, rtol=1e-4)


def test_a_text_encoding_of_another_length_is_refused(hv_host):
    model = small_hunyuan_video15()
    prompt = make_prompt("hunyuan_video15", 64, BLOCKS, seed=2)
    patched, cond = hv_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                              strength=1.0).result
    longer = [[torch.cat([cond[0][0], cond[0][0][:, :3]], dim=1), cond[0][1]]]
    with pytest.raises(ValueError) as e:
        run_model(patched, longer, make_latent("hunyuan_video15", model=model))
    msg = str(e.value)
    assert msg.startswith("Apply Restoration Prompt: the model received 11 text tokens but the restoration prompt "
                          "has K=8"), msg
    assert "HunyuanVideo 1.5 text input" in msg, msg


def test_a_step_distilled_model_trains_with_its_one_step_x0(hv_host):
    """Mean-flow models (time_r_in) read the sampler's sigmas and schedule to embed a second time r, the end of the
    step; the trainer's x0_hat is the one-step estimate, so it gives the schedule [t, 0] and r = 0 (before, the
    host's lookup of transformer_options['sigmas'] failed with a KeyError)."""
    import comfy.ldm.flux.layers

    from unlock_restore.nodes.training import PromptTrainer

    g = torch.Generator().manual_seed(0)
    clean = torch.rand(5, 32, 32, 3, generator=g)
    tr = PromptTrainer(small_hunyuan_video15(meanflow=True), small_taehv(32), clean, 0.5 * clean, mode="gated",
                       objective="bridge", t0=0.4, seed=0, node="hv-meanflow", tokens=8,
                       gradient_checkpointing=False, time_index="continuous")
    seen = []
    hook = tr.base.diffusion_model.time_r_in.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    try:
        with torch.inference_mode(False):
            loss = trainer_loss(tr, tr.batch(2, torch.Generator().manual_seed(5)))
            loss.backward()
    finally:
        hook.remove()
    assert torch.isfinite(loss) and tr.gates.grad.abs().max() > 0  # zero gates at the start: dL/dP is 0 there
    r0 = comfy.ldm.flux.layers.timestep_embedding(torch.zeros(1), 256, time_factor=1000.0)
    assert len(seen) == 1
    torch.testing.assert_close(seen[0], r0.to(seen[0]))


def test_the_hosts_tokenizer_gives_the_token_stream_the_family_expects(hv_host):
    """DualCLIPLoader (type hunyuan_video_15) tokenises with HunyuanVideo15Tokenizer: one qwen25_7b stream for the
    empty text (byT5 only for quoted text), and the rows its encoder keeps (after the template's "<|im_start|>user\\n",
    comfy/text_encoders/qwen_image.py) fit in K."""
    import comfy.text_encoders.hunyuan_video

    from unlock_restore.prompt_embeds import ARCHS

    tokens = comfy.text_encoders.hunyuan_video.HunyuanVideo15Tokenizer().tokenize_with_weights("")
    assert (tuple(sorted(tokens)),) == ARCHS["hunyuan_video15"].text_streams
    ids = [int(t[0]) for t in tokens["qwen25_7b"][0]]
    user = [i for i, t in enumerate(ids) if t == 151644][1]  # the second <|im_start|>
    assert ids[user + 1:user + 3] == [872, 198]  # "user", "\n"
    kept = ids[user + 3:]  # " " (the tokenizer's stand-in for empty text), <|im_end|>, "\n", <|im_start|>, ...
    assert len(kept) == 6 < ARCHS["hunyuan_video15"].tokens, kept


HUNYUAN_IMAGE_TOKENIZER = "comfy.text_encoders.hunyuan_image.HunyuanImageTokenizer"  # derives from Qwen-Image's


@pytest.mark.parametrize("mine,theirs", [("hunyuan_video15", "qwen_image"), ("qwen_image", "hunyuan_video15"),
                                         ("qwen_image", HUNYUAN_IMAGE_TOKENIZER)])
def test_the_other_familys_qwen_encoder_is_refused_by_name(hv_host, mine, theirs):
    """Qwen-Image's and HunyuanVideo 1.5's text encoders load the same Qwen2.5-VL-7B file and give the same token
    stream, but encode other templates (and layers): the tokenizer class the host loads each with tells them apart
    (exactly: HunyuanVideo 1.5's and HunyuanImage 2.1's derive from Qwen-Image's). A real CLIP (a small one) with
    another family's real tokenizer is refused before anything is encoded."""
    import importlib

    from harness.small_models import small_klein_clip, small_qwen_image
    from unlock_restore.prompt_embeds import ARCHS

    def resolve(path):
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)  # the names resolve to the host's own classes

    tokenizer = resolve(ARCHS[theirs].tokenizer if theirs in ARCHS else theirs)
    clip = small_klein_clip()
    clip.tokenizer = tokenizer()
    model = small_hunyuan_video15() if mine == "hunyuan_video15" else small_qwen_image()
    blocks = BLOCKS if mine == "hunyuan_video15" else {"blocks": 2}
    with pytest.raises(ValueError) as e:
        hv_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=make_prompt(mine, 64, blocks),
                                                  strength=1.0, clip=clip)
    msg = str(e.value)
    whose = f"{ARCHS[theirs].label}'s encoder" if theirs in ARCHS else "another model's encoder"
    assert msg.startswith(f"Apply Restoration Prompt: the connected CLIP is {whose} (it tokenizes with "
                          f"{tokenizer.__name__}), not {ARCHS[mine].label}'s"), msg
    assert msg.endswith(f"Connect {ARCHS[mine].encoder}."), msg
