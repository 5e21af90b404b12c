"""Tier 2 (in-process host): the null context encoded from a CLIP input, through the host's own text encoders.

The CLIPs come from the tiny stand-ins of tools/tiny_models.py (`standin_clip`): FLUX's t5xxl + clip_l pair
through the host's `comfy.sd.load_clip` (DualCLIPLoader's call; the host's T5 at one layer through its own
`t5xxl_model_config` option; the real tokenizers), and Wan's umT5 built in-process as that loader builds it (the
host's class and tokenizer, small, with a small SentencePiece model in the file as the real one ships). The official FLUX null context is T5("") over 512 tokens
with no attention mask; ComfyUI's way to get it is T5TokenizerOptions(min_length=512) + CLIP Text Encode("").
"""
from __future__ import annotations

import logging

import pytest
import torch

from harness.host import load_tool
from harness.reference import make_prompt
from harness.workflows import write_official_flux


@pytest.fixture(scope="module")
def flux_clip(comfy_host, tiny_models):
    return load_tool("tiny_models").standin_clip([tiny_models["clip_l_tiny"], tiny_models["t5xxl_tiny"]])


@pytest.fixture(scope="module")
def wan_clip(comfy_host, tiny_models):
    return load_tool("tiny_models").standin_clip([tiny_models["umt5xxl_tiny"]])


def _official_encoding(comfy_host, clip, tokens: int):
    """What a user gets with core nodes: T5TokenizerOptions(min_length=tokens) -> CLIP Text Encode("")."""
    clip_k = comfy_host.node("T5TokenizerOptions").execute(clip, min_padding=0, min_length=tokens).result[0]
    return comfy_host.node("CLIPTextEncode")().encode(clip_k, "")[0]


def _null(comfy_host, clip, k, arch="flux"):
    from unlock_restore.nodes.conditioning import clip_null_context

    return clip_null_context("Test", clip, k, arch)


@pytest.mark.parametrize("k", [512, 64])
def test_flux_null_context_from_clip_is_t5_over_exactly_k_tokens(comfy_host, flux_clip, k):
    ctx, pooled = _null(comfy_host, flux_clip, k)
    ref = _official_encoding(comfy_host, flux_clip, k)
    assert tuple(ctx.shape) == (k, 4096) and tuple(pooled.shape) == (768,)
    assert torch.equal(ctx, ref[0][0][0].float().cpu())
    assert torch.equal(pooled, ref[0][1]["pooled_output"][0].float().cpu())


def test_default_encoding_is_not_the_official_one(comfy_host, flux_clip):
    """ComfyUI's default pads T5 to 256 tokens, unmasked: its rows are not the first 256 official rows, and the
    old fill (repeat the last row up to 512) is an approximation everywhere. This is what length_note reports."""
    from unlock_restore.nodes.conditioning import fit_tokens, length_note

    exact, _ = _null(comfy_host, flux_clip, 512)
    default = comfy_host.node("CLIPTextEncode")().encode(flux_clip, "")[0][0][0].float()
    assert default.shape[1] == 256
    padded = fit_tokens(default, 512, "flux")[0]
    rel_kept = float((padded[:256] - exact[:256]).norm() / exact[:256].norm())
    rel_fill = float((padded[256:] - exact[256:]).norm() / exact[256:].norm())
    logging.getLogger("unlock_restore").info("256-token encoding vs official: kept rows %.3g, filled rows %.3g",
                                             rel_kept, rel_fill)
    assert rel_kept > 1e-4 and rel_fill > 1e-4
    note = length_note("Apply Restoration Prompt", 256, 512, "flux")
    assert "256 text tokens but this prompt uses 512" in note and "clip input" in note
    assert length_note("X", 512, 512, "flux") is None and length_note("X", 512, 226, "wan21") is None


def test_apply_encodes_the_empty_text_from_clip(comfy_host, flux_clip, caplog):
    from harness.small_models import small_flux

    k = 512
    prompt = make_prompt("flux", 64, {"double": 2, "single": 2})
    prompt.prompt = torch.zeros(k, 64)  # a prompt of K = 512 tokens, like the official ones
    prompt.null_context = None
    apply = comfy_host.node("UnlockPromptApply")
    model = small_flux()
    _, cond = apply.execute(model=model, restoration_prompt=prompt, strength=1.0, clip=flux_clip).result
    exact, pooled = _null(comfy_host, flux_clip, k)
    assert torch.equal(cond[0][0][0], exact) and torch.equal(cond[0][1]["pooled_output"][0], pooled)
    # The same through a CONDITIONING of exactly 512 tokens: exact, and nothing to warn about ...
    with caplog.at_level(logging.WARNING, logger="unlock_restore"):
        _, same = apply.execute(model=model, restoration_prompt=prompt, strength=1.0,
                                conditioning=_official_encoding(comfy_host, flux_clip, k)).result
    assert torch.equal(same[0][0], cond[0][0]) and not caplog.records
    # ... while ComfyUI's default 256 says what differs and what to connect instead.
    with caplog.at_level(logging.WARNING, logger="unlock_restore"):
        apply.execute(model=model, restoration_prompt=prompt, strength=1.0,
                      conditioning=comfy_host.node("CLIPTextEncode")().encode(flux_clip, "")[0])
    assert any("256 text tokens but this prompt uses 512" in r.getMessage() for r in caplog.records)


def test_wan_null_context_from_clip_is_umt5_cut_to_k(comfy_host, wan_clip):
    """Wan: umT5 masks and zeroes its padding, so ComfyUI's 512-token encoding cut to K is the official one."""
    ctx, pooled = _null(comfy_host, wan_clip, 226, "wan21")
    full = comfy_host.node("CLIPTextEncode")().encode(wan_clip, "")[0][0][0].float()
    assert pooled is None and tuple(ctx.shape) == (226, 4096) and full.shape[1] == 512
    assert torch.equal(ctx, full[0, :226]) and not full[0, 1:].any() and ctx[0].abs().sum() > 0


def test_a_clip_of_another_family_is_refused(comfy_host, flux_clip, wan_clip):
    from harness.small_models import small_wan

    prompt = make_prompt("wan21", 64, {"blocks": 2})
    wan_message = (r"Apply Restoration Prompt: the connected CLIP is not Wan 2\.1's text encoder .* l, t5xxl .* "
                   r"umt5xxl\)\. Connect umt5_xxl \(Load CLIP, type wan\)")
    with pytest.raises(ValueError, match=wan_message):
        comfy_host.node("UnlockPromptApply").execute(model=small_wan(), restoration_prompt=prompt, strength=1.0,
                                                     clip=flux_clip)
    from harness.small_models import small_flux

    flux = make_prompt("flux", 64, {"double": 2, "single": 2})
    with pytest.raises(ValueError, match=r"the connected CLIP is not FLUX's text encoder .* umt5xxl token streams, "
                                         r"FLUX's gives l, t5xxl\)\. Connect t5xxl \+ clip_l \(DualCLIPLoader"):
        comfy_host.node("UnlockPromptApply").execute(model=small_flux(), restoration_prompt=flux, strength=1.0,
                                                     clip=wan_clip)


def test_import_stores_the_exact_null_context(comfy_host, flux_clip):
    from unlock_restore.prompt_embeds import load_official, load_prompt

    folder = comfy_host.base / "models" / "prompt_embeds_official"
    folder.mkdir(parents=True, exist_ok=True)
    write_official_flux(folder / "flux_nulltest.pt", seed=5)
    node = comfy_host.node("UnlockPromptImport")
    out = node.execute(official_file="flux_nulltest.pt", save_name="nulltest_clip", overwrite=True, clip=flux_clip)
    saved = load_prompt(comfy_host.base / "models" / "prompt_embeds" / "nulltest_clip.safetensors")
    exact, pooled = _null(comfy_host, flux_clip, 512)
    assert torch.equal(saved.null_context, exact) and torch.equal(saved.pooled, pooled)
    ref = load_official(folder / "flux_nulltest.pt", warn_missing=False)
    assert torch.equal(saved.prompt, ref.prompt) and torch.equal(saved.gates, ref.gates)
    assert saved.time_index == "official" and "exact" in saved.provenance["null_context"]
    assert "null context present" in out.ui.as_dict()["text"][0]
    # Through ComfyUI's default 256-token CONDITIONING: stored, marked approximate, and the node says why.
    out = node.execute(official_file="flux_nulltest.pt", save_name="nulltest_cond", overwrite=True,
                       conditioning=comfy_host.node("CLIPTextEncode")().encode(flux_clip, "")[0])
    approx = load_prompt(comfy_host.base / "models" / "prompt_embeds" / "nulltest_cond.safetensors")
    assert approx.provenance["null_context"] == "connected CONDITIONING, approximate"
    assert not torch.equal(approx.null_context, exact)
    text = out.ui.as_dict()["text"][0]
    assert "256 text tokens but this prompt uses 512" in text and "clip input" in text, text


def test_train_stores_the_null_context_from_clip(comfy_host, flux_clip, host_models):
    from unlock_restore.nodes.training import PromptTrainer

    from harness.small_models import small_flux

    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models["taesd_flux"])
    images = torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    trainer = PromptTrainer(small_flux(), vae, images, images.flip(1), mode="gated", objective="bridge", t0=0.4,
                            seed=0, node="Train", tokens=64, clip=flux_clip)
    snap = trainer.snapshot({})
    exact, pooled = _null(comfy_host, flux_clip, 64)
    assert torch.equal(snap.null_context, exact) and torch.equal(snap.pooled, pooled)
    assert "CLIP" in snap.provenance["training"]["null_context"]


def test_tiny_text_encoders_keep_the_widths_the_models_read(tiny_models):
    """The stand-ins override depth and inner sizes only: the context width (4096) and CLIP-L (real size, pooled
    768) are what FLUX and Wan read."""
    meta = load_tool("tiny_models").te_model_options([tiny_models[n] for n in
                                                      ("t5xxl_tiny", "clip_l_tiny", "umt5xxl_tiny")])
    assert set(meta) == {"t5xxl_model_config", "umt5xxl_model_config"}
    assert not {"d_model", "model_type"} & (set(meta["t5xxl_model_config"]) | set(meta["umt5xxl_model_config"]))


@pytest.fixture(scope="module")
def chroma_clip(comfy_host, tiny_models):
    """Load CLIP (type chroma)'s text encoder on the T5-XXL stand-in: the host's PixArt-style T5, unpadded, no pooled
    vector."""
    return load_tool("tiny_models").standin_clip([tiny_models["t5xxl_tiny"]], clip_type="chroma")


@pytest.mark.parametrize("k", [512, 16])
def test_chroma_null_context_from_clip(comfy_host, chroma_clip, flux_clip, k):
    """Chroma's null context is T5("") over exactly K tokens (its tokenizer pads nothing by itself), no pooled
    vector; FLUX's CLIP pair (t5xxl + clip_l) is another text encoder and is refused by name."""
    ctx, pooled = _null(comfy_host, chroma_clip, k, arch="chroma")
    ref = _official_encoding(comfy_host, chroma_clip, k)
    assert tuple(ctx.shape) == (k, 4096) and pooled is None
    assert torch.equal(ctx, ref[0][0][0].float().cpu())
    assert comfy_host.node("CLIPTextEncode")().encode(chroma_clip, "")[0][0][0].shape[1] < k  # unpadded default
    with pytest.raises(ValueError, match=r"^Test: the connected CLIP is not Chroma's text encoder .*type chroma"):
        _null(comfy_host, flux_clip, k, arch="chroma")
