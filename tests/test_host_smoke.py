"""Tier 2: the pack loads in a real ComfyUI, in-process and as a served host."""
import json

import torch


def test_server_starts_with_the_pack(comfy_server):
    info = comfy_server.get("/object_info")
    assert "KSampler" in info, "the server answered but without ComfyUI's own nodes"
    node = info.get("UnlockPromptLoader")
    assert node is not None, f"the pack did not register its nodes; server log:\n{comfy_server.log_tail()}"
    assert node["category"].startswith("unlock-restore")
    assert node["output"] == ["RESTORATION_PROMPT"]
    name, spec = next(iter(node["input"]["required"].items()))
    assert name == "prompt_name" and spec[1].get("tooltip")
    log = comfy_server.log_tail(200000)
    pack = f"{comfy_server.base}/custom_nodes/unlock-restore"
    assert f"Cannot import {pack}" not in log and "Error while calling comfy_entrypoint" not in log, log
    assert "Unable to parse pyproject.toml" not in log, log  # the registry metadata parses in the host
    assert f"{pack} (IMPORT FAILED)" not in log and pack in log, log
    # The model folder is registered (GET /models lists it) and serves .safetensors only.
    assert "prompt_embeds" in comfy_server.get("/models")
    assert isinstance(comfy_server.get("/models/prompt_embeds"), list)


def test_server_serves_next_job_after_a_bad_one(comfy_server):
    """A graph naming a prompt file that does not exist fails with a message naming the node, the file and the
    folder (whether the host refuses it at validation or the node at execution); the server keeps serving."""
    graph = {"1": {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": "missing.safetensors"}},
             "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    status, body = comfy_server.queue(graph)
    if status == 200:
        entry = comfy_server.wait(body["prompt_id"])
        assert entry["status"]["status_str"] == "error"
        err = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
        assert err["node_type"] == "UnlockPromptLoader"
        message = err["exception_message"]
        assert "Load Restoration Prompt" in message and "models/prompt_embeds" in message
    else:
        assert status == 400
        message = json.dumps(body)
    assert "missing.safetensors" in message
    assert "UnlockPromptLoader" in comfy_server.get("/object_info/UnlockPromptLoader")
    assert comfy_server.get("/system_stats")  # still serving


def test_in_process_host_loads_a_prompt(comfy_host):
    from unlock_restore.prompt_embeds import RestorationPrompt, save_prompt

    folder = comfy_host.base / "models" / "prompt_embeds"
    p = RestorationPrompt(prompt=torch.randn(6, 128), gates=torch.zeros(2), mode="gated", arch="wan21",
                          blocks={"blocks": 2})
    save_prompt(p, folder / "smoke.safetensors")
    loader = comfy_host.node("UnlockPromptLoader")
    assert "smoke.safetensors" in comfy_host.folder_paths.get_filename_list("prompt_embeds")
    out = loader.execute(prompt_name="smoke.safetensors")
    loaded = out.result[0]
    assert torch.equal(loaded.prompt, p.prompt) and loaded.blocks == {"blocks": 2}
