"""Tier 2 (in-process host): Apply Restoration Prompt against an independent reference of the official injection."""
import pytest
import torch

from harness.reference import K, make_latent, make_prompt, reference_model, run_model
from harness.small_models import small_flux, small_wan

@pytest.fixture
def apply_node(comfy_host):
    return comfy_host.node("UnlockPromptApply")


CASES = {
    "flux": (lambda: small_flux(), "flux", 64, {"double": 2, "single": 2}),
    "wan": (lambda: small_wan(), "wan21", 64, {"blocks": 2}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_injection_matches_official_reference(apply_node, case, strength):
    build, arch, width, blocks = CASES[case]
    model, prompt = build(), make_prompt(arch, width, blocks)
    x = make_latent(arch)
    patched, cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=strength).result
    assert cond[0][0].shape == (1, K, 4096)
    ref = run_model(reference_model(model, prompt, strength), cond, x)
    ours = run_model(patched, cond, x)
    plain = run_model(model, cond, x)
    assert (ours - plain).abs().max() > 1e-3, "the prompt changed nothing"
    torch.testing.assert_close(ours, ref, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("case", CASES)
def test_original_model_untouched_and_zero_prompt_is_identity(apply_node, case):
    build, arch, width, blocks = CASES[case]
    model, prompt = build(), make_prompt(arch, width, blocks)
    x = make_latent(arch)
    modules_before = dict(model.model.named_modules())
    cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result[1]
    before = run_model(model, cond, x)
    patched = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result[0]
    run_model(patched, cond, x)
    after = run_model(model, cond, x)
    assert torch.equal(before, after)
    assert dict(model.model.named_modules()) == modules_before  # same objects, nothing left patched
    assert not model.object_patches
    # strength 0, or the zero gates a training run starts from, give back the unprompted model exactly.
    for kw in (dict(strength=0.0), dict(strength=1.0, zero_gates=True)):
        p = make_prompt(arch, width, blocks)
        if kw.pop("zero_gates", False):
            p.gates = torch.zeros_like(p.gates)
        m = apply_node.execute(model=model, restoration_prompt=p, **kw).result[0]
        torch.testing.assert_close(run_model(m, cond, x), before, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", CASES)
def test_composes_with_weight_patches(apply_node, case):
    """A LoRA-style weight patch on the patched modules reaches the weights the injection uses."""
    build, arch, width, blocks = CASES[case]
    model, prompt = build(), make_prompt(arch, width, blocks)
    x = make_latent(arch)
    keys = (["diffusion_model.double_blocks.0.txt_attn.qkv.weight", "diffusion_model.single_blocks.1.linear1.weight"]
            if arch == "flux" else ["diffusion_model.blocks.1.cross_attn.k.weight"])
    sd = model.model.state_dict()
    g = torch.Generator().manual_seed(5)
    diffs = {k: 0.05 * torch.randn(sd[k].shape, generator=g) for k in keys}

    lora_first = model.clone()
    lora_first.add_patches({k: (d,) for k, d in diffs.items()}, 1.0)
    patched, cond = apply_node.execute(model=lora_first, restoration_prompt=prompt, strength=1.0).result
    ref_model = reference_model(model, prompt)
    with torch.no_grad():
        for k, d in diffs.items():
            ref_model.model.state_dict()[k].add_(d)
    torch.testing.assert_close(run_model(patched, cond, x), run_model(ref_model, cond, x), atol=2e-5, rtol=1e-4)
    # The other order (prompt first, LoRA on top) gives the same model.
    prompt_first = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result[0].clone()
    prompt_first.add_patches({k: (d,) for k, d in diffs.items()}, 1.0)
    torch.testing.assert_close(run_model(prompt_first, cond, x), run_model(ref_model, cond, x), atol=2e-5, rtol=1e-4)


def test_mismatches_are_refused_with_clear_errors(apply_node):
    flux, wan = small_flux(), small_wan()
    cases = [
        (wan, make_prompt("flux", 64, {"double": 2, "single": 2}), ["FLUX", "Wan 2.1", "connected MODEL"]),
        (flux, make_prompt("wan21", 64, {"blocks": 2}), ["Wan 2.1", "FLUX"]),
        (flux, make_prompt("flux", 32, {"double": 2, "single": 2}), ["width 32", "width 64"]),
        (flux, make_prompt("flux", 64, {"double": 19, "single": 38}), ["19 double + 38 single", "2 double + 2 single"]),
        (wan, make_prompt("wan21", 64, {"blocks": 30}), ["30 blocks", "2 blocks"]),
        (wan, make_prompt("wan22", 128, {"blocks": 2}), ["Wan 2.2", "width 128", "Wan 2.1 (width 64"]),
    ]
    for model, prompt, words in cases:
        with pytest.raises(ValueError) as e:
            apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0)
        msg = str(e.value)
        assert msg.startswith("Apply Restoration Prompt:"), msg
        for w in words:
            assert w in msg, (w, msg)


def test_wan22_prompt_drives_a_wan_model_of_its_shape(apply_node):
    """Wan 2.2 A14B experts load as Wan 2.1-type models: a Wan 2.2 prompt of the same width and blocks fits."""
    model = small_wan()
    prompt = make_prompt("wan22", 64, {"blocks": 2})
    patched, cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result
    x = make_latent("wan21")
    torch.testing.assert_close(run_model(patched, cond, x), run_model(reference_model(model, prompt), cond, x),
                               atol=2e-5, rtol=1e-4)


def test_already_patched_model_is_refused(apply_node):
    model, prompt = small_wan(), make_prompt("wan21", 64, {"blocks": 2})
    patched = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result[0]
    with pytest.raises(ValueError, match="already has a restoration prompt"):
        apply_node.execute(model=patched, restoration_prompt=prompt, strength=1.0)


@pytest.mark.parametrize("case", CASES)
def test_token_count_mismatch_at_sampling(apply_node, case):
    build, arch, width, blocks = CASES[case]
    model, prompt = build(), make_prompt(arch, width, blocks)
    patched, cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result
    wrong = [[torch.zeros(1, K + 3, 4096), cond[0][1]]]
    with pytest.raises(ValueError, match=f"K={K}"):
        run_model(patched, wrong, make_latent(arch))


def test_null_context_sources(apply_node):
    model = small_wan()
    prompt = make_prompt("wan21", 64, {"blocks": 2})
    cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0).result[1]
    assert torch.equal(cond[0][0][0], prompt.null_context)
    # Without a stored null context (an official import), the node says exactly what to connect ...
    prompt.null_context = None
    with pytest.raises(ValueError, match=r"umt5_xxl \(Load CLIP, type wan\)\) connected to its clip input"):
        apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0)
    # ... and a connected Wan encoding (zero-padded to 512 by the host's umT5) is cut to K tokens.
    enc = torch.cat([torch.randn(1, 3, 4096), torch.zeros(1, 509, 4096)], dim=1)
    cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=1.0,
                              conditioning=[[enc, {}]]).result[1]
    assert torch.equal(cond[0][0], enc[:, :K])
    # FLUX: guidance 1.0 and the pooled vector ride along; a short encoding is padded to K.
    flux_prompt = make_prompt("flux", 64, {"double": 2, "single": 2})
    flux_prompt.null_context = None
    short = torch.randn(1, 5, 4096)
    cond = apply_node.execute(model=small_flux(), restoration_prompt=flux_prompt, strength=1.0,
                              conditioning=[[short, {"pooled_output": torch.ones(1, 768)}]]).result[1]
    assert cond[0][0].shape == (1, K, 4096) and torch.equal(cond[0][0][:, :5], short)
    assert cond[0][1]["guidance"] == 1.0 and torch.equal(cond[0][1]["pooled_output"], torch.ones(1, 768))


def test_context_mode_rides_on_the_conditioning(apply_node):
    from unlock_restore.prompt_embeds import RestorationPrompt

    model = small_wan()
    null = torch.randn(K, 4096)
    residual = torch.randn(K, 4096)
    prompt = RestorationPrompt(prompt=residual, gates=None, mode="context", arch="wan21", blocks={"blocks": 2},
                               null_context=null)
    out_model, cond = apply_node.execute(model=model, restoration_prompt=prompt, strength=0.5).result
    assert out_model is model
    torch.testing.assert_close(cond[0][0][0], null + 0.5 * residual)
    with pytest.raises(ValueError, match="made for Wan 2.1"):
        apply_node.execute(model=small_flux(), restoration_prompt=prompt, strength=1.0)
