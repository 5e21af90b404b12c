"""The small FLUX-family model of the reproduction and its fixed pixel latent space (shared by pretrain/reproduce).

Model: ComfyUI's own FLUX class (comfy.supported_models.Flux -> comfy.ldm.flux.model.Flux) at a small width,
wrapped in the host's ModelPatcher exactly as a diffusion-model loader would, so prompt injection, training
and sampling run the pack's real code paths. No guidance embedding (as FLUX.1-schnell): the pack's FLUX
guidance input of 1.0 is then ignored, as the host ignores it for such models.

Latent space: no learned autoencoder. `PixelLatent` is a fixed, exactly invertible map: pixel-unshuffle by 2
(RGB -> 12 channels at half resolution), then a fixed orthonormal 12 -> 16 lift (FLUX latents have 16
channels), scaled so the model-space latent of a photo has roughly unit spread. Decoding is the exact inverse
on the 12-dim range, so PSNR/SSIM measured after decoding are pixel metrics of the model's output.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
CHECKPOINT = Path(__file__).with_name("flux_small.safetensors")
TOKENS = 16  # K: the text length the small model sees (FLUX uses 512; a small model gets a short context)
# Small FLUX: ~6 M parameters, head dim 32 (rope axes 12 + 10 + 10), patch 2 over a 16-channel latent.
CONFIG = dict(image_model="flux", in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=4096,
              hidden_size=192, mlp_ratio=4.0, num_heads=6, depth=2, depth_single_blocks=4, axes_dim=[12, 10, 10],
              theta=10000, patch_size=2, qkv_bias=True, guidance_embed=False)
LIFT_SEED = 1234
SPREAD = 2.0  # model-space latent = SPREAD * lift(unshuffle(2 u - 1)); photos then have per-channel std ~ 0.5-1


def find_comfyui(arg: str | None) -> Path:
    """--comfyui, else $COMFYUI_PATH, else ~/ComfyUI (the same lookup as the tests)."""
    sys.path.insert(0, str(REPO / "tests"))
    from harness.host import comfyui_candidate

    path = Path(arg).expanduser() if arg else comfyui_candidate()
    if not (path / "comfy").is_dir():
        raise SystemExit(f"no ComfyUI checkout at {path}; pass --comfyui PATH or set COMFYUI_PATH")
    return path.resolve()


def host_version(comfyui: Path) -> str:
    """The checkout's ComfyUI version (comfyui_version.py), for a benchmark's result file."""
    version_file = comfyui / "comfyui_version.py"
    return version_file.read_text().split('"')[-2] if version_file.exists() else "?"


def write_result(out: Path, result: dict) -> None:
    """A benchmark's result JSON (indented, newline-terminated), then the line saying where it went."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


def start_host(comfyui: Path):
    """ComfyUI in-process on CPU with this pack loaded (as tests/conftest.py does): returns the host. The pack is
    importable as `unlock_restore` through a temp dir holding a symlink; the repo root never goes on sys.path
    (its nodes/ would shadow ComfyUI's nodes module)."""
    import tempfile

    from harness.host import InProcessHost, make_base_dir, pack_on_path

    pack_on_path()
    return InProcessHost(comfyui, make_base_dir(Path(tempfile.mkdtemp(prefix="unlock-repro-base-"))))


def build(config: dict | None = None, seed: int = 0, state_dict: dict | None = None):
    """A ModelPatcher around a fresh small FLUX (seeded init), or with `state_dict` loaded (float32)."""
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models
    from harness.small_models import flux_host_config, seeded_init

    cfg = comfy.supported_models.Flux(flux_host_config(dict(config or CONFIG)))
    cfg.set_inference_dtype(torch.float32, None)
    model = cfg.get_model({}, device="cpu")
    seeded_init(model.diffusion_model, seed)
    if state_dict is not None:
        # Through the host's own key mapping, as its loader does (v0.20.1 renamed the q/k norm `.scale` to
        # `.weight`; the committed checkpoint keeps the names it was saved with).
        sd = cfg.process_unet_state_dict({k: v.float() for k, v in state_dict.items()})
        model.diffusion_model.load_state_dict(sd)
    model.diffusion_model.to(torch.float32)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=torch.device("cpu"))


def load_checkpoint(path: Path = CHECKPOINT):
    """(ModelPatcher, metadata) from a pretrained checkpoint; the config is read from the file itself."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    config = json.loads(meta["config"])
    return build(config, state_dict=load_file(str(path))), meta


class PixelLatent:
    """A fixed invertible 'VAE' with the interface the pack and host use (encode/decode of IMAGE tensors)."""

    latent_channels = 16
    latent_dim = 2

    def __init__(self):
        import comfy.latent_formats

        g = torch.Generator().manual_seed(LIFT_SEED)
        q, _ = torch.linalg.qr(torch.randn(16, 12, generator=g, dtype=torch.float64))
        self.lift = q.float()  # (16, 12), orthonormal columns: lift^T lift = I
        # The host applies the FLUX latent format (x - shift) * scale on the way in; encode pre-inverts it so
        # the model sees exactly SPREAD * lift(unshuffle(2u - 1)).
        fmt = comfy.latent_formats.Flux()
        self.shift, self.scale = fmt.shift_factor, fmt.scale_factor

    def spacial_compression_encode(self) -> int:
        return 2

    def spacial_compression_decode(self) -> int:
        return 2

    def temporal_compression_decode(self):
        return None

    def to_model_space(self, images: torch.Tensor) -> torch.Tensor:
        u = F.pixel_unshuffle(images[..., :3].movedim(-1, 1).float() * 2 - 1, 2)  # (B, 12, H/2, W/2)
        return SPREAD * torch.einsum("oc,bchw->bohw", self.lift, u)

    def from_model_space(self, z: torch.Tensor) -> torch.Tensor:
        u = torch.einsum("oc,bohw->bchw", self.lift, z.float()) / SPREAD
        return ((F.pixel_shuffle(u, 2) + 1) / 2).movedim(1, -1)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.to_model_space(images) / self.scale + self.shift

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.from_model_space((latent.float() - self.shift) * self.scale).clamp(0, 1)
