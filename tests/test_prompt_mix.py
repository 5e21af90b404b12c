"""Tier 2 (in-process host): Mix Restoration Prompts, 'average' (N evaluations) and 'blend' (one)."""
import pytest
import torch

from harness.reference import K, make_latent, make_prompt, reference_model, run_model
from harness.small_models import small_flux, small_wan

CASES = {"flux": (small_flux, "flux", 64, {"double": 2, "single": 2}), "wan": (small_wan, "wan21", 64, {"blocks": 2})}


@pytest.fixture
def nodes(comfy_host):
    return comfy_host.node("UnlockPromptMix"), comfy_host.node("UnlockPromptApply")


def _count_evaluations(patcher):
    calls = []
    handle = patcher.model.diffusion_model.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls, handle


@pytest.mark.parametrize("case", CASES)
def test_average_is_the_weighted_mean_of_separate_runs(nodes, case):
    mix, apply = nodes
    build, arch, width, blocks = CASES[case]
    model = build()
    a, b = make_prompt(arch, width, blocks, seed=1), make_prompt(arch, width, blocks, seed=2)
    b.null_context = a.null_context.clone()
    mixture = mix.execute(prompt_1=a, weight_1=3.0, prompt_2=b, weight_2=1.0, mode="average").result[0]
    patched, cond = apply.execute(model=model, restoration_prompt=mixture, strength=1.0).result
    x = make_latent(arch)
    expected = 0.75 * run_model(reference_model(model, a), cond, x) + 0.25 * run_model(reference_model(model, b), cond, x)
    calls, handle = _count_evaluations(patched)
    try:
        got = run_model(patched, cond, x)
    finally:
        handle.remove()
    torch.testing.assert_close(got, expected, atol=3e-5, rtol=1e-4)
    assert len(calls) == 2  # one model evaluation per prompt per step


def test_average_mixes_gated_and_context_prompts(nodes):
    from unlock_restore.prompt_embeds import RestorationPrompt

    mix, apply = nodes
    model = small_wan()
    gated = make_prompt("wan21", 64, {"blocks": 2}, seed=3)
    residual = 0.3 * torch.randn(K, 4096, generator=torch.Generator().manual_seed(4))
    context = RestorationPrompt(prompt=residual, gates=None, mode="context", arch="wan21", blocks={"blocks": 2},
                                null_context=gated.null_context.clone())
    mixture = mix.execute(prompt_1=gated, weight_1=1.0, prompt_2=context, weight_2=1.0, mode="average").result[0]
    patched, cond = apply.execute(model=model, restoration_prompt=mixture, strength=1.0).result
    x = make_latent("wan21")
    with_residual = [[cond[0][0] + residual.unsqueeze(0), {}]]
    expected = 0.5 * run_model(reference_model(model, gated), cond, x) + 0.5 * run_model(model, with_residual, x)
    torch.testing.assert_close(run_model(patched, cond, x), expected, atol=3e-5, rtol=1e-4)


def test_blend_is_one_prompt_one_evaluation(nodes):
    from unlock_restore.prompt_embeds import blend_prompts

    mix, apply = nodes
    model = small_flux()
    a, b = make_prompt("flux", 64, {"double": 2, "single": 2}, seed=5), make_prompt("flux", 64, {"double": 2, "single": 2}, seed=6)
    b.null_context, b.pooled = a.null_context.clone(), a.pooled.clone()
    blended = mix.execute(prompt_1=a, weight_1=1.0, prompt_2=b, weight_2=3.0, mode="blend").result[0]
    assert torch.equal(blended.prompt, blend_prompts([a, b], [0.25, 0.75]).prompt)
    patched, cond = apply.execute(model=model, restoration_prompt=blended, strength=1.0).result
    x = make_latent("flux")
    calls, handle = _count_evaluations(patched)
    try:
        got = run_model(patched, cond, x)
    finally:
        handle.remove()
    torch.testing.assert_close(got, run_model(reference_model(model, blended), cond, x), atol=2e-5, rtol=1e-4)
    assert len(calls) == 1


def test_mix_errors_name_the_node(nodes):
    mix, _ = nodes
    flux_p = make_prompt("flux", 64, {"double": 2, "single": 2})
    wan_p = make_prompt("wan21", 64, {"blocks": 2})
    for mode in ("average", "blend"):
        with pytest.raises(ValueError, match="Mix Restoration Prompts: .*FLUX"):
            mix.execute(prompt_1=flux_p, weight_1=1.0, prompt_2=wan_p, weight_2=1.0, mode=mode)
        with pytest.raises(ValueError, match="Mix Restoration Prompts: .*all weights are 0"):
            mix.execute(prompt_1=wan_p, weight_1=0.0, prompt_2=wan_p, weight_2=0.0, mode=mode)
    avg = mix.execute(prompt_1=wan_p, weight_1=1.0, prompt_2=wan_p, weight_2=1.0, mode="average").result[0]
    with pytest.raises(ValueError, match="'blend' needs plain prompts"):
        mix.execute(prompt_1=avg, weight_1=1.0, prompt_2=wan_p, weight_2=1.0, mode="blend")
    nested = mix.execute(prompt_1=avg, weight_1=1.0, prompt_2=wan_p, weight_2=2.0, mode="average").result[0]
    assert [round(w, 6) for w in nested.weights] == [round(1 / 6, 6), round(1 / 6, 6), round(2 / 3, 6)]
