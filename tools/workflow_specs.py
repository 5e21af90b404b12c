#!/usr/bin/env python3
"""The shipped workflows, written once as API-format graphs (what POST /prompt runs), with their notes.

    python tools/workflow_specs.py            # writes workflows/api/<name>.json
    python tools/build_workflows.py --comfyui PATH   # then: the UI twins and thumbnails, made by the frontend

The UI-format files (workflows/<name>.json, what drag-and-drop and the template browser load) are produced from
these by the real ComfyUI frontend (tools/build_workflows.py), so both formats describe one graph. Only this
pack's nodes and core nodes are used. Model file names are the Comfy-Org repackaged names users download;
inputs are the samples in workflows/inputs/ (copy them into ComfyUI/input, or point the runner at your files).

Stdlib only: imported by the tests, the headless runner and the demo.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "workflows"
API_DIR = WORKFLOWS_DIR / "api"
INPUTS_DIR = WORKFLOWS_DIR / "inputs"

# The model files the workflows load: models sub-folder -> file name (Comfy-Org's repackaged releases).
FLUX_UNET = "flux1-dev.safetensors"           # models/diffusion_models
FLUX_VAE = "ae.safetensors"                   # models/vae
WAN_UNET = "wan2.1_t2v_1.3B_fp16.safetensors"  # models/diffusion_models
WAN_VAE = "wan_2.1_vae.safetensors"           # models/vae
WAN_TEXT_ENCODER = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"  # models/text_encoders (import workflows only)
FLUX_T5 = "t5xxl_fp16.safetensors"            # models/text_encoders
FLUX_CLIP_L = "clip_l.safetensors"            # models/text_encoders
CHROMA_UNET = "Chroma1-HD.safetensors"         # models/diffusion_models (Chroma uses FLUX's VAE and T5-XXL)
# Chroma1-Radiance (Comfy-Org's repackaged x0 release): Chroma on RGB pixels, so no VAE file: VAE Loader's built-in
# `pixel_space` entry; T5-XXL as Chroma.
RADIANCE_UNET = "chroma-radiance-x0.safetensors"  # models/diffusion_models
PIXEL_SPACE = "pixel_space"                       # VAE Loader's entry for pixel-space models (not a file)
# Qwen-Image (Comfy-Org's repackaged files): the model, its VAE (Wan 2.1's architecture) and Qwen2.5-VL-7B.
QWEN_UNET = "qwen_image_fp8_e4m3fn.safetensors"           # models/diffusion_models
QWEN_VAE = "qwen_image_vae.safetensors"                   # models/vae
QWEN_TEXT_ENCODER = "qwen_2.5_vl_7b_fp8_scaled.safetensors"  # models/text_encoders (training only)
# Wan 2.2 T2V-A14B: two experts (models/diffusion_models), with the Wan 2.1 VAE.
WAN22_HIGH = "wan2.2_t2v_high_noise_14B_fp8_scaled.safetensors"
WAN22_LOW = "wan2.2_t2v_low_noise_14B_fp8_scaled.safetensors"
# FLUX.2 klein 4B (Black Forest Labs' fp8 file), the FLUX.2 VAE and klein 4B's text encoder (Load CLIP, type flux2).
FLUX2_UNET = "flux-2-klein-4b-fp8.safetensors"  # models/diffusion_models
FLUX2_VAE = "flux2-vae.safetensors"             # models/vae
FLUX2_TEXT_ENCODER = "qwen_3_4b.safetensors"     # models/text_encoders (training only)
# Wan 2.2 TI2V-5B (one model, the Wan 2.2 VAE: 48 latent channels, 16 x spatial).
WAN22_5B_UNET = "wan2.2_ti2v_5B_fp16.safetensors"  # models/diffusion_models
WAN22_VAE = "wan2.2_vae.safetensors"              # models/vae
# HunyuanVideo 1.5 (Comfy-Org's repackaged files): the 720p text-to-video model, its VAE, and its two text encoders
# (DualCLIPLoader, type hunyuan_video_15: Qwen2.5-VL-7B, the file Qwen-Image uses, and byT5 for glyphs).
HV15_UNET = "hunyuanvideo1.5_720p_t2v_fp16.safetensors"  # models/diffusion_models
HV15_VAE = "hunyuanvideo15_vae_fp16.safetensors"        # models/vae
HV15_BYT5 = "byt5_small_glyphxl_fp16.safetensors"        # models/text_encoders (training only)
# Z-Image Turbo (Comfy-Org's repackaged file), with FLUX's VAE and Qwen3-4B (the file FLUX.2 klein 4B uses; Load
# CLIP, type lumina2).
Z_IMAGE_UNET = "z_image_turbo_bf16.safetensors"  # models/diffusion_models
MODEL_FILES = {FLUX_UNET: "diffusion_models", FLUX_VAE: "vae", WAN_UNET: "diffusion_models", WAN_VAE: "vae",
               WAN_TEXT_ENCODER: "text_encoders", FLUX_T5: "text_encoders", FLUX_CLIP_L: "text_encoders",
               CHROMA_UNET: "diffusion_models", RADIANCE_UNET: "diffusion_models", WAN22_HIGH: "diffusion_models",
               WAN22_LOW: "diffusion_models",
               QWEN_UNET: "diffusion_models", QWEN_VAE: "vae", QWEN_TEXT_ENCODER: "text_encoders",
               HV15_UNET: "diffusion_models", HV15_VAE: "vae", HV15_BYT5: "text_encoders",
               WAN22_5B_UNET: "diffusion_models", WAN22_VAE: "vae",
               FLUX2_UNET: "diffusion_models", FLUX2_VAE: "vae", FLUX2_TEXT_ENCODER: "text_encoders",
               Z_IMAGE_UNET: "diffusion_models"}
# Which tiny checkpoint (tools/tiny_models.py NAME) stands in for each real model file (tests, demo, soak). umT5 has
# one (umt5xxl_tiny), but not every host's Load CLIP can load it (tools/tiny_models.py says why).
TINY_STANDINS = {FLUX_UNET: "flux_dev", FLUX_VAE: "taesd_flux", WAN_UNET: "wan21_t2v", WAN_VAE: "wan21_vae",
                 FLUX_T5: "t5xxl_tiny", FLUX_CLIP_L: "clip_l_tiny", CHROMA_UNET: "chroma",
                 RADIANCE_UNET: "chroma_radiance",
                 WAN22_HIGH: "wan21_t2v", WAN22_LOW: "wan21_t2v",  # A14B experts load as Wan 2.1-type models
                 QWEN_UNET: "qwen_image", QWEN_VAE: "wan21_vae",  # Qwen-Image's VAE is Wan 2.1's architecture
                 HV15_UNET: "hunyuan_video15", HV15_VAE: "taehv_hv15",  # built only on hosts that have them
                 WAN22_5B_UNET: "wan22_ti2v", WAN22_VAE: "taew2_2",  # the Wan 2.2 VAE's stand-in: taew2_2 (TAEHV)
                 FLUX2_UNET: "flux2", FLUX2_VAE: "flux2_vae", Z_IMAGE_UNET: "z_image"}
OFFICIAL = ("blur", "haze", "lowlight", "rain", "snow")  # the released Wan prompts, wan_<name>.pt

_SETUP_FLUX = (f"**Models**: `{FLUX_UNET}` in `models/diffusion_models` (or an fp8 copy with weight_dtype "
               f"fp8_e4m3fn on 24 GB cards), `{FLUX_VAE}` in `models/vae`. No text encoder is needed: the "
               "restoration prompt file carries its empty-text encoding.")
_SETUP_WAN = (f"**Models**: `{WAN_UNET}` in `models/diffusion_models`, `{WAN_VAE}` in `models/vae`. No text "
              "encoder is needed once the official prompts are imported (workflow *wan_import_official_prompts*).")
_SETUP_CHROMA = (f"**Models**: `{CHROMA_UNET}` in `models/diffusion_models` (or an fp8 / GGUF copy), `{FLUX_VAE}` "
                 "(FLUX's VAE) in `models/vae`.")
_SETUP_RADIANCE = (f"**Models**: `{RADIANCE_UNET}` (Chroma1-Radiance; v0.20.1 or newer reads its x0 head, "
                   "older ComfyUI gives wrong images with it) in `models/diffusion_models`. No VAE file: the model "
                   "works on pixels, so Load VAE is set to its built-in `pixel_space` entry.")
_SETUP_QWEN = (f"**Models**: `{QWEN_UNET}` in `models/diffusion_models` (or the bf16 / a GGUF copy), `{QWEN_VAE}` "
               "in `models/vae`.")
_SETUP_HV15 = ("**Models** (a ComfyUI with HunyuanVideo 1.5: v0.20.1 has it, v0.3.64 does not): "
               f"`{HV15_UNET}` (or another HunyuanVideo 1.5 file: 480p, image-to-video, fp8 / GGUF) in "
               f"`models/diffusion_models`, `{HV15_VAE}` in `models/vae`.")
_SETUP_FLUX2 = ("**Models** (a ComfyUI with FLUX.2: v0.20.1 has it, v0.3.64 does not): "
                f"`{FLUX2_UNET}` (FLUX.2 klein 4B; klein 9B or dev work the same with their own text encoder) in "
                f"`models/diffusion_models`, `{FLUX2_VAE}` in `models/vae`.")
_SETUP_Z_IMAGE = ("**Models** (a ComfyUI with Z-Image: v0.20.1 has it, v0.3.64 does not): "
                  f"`{Z_IMAGE_UNET}` (or Z-Image Base, an fp8 / GGUF copy) in `models/diffusion_models`, "
                  f"`{FLUX_VAE}` (FLUX's VAE) in `models/vae`.")
_SETUP_TI2V = (f"**Models**: `{WAN22_5B_UNET}` in `models/diffusion_models`, `{WAN22_VAE}` (the Wan 2.2 VAE, 48 "
               "latent channels; the Wan 2.1 VAE does not fit this model) in `models/vae`.")
_SETUP_A14B = (f"**Models**: the two experts of Wan2.2-T2V-A14B, `{WAN22_HIGH}` and `{WAN22_LOW}`, in "
               f"`models/diffusion_models`, and `{WAN_VAE}` (A14B uses the Wan 2.1 VAE) in `models/vae`. There are "
               "no official Wan 2.2 prompts: *wan22_a14b_train_prompts* makes one per expert.")
_A14B_T0 = ("**Two experts**: the high-noise expert runs every step at sigma >= `expert_boundary` (0.875, the "
            "official switch), the low-noise expert the rest, as one bridge. This workflow starts the bridge at "
            "`t0` 0.9, so both run: for heavy degradations. At `t0` 0.875 or below (0.4 is the paper's default) "
            "only the low-noise expert runs and the high-noise prompt is not needed; a prompt is trained for the "
            "`t0` it is used with, so train again (or lower both) to change it.")
_SAMPLES = "**Sample input**: copy `custom_nodes/unlock-restore/workflows/inputs/*` into `ComfyUI/input`."


def _node(class_type: str, title: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}


def _restore(model, vae, prompt, image, *, seed: int = 0, window: int = 33, overlap: int = 8, t0: float = 0.4,
             **experts) -> dict:
    # expert_boundary is a widget: the editor saves it on every Restore, so the API twin does too.
    return _node("UnlockRestore", "Restore (Bridge)", model=model, vae=vae, restoration_prompt=prompt, image=image,
                 t0=t0, steps=20, seed=seed, strength=1.0, window_frames=window, overlap_frames=overlap,
                 tile_vae_above_mp=4.0, **{"expert_boundary": 0.875, **experts})


def _a14b_restore(model_low, vae, prompt_low, image, model_high, prompt_high) -> dict:
    """Restore with both experts of Wan 2.2 A14B (the low-noise one on `model`), the bridge starting above the
    boundary."""
    return _restore(model_low, vae, prompt_low, image, t0=0.9, high_noise_model=model_high,
                    high_noise_prompt=prompt_high, expert_boundary=0.875)


def _image_restore(unet: str, unet_title: str, prompt_file: str, prefix: str, vae: str = FLUX_VAE,
                   vae_title: str = "Load FLUX VAE") -> dict:
    """Load an image model (FLUX's VAE unless told), a prompt and the hazy sample, Restore, save."""
    return {
        "1": _node("UNETLoader", unet_title, unet_name=unet, weight_dtype="default"),
        "2": _node("VAELoader", vae_title, vae_name=vae),
        "3": _node("UnlockPromptLoader", "Load Restoration Prompt", prompt_name=prompt_file),
        "4": _node("LoadImage", "Degraded image", image="unlock_hazy_photo.png"),
        "5": _restore(["1", 0], ["2", 0], ["3", 0], ["4", 0]),
        "6": _node("SaveImage", "Save restored", images=["5", 0], filename_prefix=f"unlock/{prefix}"),
    }


def flux_restore_image() -> dict:
    return _image_restore(FLUX_UNET, "Load FLUX.1-dev", "flux_haze.safetensors", "flux_restored")


def flux_restore_image_sampler() -> dict:
    """The same restoration with the standard sampler plumbing: Apply -> guider, Bridge Sampler + Bridge Schedule
    into SamplerCustomAdvanced (for users who combine it with LoRAs, other guiders or their own latents)."""
    return {
        "1": _node("UNETLoader", "Load FLUX.1-dev", unet_name=FLUX_UNET, weight_dtype="default"),
        "2": _node("VAELoader", "Load FLUX VAE", vae_name=FLUX_VAE),
        "3": _node("UnlockPromptLoader", "Load Restoration Prompt", prompt_name="flux_haze.safetensors"),
        "4": _node("UnlockPromptApply", "Apply Restoration Prompt", model=["1", 0], restoration_prompt=["3", 0],
                   strength=1.0),
        "5": _node("LoadImage", "Degraded image", image="unlock_hazy_photo.png"),
        "6": _node("VAEEncode", "Encode degraded", pixels=["5", 0], vae=["2", 0]),
        "7": _node("BasicGuider", "Guider", model=["4", 0], conditioning=["4", 1]),
        "8": _node("UnlockBridgeSampler", "Bridge Sampler"),
        "9": _node("UnlockBridgeSigmas", "Bridge Schedule", model=["4", 0], t0=0.4, steps=20, t_min=0.0001),
        "10": _node("RandomNoise", "Noise", noise_seed=0),
        "11": _node("SamplerCustomAdvanced", "Sample", noise=["10", 0], guider=["7", 0], sampler=["8", 0],
                    sigmas=["9", 0], latent_image=["6", 0]),
        "12": _node("VAEDecode", "Decode", samples=["11", 0], vae=["2", 0]),
        "13": _node("SaveImage", "Save restored", images=["12", 0], filename_prefix="unlock/flux_restored_sampler"),
    }


def _video_restore(prompt_nodes: dict, prompt_ref: list, video: str, prefix: str,
                   unet: tuple[str, str] = (WAN_UNET, "Load Wan2.1-T2V-1.3B"),
                   vae: tuple[str, str] = (WAN_VAE, "Load Wan VAE")) -> dict:
    graph = {
        "1": _node("UNETLoader", unet[1], unet_name=unet[0], weight_dtype="default"),
        "2": _node("VAELoader", vae[1], vae_name=vae[0]),
        **prompt_nodes,
        "10": _node("LoadVideo", "Degraded video", file=video),
        "11": _node("GetVideoComponents", "Frames, audio, fps", video=["10", 0]),
        "12": _restore(["1", 0], ["2", 0], prompt_ref, ["11", 0]),
        "13": _node("CreateVideo", "Restored video", images=["12", 0], fps=["11", 2], audio=["11", 1]),
        "14": _node("SaveVideo", "Save restored", video=["13", 0], filename_prefix=prefix, format="auto",
                    codec="auto"),
    }
    return graph


def wan_restore_video() -> dict:
    return _video_restore({"3": _node("UnlockPromptLoader", "Load Restoration Prompt",
                                      prompt_name="wan_rain.safetensors")},
                          ["3", 0], "unlock_rainy_clip.mp4", "unlock/wan_restored")


def wan_mix_prompts() -> dict:
    return _video_restore({
        "3": _node("UnlockPromptLoader", "Haze prompt", prompt_name="wan_haze.safetensors"),
        "4": _node("UnlockPromptLoader", "Rain prompt", prompt_name="wan_rain.safetensors"),
        "5": _node("UnlockPromptMix", "Mix Restoration Prompts", prompt_1=["3", 0], weight_1=1.0, prompt_2=["4", 0],
                   weight_2=1.0, mode="average", weight_3=1.0, weight_4=1.0),
    }, ["5", 0], "unlock_hazy_rainy_clip.mp4", "unlock/wan_mixed")


def _degrade(title: str, image: list, degradation: str, strength: float, seed: int) -> dict:
    # The optional second and third degradations are widgets: the editor saves them, so the API twin does too.
    return _node("UnlockDegrade", title, image=image, degradation=degradation, strength=strength, seed=seed,
                 degradation_2="none", strength_2=0.5, degradation_3="none", strength_3=0.5)


def _clip_loader(name: str, kind: str, title: str) -> dict:
    return _node("CLIPLoader", title, clip_name=name, type=kind, device="default")


def _train(unet: str, vae: str, title: str, degradation: str, strength: float, save_name: str, resolution: int,
           checkpointing: bool, clip: dict | None = None) -> dict:
    """A training graph; `clip` (a text-encoder loader node) gives the exact null context (the empty text encoded
    at the prompt's K tokens), stored in the prompt file."""
    graph = {
        "1": _node("UNETLoader", title, unet_name=unet, weight_dtype="default"),
        "2": _node("VAELoader", "Load VAE", vae_name=vae),
        "3": _node("UnlockImageFolder", "Clean photos (input/unlock_clean_photos)", folder="unlock_clean_photos",
                   width=512, height=512, fit="crop", order="name", seed=0, max_images=0),
        "4": _degrade("Make degraded copies", ["3", 0], degradation, strength, seed=0),
        "5": _node("LoadImage", "Held-out photo (not in the folder)", image="unlock_validation_photo.png"),
        "6": _degrade("Degrade held-out photo", ["5", 0], degradation, strength, seed=1),
        "7": _node("UnlockPromptTrain", "Train Restoration Prompt", model=["1", 0], vae=["2", 0],
                   clean_images=["3", 0], degraded_images=["4", 0], steps=500, learning_rate=0.001, batch_size=1,
                   resolution=resolution, t0=0.4, seed=0, mode="gated", objective="bridge", save_name=save_name,
                   checkpoint_every=100, gradient_checkpointing=checkpointing, tokens=0, degradation=degradation,
                   validation_clean=["5", 0], validation_degraded=["6", 0], overwrite=False, loss="x0", expert="all",
                   expert_boundary=0.875),
        "8": _node("PreviewImage", "Loss", images=["7", 1]),
        "9": _restore(["1", 0], ["2", 0], ["7", 0], ["6", 0]),
        "10": _node("SaveImage", "Held-out photo restored", images=["9", 0], filename_prefix=f"unlock/{save_name}"),
    }
    if clip is not None:
        graph["11"] = clip
        graph["7"]["inputs"]["clip"] = ["11", 0]
    return graph


def flux_train_prompt() -> dict:
    return _train(FLUX_UNET, FLUX_VAE, "Load FLUX.1-dev", "haze", 0.6, "flux_haze", 256, True)


def wan_train_prompt() -> dict:
    return _train(WAN_UNET, WAN_VAE, "Load Wan2.1-T2V-1.3B", "rain", 0.5, "my_wan_rain", 256, False)


def chroma_train_prompt() -> dict:
    return _train(CHROMA_UNET, FLUX_VAE, "Load Chroma1-HD", "haze", 0.6, "my_chroma_haze", 256, True,
                  clip=_clip_loader(FLUX_T5, "chroma", "Load t5xxl (Chroma text encoder)"))


def chroma_restore_image() -> dict:
    return _image_restore(CHROMA_UNET, "Load Chroma1-HD", "my_chroma_haze.safetensors", "chroma_restored")


def chroma_radiance_train_prompt() -> dict:
    return _train(RADIANCE_UNET, PIXEL_SPACE, "Load Chroma1-Radiance", "haze", 0.6, "my_chroma_radiance_haze", 256,
                  True, clip=_clip_loader(FLUX_T5, "chroma", "Load t5xxl (Chroma text encoder)"))


def chroma_radiance_restore_image() -> dict:
    return _image_restore(RADIANCE_UNET, "Load Chroma1-Radiance", "my_chroma_radiance_haze.safetensors",
                          "chroma_radiance_restored", vae=PIXEL_SPACE, vae_title="No VAE (pixel space)")


def qwen_image_train_prompt() -> dict:
    return _train(QWEN_UNET, QWEN_VAE, "Load Qwen-Image", "haze", 0.6, "my_qwen_image_haze", 256, True,
                  clip=_clip_loader(QWEN_TEXT_ENCODER, "qwen_image", "Load Qwen2.5-VL-7B (Qwen-Image text encoder)"))


def qwen_image_restore_image() -> dict:
    return _image_restore(QWEN_UNET, "Load Qwen-Image", "my_qwen_image_haze.safetensors", "qwen_image_restored",
                          vae=QWEN_VAE, vae_title="Load Qwen-Image VAE")


def flux2_train_prompt() -> dict:
    return _train(FLUX2_UNET, FLUX2_VAE, "Load FLUX.2 klein 4B", "haze", 0.6, "my_flux2_haze", 256, True,
                  clip=_clip_loader(FLUX2_TEXT_ENCODER, "flux2", "Load Qwen3-4B (FLUX.2 klein 4B text encoder)"))


def flux2_restore_image() -> dict:
    return _image_restore(FLUX2_UNET, "Load FLUX.2 klein 4B", "my_flux2_haze.safetensors", "flux2_restored",
                          vae=FLUX2_VAE, vae_title="Load FLUX.2 VAE")


def z_image_train_prompt() -> dict:
    return _train(Z_IMAGE_UNET, FLUX_VAE, "Load Z-Image Turbo", "haze", 0.6, "my_z_image_haze", 256, True,
                  clip=_clip_loader(FLUX2_TEXT_ENCODER, "lumina2", "Load Qwen3-4B (Z-Image text encoder)"))


def z_image_restore_image() -> dict:
    return _image_restore(Z_IMAGE_UNET, "Load Z-Image Turbo", "my_z_image_haze.safetensors", "z_image_restored")


def wan22_ti2v_train_prompt() -> dict:
    return _train(WAN22_5B_UNET, WAN22_VAE, "Load Wan2.2-TI2V-5B", "rain", 0.5, "my_wan22_ti2v_rain", 256, True,
                  clip=_clip_loader(WAN_TEXT_ENCODER, "wan", "Load umt5 (Wan text encoder)"))


def wan22_ti2v_restore_video() -> dict:
    return _video_restore({"3": _node("UnlockPromptLoader", "Load Restoration Prompt",
                                      prompt_name="my_wan22_ti2v_rain.safetensors")},
                          ["3", 0], "unlock_rainy_clip.mp4", "unlock/wan22_ti2v_restored",
                          unet=(WAN22_5B_UNET, "Load Wan2.2-TI2V-5B"), vae=(WAN22_VAE, "Load Wan 2.2 VAE"))


def hunyuan_video15_train_prompt() -> dict:
    return _train(HV15_UNET, HV15_VAE, "Load HunyuanVideo 1.5", "rain", 0.5, "my_hunyuan_video15_rain", 256, True,
                  clip=_node("DualCLIPLoader", "Load Qwen2.5-VL-7B + byT5 (HunyuanVideo 1.5 text encoders)",
                             clip_name1=QWEN_TEXT_ENCODER, clip_name2=HV15_BYT5, type="hunyuan_video_15",
                             device="default"))


def hunyuan_video15_restore_video() -> dict:
    return _video_restore({"3": _node("UnlockPromptLoader", "Load Restoration Prompt",
                                      prompt_name="my_hunyuan_video15_rain.safetensors")},
                          ["3", 0], "unlock_rainy_clip.mp4", "unlock/hunyuan_video15_restored",
                          unet=(HV15_UNET, "Load HunyuanVideo 1.5"), vae=(HV15_VAE, "Load HunyuanVideo 1.5 VAE"))


def _a14b_experts() -> dict:
    return {"1": _node("UNETLoader", "Load Wan2.2-T2V-A14B high-noise expert", unet_name=WAN22_HIGH,
                       weight_dtype="default"),
            "2": _node("UNETLoader", "Load Wan2.2-T2V-A14B low-noise expert", unet_name=WAN22_LOW,
                       weight_dtype="default"),
            "3": _node("VAELoader", "Load Wan VAE", vae_name=WAN_VAE)}


def _expert_train(title: str, model: list, expert: str, save_name: str) -> dict:
    return _node("UnlockPromptTrain", title, model=model, vae=["3", 0], clean_images=["4", 0],
                 degraded_images=["5", 0], steps=500, learning_rate=0.001, batch_size=1, resolution=256, t0=0.9,
                 seed=0, mode="gated", objective="bridge", save_name=save_name, checkpoint_every=100,
                 gradient_checkpointing=True, tokens=0, degradation="rain", overwrite=False, loss="x0",
                 expert=expert, expert_boundary=0.875)


def wan22_a14b_train_prompts() -> dict:
    """One prompt per expert, each trained on its part of the bridge, then the held-out photo restored with both
    and scored."""
    return {
        **_a14b_experts(),
        "4": _node("UnlockImageFolder", "Clean photos (input/unlock_clean_photos)", folder="unlock_clean_photos",
                   width=512, height=512, fit="crop", order="name", seed=0, max_images=0),
        "5": _degrade("Make degraded copies", ["4", 0], "rain", 0.5, seed=0),
        "6": _node("LoadImage", "Held-out photo (not in the folder)", image="unlock_validation_photo.png"),
        "7": _degrade("Degrade held-out photo", ["6", 0], "rain", 0.5, seed=1),
        "8": _expert_train("Train the low-noise expert's prompt", ["2", 0], "low_noise", "my_wan22_a14b_rain_low"),
        "9": _expert_train("Train the high-noise expert's prompt", ["1", 0], "high_noise",
                           "my_wan22_a14b_rain_high"),
        "10": _node("PreviewImage", "Loss (low-noise expert)", images=["8", 1]),
        "11": _node("PreviewImage", "Loss (high-noise expert)", images=["9", 1]),
        "12": _a14b_restore(["2", 0], ["3", 0], ["8", 0], ["7", 0], ["1", 0], ["9", 0]),
        "13": _node("SaveImage", "Held-out photo restored", images=["12", 0],
                    filename_prefix="unlock/my_wan22_a14b_rain"),
        "14": _node("UnlockMetrics", "Score against the clean photo", restored=["12", 0], reference=["6", 0],
                    y_channel=False, resize_to_512=False),
    }


def wan22_a14b_restore_video() -> dict:
    return {
        **_a14b_experts(),
        "4": _node("UnlockPromptLoader", "Low-noise expert's prompt", prompt_name="my_wan22_a14b_rain_low.safetensors"),
        "5": _node("UnlockPromptLoader", "High-noise expert's prompt",
                   prompt_name="my_wan22_a14b_rain_high.safetensors"),
        "10": _node("LoadVideo", "Degraded video", file="unlock_rainy_clip.mp4"),
        "11": _node("GetVideoComponents", "Frames, audio, fps", video=["10", 0]),
        "12": _a14b_restore(["2", 0], ["3", 0], ["4", 0], ["11", 0], ["1", 0], ["5", 0]),
        "13": _node("CreateVideo", "Restored video", images=["12", 0], fps=["11", 2], audio=["11", 1]),
        "14": _node("SaveVideo", "Save restored", video=["13", 0], filename_prefix="unlock/wan22_a14b_restored",
                    format="auto", codec="auto"),
    }


def wan_import_official_prompts() -> dict:
    graph = {"1": _node("CLIPLoader", "Load umt5 (Wan text encoder)", clip_name=WAN_TEXT_ENCODER, type="wan",
                        device="default")}
    for i, name in enumerate(OFFICIAL):
        graph[str(2 + i)] = _node("UnlockPromptImport", f"Import wan_{name}.pt", official_file=f"wan_{name}.pt",
                                  save_name=f"wan_{name}", degradation=name, overwrite=True, clip=["1", 0])
    return graph


def flux_import_official_prompts() -> dict:
    graph = {"1": _node("DualCLIPLoader", "Load t5xxl + clip_l (FLUX text encoders)", clip_name1=FLUX_T5,
                        clip_name2=FLUX_CLIP_L, type="flux", device="default")}
    for i, name in enumerate(OFFICIAL):
        graph[str(2 + i)] = _node("UnlockPromptImport", f"Import flux_{name}.pt", official_file=f"flux_{name}.pt",
                                  save_name=f"ypt_flux_{name}", degradation=name, overwrite=False, clip=["1", 0])
    return graph


WORKFLOWS: dict[str, dict] = {
    "flux_restore_image": {
        "title": "Restore an image (FLUX.1-dev)",
        "build": flux_restore_image,
        "note": "# Restore an image with FLUX.1-dev\n\n" + _SETUP_FLUX + "\n\n**Prompt**: `flux_haze.safetensors` "
                "in `models/prompt_embeds`, trained with *flux_train_prompt* (or any prompt made for FLUX.1-dev).\n"
                "\n**Settings**: `t0` is how far the bridge starts from your image (0.3-0.5; higher removes heavier "
                "degradation but may change details), `steps` 20 as the paper, `strength` 1.0 as trained. Any "
                "image size works. " + _SAMPLES,
    },
    "flux_restore_image_sampler": {
        "title": "Restore an image with the Bridge Sampler (FLUX.1-dev, advanced)",
        "build": flux_restore_image_sampler,
        "note": "# Bridge Sampler plumbing (FLUX.1-dev)\n\nThe same restoration as *flux_restore_image*, built from "
                "the standard SAMPLER + SIGMAS pieces: Apply Restoration Prompt patches the MODEL and gives the "
                "CONDITIONING; Bridge Sampler and Bridge Schedule go into SamplerCustomAdvanced with the encoded "
                "degraded image as the latent. Add LoRAs before Apply.\n\n" + _SETUP_FLUX + "\n\n" + _SAMPLES,
    },
    "wan_restore_video": {
        "title": "Restore a video (Wan2.1-T2V-1.3B)",
        "build": wan_restore_video,
        "note": "# Restore a video with Wan2.1-T2V-1.3B\n\n" + _SETUP_WAN + "\n\n**Prompt**: `wan_rain.safetensors`"
                " (official, imported). Others: wan_blur, wan_haze, wan_lowlight, wan_snow.\n\n**Settings**: long "
                "videos are restored in windows of `window_frames` (33 as the official code) with `overlap_frames` "
                "cross-faded; audio and frame rate are kept. " + _SAMPLES,
    },
    "wan_mix_prompts": {
        "title": "Mixed degradation: two prompts (Wan2.1-T2V-1.3B)",
        "build": wan_mix_prompts,
        "note": "# Haze and rain together: mix two prompts\n\n" + _SETUP_WAN + "\n\n`average` (the paper's mode) "
                "runs the model once per prompt each step and averages: best quality, twice the time. `blend` "
                "merges the prompts into one: the speed of a single prompt. Weights are relative. " + _SAMPLES,
    },
    "flux_train_prompt": {
        "title": "Train a restoration prompt from your photos (FLUX.1-dev)",
        "build": flux_train_prompt,
        "note": "# Train a FLUX restoration prompt from clean photos\n\nPut clean photos in "
                "`ComfyUI/input/unlock_clean_photos` (the sample folder has four); Load Image Folder centre-crops them to "
                "512x512 as one batch. Degrade Image makes the degraded copies (pick the degradation you want to remove); only the prompt learns, FLUX stays frozen.\n\n"
                + _SETUP_FLUX + "\n\nSaves `models/prompt_embeds/flux_haze.safetensors` (checkpoints every 100 "
                "steps; queue again to continue from it via Load Restoration Prompt). 500 steps at 256 px crops "
                "with gradient checkpointing fit a 24 GB card; raise `resolution` for large photos. The held-out "
                "photo is restored at the end and scored on the node.",
    },
    "wan_train_prompt": {
        "title": "Train a restoration prompt from your photos (Wan2.1-T2V-1.3B)",
        "build": wan_train_prompt,
        "note": "# Train a Wan restoration prompt from clean photos\n\nPhotos train Wan as one-frame videos. Put "
                "them in `ComfyUI/input/unlock_clean_photos` (Load Image Folder centre-crops them to 512x512 as one "
                "batch); Degrade Image makes rainy copies.\n\n" + _SETUP_WAN +
                "\n\nSaves `models/prompt_embeds/my_wan_rain.safetensors`; use it in *wan_restore_video* instead of "
                "the official prompt.",
    },
    "chroma_train_prompt": {
        "title": "Train a restoration prompt from your photos (Chroma)",
        "build": chroma_train_prompt,
        "note": "# Train a Chroma restoration prompt from clean photos\n\nThere are no official Chroma prompts: "
                "this is how you make one. Put clean photos in `ComfyUI/input/unlock_clean_photos` (the sample "
                "folder has four); Load Image Folder centre-crops them to 512x512 as one batch and Degrade Image "
                "makes the hazy copies; only the prompt learns, Chroma stays frozen.\n\n" + _SETUP_CHROMA +
                f" `{FLUX_T5}` in `models/text_encoders` (Load CLIP, type chroma) encodes the empty text once, "
                "stored in the prompt file, so restoring needs no text encoder.\n\nSaves "
                "`models/prompt_embeds/my_chroma_haze.safetensors` (checkpoints every 100 steps; queue again to "
                "continue from it via Load Restoration Prompt), then restores the held-out photo and scores it on "
                "the node. Use the prompt in *chroma_restore_image*.",
    },
    "chroma_restore_image": {
        "title": "Restore an image (Chroma)",
        "build": chroma_restore_image,
        "note": "# Restore an image with Chroma\n\n" + _SETUP_CHROMA + " No text encoder is needed: the prompt "
                "file carries its empty-text encoding.\n\n**Prompt**: `my_chroma_haze.safetensors` in "
                "`models/prompt_embeds`, trained with *chroma_train_prompt* (a prompt made for FLUX.1 is refused: "
                "the weights differ).\n\n**Settings**: as *flux_restore_image*: `t0` 0.3-0.5, `steps` 20, "
                "`strength` 1.0. " + _SAMPLES,
    },
    "chroma_radiance_train_prompt": {
        "title": "Train a restoration prompt from your photos (Chroma Radiance)",
        "build": chroma_radiance_train_prompt,
        "note": "# Train a Chroma Radiance restoration prompt from clean photos\n\nThere are no official Chroma "
                "Radiance prompts: this is how you make one. Put clean photos in `ComfyUI/input/unlock_clean_photos` "
                "(the sample folder has four); Load Image Folder centre-crops them to 512x512 as one batch and "
                "Degrade Image makes the hazy copies; only the prompt learns, the model stays frozen.\n\n"
                + _SETUP_RADIANCE + f" `{FLUX_T5}` in `models/text_encoders` (Load CLIP, type chroma) encodes the "
                "empty text once, stored in the prompt file, so restoring needs no text encoder.\n\nSaves "
                "`models/prompt_embeds/my_chroma_radiance_haze.safetensors` (checkpoints every 100 steps; queue "
                "again to continue from it via Load Restoration Prompt), then restores the held-out photo and "
                "scores it on the node. A Chroma1-HD prompt does not fit (the weights differ). Use the prompt in "
                "*chroma_radiance_restore_image*. Memory: Chroma's 8.9 B parameters plus its pixel head; 16 px "
                "patches make a 512 px photo as many tokens as Chroma's VAE does; gradient checkpointing is on (not "
                "measured here: no such card on the test machines).",
    },
    "chroma_radiance_restore_image": {
        "title": "Restore an image (Chroma Radiance)",
        "build": chroma_radiance_restore_image,
        "note": "# Restore an image with Chroma Radiance\n\n" + _SETUP_RADIANCE + " No text encoder is needed: the "
                "prompt file carries its empty-text encoding.\n\n**Prompt**: "
                "`my_chroma_radiance_haze.safetensors` in `models/prompt_embeds`, trained with "
                "*chroma_radiance_train_prompt* (a prompt made for Chroma1-HD or FLUX.1 is refused: the weights "
                "differ).\n\n**Settings**: as *flux_restore_image*: `t0` 0.3-0.5, `steps` 20, `strength` 1.0. "
                + _SAMPLES,
    },
    "qwen_image_train_prompt": {
        "title": "Train a restoration prompt from your photos (Qwen-Image)",
        "build": qwen_image_train_prompt,
        "note": "# Train a Qwen-Image restoration prompt from clean photos\n\nThere are no official Qwen-Image "
                "prompts: this is how you make one. Put clean photos in `ComfyUI/input/unlock_clean_photos` (the "
                "sample folder has four); Load Image Folder centre-crops them to 512x512 as one batch and Degrade "
                "Image makes the hazy copies; only the prompt learns (128 text rows), Qwen-Image stays frozen.\n\n"
                + _SETUP_QWEN + f" `{QWEN_TEXT_ENCODER}` in `models/text_encoders` (Load CLIP, type qwen_image) "
                "encodes the empty text once, stored in the prompt file, so restoring needs no text encoder.\n\n"
                "Saves `models/prompt_embeds/my_qwen_image_haze.safetensors` (checkpoints every 100 steps; queue "
                "again to continue from it via Load Restoration Prompt), then restores the held-out photo and "
                "scores it on the node. Use the prompt in *qwen_image_restore_image*. Memory: Qwen-Image has 20 B "
                "parameters (about 20 GB in fp8); gradient checkpointing is on (not measured here: no such card "
                "on the test machines).",
    },
    "qwen_image_restore_image": {
        "title": "Restore an image (Qwen-Image)",
        "build": qwen_image_restore_image,
        "note": "# Restore an image with Qwen-Image\n\n" + _SETUP_QWEN + " No text encoder is needed: the prompt "
                "file carries its empty-text encoding.\n\n**Prompt**: `my_qwen_image_haze.safetensors` in "
                "`models/prompt_embeds`, trained with *qwen_image_train_prompt* (a prompt made for another model "
                "is refused).\n\n**Settings**: as *flux_restore_image*: `t0` 0.3-0.5, `steps` 20, `strength` "
                "1.0. " + _SAMPLES,
    },
    "flux2_train_prompt": {
        "title": "Train a restoration prompt from your photos (FLUX.2 klein)",
        "build": flux2_train_prompt,
        "note": "# Train a FLUX.2 restoration prompt from clean photos\n\nThere are no official FLUX.2 prompts: "
                "this is how you make one. Put clean photos in `ComfyUI/input/unlock_clean_photos` (the sample "
                "folder has four); Load Image Folder centre-crops them to 512x512 as one batch and Degrade Image "
                "makes the hazy copies; only the prompt learns (512 text rows: FLUX.2 pads its text to that, so "
                "`tokens` stays 0), the model stays frozen.\n\n" + _SETUP_FLUX2 + f" `{FLUX2_TEXT_ENCODER}` in "
                "`models/text_encoders` (Load CLIP, type flux2; klein 9B: qwen_3_8b, dev: mistral_3_small) encodes "
                "the empty text once, stored in the prompt file, so restoring needs no text encoder.\n\nSaves "
                "`models/prompt_embeds/my_flux2_haze.safetensors` (checkpoints every 100 steps; queue again to "
                "continue from it via Load Restoration Prompt), then restores the held-out photo and scores it on "
                "the node. A prompt fits only the FLUX.2 model it was trained for (their text widths differ). Use "
                "it in *flux2_restore_image*.",
    },
    "flux2_restore_image": {
        "title": "Restore an image (FLUX.2 klein)",
        "build": flux2_restore_image,
        "note": "# Restore an image with FLUX.2 klein\n\n" + _SETUP_FLUX2 + " No text encoder is needed: the "
                "prompt file carries its empty-text encoding.\n\n**Prompt**: `my_flux2_haze.safetensors` in "
                "`models/prompt_embeds`, trained with *flux2_train_prompt* for this model (a prompt made for "
                "another model is refused).\n\n**Settings**: as *flux_restore_image*: `t0` 0.3-0.5, `steps` 20, "
                "`strength` 1.0. " + _SAMPLES,
    },
    "z_image_train_prompt": {
        "title": "Train a restoration prompt from your photos (Z-Image)",
        "build": z_image_train_prompt,
        "note": "# Train a Z-Image restoration prompt from clean photos\n\nThere are no official Z-Image prompts: "
                "this is how you make one. Put clean photos in `ComfyUI/input/unlock_clean_photos` (the sample "
                "folder has four); Load Image Folder centre-crops them to 512x512 as one batch and Degrade Image "
                "makes the hazy copies; only the prompt learns (128 caption rows), Z-Image stays frozen.\n\n"
                + _SETUP_Z_IMAGE + f" `{FLUX2_TEXT_ENCODER}` in `models/text_encoders` (Load CLIP, type lumina2; "
                "the file FLUX.2 klein 4B uses, but klein's type encodes other layers and is refused) encodes the "
                "empty text once, stored in the prompt file, so restoring needs no text encoder.\n\nSaves "
                "`models/prompt_embeds/my_z_image_haze.safetensors` (checkpoints every 100 steps; queue again to "
                "continue from it via Load Restoration Prompt), then restores the held-out photo and scores it on "
                "the node. Use the prompt in *z_image_restore_image*. Memory: Z-Image has 6 B parameters (about "
                "12 GB in bf16); gradient checkpointing is on (not measured here: no such card on the test "
                "machines).",
    },
    "z_image_restore_image": {
        "title": "Restore an image (Z-Image)",
        "build": z_image_restore_image,
        "note": "# Restore an image with Z-Image\n\n" + _SETUP_Z_IMAGE + " No text encoder is needed: the prompt "
                "file carries its empty-text encoding.\n\n**Prompt**: `my_z_image_haze.safetensors` in "
                "`models/prompt_embeds`, trained with *z_image_train_prompt* for this model (a prompt made for "
                "another model is refused).\n\n**Settings**: as *flux_restore_image*: `t0` 0.3-0.5, `steps` 20, "
                "`strength` 1.0. " + _SAMPLES,
    },
    "wan22_ti2v_train_prompt": {
        "title": "Train a restoration prompt from your photos (Wan2.2-TI2V-5B)",
        "build": wan22_ti2v_train_prompt,
        "note": "# Train a Wan 2.2 TI2V-5B restoration prompt from clean photos\n\nThere are no official Wan 2.2 "
                "prompts: this is how you make one. Photos train it as one-frame videos. Put them in "
                "`ComfyUI/input/unlock_clean_photos` (Load Image Folder centre-crops them to 512x512 as one batch); "
                "Degrade Image makes rainy copies; only the prompt learns, the model stays frozen.\n\n"
                + _SETUP_TI2V + f" `{WAN_TEXT_ENCODER}` in `models/text_encoders` (Load CLIP, type wan) encodes "
                "the empty text once, stored in the prompt file, so restoring needs no text encoder.\n\nSaves "
                "`models/prompt_embeds/my_wan22_ti2v_rain.safetensors` (checkpoints every 100 steps; queue again "
                "to continue from it via Load Restoration Prompt), then restores the held-out photo and scores it "
                "on the node. Use the prompt in *wan22_ti2v_restore_video*. Memory: 5 B parameters; gradient "
                "checkpointing is on (not measured here: no such card on the test machines).",
    },
    "wan22_ti2v_restore_video": {
        "title": "Restore a video (Wan2.2-TI2V-5B)",
        "build": wan22_ti2v_restore_video,
        "note": "# Restore a video with Wan2.2-TI2V-5B\n\n" + _SETUP_TI2V + " No text encoder is needed: the "
                "prompt file carries its empty-text encoding.\n\n**Prompt**: `my_wan22_ti2v_rain.safetensors` in "
                "`models/prompt_embeds`, trained with *wan22_ti2v_train_prompt* (a Wan 2.1 or A14B prompt is "
                "refused: the width differs).\n\n**Settings**: as *wan_restore_video*: long videos are restored "
                "in windows of `window_frames` with `overlap_frames` cross-faded; audio and frame rate are kept. "
                + _SAMPLES,
    },
    "hunyuan_video15_train_prompt": {
        "title": "Train a restoration prompt from your photos (HunyuanVideo 1.5)",
        "build": hunyuan_video15_train_prompt,
        "note": "# Train a HunyuanVideo 1.5 restoration prompt from clean photos\n\nThere are no official "
                "HunyuanVideo 1.5 prompts: this is how you make one. Photos train it as one-frame videos. Put them "
                "in `ComfyUI/input/unlock_clean_photos` (Load Image Folder centre-crops them to 512x512 as one "
                "batch); Degrade Image makes rainy copies; only the prompt learns (128 text rows), the model stays "
                "frozen.\n\n" + _SETUP_HV15 + f" `{QWEN_TEXT_ENCODER}` and `{HV15_BYT5}` in `models/text_encoders` "
                "(DualCLIPLoader, type hunyuan_video_15) encode the empty text once, stored in the prompt file, so "
                "restoring needs no text encoder (Qwen-Image's loader type would encode it with the wrong template "
                "and is refused).\n\nSaves `models/prompt_embeds/my_hunyuan_video15_rain.safetensors` "
                "(checkpoints every 100 steps; queue again to continue from it via Load Restoration Prompt), then "
                "restores the held-out photo and scores it on the node. Use the prompt in "
                "*hunyuan_video15_restore_video*. Memory: 8.3 B parameters; gradient checkpointing is on (not "
                "measured here: no such card on the test machines).",
    },
    "hunyuan_video15_restore_video": {
        "title": "Restore a video (HunyuanVideo 1.5)",
        "build": hunyuan_video15_restore_video,
        "note": "# Restore a video with HunyuanVideo 1.5\n\n" + _SETUP_HV15 + " No text encoder is needed: the "
                "prompt file carries its empty-text encoding.\n\n**Prompt**: `my_hunyuan_video15_rain.safetensors` "
                "in `models/prompt_embeds`, trained with *hunyuan_video15_train_prompt* (a prompt made for another "
                "model is refused).\n\n**Settings**: as *wan_restore_video*: long videos are restored in windows "
                "of `window_frames` with `overlap_frames` cross-faded; audio and frame rate are kept. " + _SAMPLES,
    },
    "wan22_a14b_train_prompts": {
        "title": "Train restoration prompts for both experts (Wan2.2-T2V-A14B)",
        "build": wan22_a14b_train_prompts,
        "note": "# Train a prompt for each Wan 2.2 A14B expert\n\nPhotos train Wan as one-frame videos. Put them "
                "in `ComfyUI/input/unlock_clean_photos`; Degrade Image makes rainy copies. Each Train node trains "
                "one expert on the part of the bridge it runs when restoring (`expert`: low_noise below sigma "
                "0.875, high_noise from 0.875 to `t0`); both experts stay frozen.\n\n" + _SETUP_A14B + "\n\n"
                + _A14B_T0 + "\n\nSaves `models/prompt_embeds/my_wan22_a14b_rain_low.safetensors` and "
                "`..._high.safetensors` (checkpoints every 100 steps), restores the held-out photo with both and "
                "scores it on Metrics. Use them in *wan22_a14b_restore_video*. Memory: 14 B parameters per expert; "
                "gradient checkpointing is on (not measured here: no such card on the test machines).",
    },
    "wan22_a14b_restore_video": {
        "title": "Restore a video with both experts (Wan2.2-T2V-A14B)",
        "build": wan22_a14b_restore_video,
        "note": "# Restore a video with Wan2.2-T2V-A14B\n\n" + _SETUP_A14B + " No text encoder is needed: the "
                "prompt files carry their empty-text encoding.\n\n**Prompts**: `my_wan22_a14b_rain_low` on "
                "Restore's `restoration_prompt` (the low-noise expert, on `model`) and `my_wan22_a14b_rain_high` "
                "on `high_noise_prompt` (the high-noise expert, on `high_noise_model`), from "
                "*wan22_a14b_train_prompts*.\n\n" + _A14B_T0 + " Long videos are restored in windows as in "
                "*wan_restore_video*. " + _SAMPLES,
    },
    "wan_import_official_prompts": {
        "title": "Import the official Wan prompts",
        "build": wan_import_official_prompts,
        "note": "# Import the released Wan prompts (once)\n\nThe official prompts are in the `ckpts` folder of "
                "the YPT repository (github.com/sudraj2002/YPT). Put `wan_blur.pt`, `wan_haze.pt`, "
                "`wan_lowlight.pt`, `wan_rain.pt`, `wan_snow.pt` in `models/prompt_embeds_official`, and "
                f"`{WAN_TEXT_ENCODER}` in `models/text_encoders`. Run once: each becomes "
                "`models/prompt_embeds/wan_<name>.safetensors` carrying the empty text encoded by umT5 (the "
                "official null context, exactly), so the restore workflows need no text encoder. The files record "
                "the official time index. The .pt files are read as tensors only (never executed).",
    },
    "flux_import_official_prompts": {
        "title": "Import the official FLUX prompts",
        "build": flux_import_official_prompts,
        "note": "# Import the released FLUX.1-dev prompts (once)\n\nThe official prompts are in the `ckpts` "
                "folder of the YPT repository (github.com/sudraj2002/YPT). Put `flux_blur.pt`, `flux_haze.pt`, "
                "`flux_lowlight.pt`, `flux_rain.pt`, `flux_snow.pt` in `models/prompt_embeds_official`, and "
                f"`{FLUX_T5}` + `{FLUX_CLIP_L}` in `models/text_encoders`. Run once: each becomes "
                "`models/prompt_embeds/ypt_flux_<name>.safetensors` carrying the official null context (T5 of "
                "the empty text over exactly 512 tokens, unmasked, and CLIP-L's pooled vector, encoded by the "
                "Import node from the connected CLIP), so the restore workflows need no text encoder: load "
                "`ypt_flux_haze.safetensors` in *flux_restore_image*. The files record the official time index. "
                "Already imported files are kept: turn on `overwrite` to import again. The .pt files are read as "
                "tensors only (never executed).",
    },
}


def install_standins(base: Path, tiny_files: dict[str, Path]) -> Path:
    """In a ComfyUI base directory: the tiny checkpoints (tiny_models NAME -> file) linked under the real model
    file names the workflows load, and the sample inputs copied into input/."""
    for real, tiny in TINY_STANDINS.items():
        if tiny not in tiny_files:
            continue  # a caller that built only some of the tiny models (the workflows naming the rest fail clearly)
        folder = base / "models" / MODEL_FILES[real]
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / real).exists():
            (folder / real).symlink_to(Path(tiny_files[tiny]).resolve())
    shutil.copytree(INPUTS_DIR, base / "input", dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    return base


def api_graph(name: str) -> dict:
    return WORKFLOWS[name]["build"]()


def write_api(out: Path = API_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in WORKFLOWS:
        path = out / f"{name}.json"
        path.write_text(json.dumps(api_graph(name), indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_api():
        print(p)
    sys.exit(0)
