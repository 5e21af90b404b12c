"""Tier 2 (real server, HTTP API): the inference graph (Apply + Bridge Sampler + Bridge Schedule in
SamplerCustomAdvanced) runs on every family's tiny file the stock loader reads (FLUX, Chroma, Qwen-Image, Wan 2.1,
and on hosts that have them FLUX.2, HunyuanVideo 1.5, Wan 2.2 TI2V-5B and Z-Image); errors leave the server
serving."""
import json

import numpy as np
import pytest
from PIL import Image

from harness.graphs import bridge_graph, tiny_prompt, write_image
from harness.host import load_tool

MODELS = {"flux": ("flux_dev", "taesd_flux"), "chroma": ("chroma", "taesd_flux"), "wan21": ("wan21_t2v", "wan21_vae"),
          "qwen_image": ("qwen_image", "wan21_vae"), "flux2": ("flux2", "flux2_vae"),
          "hunyuan_video15": ("hunyuan_video15", "taehv_hv15"), "wan22": ("wan22_ti2v", "taew2_2"),
          "z_image": ("z_image", "taesd_flux")}


@pytest.fixture(scope="module")
def served(comfy_server, tiny_models):
    from unlock_restore.prompt_embeds import save_prompt

    folder = comfy_server.base / "models" / "prompt_embeds"
    for arch in MODELS:
        save_prompt(tiny_prompt(arch), folder / f"tiny_{arch}.safetensors")
    write_image(comfy_server.base / "input" / "odd.png", 37, 29)
    # Families this host lacks have no tiny file here (tools/tiny_models.HOST_NEEDS); their tests skip, saying so.
    return comfy_server, {arch: (tiny_models[u].name, tiny_models[v].name) for arch, (u, v) in MODELS.items()
                          if u in tiny_models and v in tiny_models}


def _outputs(server, entry):
    images = [img for out in entry["outputs"].values() for img in out.get("images", [])]
    assert images, f"no images in the outputs: {entry['outputs']}"
    return [server.base / "output" / img.get("subfolder", "") / img["filename"] for img in images]


@pytest.mark.parametrize("arch", MODELS)
def test_bridge_graph_succeeds(served, arch, comfyui_path):
    server, models = served
    if arch not in models:
        lacks = "; ".join(dict.fromkeys(filter(None, (load_tool("tiny_models").host_lacks(comfyui_path, n)
                                                       for n in MODELS[arch]))))
        pytest.skip(f"{arch.upper()} SKIPPED: this host lacks {lacks} (v0.20.1 has it); no tiny file is built here")
    unet, vae = models[arch]
    entry = server.run(bridge_graph(unet, vae, f"tiny_{arch}.safetensors", "odd.png", prefix=f"api_{arch}"))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    (path,) = _outputs(server, entry)
    img = np.asarray(Image.open(path))
    assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] >= 16 and img.shape[1] >= 16


def test_expert_guider_graph_runs_both_experts(served):
    """Two experts (the tiny Wan loaded twice, each with its own prompt) in Bridge Expert Guider, the bridge starting
    above the boundary: it runs through the server, and the high-noise expert's prompt changes the result."""
    from unlock_restore.prompt_embeds import save_prompt

    server, models = served
    unet, vae = models["wan21"]
    save_prompt(tiny_prompt("wan21", seed=5), server.base / "models" / "prompt_embeds" / "tiny_wan21_high.safetensors")
    single = bridge_graph(unet, vae, "tiny_wan21.safetensors", "odd.png", t0=0.95, steps=4, prefix="api_one_expert")
    pair = json.loads(json.dumps(single))
    pair.update({
        "14": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}},
        "15": {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": "tiny_wan21_high.safetensors"}},
        "16": {"class_type": "UnlockPromptApply", "inputs": {"model": ["14", 0], "restoration_prompt": ["15", 0],
                                                             "strength": 1.0}},
        "7": {"class_type": "UnlockExpertGuider", "inputs": {
            "high_noise_model": ["16", 0], "high_noise_conditioning": ["16", 1], "low_noise_model": ["4", 0],
            "low_noise_conditioning": ["4", 1], "boundary": 0.875}},
    })
    pair["13"]["inputs"]["filename_prefix"] = "api_two_experts"
    images = []
    for graph in (single, pair):
        entry = server.run(graph)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
        (path,) = _outputs(server, entry)
        images.append(np.asarray(Image.open(path)).astype(np.int16))
    assert images[0].shape == images[1].shape and np.abs(images[0] - images[1]).max() > 0


def test_fp8_weights_compose_with_the_injection(served, tiny_models):
    """fp8 weights kept in fp8 (cast at compute time) under the patched blocks."""
    server, models = served
    graph = bridge_graph(tiny_models["flux_dev_fp8"].name, models["flux"][1], "tiny_flux.safetensors", "odd.png",
                         prefix="api_fp8", weight_dtype="fp8_e4m3fn")
    entry = server.run(graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    assert len(_outputs(server, entry)) == 1


def test_errors_name_the_node_and_the_server_keeps_serving(served):
    server, models = served
    # A FLUX prompt on the Wan model: fails at execution with a message naming the node and the fix.
    unet, vae = models["wan21"]
    entry = server.run(bridge_graph(unet, vae, "tiny_flux.safetensors", "odd.png", prefix="api_bad"))
    assert entry["status"]["status_str"] == "error"
    err = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert err["node_type"] == "UnlockPromptApply"
    assert "Apply Restoration Prompt" in err["exception_message"] and "made for FLUX" in err["exception_message"]
    # A FLUX.1 prompt on Chroma: the same shapes, another family's weights; refused naming both.
    chroma_unet, chroma_vae = models["chroma"]
    entry = server.run(bridge_graph(chroma_unet, chroma_vae, "tiny_flux.safetensors", "odd.png",
                                    prefix="api_bad_chroma"))
    err = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert "made for FLUX" in err["exception_message"] and "connected MODEL is Chroma" in err["exception_message"]
    # A corrupt prompt file: the loader names the file and says what to do.
    (server.base / "models" / "prompt_embeds" / "broken.safetensors").write_bytes(b"\x10\x00garbage")
    entry = server.run(bridge_graph(unet, vae, "broken.safetensors", "odd.png", prefix="api_bad"))
    err = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert err["node_type"] == "UnlockPromptLoader" and "broken.safetensors" in err["exception_message"]
    # The next good job succeeds.
    entry = server.run(bridge_graph(unet, vae, "tiny_wan21.safetensors", "odd.png", prefix="api_after"))
    assert entry["status"]["status_str"] == "success"
