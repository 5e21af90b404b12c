"""Tier 2 (real server, HTTP API, the real ComfyUI-GGUF pack): a restoration prompt composes with LoRA on GGUF and
on ordinary checkpoints. The FLUX single-block injection used to cache W_qkv (s a P) keyed by the weight tensor;
GGUF attaches LoRA patches to that same tensor object, so a LoRA added after a reused Apply, a changed LoRA
strength, or a run without the LoRA after one with it reused a stale delta. Each of these must now equal the same
graph run fresh (after POST /free), on a FLUX with one double and one single block.

Needs city96/ComfyUI-GGUF at a pinned commit in the cache (never in the repository) and the `gguf` package (in the
test environment); without them it skips with one loud line saying how to get them.
"""
import json
import subprocess
import sys

import pytest
import torch

from harness.graphs import tiny_prompt, write_public_domain_image
from harness.host import load_tool, make_base_dir
from harness.peers import GGUF_COMMIT, gguf_pack, gguf_skip_reason
from harness.server import ComfyServer

PROMPT = "gguf_flux.safetensors"
LORA = "tiny_flux_lora.safetensors"


@pytest.fixture(scope="module")
def gguf_server(comfyui_path, tmp_path_factory):
    reason = gguf_skip_reason()
    if reason:
        pytest.skip(reason)
    tm = load_tool("tiny_models")
    files = tm.ensure_built(comfyui_path, only=["flux_dev_single", "taesd_flux"])
    unet = files["flux_dev_single"]
    gguf_file = unet.with_name(f"{unet.stem}-BF16-gguf-{GGUF_COMMIT[:12]}.gguf")
    if not gguf_file.is_file():  # the pack's own converter (BF16), once per host cache
        tmp = gguf_file.with_name(f".{gguf_file.name}.tmp")
        subprocess.run([sys.executable, str(gguf_pack() / "tools" / "convert.py"), "--src", str(unet), "--dst",
                        str(tmp)], check=True, capture_output=True)
        tmp.rename(gguf_file)
    base = make_base_dir(tmp_path_factory.mktemp("comfy-gguf"),
                         models={"diffusion_models": [unet, gguf_file], "vae": [files["taesd_flux"]]})
    (base / "custom_nodes" / "ComfyUI-GGUF").symlink_to(gguf_pack(), target_is_directory=True)
    _write_lora(base / "models" / "loras" / LORA)
    from unlock_restore.prompt_embeds import save_prompt

    width, blocks = 3072, {"double": 1, "single": 1}
    p = tiny_prompt("flux", tokens=8, seed=5)
    g = torch.Generator().manual_seed(6)
    p.prompt, p.gates, p.blocks = 0.5 * torch.randn(8, width, generator=g), torch.tensor([0.7, 1.3]), blocks
    save_prompt(p, base / "models" / "prompt_embeds" / PROMPT)
    write_public_domain_image(base / "input" / "gguf.png", size=64)
    server = ComfyServer(comfyui_path, base).start()
    try:
        info = server.get("/object_info/UnetLoaderGGUF")
        assert "UnetLoaderGGUF" in info, "the GGUF pack did not load: " + server.log_tail()
        yield server, unet.name, gguf_file.name, files["taesd_flux"].name
    finally:
        server.stop()


def _write_lora(path):
    """A rank-4 LoRA on the single block's linear1 (where the cached delta lived) and the double block's text qkv,
    in the key format ComfyUI's LoRA loader reads for diffusion models."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    sd = {}
    for key, out in (("single_blocks.0.linear1", 3 * 3072 + 4 * 3072), ("double_blocks.0.txt_attn.qkv", 3 * 3072)):
        sd[f"diffusion_model.{key}.lora_up.weight"] = (0.05 * torch.randn(out, 4, generator=g)).to(torch.bfloat16)
        sd[f"diffusion_model.{key}.lora_down.weight"] = (0.05 * torch.randn(4, 3072, generator=g)).to(torch.bfloat16)
        sd[f"diffusion_model.{key}.alpha"] = torch.tensor(4.0)
    save_file(sd, str(path))


def _graph(loader: dict, vae: str, lora_strength: float | None, prefix: str) -> dict:
    """loader -> Apply -> [LoRA after Apply] -> Bridge Sampler in SamplerCustomAdvanced -> SaveLatent."""
    model = ["4", 0]
    graph = {
        "1": loader,
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "3": {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": PROMPT}},
        "4": {"class_type": "UnlockPromptApply", "inputs": {"model": ["1", 0], "restoration_prompt": ["3", 0],
                                                            "strength": 1.0}},
        "5": {"class_type": "LoadImage", "inputs": {"image": "gguf.png"}},
        "6": {"class_type": "VAEEncode", "inputs": {"pixels": ["5", 0], "vae": ["2", 0]}},
        "8": {"class_type": "UnlockBridgeSampler", "inputs": {}},
        "10": {"class_type": "RandomNoise", "inputs": {"noise_seed": 3}},
        "12": {"class_type": "SaveLatent", "inputs": {"samples": ["11", 0], "filename_prefix": f"latents/{prefix}"}},
    }
    if lora_strength is not None:
        graph["13"] = {"class_type": "LoraLoaderModelOnly", "inputs": {"model": ["4", 0], "lora_name": LORA,
                                                                      "strength_model": lora_strength}}
        model = ["13", 0]
    graph["7"] = {"class_type": "BasicGuider", "inputs": {"model": model, "conditioning": ["4", 1]}}
    graph["9"] = {"class_type": "UnlockBridgeSigmas", "inputs": {"model": model, "t0": 0.5, "steps": 3,
                                                                 "t_min": 1e-4}}
    graph["11"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["10", 0], "guider": ["7", 0], "sampler": ["8", 0], "sigmas": ["9", 0], "latent_image": ["6", 0]}}
    return graph


def _latent(server, entry) -> torch.Tensor:
    from safetensors.torch import load_file

    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    item = entry["outputs"]["12"]["latents"][0]
    path = server.base / "output" / item["subfolder"] / item["filename"]
    return load_file(str(path))["latent_tensor"].float()


def _fresh(server):
    """Forget every cached node output and loaded model: the next graph is built from scratch."""
    status, _ = server.request("POST", "/free", {"unload_models": True, "free_memory": True})
    assert status == 200


@pytest.mark.parametrize("kind", ["gguf", "safetensors"])
def test_lora_with_a_reused_apply_equals_a_fresh_graph(gguf_server, kind):
    server, unet, gguf_file, vae = gguf_server
    loader = ({"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": gguf_file}} if kind == "gguf" else
              {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}})
    run = lambda strength, tag: _latent(server, server.run(_graph(loader, vae, strength, f"{kind}_{tag}"),  # noqa
                                                           timeout=600))
    _fresh(server)
    # One server session, Apply reused from the cache throughout: no LoRA, LoRA after it, another strength, none.
    plain = run(None, "plain")
    lora = run(1.0, "lora")
    half = run(0.5, "half")
    plain_again = run(None, "plain_again")
    # Each graph on its own, from scratch.
    fresh = {}
    for strength, tag in ((1.0, "lora"), (0.5, "half"), (None, "plain")):
        _fresh(server)
        fresh[tag] = run(strength, f"fresh_{tag}")
    change = float((lora - plain).abs().max())
    print(f"{kind}: LoRA changes the restored latent by up to {change:.4f}; reused-Apply vs fresh differences: "
          f"lora {float((lora - fresh['lora']).abs().max()):.2e}, strength 0.5 "
          f"{float((half - fresh['half']).abs().max()):.2e}, without LoRA after it "
          f"{float((plain_again - fresh['plain']).abs().max()):.2e}")
    assert change > 1e-2, "the LoRA had no effect: the test would not see a stale delta"
    for got, want in ((lora, fresh["lora"]), (half, fresh["half"]), (plain_again, fresh["plain"]),
                      (plain, fresh["plain"])):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
