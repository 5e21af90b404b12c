"""The shipped workflows: API twins match their spec, UI twins describe the same graphs, and every API workflow
runs through POST /prompt on the tiny models (installed under the real model file names; see harness/workflows)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from harness import workflows as wf

NAMES = wf.names()


# -- tier 1: the files ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_api_twin_is_generated_from_the_spec(name):
    assert wf.load_api(name) == wf.specs.api_graph(name), (
        f"workflows/api/{name}.json is stale: run python tools/workflow_specs.py")


def test_no_stray_workflow_files():
    """Every UI file has an API twin and a spec (and the reverse), so none ships untested."""
    ui = {p.stem for p in wf.WORKFLOWS_DIR.glob("*.json")}
    api = {p.stem for p in (wf.WORKFLOWS_DIR / "api").glob("*.json")}
    assert ui == api == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_thumbnail_is_a_small_jpeg(name):
    path = wf.WORKFLOWS_DIR / f"{name}.jpg"
    with Image.open(path) as img:
        assert img.format == "JPEG" and min(img.size) >= 128
    assert path.stat().st_size < 150_000


IMPORTS = {"wan_import_official_prompts": ("CLIPLoader", {"type": "wan"}, "wan"),
           "flux_import_official_prompts": ("DualCLIPLoader", {"type": "flux", "clip_name1": wf.specs.FLUX_T5,
                                                                "clip_name2": wf.specs.FLUX_CLIP_L}, "flux")}


@pytest.mark.parametrize("name", IMPORTS)
def test_import_workflow_connects_the_text_encoder_to_every_import(name):
    """One text-encoder loader feeds the clip input of one Import per released prompt; no CLIP Text Encode (the
    Import node encodes the empty text itself, at the length the prompt needs)."""
    loader_type, settings, backend = IMPORTS[name]
    graph = wf.load_api(name)
    loader = wf.runner.nodes_of(graph, loader_type)
    assert len(loader) == 1 and not wf.runner.nodes_of(graph, "CLIPTextEncode")
    assert all(graph[loader[0]]["inputs"][k] == v for k, v in settings.items()), graph[loader[0]]["inputs"]
    imports = wf.runner.nodes_of(graph, "UnlockPromptImport")
    assert sorted(graph[i]["inputs"]["official_file"] for i in imports) == [f"{backend}_{n}.pt"
                                                                             for n in wf.specs.OFFICIAL]
    assert all(graph[i]["inputs"]["clip"] == [loader[0], 0] and "conditioning" not in graph[i]["inputs"]
               for i in imports)


def test_sample_inputs_exist_for_every_workflow():
    for name in NAMES:
        for node in wf.load_api(name).values():
            inputs = node["inputs"]
            if node["class_type"] == "LoadImage":
                assert (wf.specs.INPUTS_DIR / inputs["image"]).is_file(), (name, inputs)
            elif node["class_type"] == "LoadVideo":
                assert (wf.specs.INPUTS_DIR / inputs["file"]).is_file(), (name, inputs)
            elif node["class_type"] == "UnlockImageFolder":
                assert len(list((wf.specs.INPUTS_DIR / inputs["folder"]).glob("*.png"))) >= 2, (name, inputs)


# -- tier 2: the real host -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_ui_twin_matches_api(workflow_server, name):
    """The editor's file and the API file are one graph: converting the UI file with the server's node schemas (as
    the editor's Export (API) does) gives the API twin exactly."""
    object_info = workflow_server.get("/object_info")
    converted = wf.runner.ui_to_api(wf.load_ui(name), object_info)
    api = wf.load_api(name)
    strip = lambda g: {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in g.items()}  # noqa: E731
    assert strip(converted) == strip(api)


@pytest.mark.parametrize("name", NAMES)
def test_only_this_pack_and_core_nodes(workflow_server, name):
    """Users need nothing but ComfyUI and this pack: every node is the host's own (nodes.py, comfy_extras) or ours."""
    object_info = workflow_server.get("/object_info")
    for nid, node in wf.load_api(name).items():
        module = object_info[node["class_type"]]["python_module"]
        assert module == "nodes" or module.startswith("comfy_extras.") or module == "custom_nodes.unlock-restore", (
            nid, node["class_type"], module)


def _output_files(server, entry) -> list:
    files = []
    for _, item in wf.runner.output_items(entry):
        folder = server.base / item["type"] / item.get("subfolder", "")
        files.append(folder / item["filename"])
    return files


def _frames(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


@pytest.mark.parametrize("name", [n for n in NAMES if n not in IMPORTS])
def test_api_workflow_runs_on_tiny_models(workflow_server, name):
    graph = wf.runnable(wf.load_api(name))
    missing = wf.missing_models(workflow_server.base, graph)
    if missing:
        pytest.skip(f"{name.upper()} NOT RUN on this host: no tiny stand-in for {missing} (their family needs a newer "
                    "ComfyUI: tools/tiny_models.py HOST_NEEDS); it runs on v0.20.1")
    entry = workflow_server.run(graph, timeout=1200)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    files = _output_files(workflow_server, entry)
    assert files and all(f.is_file() for f in files), files
    for f in files:
        if f.suffix == ".png":
            img = np.asarray(Image.open(f))
            assert img.shape == (256, 256, 3) and img.std() > 0  # the sample's size, a real picture
        elif f.suffix == ".mp4":
            frames = _frames(f)
            assert len(frames) == 17 and frames[0].shape == (128, 128, 3)
    trains = [n["inputs"] for n in graph.values() if n["class_type"] == "UnlockPromptTrain"]
    if trains:
        for train in trains:
            assert (workflow_server.base / "models" / "prompt_embeds" / f"{train['save_name']}.safetensors").is_file()
        texts = [t for out in entry["outputs"].values() for t in out.get("text", [])]
        # Scored on the held-out photo: by Train's validation, or (experts) by Metrics after Restore with both.
        assert any(("Validation" in t or "(mean of" in t) and "PSNR" in t for t in texts), texts
        wf.install_prompts(workflow_server.base)  # the stand-in prompts again, for the workflows that load them


def test_import_workflow_converts_every_official_prompt(workflow_server):
    official = workflow_server.base / "models" / "prompt_embeds_official"
    if len(list(official.glob("wan_*.pt"))) != len(wf.specs.OFFICIAL):
        pytest.skip(f"!!! official prompt checkpoints not found (expected wan_*.pt under ../shared/reference or "
                    f"$UNLOCK_OFFICIAL_DIR): the import workflow cannot run here !!!")
    from unlock_restore.prompt_embeds import load_official, load_prompt

    graph = wf.runnable(wf.load_api("wan_import_official_prompts"))
    try:
        entry = workflow_server.run(graph, timeout=600)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
        for name in wf.specs.OFFICIAL:
            saved = load_prompt(workflow_server.base / "models" / "prompt_embeds" / f"wan_{name}.safetensors")
            ref = load_official(official / f"wan_{name}.pt", warn_missing=False)
            assert torch.equal(saved.prompt, ref.prompt) and torch.equal(saved.gates, ref.gates)
            assert name in saved.provenance.get("degradations", []), saved.provenance
            assert saved.time_convention == "official", saved.time_index
        texts = [t for out in entry["outputs"].values() for t in out.get("text", [])]
        assert len(texts) == len(wf.specs.OFFICIAL) and all("Saved wan_" in t for t in texts), texts
    finally:
        wf.install_prompts(workflow_server.base)  # wan_rain/wan_haze back to the tiny model's shape


def test_flux_import_workflow_stores_the_exact_null_context(workflow_server):
    """The shipped FLUX import graph as is (DualCLIPLoader included: the tiny t5xxl / clip_l stand-ins load through
    the stock loader) converts all five official-format files: P and the 57 gates bit for bit, the null context
    encoded from the connected CLIP at 512 T5 tokens with CLIP-L's pooled vector, the official time index."""
    from unlock_restore.prompt_embeds import load_official, load_prompt

    official = workflow_server.base / "models" / "prompt_embeds_official"
    graph = wf.runnable(wf.load_api("flux_import_official_prompts"))
    assert wf.runner.nodes_of(graph, "DualCLIPLoader"), "the text encoder must run, not be stripped"
    entry = workflow_server.run(graph, timeout=600)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    saved = {n: load_prompt(workflow_server.base / "models" / "prompt_embeds" / f"ypt_flux_{n}.safetensors")
             for n in wf.specs.OFFICIAL}
    first = saved[wf.specs.OFFICIAL[0]]
    for name, prompt in saved.items():
        ref = load_official(official / f"flux_{name}.pt", warn_missing=False)
        assert torch.equal(prompt.prompt, ref.prompt) and torch.equal(prompt.gates, ref.gates)
        assert prompt.blocks == {"double": 19, "single": 38} and prompt.time_convention == "official"
        assert tuple(prompt.null_context.shape) == (512, 4096) and tuple(prompt.pooled.shape) == (768,)
        assert torch.isfinite(prompt.null_context).all() and prompt.null_context.std() > 0
        # One encoder, one empty text: the five files carry the same null context.
        assert torch.equal(prompt.null_context, first.null_context) and torch.equal(prompt.pooled, first.pooled)
        assert "exact" in prompt.provenance.get("null_context", ""), prompt.provenance
    # 512 distinct rows: T5 without a mask over 512 tokens, not 256 rows padded by repeating the last one.
    assert not torch.equal(first.null_context[300], first.null_context[511])
    texts = [t for out in entry["outputs"].values() for t in out.get("text", [])]
    assert len(texts) == 5 and all("Saved ypt_flux_" in t and "null context present" in t for t in texts), texts


def test_templates_are_listed_and_served(workflow_server):
    listed = workflow_server.get("/workflow_templates")
    assert sorted(listed.get("unlock-restore", [])) == sorted(NAMES), listed
    for name in NAMES:
        status, _ = workflow_server.request("GET", f"/api/workflow_templates/unlock-restore/{name}.json")
        assert status == 200, name
