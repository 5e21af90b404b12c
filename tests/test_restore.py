"""Tier 2: Restore (Bridge), in-process with the tiny stock-loaded models, and through a real server."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

NODE = "Restore (Bridge)"
K = 16
STEPS = 2


def _prompt(arch: str, width: int, blocks: dict, seed: int = 0):
    from unlock_restore.prompt_embeds import RestorationPrompt

    g = torch.Generator().manual_seed(seed)
    return RestorationPrompt(prompt=0.5 * torch.randn(K, width, generator=g),
                             gates=torch.randn(sum(blocks.values()), generator=g), mode="gated", arch=arch,
                             blocks=blocks, null_context=0.1 * torch.randn(K, 4096, generator=g),
                             pooled=0.1 * torch.randn(768, generator=g) if arch == "flux" else None,
                             provenance={"degradations": ["test"]})


def flux_prompt(seed=0):
    return _prompt("flux", 3072, {"double": 1, "single": 0}, seed)


def wan_prompt(seed=0):
    return _prompt("wan21", 128, {"blocks": 2}, seed)


def _smooth_images(n: int, h: int, w: int, channels: int = 3, seed: int = 0, motion: float = 0.0) -> torch.Tensor:
    """Smooth gradients plus a little noise (a stand-in for a degraded photo); `motion` shifts them per frame."""
    g = torch.Generator().manual_seed(seed)
    yy = torch.linspace(0, 1, h).reshape(1, h, 1, 1)
    xx = torch.linspace(0, 1, w).reshape(1, 1, w, 1)
    t = torch.arange(n, dtype=torch.float32).reshape(n, 1, 1, 1) * motion
    phase = torch.rand(1, 1, 1, channels, generator=g) * 6.28
    img = 0.5 + 0.35 * torch.sin(3.0 * xx + 2.0 * yy + phase + t)
    img = img + 0.05 * torch.randn(1, h, w, channels, generator=g)
    return img.clamp(0, 1).expand(n, h, w, channels).contiguous() if motion == 0 else img.clamp(0, 1)


@pytest.fixture(scope="module")
def node(comfy_host):
    return comfy_host.node("UnlockRestore")


@pytest.fixture(scope="module")
def flux(comfy_host, host_models):
    (model,) = comfy_host.node("UNETLoader")().load_unet(host_models["flux_dev"], "default")
    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models["taesd_flux"])
    return model, vae


@pytest.fixture(scope="module")
def wan(comfy_host, host_models):
    (model,) = comfy_host.node("UNETLoader")().load_unet(host_models["wan21_t2v"], "default")
    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models["wan21_vae"])
    return model, vae


def restore(node, models, prompt, image, seed=0, steps=STEPS, t0=0.4, **kw):
    model, vae = models
    with torch.inference_mode():  # as the host runs every node (execution.py)
        return node.execute(model=model, vae=vae, restoration_prompt=prompt, image=image, t0=t0, steps=steps,
                            seed=seed, **kw).result[0]


def _check_image(out, like):
    assert out.shape == like.shape, f"{tuple(out.shape)} != {tuple(like.shape)}"
    assert out.dtype == torch.float32
    assert bool(torch.isfinite(out).all())
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


# --- schema ---------------------------------------------------------------------------------------------------

def test_schema_contract(node):
    schema = node.define_schema()
    names = [i.id for i in schema.inputs]
    assert names[:7] == ["model", "vae", "restoration_prompt", "image", "t0", "steps", "seed"]
    assert names[7:11] == ["strength", "window_frames", "overlap_frames", "tile_vae_above_mp"]
    # Appended for two-expert models, optional so saved workflows load unchanged.
    assert names[11:] == ["high_noise_model", "high_noise_prompt", "expert_boundary"]
    assert all(i.optional for i in schema.inputs[11:])
    assert all(i.tooltip for i in schema.inputs), "every input needs a tooltip"
    assert schema.category == "unlock-restore" and schema.display_name == NODE


# --- FLUX: images ---------------------------------------------------------------------------------------------

def _wired_graph(comfy_host, model, vae, prompt, pixels, seed):
    """What the node must equal, wired from stock nodes: Apply Restoration Prompt -> VAE Encode ->
    SamplerCustomAdvanced(RandomNoise, BasicGuider, Bridge Sampler, Bridge Schedule) -> VAE Decode.
    Returns (the encoded latent, the decoded output)."""
    node = comfy_host.node
    with torch.inference_mode():
        patched, cond = node("UnlockPromptApply").execute(model=model, restoration_prompt=prompt, strength=1.0).result
        (latent,) = node("VAEEncode")().encode(vae, pixels)
        (noise,) = node("RandomNoise")().get_noise(seed)
        guider = node("BasicGuider")().get_guider(patched, cond)[0]
        sampler = node("UnlockBridgeSampler").execute().result[0]
        sigmas = node("UnlockBridgeSigmas").execute(model=patched, t0=0.4, steps=STEPS, t_min=1e-4).result[0]
        out, _ = node("SamplerCustomAdvanced")().sample(noise, guider, sampler, sigmas, latent)
        (ref,) = node("VAEDecode")().decode(vae, out)
    return latent, ref


def test_flux_node_equals_the_wired_graph(node, flux, comfy_host):
    """For an image already at the model's multiple, the node is exactly Apply Restoration Prompt ->
    VAE Encode -> SamplerCustomAdvanced(RandomNoise, BasicGuider, Bridge Sampler, Bridge Schedule) -> VAE Decode."""
    model, vae = flux
    prompt = flux_prompt()
    image = _smooth_images(1, 48, 64)
    ours = restore(node, flux, prompt, image, seed=7)

    _, ref = _wired_graph(comfy_host, model, vae, prompt, image, seed=7)
    _check_image(ours, image)
    torch.testing.assert_close(ours, ref.clamp(0, 1), atol=0, rtol=0)
    assert float((ours - image).abs().mean()) > 1e-3, "nothing was restored"


def test_flux_odd_size_keeps_size_and_channels(node, flux):
    from unlock_restore.imaging import pad_to_multiple

    image = _smooth_images(1, 37, 53)
    out = restore(node, flux, flux_prompt(), image)
    _check_image(out, image)
    # Padded and cropped back, never resized: restoring the image is restoring its padded version, cut back.
    padded, _ = pad_to_multiple(image, 16)
    assert padded.shape == (1, 48, 64, 3)
    full = restore(node, flux, flux_prompt(), padded)
    torch.testing.assert_close(out, full[:, :37, :53], atol=0, rtol=0)


def test_flux_rgba_keeps_alpha_exactly(node, flux):
    image = _smooth_images(1, 40, 33, channels=4)
    image[..., 3] = torch.linspace(0, 1, 33)  # a real alpha ramp
    out = restore(node, flux, flux_prompt(), image)
    _check_image(out, image)
    assert torch.equal(out[..., 3], image[..., 3])
    rgb = restore(node, flux, flux_prompt(), image[..., :3].contiguous())
    torch.testing.assert_close(out[..., :3], rgb, atol=0, rtol=0)  # alpha does not change the colour result


def test_flux_grayscale_returns_one_channel(node, flux):
    image = _smooth_images(1, 32, 45, channels=1)
    out = restore(node, flux, flux_prompt(), image)
    _check_image(out, image)
    rgb = restore(node, flux, flux_prompt(), image.expand(-1, -1, -1, 3).contiguous())
    luma = (rgb * torch.tensor([0.299, 0.587, 0.114])).sum(-1, keepdim=True)
    torch.testing.assert_close(out, luma, atol=1e-6, rtol=0)


def test_flux_batch_is_independent_images_and_deterministic(node, flux):
    batch = torch.cat([_smooth_images(1, 32, 48, seed=1), _smooth_images(1, 32, 48, seed=2)])
    out = restore(node, flux, flux_prompt(), batch, seed=3)
    _check_image(out, batch)
    again = restore(node, flux, flux_prompt(), batch, seed=3)
    assert torch.equal(out, again), "same seed and inputs must give the same result"
    other = restore(node, flux, flux_prompt(), batch, seed=4)
    assert not torch.equal(out, other), "the seed has no effect"
    # Image 0 of the batch is restored as when it is alone (its noise is the seed's draw for index 0).
    alone = restore(node, flux, flux_prompt(), batch[:1], seed=3)
    torch.testing.assert_close(out[:1], alone, atol=1e-4, rtol=0)
    assert not torch.allclose(out[0], out[1], atol=1e-3)


def test_flux_batch_chunks_give_the_same_images(node, flux, monkeypatch):
    """Long batches are sampled in chunks of bounded size; each image's noise depends on its index only, so
    chunking does not change the result (up to float rounding that depends on the batch size)."""
    import sys

    batch = torch.cat([_smooth_images(1, 32, 48, seed=s) for s in (1, 2, 3)])
    whole = restore(node, flux, flux_prompt(), batch, seed=3)
    engine = sys.modules[node.__module__.rsplit(".", 1)[0] + ".restoring"]  # the Restore node's engine module
    monkeypatch.setattr(engine, "CHUNK_PIXELS", 2 * 32 * 48)  # 2 images per call
    chunked = restore(node, flux, flux_prompt(), batch, seed=3)
    _check_image(chunked, batch)
    torch.testing.assert_close(chunked, whole, atol=1e-4, rtol=0)


def test_flux_tiled_vae_path(node, flux):
    """Above tile_vae_above_mp the VAE runs in 512-pixel tiles (the stock tiled VAE's defaults)."""
    image = _smooth_images(1, 40, 600)  # wider than one tile
    plain = restore(node, flux, flux_prompt(), image, seed=5)
    tiled = restore(node, flux, flux_prompt(), image, seed=5, tile_vae_above_mp=0.0)  # 0: always tiled
    _check_image(tiled, image)
    assert not torch.equal(tiled, plain), "the tiled VAE path was not taken"
    assert float((tiled - plain).abs().mean()) < 2e-2  # the same restoration, up to the tiles' blending
    again = restore(node, flux, flux_prompt(), image, seed=5, tile_vae_above_mp=0.0)
    assert torch.equal(tiled, again)
    # 40 x 600 is 0.024 megapixels: any threshold above that keeps the plain VAE.
    assert torch.equal(restore(node, flux, flux_prompt(), image, seed=5, tile_vae_above_mp=0.05), plain)


# --- errors ---------------------------------------------------------------------------------------------------

def test_errors_name_the_node_and_say_what_to_do(node, flux, wan):
    with pytest.raises(ValueError, match=r"Restore \(Bridge\): the image batch is empty"):
        restore(node, flux, flux_prompt(), torch.zeros(0, 64, 64, 3))
    with pytest.raises(ValueError, match=r"Restore \(Bridge\): the image is 1x1 pixels.*16x16") as e:
        restore(node, flux, flux_prompt(), torch.rand(1, 1, 1, 3))
    assert "larger image" in str(e.value)
    with pytest.raises(ValueError, match=r"Restore \(Bridge\).* 10x40 pixels"):
        restore(node, flux, flux_prompt(), torch.rand(1, 40, 10, 3))
    with pytest.raises(ValueError, match=r"Restore \(Bridge\).*channels"):
        restore(node, flux, flux_prompt(), torch.rand(1, 32, 32, 5))
    # The prompt does not fit the model: the error comes from the shared prepare(), naming this node.
    with pytest.raises(ValueError, match=r"Restore \(Bridge\): .*Wan 2.1.*FLUX"):
        restore(node, flux, wan_prompt(), torch.rand(1, 32, 32, 3))
    # A VAE of the other family.
    with pytest.raises(ValueError, match=r"Restore \(Bridge\): the connected VAE .*does not match"):
        restore(node, (flux[0], wan[1]), flux_prompt(), torch.rand(1, 32, 32, 3))
    with pytest.raises(ValueError, match=r"Restore \(Bridge\): overlap_frames is 20"):
        restore(node, wan, wan_prompt(), torch.rand(40, 16, 16, 3), window_frames=33, overlap_frames=20)


# --- Wan: video -----------------------------------------------------------------------------------------------

def test_wan_node_equals_the_wired_graph(node, wan, comfy_host):
    """A clip of 4k + 1 frames at the model's multiple, in one window, is exactly the wired graph: the whole clip
    VAE-encoded as one video (not frame by frame), sampled, decoded."""
    model, vae = wan
    prompt = wan_prompt()
    video = _smooth_images(9, 32, 48, motion=0.1)
    ours = restore(node, wan, prompt, video, seed=7)

    latent, ref = _wired_graph(comfy_host, model, vae, prompt, video, seed=7)
    assert latent["samples"].shape[:3] == (1, 16, 3), "the reference encodes one clip of 9 frames"
    _check_image(ours, video)
    torch.testing.assert_close(ours, ref.reshape(video.shape).clamp(0, 1), atol=0, rtol=0)


def test_wan_9_frames_odd_size(node, wan):
    video = _smooth_images(9, 21, 35, motion=0.1)
    out = restore(node, wan, wan_prompt(), video)
    _check_image(out, video)
    assert torch.equal(out, restore(node, wan, wan_prompt(), video))  # deterministic


def test_wan_frames_not_4k_plus_1(node, wan):
    """6 frames are restored as 9 (the last frame repeated), and the 3 extra frames dropped after decoding."""
    video = _smooth_images(6, 16, 16, motion=0.1)
    out = restore(node, wan, wan_prompt(), video)
    _check_image(out, video)
    nine = torch.cat([video, video[-1:].expand(3, -1, -1, -1)])
    torch.testing.assert_close(out, restore(node, wan, wan_prompt(), nine)[:6], atol=0, rtol=0)


def _frame_diffs(video):
    return (video[1:] - video[:-1]).abs().mean(dim=(1, 2, 3))


def test_wan_40_frames_in_two_windows_joined_by_crossfade(node, wan):
    from unlock_restore.imaging import join_windows, plan_windows

    prompt = wan_prompt()
    video = _smooth_images(40, 16, 16, motion=0.05)
    out = restore(node, wan, prompt, video, seed=11)  # defaults: window 33, overlap 8
    _check_image(out, video)
    windows = plan_windows(40, 33, 8)
    assert windows == [(0, 33), (25, 40)]
    # Each window is restored exactly as that clip alone (window i with seed + i; the 15-frame tail padded to
    # 17 and cut back), and the windows are joined by the linear cross-fade over the 8 shared frames.
    first = restore(node, wan, prompt, video[0:33], seed=11)
    second = restore(node, wan, prompt, video[25:40], seed=12)
    torch.testing.assert_close(out[:25], first[:25], atol=0, rtol=0)
    torch.testing.assert_close(out[33:], second[8:], atol=0, rtol=0)
    torch.testing.assert_close(out, join_windows([first, second], windows, 40), atol=1e-6, rtol=0)
    assert not torch.allclose(first[25:], second[:8], atol=1e-3), "the windows agree: the join is not exercised"
    # No seam: frame-to-frame change around the join is not larger than elsewhere. (With the tiny models'
    # random weights frames are only weakly related, so this is a guard against gross errors such as a blank,
    # duplicated or shifted frame at the join; the exact cross-fade check above is the precise one.)
    diffs = _frame_diffs(out)  # diffs[f] = |frame f+1 - frame f|
    join = diffs[25 - 1:33]  # every step that touches the cross-fade: into, within and out of the overlap
    elsewhere = torch.cat([diffs[:25 - 1], diffs[33:]])
    ratio = float(join.mean() / elsewhere.median())
    assert ratio <= 3.0, f"seam at the join: mean diff {float(join.mean()):.4f} vs median elsewhere " \
                         f"{float(elsewhere.median()):.4f} (x{ratio:.2f})"


# --- through a real server ------------------------------------------------------------------------------------

def _write_png(path, image: torch.Tensor):
    from PIL import Image

    Image.fromarray((image[0].numpy() * 255).round().astype(np.uint8)).save(path)


def _graph(tiny_models, prompt_name, image_name, seed=0):
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": tiny_models["flux_dev"].name,
                                                     "weight_dtype": "default"}},
        "2": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models["taesd_flux"].name}},
        "3": {"class_type": "UnlockPromptLoader", "inputs": {"prompt_name": prompt_name}},
        "4": {"class_type": "LoadImage", "inputs": {"image": image_name}},
        "5": {"class_type": "UnlockRestore", "inputs": {
            "model": ["1", 0], "vae": ["2", 0], "restoration_prompt": ["3", 0], "image": ["4", 0],
            "t0": 0.4, "steps": STEPS, "seed": seed, "strength": 1.0, "window_frames": 33, "overlap_frames": 8,
            "tile_vae_above_mp": 4.0}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "restored"}},
    }


def test_server_restores_an_odd_size_image_and_recovers_from_errors(comfy_server, tiny_models):
    from PIL import Image

    from unlock_restore.prompt_embeds import save_prompt

    info = comfy_server.get("/object_info/UnlockRestore")["UnlockRestore"]
    assert info["input_order"]["required"][:7] == ["model", "vae", "restoration_prompt", "image", "t0", "steps",
                                                   "seed"]
    folder = comfy_server.base / "models" / "prompt_embeds"
    folder.mkdir(parents=True, exist_ok=True)
    save_prompt(flux_prompt(), folder / "restore_flux.safetensors")
    save_prompt(wan_prompt(), folder / "restore_wan.safetensors")
    _write_png(comfy_server.base / "input" / "degraded.png", _smooth_images(1, 37, 53))

    entry = comfy_server.run(_graph(tiny_models, "restore_flux.safetensors", "degraded.png"))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    saved = entry["outputs"]["6"]["images"][0]
    with Image.open(comfy_server.base / "output" / saved["subfolder"] / saved["filename"]) as im:
        assert im.size == (53, 37) and im.mode == "RGB"

    # A Wan prompt with the FLUX model: the job fails with a message naming the node ...
    entry = comfy_server.run(_graph(tiny_models, "restore_wan.safetensors", "degraded.png"))
    assert entry["status"]["status_str"] == "error"
    err = next(m[1] for m in entry["status"]["messages"] if m[0] == "execution_error")
    assert err["node_type"] == "UnlockRestore" and NODE in err["exception_message"], err["exception_message"]
    assert "Wan 2.1" in err["exception_message"]
    # ... and the server goes on serving.
    entry = comfy_server.run(_graph(tiny_models, "restore_flux.safetensors", "degraded.png", seed=1))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)


@pytest.mark.parametrize("n_frames", [9, 10, 40])
def test_server_restores_a_wan_video(comfy_server, tiny_models, n_frames):
    """An animated PNG (odd size; 10 is not 4k+1; 40 spans two windows) loads as a frame batch; Wan restores
    every frame."""
    from PIL import Image

    from unlock_restore.prompt_embeds import save_prompt

    folder = comfy_server.base / "models" / "prompt_embeds"
    folder.mkdir(parents=True, exist_ok=True)
    save_prompt(wan_prompt(), folder / "restore_wan_video.safetensors")
    video = _smooth_images(n_frames, 19, 27, motion=0.1)
    frames = [Image.fromarray((f.numpy() * 255).round().astype(np.uint8)) for f in video]
    clip = f"clip{n_frames}.png"
    frames[0].save(comfy_server.base / "input" / clip, save_all=True, append_images=frames[1:], duration=40)
    graph = _graph(tiny_models, "restore_wan_video.safetensors", clip)
    graph["1"]["inputs"]["unet_name"] = tiny_models["wan21_t2v"].name
    graph["2"]["inputs"]["vae_name"] = tiny_models["wan21_vae"].name
    entry = comfy_server.run(graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    saved = entry["outputs"]["6"]["images"]
    assert len(saved) == n_frames
    for s in saved:
        with Image.open(comfy_server.base / "output" / s["subfolder"] / s["filename"]) as im:
            assert im.size == (27, 19)
