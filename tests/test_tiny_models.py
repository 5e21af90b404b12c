"""Tier 2: the tiny seeded checkpoints of tools/tiny_models.py load through ComfyUI's stock loaders and run.

Each file is loaded the way a user's graph loads it (the UNETLoader / VAELoader nodes of the in-process host),
must be detected as the intended family, and must give finite outputs of the right shapes. The build is
deterministic: the same seed gives the same bytes.
"""
from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "tiny_models.py"


def _builder():
    spec = importlib.util.spec_from_file_location("unlock_tiny_models_under_test", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tm = _builder()


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _manifest(tiny_models) -> dict:
    return json.loads((tiny_models["flux_dev"].parent / tm.MANIFEST_NAME).read_text())


def _free():
    """Drop the models a test loaded (the host's model registry holds weak references only)."""
    import comfy.model_management as mm

    gc.collect()
    mm.cleanup_models_gc()
    mm.cleanup_models()


def _load_unet(comfy_host, host_models, name: str, weight_dtype: str = "default"):
    """Through the UNETLoader node, as a graph loads it."""
    assert host_models[name] in comfy_host.folder_paths.get_filename_list("diffusion_models")
    (patcher,) = comfy_host.node("UNETLoader")().load_unet(host_models[name], weight_dtype)
    return patcher


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def _one_step(patcher, x, context, **conds):
    """One prediction at sigma 0.6 through the host's own conditioning path (extra_conds, then apply_model): the
    shape of `x`, finite, O(1)."""
    import comfy.model_management as mm

    mm.load_models_gpu([patcher])
    base = patcher.model
    with torch.inference_mode():
        extra = base.extra_conds(noise=x, cross_attn=context, device=torch.device("cpu"), **conds)
        out = base.apply_model(x, torch.tensor([0.6]), **{k: v.cond for k, v in extra.items()}).float()
    assert out.shape == x.shape and torch.isfinite(out).all() and 0.1 < out.std() < 10, (tuple(x.shape), out.std())
    return out


def _loaded(comfy_host, host_models, comfyui_path, name: str, classes: tuple[str, str], **config):
    """NAME through UNETLoader (skipped where the host lacks what it needs), detected as `classes` (the model_base
    class, the supported_models config) with these unet_config fields."""
    _needs(comfyui_path, name)
    patcher = _load_unet(comfy_host, host_models, name)
    base = patcher.model
    assert (type(base).__name__, type(base.model_config).__name__) == classes
    cfg = base.model_config.unet_config
    assert {k: cfg.get(k) for k in config} == config, cfg
    return patcher


# --- FLUX -----------------------------------------------------------------------------------------------------

def _flux_inputs():
    g = torch.Generator().manual_seed(0)
    return dict(x=torch.randn(1, 16, 16, 16, generator=g), context=torch.randn(1, 16, 4096, generator=g),
                pooled=torch.randn(1, 768, generator=g), sigma=torch.tensor([0.6]))


def _flux_x0(patcher, inputs, guidance=3.5):
    """One step through the host's own conditioning path: extra_conds (pooled -> y, guidance) then apply_model."""
    import comfy.model_management as mm

    mm.load_models_gpu([patcher])
    base = patcher.model
    with torch.inference_mode():
        conds = base.extra_conds(noise=inputs["x"], cross_attn=inputs["context"], pooled_output=inputs["pooled"],
                                 guidance=guidance, device=torch.device("cpu"))
        assert set(conds) >= {"c_crossattn", "y", "guidance"}
        kwargs = {k: v.cond for k, v in conds.items()}
        return base.apply_model(inputs["x"], inputs["sigma"], **kwargs).float()


def test_flux_dev_loads_as_flux_dev_and_runs(comfy_host, host_models, tiny_models):
    patcher = _load_unet(comfy_host, host_models, "flux_dev")
    base = patcher.model
    assert type(base).__name__ == "Flux" and type(base.model_config).__name__ == "Flux"
    cfg = base.model_config.unet_config
    assert cfg["image_model"] == "flux" and cfg["guidance_embed"] is True  # dev, not schnell
    assert (cfg["depth"], cfg["depth_single_blocks"], cfg["hidden_size"]) == (1, 0, 3072)
    n = _params(base.diffusion_model)
    assert n == _manifest(tiny_models)["files"]["flux_dev"]["params"]
    assert 400e6 < n < 410e6, n

    inputs = _flux_inputs()
    out = _flux_x0(patcher, inputs, guidance=3.5)
    assert out.shape == inputs["x"].shape and torch.isfinite(out).all()
    assert 0.1 < out.std() < 10, out.std()
    # guidance_in is really wired in: another guidance gives another prediction.
    other = _flux_x0(patcher, inputs, guidance=1.0)
    assert torch.isfinite(other).all() and not torch.allclose(out, other)
    del patcher, base
    _free()


def test_flux_dev_fp8_has_fp8_weights_and_runs(comfy_host, host_models, tiny_models):
    from safetensors import safe_open

    key = "double_blocks.0.img_attn.proj.weight"
    with safe_open(str(tiny_models["flux_dev_fp8"]), framework="pt") as f8, \
            safe_open(str(tiny_models["flux_dev"]), framework="pt") as f16:
        dtypes = {k: f8.get_slice(k).get_dtype() for k in f8.keys()}
        ndims = {k: len(f8.get_slice(k).get_shape()) for k in f8.keys()}
        assert set(dtypes) == set(f16.keys())
        # The same weights as flux_dev: the bf16 tensor cast to fp8, byte for byte.
        w8, w16 = f8.get_tensor(key), f16.get_tensor(key)
        assert w8.dtype == torch.float8_e4m3fn and w16.dtype == torch.bfloat16
        assert torch.equal(w8.view(torch.uint8), w16.to(torch.float8_e4m3fn).view(torch.uint8))
    # Matrices fp8; biases and norm scales (1-D; named `.scale` before v0.20, `.weight` after) stay bf16.
    big = [k for k in dtypes if ndims[k] >= 2]
    assert big and all(dtypes[k] == "F8_E4M3" for k in big), dtypes
    assert all(dtypes[k] == "BF16" for k in dtypes if ndims[k] < 2), dtypes

    inputs = _flux_inputs()
    # Default: on a CPU with room, the stock loader upcasts the fp8 weights when loading.
    patcher = _load_unet(comfy_host, host_models, "flux_dev_fp8")
    assert type(patcher.model.model_config).__name__ == "Flux"
    assert patcher.model.model_config.unet_config["guidance_embed"] is True
    upcast = _flux_x0(patcher, inputs)
    del patcher
    _free()
    # weight_dtype fp8_e4m3fn keeps fp8 in memory and casts at compute (manual cast), as on small GPUs.
    patcher = _load_unet(comfy_host, host_models, "flux_dev_fp8", "fp8_e4m3fn")
    dm = patcher.model.diffusion_model
    assert dm.double_blocks[0].img_attn.qkv.weight.dtype == torch.float8_e4m3fn
    assert patcher.model.manual_cast_dtype is not None
    out = _flux_x0(patcher, inputs)
    assert out.shape == inputs["x"].shape and torch.isfinite(out).all() and torch.isfinite(upcast).all()
    # Same weights either way; only the compute path differs (measured: max abs difference about 5e-3).
    rel = ((out - upcast).norm() / upcast.norm()).item()
    assert rel < 1e-2, rel
    del patcher, dm
    _free()


# --- Wan 2.1 ------------------------------------------------------------------------------------------------------

def test_wan21_t2v_loads_as_wan21_t2v_and_runs(comfy_host, host_models, tiny_models, comfyui_path):
    patcher = _loaded(comfy_host, host_models, comfyui_path, "wan21_t2v", ("WAN21", "WAN21_T2V"), dim=128,
                      num_heads=1, num_layers=2, in_dim=16, out_dim=16)
    n = _params(patcher.model.diffusion_model)
    assert n == _manifest(tiny_models)["files"]["wan21_t2v"]["params"] and 1.0e6 < n < 1.2e6, n
    g = torch.Generator().manual_seed(0)
    for frames in (1, 2):
        _one_step(patcher, torch.randn(1, 16, frames, 8, 8, generator=g), torch.randn(1, 16, 4096, generator=g))
    del patcher
    _free()


def test_wan22_ti2v_loads_as_wan22_ti2v_and_runs(comfy_host, host_models, tiny_models, comfyui_path):
    patcher = _loaded(comfy_host, host_models, comfyui_path, "wan22_ti2v", ("WAN22", "WAN22_T2V"), dim=128,
                      in_dim=48, out_dim=48)
    g = torch.Generator().manual_seed(0)
    _one_step(patcher, torch.randn(1, 48, 2, 8, 8, generator=g), torch.randn(1, 16, 4096, generator=g))
    del patcher
    _free()


def test_flux2_loads_as_flux2_and_runs(comfy_host, host_models, tiny_models, comfyui_path):
    patcher = _loaded(comfy_host, host_models, comfyui_path, "flux2", ("Flux2", "Flux2"), hidden_size=128,
                      num_heads=1, depth=1, depth_single_blocks=1, context_in_dim=96, guidance_embed=False)
    g = torch.Generator().manual_seed(0)
    _one_step(patcher, torch.randn(1, 128, 4, 4, generator=g), torch.randn(1, 512, 96, generator=g))
    del patcher
    _free()


def test_chroma_radiance_loads_as_chroma_radiance_and_runs(comfy_host, host_models, tiny_models, comfyui_path):
    """The stand-in of chroma-radiance-x0: Radiance on both hosts; where the loader reads the patch size and the x0
    marker from the file (v0.20.1), 32 px patches and the x0 head; v0.3.64's loader fixes 16 px and has no x0."""
    import dataclasses

    import comfy.ldm.chroma_radiance.model as radiance

    x0_host = "use_x0" in {f.name for f in dataclasses.fields(radiance.ChromaRadianceParams)}
    patch = 32 if x0_host else 16
    patcher = _loaded(comfy_host, host_models, comfyui_path, "chroma_radiance", ("ChromaRadiance", "ChromaRadiance"),
                      image_model="chroma_radiance", hidden_size=3072, depth=1, depth_single_blocks=0, in_channels=3,
                      patch_size=patch, **({"use_x0": True} if x0_host else {}))
    dm = patcher.model.diffusion_model
    assert hasattr(dm, "__x0__") == x0_host
    n = _params(dm)
    assert n == _manifest(tiny_models)["files"]["chroma_radiance"]["params"] and 1.1e9 < n < 1.15e9, n
    g = torch.Generator().manual_seed(0)
    _one_step(patcher, torch.randn(1, 3, patch, 2 * patch, generator=g), torch.randn(1, 16, 4096, generator=g),
              pooled_output=None)  # v0.3.64's Flux.encode_adm reads the key
    del patcher, dm
    _free()


def _needs(comfyui_path, name):
    lacks = tm.host_lacks(comfyui_path, name)
    if lacks:
        pytest.skip(f"{name.upper()} SKIPPED: this host lacks {lacks} (v0.20.1 has it); the tiny file is not built "
                    "here")


def test_hunyuan_video15_loads_as_hunyuan_video15_and_runs(comfy_host, host_models, tiny_models, comfyui_path):
    patcher = _loaded(comfy_host, host_models, comfyui_path, "hunyuan_video15", ("HunyuanVideo15", "HunyuanVideo15"),
                      hidden_size=128, num_heads=1, depth=1, depth_single_blocks=0, context_in_dim=3584,
                      in_channels=65, byt5=True, vision_in_dim=1152)
    n = _params(patcher.model.diffusion_model)
    assert n == _manifest(tiny_models)["files"]["hunyuan_video15"]["params"] and 9e6 < n < 12e6, n
    g = torch.Generator().manual_seed(0)
    _one_step(patcher, torch.randn(1, 32, 2, 4, 4, generator=g), torch.randn(1, 16, 3584, generator=g),
              pooled_output=None)
    del patcher
    _free()


def test_z_image_loads_as_z_image_and_runs(comfy_host, host_models, tiny_models, comfyui_path):
    patcher = _loaded(comfy_host, host_models, comfyui_path, "z_image", ("Lumina2", "ZImage"), dim=3840, n_heads=30,
                      n_layers=1, cap_feat_dim=2560, pad_tokens_multiple=32, z_image_modulation=True)
    dm = patcher.model.diffusion_model
    assert (len(dm.layers), len(dm.noise_refiner), len(dm.context_refiner)) == (1, 2, 2)
    n = _params(dm)
    assert n == _manifest(tiny_models)["files"]["z_image"]["params"] and 0.85e9 < n < 0.95e9, n
    g = torch.Generator().manual_seed(0)
    # 16 image tokens and a 20-token caption: both padded by the model to 32 with its own tokens.
    _one_step(patcher, torch.randn(1, 16, 8, 8, generator=g), torch.randn(1, 20, 2560, generator=g))
    del patcher, dm
    _free()


# --- VAEs ---------------------------------------------------------------------------------------------------------

def _load_vae(comfy_host, host_models, name):
    """Through the VAELoader node, as a graph loads it."""
    assert host_models[name] in comfy_host.folder_paths.get_filename_list("vae")
    (vae,) = comfy_host.node("VAELoader")().load_vae(host_models[name])
    return vae


def test_taesd_flux_round_trips_an_image(comfy_host, host_models, tiny_models):
    import comfy.taesd.taesd

    vae = _load_vae(comfy_host, host_models, "taesd_flux")
    assert isinstance(vae.first_stage_model, comfy.taesd.taesd.TAESD) and vae.latent_channels == 16
    # The FLUX latent scale/shift that ComfyUI gives taef1 are in the file (else 1/0 and a "Missing VAE keys").
    assert abs(vae.first_stage_model.vae_scale.item() - 0.3611) < 1e-6
    assert abs(vae.first_stage_model.vae_shift.item() - 0.1159) < 1e-6
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    latent = vae.encode(image)
    assert latent.shape == (1, 16, 8, 8) and torch.isfinite(latent).all() and 0.1 < latent.std() < 10
    decoded = vae.decode(latent)
    assert decoded.shape == (1, 64, 64, 3) and torch.isfinite(decoded).all()
    assert decoded.min() >= 0 and decoded.max() <= 1 and decoded.std() > 0
    del vae
    _free()


def test_wan21_vae_round_trips_a_video(comfy_host, host_models, tiny_models):
    import comfy.ldm.wan.vae

    vae = _load_vae(comfy_host, host_models, "wan21_vae")
    # Wan 2.1 (16 channels, 8x spatial), not the 2.2 VAE of comfy.ldm.wan.vae2_2 (48 channels, 16x).
    assert type(vae.first_stage_model) is comfy.ldm.wan.vae.WanVAE and vae.latent_channels == 16
    assert 126e6 < _params(vae.first_stage_model) < 128e6
    video = torch.rand(5, 64, 64, 3, generator=torch.Generator().manual_seed(0))  # 5 frames -> 2 latent frames
    latent = vae.encode(video)
    assert latent.shape == (1, 16, 2, 8, 8) and torch.isfinite(latent).all() and 0.05 < latent.std() < 10
    decoded = vae.decode(latent)
    assert decoded.shape[-4:] == (5, 64, 64, 3) and torch.isfinite(decoded).all() and decoded.std() > 0
    del vae
    _free()


@pytest.mark.parametrize("name,channels", [("taehv_hv15", 32), ("taew2_2", 48)])
def test_taehv_round_trips_a_video(comfy_host, host_models, tiny_models, comfyui_path, name, channels):
    _needs(comfyui_path, name)
    import comfy.latent_formats
    import comfy.taesd.taehv

    vae = _load_vae(comfy_host, host_models, name)
    # comfy/sd.py's TAEHV branches: lighttae_hv15 (32 channels, HunyuanVideo 1.5's latent format) and taew2_2
    # (48 channels, Wan 2.2's, no scaling), both 16 x spatial.
    assert isinstance(vae.first_stage_model, comfy.taesd.taehv.TAEHV) and vae.latent_channels == channels
    want_format = comfy.latent_formats.HunyuanVideo15 if channels == 32 else None
    assert vae.first_stage_model.latent_format is want_format
    video = torch.rand(5, 64, 64, 3, generator=torch.Generator().manual_seed(0))  # 5 frames -> 2 latent frames
    latent = vae.encode(video)
    assert latent.shape == (1, channels, 2, 4, 4) and torch.isfinite(latent).all() and 0.05 < latent.std() < 10
    decoded = vae.decode(latent)
    assert decoded.shape[-4:] == (5, 64, 64, 3) and torch.isfinite(decoded).all() and decoded.std() > 0
    del vae
    _free()


def test_flux2_vae_round_trips_an_image(comfy_host, host_models, tiny_models, comfyui_path):
    _needs(comfyui_path, "flux2_vae")
    import comfy.ldm.models.autoencoder

    vae = _load_vae(comfy_host, host_models, "flux2_vae")
    # comfy/sd.py's default KL branch with `bn`: 32 z channels as batch-normed 2 x 2 patches, 128 latent channels.
    assert isinstance(vae.first_stage_model, comfy.ldm.models.autoencoder.AutoencoderKL)
    assert vae.latent_channels == 128 and vae.first_stage_model.bn is not None
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    latent = vae.encode(image)
    assert latent.shape == (1, 128, 4, 4) and torch.isfinite(latent).all() and 0.05 < latent.std() < 10
    decoded = vae.decode(latent)
    assert decoded.shape == (1, 64, 64, 3) and torch.isfinite(decoded).all() and decoded.std() > 0
    del vae
    _free()


# --- The build itself -----------------------------------------------------------------------------------------

def test_manifest_describes_every_file(tiny_models, comfyui_path):
    manifest = _manifest(tiny_models)
    assert manifest["version"] == tm.VERSION
    # The default set of this host (HOST_NEEDS leaves out what it cannot build); an on-demand model
    # (flux_dev_single) is in the manifest once a test has asked for it.
    assert set(tiny_models) == set(tm.default_names(comfyui_path)) and set(tm.ON_DEMAND) <= set(tm.MODEL_FOLDERS)
    assert set(tm.default_names()) - set(tiny_models) == {n for n in tm.HOST_NEEDS
                                                          if not tm.host_supports(comfyui_path, n)}
    assert set(tiny_models) <= set(manifest["files"]) <= set(tm.MODEL_FOLDERS)
    for name, path in tiny_models.items():
        entry = manifest["files"][name]
        assert path.is_file() and path.stat().st_size == entry["size"], name
        assert entry["version"] == tm.VERSION and entry["seed"] == tm.DEFAULT_SEED
        assert len(entry["sha256"]) == 64 and entry["verified"], entry
    for name in ("wan21_t2v", "taesd_flux"):  # the cheap ones: hash them for real
        assert _sha256(tiny_models[name]) == manifest["files"][name]["sha256"], name


def test_module_imports_without_torch():
    """tests/conftest.py imports the builder before torch/ComfyUI exist: only constants at import time."""
    code = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('t', sys.argv[1]); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "print(sorted(m.model_files('/x')) == sorted(m.MODEL_FOLDERS), m.VERSION)")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(TOOL)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", str(tm.VERSION)]


def test_weights_do_not_depend_on_construction_order(comfy_host, tiny_models):
    from safetensors.torch import load_file

    template = tm._template("wan21_t2v")
    reordered = dict(reversed(list(template.items())))
    a = tm.build_state_dict("wan21_t2v", tm.DEFAULT_SEED, template)
    b = tm.build_state_dict("wan21_t2v", tm.DEFAULT_SEED, reordered)
    on_disk = load_file(str(tiny_models["wan21_t2v"]))
    assert list(a) == sorted(template) and set(on_disk) == set(a)
    for k in a:
        assert torch.equal(a[k], b[k]) and torch.equal(a[k], on_disk[k]), k
    other = tm.build_state_dict("wan21_t2v", tm.DEFAULT_SEED + 1, template)
    assert not torch.equal(other["text_embedding.0.weight"], a["text_embedding.0.weight"])


def test_wan21_t2v_build_is_byte_identical(comfyui_path, tiny_models, tmp_path):
    def build(out: Path, *extra: str) -> str:
        cmd = [sys.executable, str(TOOL), "--comfyui", str(comfyui_path), "--out", str(out), "--only", "wan21_t2v",
               *extra]
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    build(tmp_path / "a", "--no-verify")
    build(tmp_path / "b")
    a, b = tmp_path / "a" / tm.FILE_NAMES["wan21_t2v"], tmp_path / "b" / tm.FILE_NAMES["wan21_t2v"]
    digest = _sha256(a)
    assert digest == _sha256(b) == _manifest(tiny_models)["files"]["wan21_t2v"]["sha256"]
    assert json.loads((tmp_path / "b" / tm.MANIFEST_NAME).read_text())["files"]["wan21_t2v"]["sha256"] == digest
    # A second run trusts the manifest: nothing rebuilt, the file untouched.
    mtime = b.stat().st_mtime_ns
    assert build(tmp_path / "b").startswith("cached wan21_t2v")
    assert b.stat().st_mtime_ns == mtime
    # Another seed, other bytes; the manifest records it.
    build(tmp_path / "b", "--seed", "7", "--no-verify")
    assert _sha256(b) != digest
    assert json.loads((tmp_path / "b" / tm.MANIFEST_NAME).read_text())["files"]["wan21_t2v"]["seed"] == 7
