"""Small FLUX / Wan models built in-process from ComfyUI's own classes (any size, float32, seeded weights).

The stock file loaders only accept FLUX at hidden 3072; for fast exact tests (parity, gradients) the same
classes are built here at a small width and wrapped in the host's ModelPatcher, as a loader would.
Needs ComfyUI imported (the `comfy_host` fixture).
"""
from __future__ import annotations

import hashlib

import torch


class HostLacks(RuntimeError):
    """A builder needs a host module this ComfyUI does not have (the tests that use it skip, saying which)."""


def seeded_init(module: torch.nn.Module, seed: int) -> None:
    """Every parameter from its own generator (seed, name): independent of construction order."""
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:7],
                                                             "little"))
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif "norm" in name or name.endswith("scale"):
                p.fill_(1.0)
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))


def _patcher(config, seed: int):
    import comfy.model_management
    import comfy.model_patcher

    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device="cpu")
    seeded_init(model.diffusion_model, seed)
    model.diffusion_model.to(torch.float32)
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=cpu)


def stock_detected(module_class, config: dict):
    """The host's own model detection (comfy/model_detection.py) of the state dict of `module_class(**config)` (a
    comfy.ldm diffusion model class), all on the meta device: a released model's real layout, no weights. A
    ModelPatcher on CPU around the model the loader would build."""
    import comfy.model_detection
    import comfy.model_patcher
    import comfy.ops

    with torch.device("meta"):
        sd = module_class(operations=comfy.ops.disable_weight_init, **config).state_dict()
        model_config = comfy.model_detection.model_config_from_unet(sd, "")
        model = model_config.get_model(sd, "")
    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(model, load_device=cpu, offload_device=cpu)


def _rope_axes(hidden: int, heads: int) -> list[int]:
    """FLUX-type rope axes for a head width: two even thirds, the rest on the first axis."""
    head = hidden // heads
    third = head // 3 // 2 * 2
    return [head - 2 * third, third, third]


def _chroma_unet(params_class, **config) -> dict:
    """A Chroma-type loader config for this host's params class: the fields v0.20.1 added (txt_ids_dims,
    vec_in_dim, set as the stock loader sets them for Chroma), minus any this host's class lacks (v0.3.64 has no
    use_x0)."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(params_class)}
    config.update({k: v for k, v in (("txt_ids_dims", []), ("vec_in_dim", None)) if k in fields})
    return {k: v for k, v in config.items() if k in fields or k == "image_model"}


def small_flux(seed: int = 0, hidden: int = 64, heads: int = 2, depth: int = 2, single: int = 2):
    import comfy.supported_models

    axes = _rope_axes(hidden, heads)
    unet = dict(image_model="flux", in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=4096,
                hidden_size=hidden, mlp_ratio=4.0, num_heads=heads, depth=depth, depth_single_blocks=single,
                axes_dim=axes, theta=10000, patch_size=2, qkv_bias=True, guidance_embed=True)
    return _patcher(comfy.supported_models.Flux(flux_host_config(unet)), seed)


def small_chroma(seed: int = 0, hidden: int = 64, heads: int = 2, depth: int = 2, single: int = 2):
    """A small Chroma (comfy.model_base.Chroma) as the loader configures one (comfy/model_detection.py, the Chroma
    branch) at a small width, with a one-layer approximator; the host's ChromaParams fields decide which of the
    newer fields (txt_ids_dims, vec_in_dim on v0.20.1) it takes."""
    import comfy.ldm.chroma.model
    import comfy.supported_models

    unet = _chroma_unet(comfy.ldm.chroma.model.ChromaParams, image_model="chroma", in_channels=64, out_channels=64,
                        context_in_dim=4096, hidden_size=hidden, mlp_ratio=4.0, num_heads=heads, depth=depth,
                        depth_single_blocks=single, axes_dim=_rope_axes(hidden, heads), theta=10000, patch_size=2,
                        qkv_bias=True, in_dim=64, out_dim=hidden, hidden_dim=32, n_layers=1)
    return _patcher(comfy.supported_models.Chroma(unet), seed)


def small_chroma_radiance(seed: int = 0, hidden: int = 64, heads: int = 2, depth: int = 2, single: int = 2):
    """A small Chroma Radiance (comfy.model_base.ChromaRadiance) as the loader configures one (the Chroma branch
    of comfy/model_detection.py with the NeRF head's keys: 3 channels in and out, the patch size from img_in_patch,
    the head's sizes fixed), at a small width with 4 px patches instead of 16."""
    import comfy.ldm.chroma_radiance.model
    import comfy.supported_models

    unet = _chroma_unet(comfy.ldm.chroma_radiance.model.ChromaRadianceParams, image_model="chroma_radiance",
                        in_channels=3, out_channels=3, context_in_dim=4096, hidden_size=hidden, mlp_ratio=4.0,
                        num_heads=heads, depth=depth, depth_single_blocks=single, axes_dim=_rope_axes(hidden, heads),
                        theta=10000, patch_size=4, qkv_bias=True, in_dim=64, out_dim=hidden, hidden_dim=32, n_layers=1,
                        nerf_hidden_size=16, nerf_mlp_ratio=4, nerf_depth=2, nerf_max_freqs=8, nerf_tile_size=512,
                        nerf_final_head_type="linear", nerf_embedder_dtype=torch.float32, use_x0=False)
    return _patcher(comfy.supported_models.ChromaRadiance(unet), seed)


def pixel_space_vae():
    """What VAE Loader's `pixel_space` entry loads (nodes.py: a state dict holding only `pixel_space_vae`)."""
    import comfy.sd

    return comfy.sd.VAE(sd={"pixel_space_vae": torch.tensor(1.0)})


def flux_host_config(config: dict) -> dict:
    """tools/tiny_models.py's: the config plus the fields this host's Flux requires (txt_ids_dims on v0.20.1)."""
    from harness.host import load_tool

    return load_tool("tiny_models").flux_host_config(config)


def small_wan(seed: int = 0, dim: int = 64, heads: int = 2, layers: int = 2, ffn: int = 128):
    import comfy.supported_models

    unet = dict(image_model="wan2.1", model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=16, dim=dim,
                ffn_dim=ffn, freq_dim=256, text_dim=4096, out_dim=16, num_heads=heads, num_layers=layers,
                window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6)
    return _patcher(comfy.supported_models.WAN21_T2V(unet), seed)


def small_wan22(seed: int = 0, dim: int = 64, heads: int = 2, layers: int = 2, ffn: int = 128):
    """A small Wan 2.2 TI2V-5B-type model (comfy.model_base.WAN22: 48 latent channels in and out, the Wan 2.2
    VAE's), built in-process as the loader's WAN22_T2V configures it."""
    import comfy.supported_models

    unet = dict(image_model="wan2.1", model_type="t2v", patch_size=(1, 2, 2), text_len=512, in_dim=48, dim=dim,
                ffn_dim=ffn, freq_dim=256, text_dim=4096, out_dim=48, num_heads=heads, num_layers=layers,
                window_size=(-1, -1), qk_norm=True, cross_attn_norm=True, eps=1e-6)
    return _patcher(comfy.supported_models.WAN22_T2V(unet), seed)


def small_flux2(seed: int = 0, hidden: int = 64, heads: int = 2, depth: int = 1, single: int = 1):
    """A tiny FLUX.2 (comfy.model_base.Flux2, a subclass of Flux) as the v0.20.1 loader configures one
    (comfy/model_detection.py:198-212), built in-process. Only hosts that have FLUX.2 can build it."""
    import comfy.supported_models

    head = hidden // heads
    unet = dict(image_model="flux2", in_channels=128, out_channels=128, vec_in_dim=None, context_in_dim=96,
                hidden_size=hidden, mlp_ratio=3.0, num_heads=heads, depth=depth, depth_single_blocks=single,
                axes_dim=[head // 4] * 4, theta=2000, patch_size=1, qkv_bias=False, guidance_embed=False,
                txt_ids_dims=[3], global_modulation=True, mlp_silu_act=True, ops_bias=False,
                default_ref_method="index", ref_index_scale=10.0)
    return _patcher(comfy.supported_models.Flux2(unet), seed)


def small_qwen_image(seed: int = 0, hidden: int = 64, heads: int = 2, layers: int = 2):
    """A small Qwen-Image (comfy.model_base.QwenImage) as the loader's QwenImage config builds one, at a small width
    (the loader reads only in_channels and num_layers from a file; heads, head width and the 3584-wide text input
    are fixed), built in-process. 16 latent channels packed 2 x 2 (64 in), 3-D latents (Wan 2.1's format)."""
    import comfy.supported_models

    head = hidden // heads
    rope = (head - 2 * (3 * head // 8), 3 * head // 8, 3 * head // 8)  # the real one: (16, 56, 56) of 128
    unet = dict(image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16, num_layers=layers,
                attention_head_dim=head, num_attention_heads=heads, joint_attention_dim=3584,
                axes_dims_rope=rope)
    return _patcher(comfy.supported_models.QwenImage(unet), seed)


def small_z_image(seed: int = 0, dim: int = 256, heads: int = 4, layers: int = 2):
    """A small Z-Image (comfy.model_base.Lumina2 with the loader's ZImage config, comfy/model_detection.py's Z-Image
    branch) at a small width, built in-process: the loader reads the width from the file but fixes 30 heads, the
    rope axes and two refiner layers each. 256 is the smallest width its modulation allows (the time embedding is
    256 wide). The caption and the image tokens are padded to multiples of 32, as the real model's are. Only
    hosts that have Z-Image (v0.20.1, not v0.3.64) can build it."""
    import comfy.supported_models

    head = dim // heads
    unet = dict(image_model="lumina2", patch_size=2, in_channels=16, dim=dim, cap_feat_dim=2560, n_layers=layers,
                qk_norm=True, n_heads=heads, n_kv_heads=heads, axes_dims=[head // 4, 3 * head // 8, 3 * head // 8],
                axes_lens=[1536, 512, 512], rope_theta=256.0, ffn_dim_multiplier=8.0 / 3.0,
                z_image_modulation=True, time_scale=1000.0, pad_tokens_multiple=32)
    return _patcher(comfy.supported_models.ZImage(unet), seed)


def small_hunyuan_video15(seed: int = 0, hidden: int = 64, heads: int = 2, depth: int = 2, meanflow: bool = False):
    """A small HunyuanVideo 1.5 (comfy.model_base.HunyuanVideo15) as the loader configures one (comfy/
    model_detection.py's HunyuanVideo branch with the 1.5 keys: byT5 mapper, vision input, type embedding) at a small
    width, built in-process: the loader fixes the head width at 128 and the rope axes. 65 input channels (32 latent,
    32 image condition, 1 mask) and 32 out, as the real one; no single-stream blocks. `meanflow`: the second time
    embedding (time_r_in) of the step-distilled models. Only hosts that have
    HunyuanVideo 1.5 (v0.20.1, not v0.3.64) can build it."""
    import comfy.supported_models

    head = hidden // heads
    unet = dict(image_model="hunyuan_video", in_channels=65, out_channels=32, patch_size=[1, 1, 1], vec_in_dim=None,
                axes_dim=[head // 4, 3 * head // 8, 3 * head // 8], meanflow=meanflow, context_in_dim=3584,
                hidden_size=hidden, mlp_ratio=4.0, num_heads=heads, depth=depth, depth_single_blocks=0, theta=256,
                qkv_bias=True, byt5=True, guidance_embed=False, use_cond_type_embedding=True, vision_in_dim=1152,
                meanflow_sum=True)
    return _patcher(comfy.supported_models.HunyuanVideo15(unet), seed)


def small_taef2(seed: int = 0):
    """FLUX.2's tiny autoencoder (the host's TAESD with 128 latent channels: 32 channels in 2 x 2 patches, what
    VAELoader builds for `taef2`), seeded weights with the tiny-model recipe's gains, built in-process: only hosts
    that have FLUX.2 have it."""
    import comfy.sd
    import comfy.taesd.taesd

    from .host import load_tool

    tiny = load_tool("tiny_models")
    module = comfy.taesd.taesd.TAESD(latent_channels=128)
    sd = {k: tiny.init_tensor(k, tuple(v.shape), seed, "taesd_flux", tiny.gain_for("taesd_flux", k))
          for k, v in module.state_dict().items() if k not in ("vae_scale", "vae_shift")}
    vae = comfy.sd.VAE(sd=sd, metadata={"tae_latent_channels": 128})
    vae.throw_exception_if_invalid()
    return vae


def small_taehv(latent_channels: int, seed: int = 0):
    """The tiny video autoencoder VAELoader builds from a TAEHV-type file (comfy/taesd/taehv.py, recognised by
    `decoder.22.bias`), seeded with the tiny-model recipe's gains and built in-process: 48 latent channels is
    taew2_2 (Wan 2.2 TI2V-5B's latent space), 32 is lighttae_hv15 (HunyuanVideo 1.5's); 16 x spatial and 4 x
    temporal compression, as the real VAEs. Only hosts that have TAEHV (v0.20.1, not v0.3.64) have it."""
    import importlib.util

    import comfy.sd

    if importlib.util.find_spec("comfy.taesd.taehv") is None:
        raise HostLacks("this host has no comfy.taesd.taehv (TAEHV), the tiny video VAE these tests build")
    import comfy.taesd.taehv

    from .host import load_tool

    tiny = load_tool("tiny_models")
    module = comfy.taesd.taehv.TAEHV(latent_channels=latent_channels)
    sd = {k: tiny.init_tensor(k, tuple(v.shape), seed, "taesd_flux", tiny.gain_for("taesd_flux", k))
          for k, v in module.state_dict().items()}
    vae = comfy.sd.VAE(sd=sd)
    vae.throw_exception_if_invalid()
    return vae


def small_klein_clip(seed: int = 0, hidden: int = 32):
    """FLUX.2 klein 4B's text encoder as Load CLIP (type flux2) builds it, with the host's own tokenizer
    (KleinTokenizer: the chat template, padded to 512 tokens), TE class (Flux2TEModel: hidden states of layers 9, 18
    and 27 concatenated) and Qwen3 class, only narrower (`hidden` wide, one head; 36 layers as the real one), so it
    encodes 3 x `hidden` wide text: small_flux2's 96 by default. Seeded weights; built in-process (the loader reads
    sizes from the file but has no smaller Qwen3 config)."""
    import comfy.sd
    import comfy.sd1_clip
    import comfy.text_encoders.flux as flux
    import comfy.text_encoders.llama as llama

    small = {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_attention_heads": 1,
             "num_key_value_heads": 1}

    class SmallQwen3(flux.Qwen3_4BModel):
        def __init__(self, device="cpu", layer=[9, 18, 27], layer_idx=None, dtype=None, attention_mask=True,
                     model_options={}):
            comfy.sd1_clip.SDClipModel.__init__(
                self, device=device, layer=layer, layer_idx=layer_idx, textmodel_json_config=dict(small), dtype=dtype,
                special_tokens={"pad": 151643}, layer_norm_hidden_state=False, model_class=llama.Qwen3_4B,
                enable_attention_masks=attention_mask, return_attention_masks=attention_mask,
                model_options=model_options)

    class SmallKleinTE(flux.Flux2TEModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):
            super().__init__(device=device, dtype=dtype, name="qwen3_4b", model_options=model_options,
                             clip_model=SmallQwen3)

    target = type("SmallKleinTarget", (), {})()
    target.params, target.clip, target.tokenizer = {}, SmallKleinTE, flux.KleinTokenizer
    clip = comfy.sd.CLIP(target, parameters=0)
    seeded_init(clip.cond_stage_model, seed)
    return clip


def small_wan_variant(class_name: str, seed: int = 0):
    """small_wan's weights under another comfy.model_base class of the Wan family (e.g. WAN21_Vace): a model the
    pack must classify by its exact class, whatever it inherits."""
    import comfy.model_base

    patcher = small_wan(seed)
    patcher.model.__class__ = getattr(comfy.model_base, class_name)
    return patcher
