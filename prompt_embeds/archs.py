"""What unlock-restore knows about each supported model family that needs no host: widths, block layouts, the text
encoder and how its output is padded, pooled vector and guidance, image or video. The host side of a family
(detection, injection points, checkpointing, conditioning keys) lives in that family's module in nodes/families/."""
from __future__ import annotations

from dataclasses import dataclass, field

# Width of the T5-XXL / umT5-XXL text-encoder output that every supported model is conditioned on.
TEXT_WIDTH = 4096
# Width of FLUX's pooled CLIP-L vector.
POOLED_WIDTH = 768


@dataclass(frozen=True)
class Arch:
    label: str                    # what a user reads
    block_keys: tuple[str, ...]   # the keys of RestorationPrompt.blocks, in host (ComfyUI) order
    tokens: int                   # default K: the text length the model sees
    # Known real models: name -> (hidden width D, block layout). Tiny test models have other widths, so this is
    # used for messages and official import, never to refuse a prompt.
    models: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)
    # None: it differs between the models of the family (FLUX.2: 3 x the hidden width of its LLM) and is read
    # from the loaded model; prompts carry their own, checked against the model when applied.
    text_width: int | None = TEXT_WIDTH
    # The diffusers scheduler grid whose timestep the official code feeds the network (bridge/time_index.py); None
    # for families without official prompts: their prompts are timed with the continuous t.
    time_grid: str | None = "wan_unipc"
    # FLUX's null context is T5("") over exactly K tokens with no mask (every row depends on the length), so the
    # empty text is tokenised to K tokens with this tokenizer option (ComfyUI's T5TokenizerOptions, min_length).
    # None: the encoder masks and zeroes its padding (umT5), so any encoding of >= K tokens cut to K is exact.
    null_length_option: str | None = None
    # The token streams ComfyUI's tokenizer for this family's text encoder returns (how a CLIP is recognised): one
    # tuple per text encoder the family is used with.
    text_streams: tuple[tuple[str, ...], ...] = (("umt5xxl",),)
    # Where another family's encoder gives the same streams from the same weights (Qwen-Image's and HunyuanVideo
    # 1.5's Qwen2.5-VL-7B: another chat template and hidden layer), the tokenizer class ComfyUI loads this family's
    # with (module.Class), which tells them apart; None: the streams suffice.
    tokenizer: str | None = None
    # The model itself left-pads shorter text with zeros to exactly `tokens` rows (FLUX.2), so K is fixed and an
    # encoding shorter than K is fitted exactly by zero rows in front.
    pad_left: bool = False
    # Prompts of one group drive each other's models (Wan 2.1 and 2.2 share one architecture; the shape decides).
    group: str = ""
    # The text encoder as a user loads it in ComfyUI, and as the official code names it (for messages).
    encoder: str = "umt5_xxl (Load CLIP, type wan)"
    encoder_name: str = "umT5-XXL"
    # Width of the pooled text vector the model also takes (FLUX: CLIP-L's), None when it takes none.
    pooled_width: int | None = None
    # The guidance value prompts are trained and sampled with (FLUX.1's distilled guidance), None: no such input.
    guidance: float | None = None
    # Video (a batch of images is one clip) or image (each image on its own) model.
    video: bool = True
    # Whether its VAE is a video (3-D) VAE; None: as `video`. Qwen-Image is an image model with Wan 2.1's video
    # VAE, so each image is encoded as a clip of one frame.
    video_vae: bool | None = None
    # The VAE a user loads for it (for messages).
    vae: str = "the Wan VAE that matches the model (e.g. wan_2.1_vae)"
    # Whether the gated injection also adds P itself, unscaled, to an activation (Wan: attn(x, c + P) is gated
    # afterwards), which bounds the largest value a prompt injects from below by max|P|.
    adds_plain_prompt: bool = True
    # Where a two-expert model of this family switches from its high-noise to its low-noise expert (sigma; the
    # high-noise expert evaluates t >= boundary), None for families that ship one model (bridge/experts.py).
    expert_boundary: float | None = None

    @property
    def vae_is_video(self) -> bool:
        return self.video if self.video_vae is None else self.video_vae

    def model_for(self, width: int, blocks: dict[str, int] | None = None) -> str | None:
        """The known model with this hidden width (and block layout, when given), or None."""
        for name, (w, layout) in self.models.items():
            if w == width and (blocks is None or dict(blocks) == layout):
                return name
        return None


# Chroma and Chroma Radiance read text alike: T5-XXL only over K tokens, no pooled vector, no official prompts.
_CHROMA_TEXT = dict(time_grid=None, null_length_option="t5xxl_min_length", text_streams=(("t5xxl",),),
                    encoder="t5xxl (Load CLIP, type chroma)", encoder_name="T5-XXL", video=False,
                    adds_plain_prompt=False)

ARCHS: dict[str, Arch] = {
    "flux": Arch("FLUX", ("double", "single"), 512, {"FLUX.1-dev": (3072, {"double": 19, "single": 38})},
                 time_grid="flux_euler", null_length_option="t5xxl_min_length", text_streams=(("l", "t5xxl"),),
                 group="flux", encoder="t5xxl + clip_l (DualCLIPLoader, type flux)", encoder_name="T5-XXL",
                 pooled_width=POOLED_WIDTH, guidance=1.0, video=False, vae="the FLUX VAE (ae.safetensors)",
                 adds_plain_prompt=False),
    # Chroma (Chroma1-HD, ...): FLUX.1's blocks without per-block modulation, T5-XXL only (no pooled vector, no
    # guidance input), text first; no official prompts, so the Train node makes them and K is FLUX.1's.
    "chroma": Arch("Chroma", ("double", "single"), 512, {"Chroma1-HD": (3072, {"double": 19, "single": 38})},
                   group="chroma", vae="the FLUX VAE (ae.safetensors)", **_CHROMA_TEXT),
    # Chroma Radiance (Chroma1-Radiance): Chroma's transformer on RGB pixels (16 px patches, no VAE: VAE Loader's
    # pixel_space), its own weights, so its own prompts.
    "chroma_radiance": Arch("Chroma Radiance", ("double", "single"), 512,
                            {"Chroma1-Radiance": (3072, {"double": 19, "single": 38})}, group="chroma_radiance",
                            vae="pixel_space (the model works on pixels: no VAE file)", **_CHROMA_TEXT),
    # ComfyUI loads each expert of Wan 2.2 T2V-A14B as a WAN21 model (same layout as Wan2.1-T2V-14B); the official
    # Wan 2.2 code switches experts at sigma 0.875 for text-to-video (0.9 for its image-to-video model).
    # FLUX.2 (dev, klein 4B / 9B): FLUX.1's block types with global modulation and a gated MLP, an LLM's hidden
    # states (3 layers concatenated) as text, left-padded by the model to 512 tokens; no pooled vector. No official
    # prompts (the Train node makes them); guidance 1.0 as the method uses (klein has no guidance input).
    "flux2": Arch("FLUX.2", ("double", "single"), 512, {}, text_width=None, time_grid=None,
                  text_streams=(("qwen3_4b",), ("qwen3_8b",), ("mistral3_24b",)), pad_left=True, group="flux2",
                  encoder="the FLUX.2 text encoder of your model (Load CLIP, type flux2: qwen_3_4b for klein 4B, "
                          "qwen_3_8b for klein 9B, mistral_3_small for dev)",
                  encoder_name="Qwen3 / Mistral 3", guidance=1.0, video=False,
                  vae="the FLUX.2 VAE (flux2-vae.safetensors)", adds_plain_prompt=False),
    # Qwen-Image (and -Edit): 60 dual-stream blocks, text first; Qwen2.5-VL-7B's hidden states (3584 wide), the
    # empty text 5 unmasked tokens, zero-padded to K (exact: causal, so no row depends on the length); 128 rows
    # give a prompt room at a modest cost (the joint attention grows by K rows). Wan 2.1's VAE, one frame per image.
    "qwen_image": Arch("Qwen-Image", ("blocks",), 128, {"Qwen-Image": (3072, {"blocks": 60})}, text_width=3584,
                       time_grid=None, text_streams=(("qwen25_7b",),), group="qwen_image",
                       tokenizer="comfy.text_encoders.qwen_image.QwenImageTokenizer",
                       encoder="qwen_2.5_vl_7b (Load CLIP, type qwen_image)", encoder_name="Qwen2.5-VL-7B",
                       video=False, video_vae=True, vae="the Qwen-Image VAE (qwen_image_vae.safetensors)",
                       adds_plain_prompt=False),
    # Z-Image (Turbo, Base; Lumina 2's NextDiT at width 3840): Qwen3-4B's hidden states (2560 wide) refined by two
    # text-only layers, then 30 joint single-stream layers over [caption, image]. The model pads the caption with
    # its own token to a multiple of 32, so K = 128 is never padded; the empty text (8 causal rows with the chat
    # template) is zero-padded to K like Qwen-Image's. FLUX.2 klein 4B loads the same Qwen3-4B file with its own
    # template and three layers (a qwen3_4b stream too): the tokenizer class tells them apart. The FLUX.1 VAE.
    "z_image": Arch("Z-Image", ("layers",), 128, {"Z-Image": (3840, {"layers": 30})}, text_width=2560,
                    time_grid=None, text_streams=(("qwen3_4b",),), group="z_image",
                    tokenizer="comfy.text_encoders.z_image.ZImageTokenizer",
                    encoder="qwen_3_4b (Load CLIP, type lumina2)", encoder_name="Qwen3-4B", video=False,
                    vae="the FLUX VAE (ae.safetensors)", adds_plain_prompt=False),
    # HunyuanVideo 1.5 (8.3B): 54 FLUX.1-type double blocks, Qwen2.5-VL-7B's hidden states (3584 wide) as text,
    # which the model puts after any byT5 glyph or vision tokens; the empty text zero-padded to K as Qwen-Image's
    # (causal, so no row depends on the length). Its tokenizer's stream is Qwen-Image's (qwen25_7b) but its template
    # and layer differ: the tokenizer class tells them apart. Its own 32-channel video VAE.
    "hunyuan_video15": Arch("HunyuanVideo 1.5", ("double",), 128, {"HunyuanVideo-1.5": (2048, {"double": 54})},
                            text_width=3584, time_grid=None, text_streams=(("qwen25_7b",),), group="hunyuan_video15",
                            tokenizer="comfy.text_encoders.hunyuan_video.HunyuanVideo15Tokenizer",
                            encoder="qwen_2.5_vl_7b + byt5_small_glyphxl (DualCLIPLoader, type hunyuan_video_15)",
                            encoder_name="Qwen2.5-VL-7B",
                            vae="the HunyuanVideo 1.5 VAE (hunyuanvideo15_vae_fp16.safetensors)",
                            adds_plain_prompt=False),
    "wan21": Arch("Wan 2.1", ("blocks",), 226, {"Wan2.1-T2V-1.3B": (1536, {"blocks": 30}),
                                               "Wan2.1-T2V-14B": (5120, {"blocks": 40})}, group="wan",
                  expert_boundary=0.875),
    "wan22": Arch("Wan 2.2", ("blocks",), 226, {"Wan2.2-TI2V-5B": (3072, {"blocks": 30}),
                                               "Wan2.2-T2V-A14B": (5120, {"blocks": 40})}, group="wan"),
}


def blocks_text(blocks: dict[str, int]) -> str:
    """A block layout as a user reads it: '19 double + 38 single blocks' or '30 blocks'."""
    if set(blocks) == {"double", "single"}:
        return f"{blocks['double']} double + {blocks['single']} single blocks"
    return f"{sum(blocks.values())} blocks"
