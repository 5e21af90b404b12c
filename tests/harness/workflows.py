"""The shipped workflows on the tiny models: a ComfyUI base directory where every file a workflow names exists.

Nothing in a workflow is rewritten to run it here except what a CPU cannot afford (TEST_BUDGET) and the one model
the server cannot load small (TEXT_ENCODER_NODES): the tiny checkpoints (FLUX's text encoders included) are
installed under the real model file names, the sample inputs are copied into input/, and small prompt files stand
in for the trained/official ones.
"""
from __future__ import annotations

import json
from pathlib import Path

from .graphs import tiny_prompt
from .host import REPO, load_tool

WORKFLOWS_DIR = REPO / "workflows"
specs = load_tool("workflow_specs")
runner = load_tool("unlock_run")


# What a 2-core CPU cannot afford in a CI run that goes through every workflow twice on each host: a real training
# budget (hundreds of steps at 256 px crops with 512 tokens), training photos at 512 x 512 (each goes through the
# VAE: Wan 2.1's made a Wan training workflow take 2-3.5 minutes, measured) and 20 sampler steps (4 run the same
# code). Applied to the API graph here, and to the widgets in the browser test; nothing else is changed, except
# `overwrite`: one scratch server runs each training workflow twice (API, then browser), and the second run may
# replace the first one's prompt only with consent.
TEST_BUDGET = {"UnlockPromptTrain": {"steps": 2, "resolution": 64, "tokens": 16, "overwrite": True},
               "UnlockImageFolder": {"width": 128, "height": 128},
               "UnlockRestore": {"steps": 4}, "UnlockBridgeSigmas": {"steps": 4},
               "UnlockPromptImport": {"overwrite": True}}

# Load CLIP (umT5 for Wan) cannot load a small umT5 on every host: v0.20.1 recognises T5-XXL by its 10240-wide
# feed-forward (3 B parameters at 24 layers). The Wan import workflow runs without it here (the clip input is
# optional; its wiring is checked separately, and tests/test_null_context.py encodes with the host's umT5 class
# built small in-process). FLUX's pair has stand-ins the stock DualCLIPLoader loads (t5xxl_tiny, clip_l_tiny, at
# their size through te_standin/, a test-only shim linked into the scratch server's custom_nodes); a DualCLIPLoader
# of files without stand-ins (HunyuanVideo 1.5's Qwen2.5-VL-7B + byT5) is left out as Load CLIP is.
TEXT_ENCODER_NODES = ("CLIPLoader",)
TE_STANDIN = Path(__file__).with_name("te_standin")

# Prompt files the workflows load, made for the tiny models' shapes: file name -> arch.
STANDIN_PROMPTS = {"flux_haze.safetensors": "flux", "wan_rain.safetensors": "wan21", "wan_haze.safetensors": "wan21",
                   "my_chroma_haze.safetensors": "chroma", "my_wan22_a14b_rain_low.safetensors": "wan21",
                   "my_wan22_a14b_rain_high.safetensors": "wan21", "my_qwen_image_haze.safetensors": "qwen_image",
                   "my_hunyuan_video15_rain.safetensors": "hunyuan_video15", "my_wan22_ti2v_rain.safetensors": "wan22",
                   "my_flux2_haze.safetensors": "flux2", "my_z_image_haze.safetensors": "z_image",
                   "my_chroma_radiance_haze.safetensors": "chroma_radiance"}


def names() -> list[str]:
    return list(specs.WORKFLOWS)


def load_api(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())


def load_ui(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / f"{name}.json").read_text())


# Models whose prompts have a fixed K (FLUX.2 reads exactly 512 text rows): their workflows keep tokens 0 as shipped.
FIXED_K_MODELS = {specs.FLUX2_UNET}


def test_budget(graph: dict) -> dict:
    """TEST_BUDGET for this graph (the browser test sets the same widgets)."""
    fixed_k = any(v in FIXED_K_MODELS for n in graph.values() for v in n["inputs"].values() if isinstance(v, str))
    return {cls: {k: v for k, v in inputs.items() if not (fixed_k and k == "tokens")}
            for cls, inputs in TEST_BUDGET.items()}


def with_test_budget(graph: dict) -> dict:
    budget = test_budget(graph)
    graph = json.loads(json.dumps(graph))
    for node in graph.values():
        node["inputs"].update(budget.get(node["class_type"], {}))
    return graph


def text_encoder_nodes(graph: dict) -> list[str]:
    """The ids of the text-encoder loaders the tests leave out: every TEXT_ENCODER_NODES node, and a DualCLIPLoader
    naming a file without a tiny stand-in."""
    def no_standin(node):
        files = [v for k, v in node["inputs"].items() if k.startswith("clip_name")]
        return node["class_type"] == "DualCLIPLoader" and any(f not in specs.TINY_STANDINS for f in files)

    return sorted(nid for nid, n in graph.items() if n["class_type"] in TEXT_ENCODER_NODES or no_standin(n))


def missing_models(base: Path, graph: dict) -> list[str]:
    """The model files `graph` loads that the base directory has no stand-in for: their tiny checkpoints are built
    only on hosts that have the family (tools/tiny_models.py HOST_NEEDS), so the workflow cannot run here."""
    named = {v for n in graph.values() for k, v in n["inputs"].items()
             if isinstance(v, str) and k.endswith("_name") and v in specs.MODEL_FILES}
    return sorted(f for f in named if not (base / "models" / specs.MODEL_FILES[f] / f).exists())


def without_text_encoder(graph: dict) -> dict:
    """The graph minus the text-encoder nodes and every link from them (only optional inputs take them)."""
    drop = set(text_encoder_nodes(graph))
    out = {}
    for nid, node in graph.items():
        if nid in drop:
            continue
        node = json.loads(json.dumps(node))
        node["inputs"] = {k: v for k, v in node["inputs"].items() if not (isinstance(v, list) and v[0] in drop)}
        out[nid] = node
    return out


def runnable(graph: dict) -> dict:
    """What the tests run: the shipped graph with the CPU budget, without the encoder that has no stand-in."""
    return without_text_encoder(with_test_budget(graph))


def install_prompts(base: Path) -> None:
    """(Re)write the stand-in prompt files; the import workflow overwrites wan_* with full-size ones."""
    from unlock_restore.prompt_embeds import save_prompt

    folder = base / "models" / "prompt_embeds"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (name, arch) in enumerate(STANDIN_PROMPTS.items()):
        save_prompt(tiny_prompt(arch, seed=10 + i), folder / name)


def write_official_flux(path: Path, seed: int) -> None:
    """A stand-in official FLUX prompt file (the released format: backend, deep_prompt_bank.prompts (1, 512, 3072),
    57 alphas) drawn from a seed, for where the real ones are not available (they are 6 MB each)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    torch.save({"backend": "flux", "deep_prompt_bank": {"prompts": 0.02 * torch.randn(1, 512, 3072, generator=g)},
                "alphas": [0.1 * torch.randn((), generator=g) for _ in range(19 + 38)]}, path)


def install_workflow_env(base: Path, tiny_models: dict[str, Path], official_dir: Path | None) -> Path:
    """Fill a ComfyUI base directory (made by host.make_base_dir) with what the workflows name: the tiny models, the
    stand-in prompts, the text-encoder loader shim, the official .pt prompts where ../shared/reference has them,
    and stand-ins for the official FLUX ones it does not have."""
    specs.install_standins(base, tiny_models)
    install_prompts(base)
    shim = base / "custom_nodes" / "unlock_te_standin"
    if not shim.exists():
        shim.symlink_to(TE_STANDIN, target_is_directory=True)
    dst = base / "models" / "prompt_embeds_official"
    dst.mkdir(parents=True, exist_ok=True)
    if official_dir is not None and official_dir.is_dir():
        for f in sorted(official_dir.glob("*.pt")):
            if not (dst / f.name).exists():
                (dst / f.name).symlink_to(f.resolve())
    for i, name in enumerate(specs.OFFICIAL):
        if not (dst / f"flux_{name}.pt").exists():
            write_official_flux(dst / f"flux_{name}.pt", seed=100 + i)
    return base
