"""Tier 2 (real server, HTTP API): training from Degrade-made pairs, re-queue, interrupt and resume, then a
later workflow restores with the saved prompt."""
import json
import time

import pytest

from harness.graphs import bridge_graph, write_public_domain_image

MODELS = {"flux": ("flux_dev", "taesd_flux"), "wan21": ("wan21_t2v", "wan21_vae")}


def train_graph(unet, vae, image, save_name, steps, checkpoint_every=0, seed=0, resume=None, weight_dtype="default",
                checkpointing=False):
    graph = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": unet, "weight_dtype": weight_dtype}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": vae}},
        "3": {"class_type": "LoadImage", "inputs": {"image": image}},
        "4": {"class_type": "UnlockDegrade", "inputs": {"image": ["3", 0], "degradation": "haze", "strength": 0.6,
                                                        "seed": 3}},
        "5": {"class_type": "UnlockPromptTrain", "inputs": {
            "model": ["1", 0], "vae": ["2", 0], "clean_images": ["3", 0], "degraded_images": ["4", 0],
            "steps": steps, "learning_rate": 0.02, "batch_size": 1, "resolution": 32, "t0": 0.4, "seed": seed,
            "mode": "gated", "objective": "bridge", "save_name": save_name, "checkpoint_every": checkpoint_every,
            "gradient_checkpointing": checkpointing, "tokens": 8, "degradation": "haze"}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 1]}},
    }
    if resume:
        graph["7"] = {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": resume}}
        graph["5"]["inputs"]["restoration_prompt"] = ["7", 0]
    return graph


@pytest.fixture(scope="module")
def served(comfy_server, tiny_models):
    write_public_domain_image(comfy_server.base / "input" / "train.png")
    return comfy_server, {a: (tiny_models[u].name, tiny_models[v].name) for a, (u, v) in MODELS.items()}


def _text(entry, node="5"):
    return entry["outputs"][node]["text"][0]


def _held(text):
    return [float(x) for x in text.split("Held-out loss ")[1].split(";")[0].rstrip(".").split(" -> ")]


@pytest.mark.parametrize("arch", MODELS)
def test_train_then_restore_in_a_later_workflow(served, arch):
    server, models = served
    unet, vae = models[arch]
    entry = server.run(train_graph(unet, vae, "train.png", f"api_{arch}_haze", steps=12), timeout=600)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    before, after = _held(_text(entry))
    assert after < before, _text(entry)
    assert (server.base / "models" / "prompt_embeds" / f"api_{arch}_haze.safetensors").is_file()
    later = server.run(bridge_graph(unet, vae, f"api_{arch}_haze.safetensors", "train.png", prefix=f"later_{arch}"))
    assert later["status"]["status_str"] == "success", json.dumps(later["status"], indent=1)


def test_training_with_fp8_weights(served, tiny_models):
    """fp8 weights stay fp8 in memory (cast at compute); only the prompt trains, with checkpointing on."""
    server, models = served
    graph = train_graph(tiny_models["flux_dev_fp8"].name, models["flux"][1], "train.png", "api_fp8", steps=2,
                        weight_dtype="fp8_e4m3fn", checkpointing=True)
    entry = server.run(graph, timeout=600)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    before, after = _held(_text(entry))
    assert before == before and after == after  # finite numbers were reported


def test_requeue_trains_again(served):
    server, models = served
    graph = train_graph(*models["wan21"], "train.png", "requeue", steps=2)
    graph["5"]["inputs"]["overwrite"] = True  # the same save_name twice: consent to replace the first result
    first, second = server.run(graph), server.run(graph)
    for entry in (first, second):
        assert entry["status"]["status_str"] == "success"
    cached = [m[1]["nodes"] for m in second["status"]["messages"] if m[0] == "execution_cached"]
    assert cached and "5" not in cached[0], cached  # the loaders may be cached; the trainer ran again


def test_interrupt_keeps_a_loadable_checkpoint_and_resume_continues(served):
    from unlock_restore.prompt_embeds import load_prompt

    server, models = served
    path = server.base / "models" / "prompt_embeds" / "interrupted.safetensors"
    status, body = server.queue(train_graph(*models["wan21"], "train.png", "interrupted", steps=100000,
                                            checkpoint_every=5))
    assert status == 200, body
    deadline = time.monotonic() + 300
    while not path.exists():
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    sent = time.monotonic()
    assert server.request("POST", "/interrupt")[0] == 200
    entry = server.wait(body["prompt_id"], timeout=120)
    stopped_after = time.monotonic() - sent
    print(f"training stopped {stopped_after:.2f} s after POST /interrupt")
    assert any(m[0] == "execution_interrupted" for m in entry["status"]["messages"]), entry["status"]
    saved = load_prompt(path)  # atomic writes: whatever is on disk is a whole, valid prompt
    done = saved.provenance["training"]["steps_done"]
    assert done >= 5
    resumed = server.run(train_graph(*models["wan21"], "train.png", "resumed", steps=3,
                                     resume="interrupted.safetensors"))
    assert resumed["status"]["status_str"] == "success", json.dumps(resumed["status"], indent=1)
    assert load_prompt(server.base / "models" / "prompt_embeds" / "resumed.safetensors"
                       ).provenance["training"]["steps_done"] == done + 3
