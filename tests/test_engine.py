"""The engine and the family modules (issue: one adapter per model family).

Tier 1 (no host): node modules hold schema and a call (they import no other node module), and family knowledge
(family names, text and pooled widths) stays in the family modules and `Arch`, not in the host glue.
Tier 2 (in-process host): each supported host class is driven by its family module; a gated prompt is cached once
per device and dtype however many blocks it feeds; `average` mixing skips zero-weight prompts; the trainer's loss
is bridge.bridge_loss, the tested function.
"""
import ast
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
NODES = REPO / "nodes"


def _defines_node(tree) -> bool:
    return any(isinstance(n, ast.ClassDef) and any(
        (isinstance(b, ast.Attribute) and b.attr == "ComfyNode") for b in n.bases) for n in ast.walk(tree))


def _relative_imports(tree):
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.level == 1:
            yield (n.module or "").split(".")[0]


def test_node_modules_import_no_other_node_module():
    trees = {f.stem: ast.parse(f.read_text(), filename=str(f)) for f in sorted(NODES.glob("*.py"))}
    node_modules = {name for name, tree in trees.items() if _defines_node(tree)}
    assert {"prompt_apply", "restore", "prompt_train", "bridge_sampler"} <= node_modules, node_modules
    for name, tree in trees.items():
        if name == "registry":  # the one registry lists every node
            continue
        crossing = sorted(set(_relative_imports(tree)) & (node_modules - {name}))
        assert not crossing, f"nodes/{name}.py imports the node module(s) {crossing}: move what it needs to the engine"


# Family knowledge that must not be decided outside nodes/families/ and prompt_embeds/archs.py.
FAMILY_LITERALS = {"flux", "wan21", "wan22", 4096, 768}


@pytest.mark.parametrize("folder", ["nodes", "prompt_embeds"])
def test_no_family_decision_outside_the_family_modules(folder):
    allowed = {REPO / "prompt_embeds" / "archs.py"}
    found = []
    for f in sorted((REPO / folder).glob("*.py")):  # nodes/families/ is a subfolder: not globbed
        if f in allowed:
            continue
        tree = ast.parse(f.read_text(), filename=str(f))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                      and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        # Widget ranges (e.g. a resolution's max=4096 pixels) are not widths.
        widget = {id(k.value) for k in ast.walk(tree) if isinstance(k, ast.keyword) and k.arg in ("min", "max")}
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and id(n) not in docstrings | widget and not isinstance(n.value, bool) \
                    and n.value in FAMILY_LITERALS:
                found.append(f"{f.relative_to(REPO)}:{n.lineno} {n.value!r}")
    # The official file format names its backends "flux" / "wan": that table is the file format, not a decision.
    found = [x for x in found if not x.startswith("prompt_embeds/official.py:20 ")]
    assert not found, "family knowledge outside nodes/families/ and prompt_embeds/archs.py:\n" + "\n".join(found)


# -- tier 2 ---------------------------------------------------------------------------------------------------

def test_each_supported_class_is_driven_by_its_family(comfy_host):
    from harness.small_models import small_flux, small_wan
    from unlock_restore.nodes.families import BY_ARCH, FAMILIES
    from unlock_restore.nodes.model_info import model_info
    from unlock_restore.prompt_embeds import ARCHS

    assert set(BY_ARCH) == set(ARCHS), "every Arch has exactly one family module and the reverse"
    assert len({f.host_class for f in FAMILIES}) == len(FAMILIES)
    for model, arch, blocks in ((small_flux(depth=2, single=3), "flux", {"double": 2, "single": 3}),
                                (small_wan(), "wan21", {"blocks": 2})):
        info = model_info(model)
        assert info.family is BY_ARCH[arch] and info.arch == arch and info.blocks == blocks
        assert list(info.blocks) == list(ARCHS[arch].block_keys)


def _prompt_states(patched):
    return {id(m._unlock_state): m._unlock_state for m in patched.object_patches.values()
            if "_unlock_state" in getattr(m, "__dict__", {})}


@pytest.mark.parametrize("arch", ["flux", "wan21"])
def test_a_prompt_is_cached_once_per_device_and_dtype(comfy_host, arch):
    """One K x D copy of P feeds every block (the gate is applied per call), instead of one copy per block."""
    from harness.reference import make_latent, make_prompt, reference_model, run_model
    from harness.small_models import small_flux, small_wan

    model = small_flux(depth=2, single=2) if arch == "flux" else small_wan()
    blocks = {"double": 2, "single": 2} if arch == "flux" else {"blocks": 2}
    prompt = make_prompt(arch, 64, blocks, seed=7)
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt,
                                                                 strength=0.7).result
    x = make_latent(arch)
    got = run_model(patched, cond, x)
    (state,) = _prompt_states(patched).values()
    assert len(state._cast) == 1, list(state._cast)  # 4 patched blocks, one cached copy
    torch.testing.assert_close(got, run_model(reference_model(model, prompt, strength=0.7), cond, x),
                               atol=3e-5, rtol=1e-4)


def test_average_skips_a_zero_weight_prompt(comfy_host):
    from harness.reference import make_latent, make_prompt, reference_model, run_model
    from harness.small_models import small_wan

    model = small_wan()
    a, b = make_prompt("wan21", 64, {"blocks": 2}, seed=1), make_prompt("wan21", 64, {"blocks": 2}, seed=2)
    mixture = comfy_host.node("UnlockPromptMix").execute(prompt_1=a, weight_1=1.0, prompt_2=b, weight_2=0.0,
                                                         mode="average").result[0]
    patched, cond = comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=mixture,
                                                                 strength=1.0).result
    calls = []
    handle = patched.model.diffusion_model.register_forward_pre_hook(lambda *args: calls.append(1))
    x = make_latent("wan21")
    try:
        got = run_model(patched, cond, x)
    finally:
        handle.remove()
    assert len(calls) == 1  # the zero-weight prompt costs no model evaluation
    torch.testing.assert_close(got, run_model(reference_model(model, a), cond, x), atol=3e-5, rtol=1e-4)


def test_the_trainer_computes_bridge_loss(comfy_host, host_models, monkeypatch):
    """The training loss is bridge.bridge_loss (tests/test_bridge.py checks its maths) called with the host model
    as the denoiser, not a second copy of the objective."""
    import unlock_restore.bridge as bridge
    from harness.small_models import small_wan
    from unlock_restore.nodes import training

    vae = comfy_host.node("VAELoader")().load_vae(host_models["wan21_vae"])[0]
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 32, 32, 3, generator=g)
    tr = training.PromptTrainer(small_wan(), vae, clean, (0.5 * clean + 0.2).clamp(0, 1), mode="gated",
                                objective="naive", t0=0.4, seed=0, node="engine-test", tokens=4, loss="velocity")
    calls = []

    def spy(*args, **kwargs):
        calls.append((kwargs.get("objective"), kwargs.get("loss")))
        return bridge.bridge_loss(*args, **kwargs)

    monkeypatch.setattr(training, "bridge_loss", spy)
    with torch.inference_mode(False):
        batch = tr.batch(2, torch.Generator().manual_seed(1))
        with torch.no_grad():
            loss = tr.loss(*batch)
    assert calls == [("naive", "velocity")] and torch.isfinite(loss)
    assert tr.snapshot({}).provenance["training"]["loss"] == "velocity"  # the file says how it was trained
