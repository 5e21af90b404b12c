"""Tier 2 (in-process host): what is Qwen-Image's own beside the family contract (tests/test_families.py): the stock
loader's file is driven at its real width, its text encoder's tokens are recognised, its short empty text is
zero-padded to K, and its images go through Wan 2.1's video VAE one frame each."""
import pytest
import torch

from harness.reference import make_prompt, run_model
from harness.small_models import small_qwen_image

BLOCKS = {"blocks": 2}


def test_the_stock_loaders_file_is_qwen_image_at_its_real_width(comfy_host, host_models):
    """The tiny file (tools/tiny_models.py) through UNET Loader: the real Qwen-Image's width and heads, one block."""
    from unlock_restore.nodes.model_info import model_info
    from unlock_restore.prompt_embeds import ARCHS

    model = comfy_host.node("UNETLoader")().load_unet(host_models["qwen_image"], "default")[0]
    info = model_info(model)
    assert (info.arch, info.width, info.blocks, info.text_width) == ("qwen_image", 3072, {"blocks": 1}, 3584)
    assert ARCHS["qwen_image"].model_for(3072) == "Qwen-Image"


def test_the_hosts_tokenizer_gives_the_token_stream_the_family_expects(comfy_host):
    """Load CLIP (type qwen_image) tokenises with QwenImageTokenizer: its stream is how a connected CLIP is
    recognised as Qwen-Image's (the 7B encoder itself cannot be built small: its vision tower is fixed-size)."""
    import comfy.text_encoders.qwen_image

    from unlock_restore.prompt_embeds import ARCHS

    tokens = comfy.text_encoders.qwen_image.QwenImageTokenizer().tokenize_with_weights("")
    assert (tuple(sorted(tokens)),) == ARCHS["qwen_image"].text_streams


def test_a_short_empty_text_is_zero_padded_to_k(comfy_host):
    """The empty text is 5 tokens; the CONDITIONING carries K rows, the encoding first, then zeros, and the
    prompt's injection leaves the model's own text path (t -> txt_norm -> txt_in) unchanged."""
    model, prompt = small_qwen_image(), make_prompt("qwen_image", 64, BLOCKS, seed=3)
    short = torch.randn(1, 5, 3584, generator=torch.Generator().manual_seed(1))
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt, strength=1.0,
                                                                 conditioning=[[short, {}]]).result
    context = cond[0][0]
    assert context.shape == (1, prompt.tokens, 3584)
    assert torch.equal(context[:, :5], short) and not context[:, 5:].any()
    assert set(cond[0][1]) == set(), "Qwen-Image takes no pooled vector, guidance or mask from the pack"
    x = torch.randn(1, 16, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    assert (run_model(patched, cond, x) - run_model(model, cond, x)).abs().max() > 1e-3


def test_restore_encodes_each_image_as_its_own_frame(comfy_host, host_models):
    """Wan 2.1's VAE reads a batch as one clip's frames; Restore encodes each image alone, so an image's result
    does not depend on the others in its batch."""
    vae = comfy_host.node("VAELoader")().load_vae(host_models["wan21_vae"])[0]
    images = torch.rand(3, 32, 48, 3, generator=torch.Generator().manual_seed(4))
    prompt = make_prompt("qwen_image", 64, BLOCKS, seed=6)

    def restore(batch):
        with torch.inference_mode():
            return comfy_host.node("UnlockRestore").execute(model=small_qwen_image(), vae=vae,
                                                            restoration_prompt=prompt, image=batch, t0=0.4, steps=2,
                                                            seed=0).result[0]

    together, first = restore(images), restore(images[:1])
    assert together.shape == images.shape and torch.isfinite(together).all()
    torch.testing.assert_close(together[:1], first, atol=1e-5, rtol=1e-5)
    assert (together[1] - together[2]).abs().mean() > 1e-3


def test_an_image_vae_is_refused_with_the_vae_to_load(comfy_host, host_models):
    vae = comfy_host.node("VAELoader")().load_vae(host_models["taesd_flux"])[0]
    with pytest.raises(ValueError, match=r"^Restore \(Bridge\): the connected VAE \(an image VAE, 16 latent channels\)"
                                         r" does not match the Qwen-Image model .* Load the Qwen-Image VAE"):
        with torch.inference_mode():
            comfy_host.node("UnlockRestore").execute(model=small_qwen_image(), vae=vae,
                                                     restoration_prompt=make_prompt("qwen_image", 64, BLOCKS),
                                                     image=torch.rand(1, 32, 32, 3), t0=0.4, steps=2, seed=0)
