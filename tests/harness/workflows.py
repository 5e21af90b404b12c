"""The shipped workflows on the tiny models: a ComfyUI base directory where every file a workflow names exists.

Nothing in a workflow is rewritten to run it here except what a CPU cannot afford (TEST_BUDGET) and the one model
with no tiny stand-in (TEXT_ENCODER_NODES): the tiny checkpoints are installed under the real model file names,
the sample inputs are copied into input/, and small prompt files stand in for the trained/official ones.
"""
from __future__ import annotations

import json
from pathlib import Path

from .graphs import tiny_prompt
from .host import REPO, load_tool

WORKFLOWS_DIR = REPO / "workflows"
specs = load_tool("workflow_specs")
runner = load_tool("unlock_run")


# What a 2-core CPU cannot afford: a real training budget (hundreds of steps at 256 px crops with 512 tokens).
# Applied to the API graph here, and to the widgets in the browser test; nothing else is changed, except
# `overwrite`: one scratch server runs each training workflow twice (API, then browser), and the second run may
# replace the first one's prompt only with consent.
TEST_BUDGET = {"UnlockPromptTrain": {"steps": 2, "resolution": 64, "tokens": 16, "overwrite": True}}

# umt5-xxl has no tiny stand-in: ComfyUI builds its fixed 5.7 B-parameter configuration whatever the file holds.
# The import workflow runs without it (the conditioning input is optional); its wiring is checked separately.
TEXT_ENCODER_NODES = ("CLIPLoader", "CLIPTextEncode")

# Prompt files the workflows load, made for the tiny models' shapes: file name -> arch.
STANDIN_PROMPTS = {"flux_haze.safetensors": "flux", "wan_rain.safetensors": "wan21", "wan_haze.safetensors": "wan21"}


def names() -> list[str]:
    return list(specs.WORKFLOWS)


def load_api(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / "api" / f"{name}.json").read_text())


def load_ui(name: str) -> dict:
    return json.loads((WORKFLOWS_DIR / f"{name}.json").read_text())


def with_test_budget(graph: dict) -> dict:
    graph = json.loads(json.dumps(graph))
    for node in graph.values():
        node["inputs"].update(TEST_BUDGET.get(node["class_type"], {}))
    return graph


def without_text_encoder(graph: dict) -> dict:
    """The graph minus the text-encoder nodes and every link from them (only optional inputs take them)."""
    drop = {nid for nid, n in graph.items() if n["class_type"] in TEXT_ENCODER_NODES}
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


def install_workflow_env(base: Path, tiny_models: dict[str, Path], official_dir: Path | None) -> Path:
    """Fill a ComfyUI base directory (made by host.make_base_dir) with what the workflows name."""
    specs.install_standins(base, tiny_models)
    install_prompts(base)
    if official_dir is not None and official_dir.is_dir():
        dst = base / "models" / "prompt_embeds_official"
        dst.mkdir(parents=True, exist_ok=True)
        for f in sorted(official_dir.glob("wan_*.pt")):
            if not (dst / f.name).exists():
                (dst / f.name).symlink_to(f.resolve())
    return base
