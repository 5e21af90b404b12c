"""Tier 2 (in-process host, v0.20.1): what is FLUX.2's own beside the family contract (tests/test_families.py):
its text is left-padded by the model to 512 rows and its width is the model's, not the family's."""
import pytest
import torch

from harness.reference import SMALL_FLUX2_TEXT, make_prompt, run_model
from harness.small_models import small_flux2, small_klein_clip, small_taef2

BLOCKS = {"double": 2, "single": 2}


@pytest.fixture
def flux2(comfy_host):
    import comfy.model_base

    if not hasattr(comfy.model_base, "Flux2"):
        pytest.skip("FLUX.2 SKIPPED: this host (ComfyUI < 0.8) has no comfy.model_base.Flux2; runs on v0.20.1")
    return small_flux2(depth=2, single=2)


def test_a_short_encoding_is_fitted_exactly_as_the_model_pads_it(comfy_host, flux2):
    """A 70-row empty-text encoding (FLUX.2 dev's length; the model pads it to 512 with zeros in front) gives the
    same CONDITIONING rows the model reads, and the same prediction, as the model's own padding."""
    short = torch.randn(1, 70, SMALL_FLUX2_TEXT, generator=torch.Generator().manual_seed(1))
    patched, cond = comfy_host.node("UnlockPromptApply").execute(
        model=flux2, restoration_prompt=make_prompt("flux2", 64, BLOCKS, seed=3), strength=1.0,
        conditioning=[[short, {}]]).result
    ours = cond[0][0]
    assert ours.shape == (1, 512, SMALL_FLUX2_TEXT)
    assert torch.equal(ours[:, 442:], short) and not ours[:, :442].any()
    padded_by_host = flux2.model.extra_conds(noise=torch.zeros(1, 128, 8, 8), cross_attn=short)["c_crossattn"].cond
    assert torch.equal(padded_by_host, ours)
    x = torch.randn(1, 128, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(run_model(patched, cond, x), run_model(patched, [[short, cond[0][1]]], x))


def test_a_prompt_for_another_text_width_is_refused(comfy_host, flux2):
    """klein 4B, klein 9B and dev read 7680, 12288 and 15360-wide text: a prompt carries its model's."""
    from unlock_restore.prompt_embeds import RestorationPrompt

    p = make_prompt("flux2", 64, BLOCKS)
    other = RestorationPrompt(**{**p.__dict__, "null_context": torch.zeros(512, SMALL_FLUX2_TEXT + 32)})
    with pytest.raises(ValueError, match=rf"^Apply Restoration Prompt: this restoration prompt was made with a "
                                         rf"{SMALL_FLUX2_TEXT + 32}-wide text encoding, but the connected FLUX.2 "
                                         rf"model reads {SMALL_FLUX2_TEXT}-wide text"):
        comfy_host.node("UnlockPromptApply").execute(model=flux2, restoration_prompt=other, strength=1.0)
    with pytest.raises(ValueError, match=rf"encodes text {SMALL_FLUX2_TEXT + 32} wide, but this FLUX.2 model "
                                         rf"reads {SMALL_FLUX2_TEXT}-wide text"):
        comfy_host.node("UnlockPromptApply").execute(model=flux2, restoration_prompt=p, strength=1.0,
                                                     conditioning=[[torch.zeros(1, 70, SMALL_FLUX2_TEXT + 32), {}]])


def test_train_keeps_k_at_512(comfy_host, flux2):
    from unlock_restore.nodes.training import PromptTrainer

    img = torch.rand(2, 32, 32, 3)
    with pytest.raises(ValueError, match=r"FLUX.2 always reads exactly 512 text tokens .* not 16\. Set tokens to 0"):
        PromptTrainer(flux2, small_taef2(), img, img, mode="gated", objective="bridge", t0=0.4, seed=0,
                      node="Train Restoration Prompt", tokens=16)
    tr = PromptTrainer(flux2, small_taef2(), img, img, mode="gated", objective="bridge", t0=0.4, seed=0,
                       node="Train Restoration Prompt")
    prompt = tr.snapshot({})
    assert prompt.prompt.shape == (512, 64) and prompt.null_context.shape == (512, SMALL_FLUX2_TEXT)
    assert prompt.time_index == "continuous" and prompt.pooled is None


def test_the_null_context_from_the_flux2_text_encoder(comfy_host, flux2, tiny_models):
    """Load CLIP (type flux2)'s klein encoder, small: Apply and Train encode the empty text with it (the host's
    template and 512-token padding), and FLUX.1's pair on a FLUX.2 prompt is refused by name."""
    from unlock_restore.nodes.training import PromptTrainer

    from harness.host import load_tool

    clip = small_klein_clip()
    own = clip.encode_from_tokens(clip.tokenize(""), return_dict=True)["cond"]
    assert own.shape == (1, 512, SMALL_FLUX2_TEXT)
    prompt = make_prompt("flux2", 64, BLOCKS)
    _, cond = comfy_host.node("UnlockPromptApply").execute(model=flux2, restoration_prompt=prompt, strength=1.0,
                                                           clip=clip).result
    assert torch.equal(cond[0][0], own.float()) and not torch.equal(cond[0][0][0], prompt.null_context)
    img = torch.rand(2, 32, 32, 3)
    tr = PromptTrainer(flux2, small_taef2(), img, img, mode="gated", objective="bridge", t0=0.4, seed=0,
                       node="Train Restoration Prompt", clip=clip)
    assert torch.equal(tr.snapshot({}).null_context, own[0].float())
    pair = load_tool("tiny_models").standin_clip([tiny_models["clip_l_tiny"], tiny_models["t5xxl_tiny"]])
    with pytest.raises(ValueError, match=r"the connected CLIP is not FLUX.2's text encoder \(its tokenizer gives l, "
                                         r"t5xxl token streams, FLUX.2's gives qwen3_4b or qwen3_8b or mistral3_24b\)"):
        comfy_host.node("UnlockPromptApply").execute(model=flux2, restoration_prompt=prompt, strength=1.0, clip=pair)
