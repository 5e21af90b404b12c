"""Tier 2: the data nodes (Degrade Image, Load Image Pairs, Restoration Metrics) in a real ComfyUI host."""
import asyncio
import json
import math
import re
import struct
import sys
import uuid

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from harness.graphs import write_image
from unlock_restore.imaging.degradations import DEGRADATIONS, degrade, degrade_chain
from unlock_restore.imaging.metrics import mean_metrics, psnr_ssim

try:
    import skimage  # noqa: F401  (optional for users, part of the test environment)
    HAVE_SKIMAGE = True
except ImportError:
    HAVE_SKIMAGE = False
needs_skimage = pytest.mark.skipif(not HAVE_SKIMAGE, reason="!!! SCIKIT-IMAGE MISSING: metric node tests skipped "
                                                            "(pip install scikit-image) !!!")

CONTRACT = {  # node id -> input names in order (a public contract: new inputs are only ever appended)
    "UnlockDegrade": ["image", "degradation", "strength", "seed", "degradation_2", "strength_2", "degradation_3",
                      "strength_3"],
    "UnlockImagePairs": ["folder", "max_pairs"],
    "UnlockImageFolder": ["folder", "width", "height", "fit", "order", "seed", "max_images"],
    "UnlockMetrics": ["restored", "reference", "y_channel", "resize_to_512"],
}


def _images(b=2, h=40, w=48, seed=0):
    return torch.rand(b, h, w, 3, generator=torch.Generator().manual_seed(seed))


def _load(path):
    return torch.from_numpy(np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"),
                                       dtype=np.float32) / 255)


# --- schemas --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("node_id", CONTRACT)
def test_schema_inputs_in_order_with_tooltips(comfy_host, node_id):
    schema = comfy_host.node(node_id).define_schema()
    assert [i.id for i in schema.inputs] == CONTRACT[node_id]
    assert all(i.tooltip for i in schema.inputs), [i.id for i in schema.inputs if not i.tooltip]
    assert schema.category == "unlock-restore/data"
    assert schema.is_output_node == (node_id == "UnlockMetrics")


# --- Degrade Image --------------------------------------------------------------------------------------------

def test_degrade_node_matches_the_pure_chain(comfy_host):
    node = comfy_host.node("UnlockDegrade")
    x = _images()
    schema = {i.id: i for i in node.define_schema().inputs}
    assert schema["degradation"].options == list(DEGRADATIONS)
    assert schema["degradation_2"].options == ["none", *DEGRADATIONS]
    assert all(name in schema["strength"].tooltip for name in DEGRADATIONS)
    single = node.execute(image=x, degradation="haze", strength=0.6, seed=4).result[0]
    assert torch.equal(single, degrade(x, "haze", 0.6, 4))
    combo = node.execute(image=x, degradation="low_light", strength=0.5, seed=4, degradation_2="gaussian_noise",
                         strength_2=0.3, degradation_3="jpeg", strength_3=0.5).result[0]
    want = degrade_chain(x, [("low_light", 0.5), ("gaussian_noise", 0.3), ("jpeg", 0.5)], 4)
    assert torch.equal(combo, want) and combo.shape == x.shape
    assert not torch.equal(combo, single)


def test_degrade_node_errors_name_the_node(comfy_host):
    node = comfy_host.node("UnlockDegrade")
    with pytest.raises(ValueError, match="Degrade Image: .*'none'"):
        node.execute(image=_images(), degradation="none", strength=0.5, seed=0)
    with pytest.raises(ValueError, match="Degrade Image: unknown degradation 'fog'"):
        node.execute(image=_images(), degradation="haze", strength=0.5, seed=0, degradation_2="fog")


# --- Load Image Pairs -----------------------------------------------------------------------------------------

@pytest.fixture
def pairs_dir(comfy_host):
    """A fresh folder name under the host's input directory, and its path."""
    name = f"pairs_{uuid.uuid4().hex[:8]}"
    path = comfy_host.base / "input" / "sets" / name
    return f"sets/{name}", path


def _make(root, clean, degraded, size=(64, 48)):
    """Write images: names with extension -> a seed (or raw bytes for garbage)."""
    for sub, files in (("clean", clean), ("degraded", degraded)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for name, seed in files.items():
            if isinstance(seed, bytes):
                (root / sub / name).write_bytes(seed)
            else:
                w, h = size if not isinstance(seed, tuple) else seed[1]
                write_image(root / sub / name, w, h, seed=seed if not isinstance(seed, tuple) else seed[0])


def _pairs(comfy_host, folder, max_pairs=0):
    return comfy_host.node("UnlockImagePairs").execute(folder=folder, max_pairs=max_pairs)


def test_image_pairs_good_folder(comfy_host, pairs_dir):
    folder, root = pairs_dir
    _make(root, {"b.png": 1, "a.png": 2, "c.webp": 3}, {"a.JPG": 4, "c.png": 5, "b.bmp": 6})
    # An EXIF-rotated photo: stored 48 wide x 64 high, orientation 6 (rotate 90): 64x48 once transposed.
    exif = Image.Exif()
    exif[0x0112] = 6
    write_image(root / "tmp.png", 48, 64, seed=7)
    Image.open(root / "tmp.png").save(root / "clean" / "d.jpg", exif=exif.tobytes())
    write_image(root / "degraded" / "d.png", 64, 48, seed=8)
    (root / "clean" / "notes.txt").write_text("not an image")
    (root / "degraded" / ".DS_Store").write_bytes(b"\0\1")
    out = _pairs(comfy_host, folder).result
    clean, degraded, count, names = out
    assert count == 4 and names.split("\n") == ["a", "b", "c", "d"]
    assert clean.shape == degraded.shape == (4, 48, 64, 3) and clean.dtype == torch.float32
    for i, (c, d) in enumerate([("a.png", "a.JPG"), ("b.png", "b.bmp"), ("c.webp", "c.png"), ("d.jpg", "d.png")]):
        assert torch.equal(clean[i], _load(root / "clean" / c))
        assert torch.equal(degraded[i], _load(root / "degraded" / d))
    assert Image.open(root / "clean" / "d.jpg").size == (48, 64)  # really stored rotated
    clean2, _, count2, names2 = _pairs(comfy_host, folder, max_pairs=2).result
    assert count2 == 2 and names2 == "a\nb" and torch.equal(clean2, clean[:2])
    # Re-run when the folder changes: the fingerprint follows the files.
    node = comfy_host.node("UnlockImagePairs")
    before = node.fingerprint_inputs(folder=folder, max_pairs=0)
    assert node.fingerprint_inputs(folder=folder, max_pairs=0) == before
    write_image(root / "clean" / "a.png", 64, 48, seed=9)
    assert node.fingerprint_inputs(folder=folder, max_pairs=0) != before


def test_image_pairs_missing_folder_and_subfolders(comfy_host, pairs_dir):
    folder, root = pairs_dir
    with pytest.raises(ValueError, match=rf"Load Image Pairs: no folder '{folder}'.*expected layout: "
                                         rf"input/{folder}/clean/<name>.png and input/{folder}/degraded"):
        _pairs(comfy_host, folder)
    (root / "clean").mkdir(parents=True)
    with pytest.raises(ValueError, match="has no degraded/ sub-folder; expected layout"):
        _pairs(comfy_host, folder)
    (root / "degraded").mkdir()
    with pytest.raises(ValueError, match=f"no images in '{folder}/clean' or '{folder}/degraded'"):
        _pairs(comfy_host, folder)


def test_image_pairs_unmatched_files_listed(comfy_host, pairs_dir):
    folder, root = pairs_dir
    clean = {f"c{i}.png": i for i in range(7)} | {"both.png": 20}
    _make(root, clean, {"both.jpg": 21, "lonely.png": 22}, size=(16, 16))
    with pytest.raises(ValueError) as err:
        _pairs(comfy_host, folder)
    msg = str(err.value)
    assert msg.startswith("Load Image Pairs: unmatched files")
    assert "7 in clean/ without a degraded match (c0.png, c1.png, c2.png, c3.png, c4.png, ... and 2 more)" in msg
    assert "1 in degraded/ without a clean match (lonely.png)" in msg and "both" not in msg


def test_image_pairs_unreadable_image_is_named(comfy_host, pairs_dir):
    folder, root = pairs_dir
    _make(root, {"a.png": 1, "bad.png": b"this is not a png"}, {"a.png": 2, "bad.png": 3})
    with pytest.raises(ValueError, match=f"Load Image Pairs: cannot read '{folder}/clean/bad.png' as an image"):
        _pairs(comfy_host, folder)


def test_image_pairs_size_errors(comfy_host, pairs_dir):
    folder, root = pairs_dir
    _make(root, {"a.png": 1, "b.png": 2, "c.png": (3, (32, 32))}, {"a.png": 4, "b.png": 5, "c.png": (6, (32, 32))})
    with pytest.raises(ValueError) as err:
        _pairs(comfy_host, folder)
    msg = str(err.value)
    assert "Load Image Pairs: the pairs in" in msg and "different sizes" in msg
    assert "64x48 (2 pairs, e.g. 'a')" in msg and "32x32 (1 pair, e.g. 'c')" in msg and "crop" in msg
    # Only the first two pairs share a size: max_pairs=2 loads them.
    assert _pairs(comfy_host, folder, max_pairs=2).result[2] == 2
    write_image(root / "degraded" / "b.png", 40, 40, seed=7)
    with pytest.raises(ValueError, match=r"pair 'b' has a clean image of 64x48 but a degraded image of 40x40"):
        _pairs(comfy_host, folder)


@pytest.mark.parametrize("escape", ["../..", "..", "sets/../../x", "/etc", "{base}/output"])
def test_image_pairs_cannot_leave_the_input_directory(comfy_host, escape):
    folder = escape.format(base=comfy_host.base)
    with pytest.raises(ValueError, match="Load Image Pairs: .*leads outside ComfyUI's input directory"):
        _pairs(comfy_host, folder)


def test_image_pairs_link_leading_out_is_refused(comfy_host, tmp_path):
    _make(tmp_path / "outside", {"a.png": 1}, {"a.png": 2}, size=(16, 16))
    link = comfy_host.base / "input" / f"link_{uuid.uuid4().hex[:8]}"
    link.symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(ValueError, match="leads outside ComfyUI's input directory"):
        _pairs(comfy_host, link.name)


# --- Load Image Folder ----------------------------------------------------------------------------------------

def _folder(comfy_host, folder, **kw):
    return comfy_host.node("UnlockImageFolder").execute(folder=folder, **kw).result


def test_image_folder_one_batch_at_a_common_size(comfy_host, pairs_dir):
    from unlock_restore.imaging.spatial import fit_image

    folder, root = pairs_dir
    root.mkdir(parents=True)
    write_image(root / "b.png", 64, 48, seed=1)
    write_image(root / "a.jpg", 40, 80, seed=2)    # portrait: cropped to the batch's landscape size
    write_image(root / "c.webp", 64, 48, seed=3)
    (root / "notes.txt").write_text("skipped")
    (root / "sub").mkdir()
    write_image(root / "sub" / "d.png", 64, 48, seed=4)  # sub-folders are not read
    images, count, names = _folder(comfy_host, folder, width=32, height=24)
    assert count == 3 and names.split("\n") == ["a.jpg", "b.png", "c.webp"]
    assert images.shape == (3, 24, 32, 3) and images.dtype == torch.float32
    for i, name in enumerate(["a.jpg", "b.png", "c.webp"]):
        assert torch.equal(images[i], fit_image(_load(root / name), 32, 24, "crop"))
    # 0 x 0: the first image's size (a.jpg is 40x80); resize stretches instead of cropping.
    images, _, _ = _folder(comfy_host, folder, fit="resize")
    assert images.shape == (3, 80, 40, 3)
    assert torch.equal(images[1], fit_image(_load(root / "b.png"), 40, 80, "resize"))
    # A seeded order and a count limit: the same seed gives the same subset, another seed (here) another order.
    one = _folder(comfy_host, folder, width=16, height=16, order="shuffled", seed=5, max_images=2)
    again = _folder(comfy_host, folder, width=16, height=16, order="shuffled", seed=5, max_images=2)
    assert one[1] == 2 and one[2] == again[2] and torch.equal(one[0], again[0])
    orders = {_folder(comfy_host, folder, width=16, height=16, order="shuffled", seed=s)[2] for s in range(8)}
    assert len(orders) > 1 and all(sorted(o.split("\n")) == ["a.jpg", "b.png", "c.webp"] for o in orders)
    node = comfy_host.node("UnlockImageFolder")
    before = node.fingerprint_inputs(folder=folder)
    write_image(root / "e.png", 8, 8, seed=6)
    assert node.fingerprint_inputs(folder=folder) != before


def test_image_folder_errors_name_the_node_and_the_fix(comfy_host, pairs_dir):
    folder, root = pairs_dir
    with pytest.raises(ValueError, match=rf"^Load Image Folder: no folder '{folder}' in ComfyUI's input directory"):
        _folder(comfy_host, folder)
    root.mkdir(parents=True)
    with pytest.raises(ValueError, match=rf"^Load Image Folder: no images in 'input/{folder}' \(it is empty\)"):
        _folder(comfy_host, folder)
    (root / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images in .*\(it holds only readme.txt\).*png, jpg"):
        _folder(comfy_host, folder)
    write_image(root / "a.png", 16, 16, seed=1)
    (root / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=rf"^Load Image Folder: cannot read 'input/{folder}/broken.jpg' as an "
                                         r"image.*Replace or remove it"):
        _folder(comfy_host, folder)
    for escape in ("..", "../..", "/etc", f"{comfy_host.base}/output"):
        with pytest.raises(ValueError, match="^Load Image Folder: .*leads outside ComfyUI's input directory"):
            _folder(comfy_host, escape)


# --- Restoration Metrics --------------------------------------------------------------------------------------

def _text(out):
    return out.ui.as_dict()["text"][0]


@needs_skimage
def test_metrics_node_equals_the_pure_function(comfy_host):
    node = comfy_host.node("UnlockMetrics")
    ref = _images(3)
    restored = degrade(ref, "gaussian_noise", 0.3, seed=1)
    for y, resize in [(False, False), (True, False), (False, True)]:
        out = node.execute(restored=restored, reference=ref, y_channel=y, resize_to_512=resize)
        results = psnr_ssim(restored, ref, y_channel=y, resize_to_512=resize)
        assert tuple(out.result) == mean_metrics(results)
        text = _text(out)
        assert f"PSNR {out.result[0]:.2f} dB" in text and f"SSIM {out.result[1]:.4f}" in text
        assert "mean of 3 images" in text
        for i, (p, s) in enumerate(results):
            assert f"#{i + 1}: PSNR {p:.2f} dB, SSIM {s:.4f}" in text
        assert ("Y channel" in text) == y and ("RGB" in text) == (not y)
        assert ("resized to 512x512 (bicubic)" in text) == resize and ("native size" in text) == (not resize)
    identical = node.execute(restored=ref, reference=ref.clone())
    assert math.isinf(identical.result[0]) and identical.result[1] == 1.0
    assert "PSNR inf dB (identical)" in _text(identical)


def test_metrics_node_errors(comfy_host, monkeypatch):
    node = comfy_host.node("UnlockMetrics")
    ref = _images(2)
    with pytest.raises(ValueError, match="Restoration Metrics: batch sizes differ: 1 restored vs 2 reference"):
        node.execute(restored=ref[:1], reference=ref)
    with pytest.raises(ValueError, match="Restoration Metrics: image sizes differ: restored 24x40 vs reference "
                                         "48x40.*resize_to_512"):
        node.execute(restored=ref[:, :, :24], reference=ref)
    # scikit-image missing: a clear error from the node; the rest of the pack keeps working.
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.metrics", None)
    # (ImportError: the host loaded the pack under its own package name, so its classes are not ours.)
    with pytest.raises(ImportError, match=r"Restoration Metrics: .*`python -m pip install scikit-image`"):
        node.execute(restored=ref, reference=ref)
    degraded = comfy_host.node("UnlockDegrade").execute(image=ref, degradation="jpeg", strength=0.5, seed=0)
    assert degraded.result[0].shape == ref.shape


# --- a real server --------------------------------------------------------------------------------------------

async def _run_listening(server, graph, timeout=120.0):
    """Queue a graph while listening on the websocket: (history entry, {node id: [progress texts]})."""
    import aiohttp  # a ComfyUI requirement

    texts: dict[str, list[str]] = {}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.url}/ws?clientId={server.client_id}") as ws:
            status, body = await asyncio.to_thread(server.queue, graph)
            assert status == 200, body
            prompt_id = body["prompt_id"]

            async def listen():
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY and struct.unpack(">I", msg.data[:4])[0] == 3:
                        n = struct.unpack(">I", msg.data[4:8])[0]
                        texts.setdefault(msg.data[8:8 + n].decode(), []).append(msg.data[8 + n:].decode())
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        m = json.loads(msg.data)
                        if m["type"] in ("execution_success", "execution_error") and \
                                m["data"].get("prompt_id") == prompt_id:
                            return

            await asyncio.wait_for(listen(), timeout)
    return await asyncio.to_thread(server.wait, prompt_id), texts


@needs_skimage
def test_server_graph_degrade_then_metrics(comfy_server):
    info = comfy_server.get("/object_info")
    for node_id, names in CONTRACT.items():
        spec = info[node_id]["input"]
        assert [n for part in ("required", "optional") for n in spec.get(part, {})] == names
    assert info["UnlockMetrics"]["output_node"] is True
    write_image(comfy_server.base / "input" / "metrics_src.png", 40, 32, seed=3)
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "metrics_src.png"}},
        "2": {"class_type": "UnlockDegrade", "inputs": {"image": ["1", 0], "degradation": "low_light",
                                                         "strength": 0.4, "seed": 12, "degradation_2": "jpeg",
                                                         "strength_2": 0.5}},
        "3": {"class_type": "UnlockMetrics", "inputs": {"restored": ["2", 0], "reference": ["1", 0]}},
    }
    entry, shown = asyncio.run(_run_listening(comfy_server, graph))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)
    text = entry["outputs"]["3"]["text"][0]
    assert shown.get("3") == [text], shown  # displayed on the node (progress text), same as the history's
    src = _load(comfy_server.base / "input" / "metrics_src.png")[None]
    steps = [("low_light", 0.4), ("jpeg", 0.5), ("none", 0.5)]
    (p, s), = psnr_ssim(degrade_chain(src, steps, 12), src)
    assert re.search(rf"PSNR {p:.2f} dB\s+SSIM {s:.4f}", text), text
    assert "RGB, native size" in text
