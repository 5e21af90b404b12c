"""Tier 1: blending restoration prompts (the 1x-cost mixing mode)."""
import math

import pytest
import torch

from unlock_restore.prompt_embeds import PromptFileError, RestorationPrompt, blend_prompts, load_prompt, save_prompt

K, D = 6, 12


def wan(seed, degradation, K=K, D=D, n=4, arch="wan21", t0=0.4, steps=20, null=None):
    g = torch.Generator().manual_seed(seed)
    return RestorationPrompt(prompt=torch.randn(K, D, generator=g), gates=torch.randn(n, generator=g),
                             mode="gated", arch=arch, blocks={"blocks": n}, null_context=null, t0=t0, steps=steps,
                             provenance={"degradations": [degradation], "source": f"official:wan_{degradation}.pt",
                                         "base_model": "tiny-wan"})


def test_weights_normalised_and_result_is_the_linear_blend(tmp_path):
    a, b = wan(0, "haze", t0=0.3, steps=10), wan(1, "rain", t0=0.5, steps=30)
    out = blend_prompts([a, b], [1, 3])
    assert torch.equal(out.prompt, 0.25 * a.prompt + 0.75 * b.prompt)
    assert torch.equal(out.gates, 0.25 * a.gates + 0.75 * b.gates)
    assert math.isclose(out.t0, 0.25 * 0.3 + 0.75 * 0.5) and out.steps == 30
    assert out.provenance["degradations"] == ["haze", "rain"] and out.provenance["source"] == "blend"
    assert out.provenance["training"] == {"blend_weights": [0.25, 0.75],
                                          "sources": ["official:wan_haze.pt", "official:wan_rain.pt"]}
    assert (out.arch, out.mode, out.blocks, out.tokens, out.width) == ("wan21", "gated", {"blocks": 4}, K, D)
    # Scaling all weights changes nothing; the result is a valid prompt that saves and loads.
    again = blend_prompts([a, b], [0.5, 1.5])
    assert torch.equal(again.prompt, out.prompt) and torch.equal(again.gates, out.gates)
    save_prompt(out, tmp_path / "blend.safetensors")
    assert torch.equal(load_prompt(tmp_path / "blend.safetensors").prompt, out.prompt)


def test_three_prompts_with_zero_weight_and_degradation_union():
    a, b, c = wan(0, "haze"), wan(1, "rain"), wan(2, "haze")
    out = blend_prompts([a, b, c], [2.0, 0.0, 2.0])
    assert torch.equal(out.prompt, 0.5 * a.prompt + 0.0 * b.prompt + 0.5 * c.prompt)
    assert out.provenance["degradations"] == ["haze", "rain"]


def test_single_prompt_is_returned_unchanged():
    a = wan(0, "snow")
    for w in (1.0, 7.0):
        out = blend_prompts([a], [w])
        assert torch.equal(out.prompt, a.prompt) and torch.equal(out.gates, a.gates)
        assert out.t0 == a.t0 and out.steps == a.steps and out.blocks == a.blocks
    half = RestorationPrompt(prompt=a.prompt.bfloat16(), gates=a.gates.bfloat16(), mode="gated", arch="wan21",
                             blocks={"blocks": 4})
    out = blend_prompts([half], [1.0])
    assert out.prompt.dtype == torch.bfloat16 and torch.equal(out.prompt, half.prompt)


def mismatch(other, *substrings, first=None):
    with pytest.raises(PromptFileError) as e:
        blend_prompts([first or wan(0, "haze"), other], [1, 1])
    msg = str(e.value)
    assert e.value.kind == "mismatch", msg
    assert "prompt 2 (rain)" in msg and "prompt 1 (haze)" in msg, msg
    for s in substrings:
        assert s in msg, msg


def test_mismatches_are_refused_clearly():
    mismatch(wan(1, "rain", arch="wan22"), "model family Wan 2.2", "Wan 2.1")
    mismatch(wan(1, "rain", D=16), "width D 16", "width D 12")
    mismatch(wan(1, "rain", K=9), "token count K 9")
    mismatch(wan(1, "rain", n=5), "block layout", "'blocks': 5")
    flux = RestorationPrompt(prompt=torch.zeros(K, D), gates=torch.zeros(4), mode="gated", arch="flux",
                             blocks={"double": 2, "single": 2}, provenance={"degradations": ["rain"]})
    mismatch(flux, "model family FLUX")
    ctx = RestorationPrompt(prompt=torch.zeros(K, 4096), gates=None, mode="context", arch="wan21",
                            blocks={"blocks": 4}, provenance={"degradations": ["rain"]})
    mismatch(ctx, "mode context")


def test_null_contexts_must_agree():
    null = torch.randn(K, 4096)
    a, b = wan(0, "haze", null=null), wan(1, "rain")
    assert torch.equal(blend_prompts([a, b], [1, 1]).null_context, null)  # the one present is kept
    assert torch.equal(blend_prompts([b, a], [1, 1]).null_context, null)
    assert blend_prompts([wan(0, "haze"), b], [1, 1]).null_context is None
    mismatch(wan(1, "rain", null=null + 1), "different null contexts", "different text encoders", first=a)


@pytest.mark.parametrize("prompts,weights,text", [
    ([], [], "no prompts"),
    (None, [1.0], "2 prompts but 1 weights"),
    (None, [1.0, -1.0], "is -1.0"),
    (None, [1.0, float("nan")], "is nan"),
    (None, [0, 0], "all weights are 0"),
])
def test_bad_weights(prompts, weights, text):
    if prompts is None:
        prompts = [wan(0, "haze"), wan(1, "rain")]
    with pytest.raises(PromptFileError) as e:
        blend_prompts(prompts, weights)
    assert e.value.kind == "blend" and text in str(e.value)
