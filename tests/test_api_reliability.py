"""Tier 2 (real server, HTTP API): bad inputs and faults, as a hostile user sends them. Each gets a clear error that
names the node, no image comes back as a success, the next good job still runs, and no file under models/, input/
or output/ changes that the job did not declare."""
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import torch

from harness.graphs import bridge_graph, tiny_prompt, write_public_domain_image

MODELS = {"flux": ("flux_dev", "taesd_flux"), "wan21": ("wan21_t2v", "wan21_vae")}
GOOD_PROMPT = "rel_flux.safetensors"


@pytest.fixture(scope="module")
def served(comfy_server, tiny_models):
    from unlock_restore.prompt_embeds import save_prompt

    write_public_domain_image(comfy_server.base / "input" / "rel.png")
    save_prompt(tiny_prompt("flux", tokens=8, seed=3), comfy_server.base / "models" / "prompt_embeds" / GOOD_PROMPT)
    return comfy_server, {a: (tiny_models[u].name, tiny_models[v].name) for a, (u, v) in MODELS.items()}


def _tree(server) -> dict:
    """Every file under models/, input/ and output/: path -> (size, content hash) (links: their target)."""
    out = {}
    for sub in ("models", "input", "output"):
        for root, _, files in os.walk(server.base / sub):
            for f in files:
                p = Path(root) / f
                if p.is_symlink():
                    out[str(p)] = ("link", os.readlink(p))
                    continue
                out[str(p)] = (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def _error(entry) -> str:
    assert entry["status"]["status_str"] == "error", json.dumps(entry["status"], indent=1)
    msgs = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert msgs, entry["status"]
    return msgs[0]["exception_message"]


def _restore_graph(unet, vae, image="rel.png", prompt=GOOD_PROMPT, **inputs):
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "3": {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": prompt}},
        "4": {"class_type": "LoadImage", "inputs": {"image": image}},
        "5": {"class_type": "UnlockRestore", "inputs": {"model": ["1", 0], "vae": ["2", 0],
                                                        "restoration_prompt": ["3", 0], "image": ["4", 0],
                                                        "t0": 0.4, "steps": 2, "seed": 0, "strength": 1.0,
                                                        "window_frames": 33, "overlap_frames": 8,
                                                        "tile_vae_above_mp": 4.0, **inputs}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "rel_out"}},
    }
    return graph


def _train_graph(unet, vae, save_name, image=["4", 0], **inputs):
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": "default"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "rel.png"}},
        "5": {"class_type": "UnlockPromptTrain", "inputs": {
            "model": ["1", 0], "vae": ["2", 0], "clean_images": image, "degraded_images": image, "steps": 2,
            "learning_rate": 0.01, "batch_size": 1, "resolution": 32, "t0": 0.4, "seed": 0, "mode": "gated",
            "objective": "bridge", "save_name": save_name, "checkpoint_every": 0, "gradient_checkpointing": False,
            "tokens": 8, "degradation": "", **inputs}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 1]}},
    }


def _assert_good_job_runs(server, models):
    entry = server.run(_restore_graph(*models["flux"]))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    assert entry["outputs"]["6"]["images"], entry["outputs"]


BAD = {  # case -> (graph builder, node that must be named, words the message must hold)
    "nan_strength_restore": (lambda m: _restore_graph(*m["flux"], strength=float("nan")),
                             "Restore (Bridge)", ["strength is nan", "finite number"]),
    "nan_t0_restore": (lambda m: _restore_graph(*m["flux"], t0=float("nan")), "Restore (Bridge)", ["t0 is nan"]),
    "nan_pixels": (lambda m: {**_restore_graph(*m["flux"]), "5": {**_restore_graph(*m["flux"])["5"], "inputs": {
        **_restore_graph(*m["flux"])["5"]["inputs"], "image": ["7", 0]}},
        "7": {"class_type": "ImageBlend", "inputs": {"image1": ["4", 0], "image2": ["4", 0],
                                                      "blend_factor": float("nan"), "blend_mode": "normal"}}},
                   "Restore (Bridge)", ["NaN or infinite", "input image"]),
    "overflowing_prompt": (lambda m: _restore_graph(*m["flux"], prompt="rel_overflow.safetensors"),
                           "Restore (Bridge)", ["overflow", "adds values up to 6e+38", "Lower strength"]),
    "nan_learning_rate": (lambda m: _train_graph(*m["wan21"], "rel_never", learning_rate=float("nan")),
                          "Train Restoration Prompt", ["learning_rate is nan"]),
    "nan_t0_train": (lambda m: _train_graph(*m["wan21"], "rel_never", t0=float("nan")),
                     "Train Restoration Prompt", ["t0 is nan"]),
    "tiny_training_images": (lambda m: {**_train_graph(*m["wan21"], "rel_never", image=["7", 0]), "7": {
        "class_type": "ImageScale", "inputs": {"image": ["4", 0], "upscale_method": "nearest-exact", "width": 1,
                                               "height": 1, "crop": "disabled"}}},
                             "Train Restoration Prompt", ["1x1 px", "at least 16x16"]),
    "long_save_name": (lambda m: _train_graph(*m["wan21"], "x" * 235), "Train Restoration Prompt",
                       ["247 characters", "at most 200"]),
    "windows_illegal_save_name": (lambda m: _train_graph(*m["wan21"], 'bad<>:"|?*name'), "Train Restoration Prompt",
                                  ["'<'", "'?'", "not portable"]),
}


@pytest.fixture(scope="module")
def overflow_prompt(served):
    """A prompt file whose values are finite in float32 but whose injection (P x gate) overflows it."""
    from unlock_restore.prompt_embeds import save_prompt

    server, _ = served
    p = tiny_prompt("flux", tokens=8, seed=4)
    p.prompt[0, 0] = 3e38
    p.gates[:] = 2.0
    save_prompt(p, server.base / "models" / "prompt_embeds" / "rel_overflow.safetensors")


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_by_name_and_the_next_job_runs(served, overflow_prompt, case):
    server, models = served
    build, node, words = BAD[case]
    before = _tree(server)
    status, body = server.queue(build(models))
    assert status == 200, body  # the host's own validation lets these through: the node must catch them
    entry = server.wait(body["prompt_id"])
    msg = _error(entry)
    assert msg.startswith(f"{node}:"), msg
    for w in words:
        assert w in msg, (w, msg)
    assert not any(out.get("images") for out in entry.get("outputs", {}).values()), entry["outputs"]
    assert _tree(server) == before, "a refused job changed files"
    _assert_good_job_runs(server, models)


def test_out_of_list_choice_is_refused_by_name(served):
    """A combo value from another version: v0.20.1's validation rejects the graph itself (400, per node); v0.3.64
    lets V3 combos through, and the node refuses it. Either way nothing runs and the input is named."""
    server, models = served
    before = _tree(server)
    status, body = server.queue(_train_graph(*models["wan21"], "rel_never", mode="sideways"))
    if status == 400:
        text = json.dumps(body)
        assert "mode" in text and "sideways" in text, text
    else:
        msg = _error(server.wait(body["prompt_id"]))
        assert msg.startswith("Train Restoration Prompt: mode must be one of gated, context, got 'sideways'"), msg
    assert _tree(server) == before
    _assert_good_job_runs(server, models)


def test_training_never_replaces_a_prompt_without_consent(served):
    server, models = served
    path = server.base / "models" / "prompt_embeds" / "rel_twice.safetensors"
    first = server.run(_train_graph(*models["wan21"], "rel_twice"), timeout=600)
    assert first["status"]["status_str"] == "success", json.dumps(first["status"], indent=1)
    saved = path.read_bytes()
    before = _tree(server)
    msg = _error(server.run(_train_graph(*models["wan21"], "rel_twice", seed=1), timeout=600))
    assert msg.startswith("Train Restoration Prompt: models/prompt_embeds/rel_twice.safetensors already exists"), msg
    assert "another save_name" in msg and "overwrite" in msg and "Load Restoration Prompt" in msg, msg
    assert path.read_bytes() == saved and _tree(server) == before
    # Resuming from that file continues in it without asking; a fresh run with overwrite on replaces it.
    resume = _train_graph(*models["wan21"], "rel_twice")
    resume["7"] = {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": "rel_twice.safetensors"}}
    resume["5"]["inputs"]["restoration_prompt"] = ["7", 0]
    assert server.run(resume, timeout=600)["status"]["status_str"] == "success"
    resumed = path.read_bytes()
    assert resumed != saved
    again = server.run(_train_graph(*models["wan21"], "rel_twice", seed=2, overwrite=True), timeout=600)
    assert again["status"]["status_str"] == "success", json.dumps(again["status"], indent=1)
    assert path.read_bytes() not in (saved, resumed)
    assert not [f for f in path.parent.iterdir() if f.name.startswith(".rel_twice")]  # no temp file left behind


def _rss(server, field: str = "VmRSS") -> int:
    text = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) * 1024


def _reset_peak(server) -> bool:
    """Reset the server's peak resident memory (VmHWM) to its current value (Linux clear_refs 5)."""
    try:
        Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc (Linux)")
def test_a_model_file_in_the_prompt_folder_costs_no_memory(served, tiny_models):
    """The tiny FLUX checkpoint (770 MiB) placed in models/prompt_embeds and selected: refused from its header."""
    server, models = served
    wrong = server.base / "models" / "prompt_embeds" / "flux_model_in_wrong_folder.safetensors"
    wrong.symlink_to(tiny_models["flux_dev"].resolve())
    try:
        _assert_good_job_runs(server, models)  # warm: models loaded, caches filled
        before = _rss(server)
        # The peak while the job ran, not the level after it: a file read whole and then freed leaves no trace
        # in the resident size afterwards, only in the peak.
        field = "VmHWM" if _reset_peak(server) else "VmRSS"
        entry = server.run(_restore_graph(*models["flux"], prompt=wrong.name))
        msg = _error(entry)
        grew = _rss(server, field) - before
        print(f"server resident memory ({field}) grew {grew / 2**20:.1f} MiB refusing a "
              f"{wrong.stat().st_size / 2**20:.0f} MiB model file selected as a prompt")
        assert msg.startswith("Load Restoration Prompt:") and "not an unlock-restore restoration prompt" in msg, msg
        assert grew < 50 * 2**20, f"{grew / 2**20:.1f} MiB"
    finally:
        wrong.unlink()
    _assert_good_job_runs(server, models)


def test_prompt_file_with_nan_is_refused_when_loaded(served):
    from safetensors.torch import load_file, save_file

    server, models = served
    src = server.base / "models" / "prompt_embeds" / GOOD_PROMPT
    bad = server.base / "models" / "prompt_embeds" / "rel_nan.safetensors"
    from safetensors import safe_open

    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(src))
    tensors["prompt"][1, 2] = float("nan")
    save_file(tensors, str(bad), metadata=meta)
    try:
        msg = _error(server.run(_restore_graph(*models["flux"], prompt=bad.name)))
        assert msg.startswith("Load Restoration Prompt:") and "NaN" in msg, msg
    finally:
        bad.unlink()
    _assert_good_job_runs(server, models)
    assert torch.isfinite(load_file(str(src))["prompt"]).all()
