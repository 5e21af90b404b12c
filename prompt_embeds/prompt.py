"""The restoration prompt as data: the learned tensors plus what is needed to use them correctly."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import torch

from .archs import ARCHS, blocks_text
from .errors import fail

# Written into every file; bumped only when an older pack could no longer read new files correctly.
FORMAT_VERSION = 1
# Recorded in provenance. Keep in step with pyproject.toml (the pack is not pip-installed, so no metadata lookup).
PACK_VERSION = "0.2.0"

MODES = ("gated", "context")
# The network's time input a prompt was trained with (bridge/time_index.py): "official" (the official code's grid
# index; imported official prompts, and every prompt trained since 0.2) or "continuous" (t itself).
TIME_INDEX = ("official", "continuous")
# Prompts are trained in float32; half types are accepted so a user can store them smaller.
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def default_provenance() -> dict:
    return {"degradations": [], "base_model": "", "training": {}, "pack_version": PACK_VERSION,
            "source": "trained"}


def gated_peak(prompt: torch.Tensor, gates: torch.Tensor, strength: float, adds_plain_prompt: bool) -> float:
    """The largest magnitude a gated prompt adds to a model's activations, in float64 (exact where the model's
    dtype would overflow): |s| max|a| max|P|, and at least max|P| where the family also adds P itself, unscaled
    (Wan: attn(x, c + P) is gated afterwards). Shared by the file check before a run and the injection's own
    check of every cast copy."""
    peak_p = float(prompt.detach().double().abs().max()) if prompt.numel() else 0.0
    scaled = abs(float(strength)) * float(gates.detach().double().abs().max()) * peak_p if gates.numel() else 0.0
    return max(scaled, peak_p) if adds_plain_prompt else scaled


@dataclass(eq=False)  # eq=False: `==` on tensors is element-wise, so a generated __eq__ would be meaningless
class RestorationPrompt:
    """A learned restoration prompt.

    mode "gated" (the official injection): `prompt` is (K, D) with D the transformer hidden width, and `gates`
    holds one scalar per block in host order (FLUX: double blocks then single blocks; Wan: blocks in order).
    mode "context": `prompt` is a (K, 4096) residual added to the text-encoder output; no gates.
    Construction does not check anything; `validate()` does (saving, loading, import and blending call it).
    """

    prompt: torch.Tensor
    gates: torch.Tensor | None
    mode: str
    arch: str
    blocks: dict[str, int]
    null_context: torch.Tensor | None = None
    pooled: torch.Tensor | None = None
    guidance: float | None = None  # None means: 1.0 for FLUX (the official setting), none for Wan
    t0: float = 0.4
    steps: int = 20
    provenance: dict = field(default_factory=default_provenance)
    # None: not recorded (files written before 0.2): official imports used the official index, trained prompts t.
    time_index: str | None = None
    # The file this prompt was loaded from (set by load_prompt; never saved): lets a training run that resumes from
    # a file write onto that same file without asking for overwrite.
    source_path: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        family = ARCHS.get(self.arch) if isinstance(self.arch, str) else None
        if self.guidance is None and family is not None:
            self.guidance = family.guidance
        # A partial provenance gets the missing keys, so every file carries all of them.
        if self.provenance is None or isinstance(self.provenance, dict):  # anything else: validate() says so
            self.provenance = {**default_provenance(), **(self.provenance or {})}

    @property
    def tokens(self) -> int:
        return int(self.prompt.shape[0])

    def injected_peak(self, strength: float = 1.0) -> float:
        """The largest magnitude this prompt adds to the model's activations at `strength` (float64, so it is
        exact where the model's dtype would overflow): |s| max|a| max|P| for gated FLUX (and at least max|P| for
        gated Wan, whose P enters the context unscaled), max|c| + |s| max|P| for context (c the null context).
        Compared with the dtype the model computes in before it runs."""
        if self.mode == "gated" and self.gates is not None and self.gates.numel():
            return gated_peak(self.prompt, self.gates, strength, ARCHS[self.arch].adds_plain_prompt)
        peak_p = float(self.prompt.detach().double().abs().max()) if self.prompt.numel() else 0.0
        base = float(self.null_context.detach().double().abs().max()) if self.null_context is not None else 0.0
        return base + abs(float(strength)) * peak_p

    @property
    def time_convention(self) -> str:
        """How the network was timed when this prompt was trained: recorded, or for files that predate the field,
        'official' for official imports and 'continuous' for prompts unlock-restore trained."""
        if self.time_index is not None:
            return self.time_index
        source = self.provenance.get("source", "") if isinstance(self.provenance, dict) else ""
        return "official" if str(source).startswith("official") else "continuous"

    @property
    def expert(self) -> str:
        """Which part of a two-expert model's bridge it was trained for (bridge.EXPERTS): 'all' unless the Train
        node recorded 'high_noise' or 'low_noise'."""
        training = self.provenance.get("training") if isinstance(self.provenance, dict) else None
        return str(training.get("expert", "all")) if isinstance(training, dict) else "all"

    @property
    def width(self) -> int:
        return int(self.prompt.shape[1])

    @property
    def n_blocks(self) -> int:
        return int(sum(self.blocks.values()))

    @property
    def has_null_context(self) -> bool:
        return self.null_context is not None

    def describe(self) -> str:
        """One line for a user, e.g. 'Wan 2.1 gated prompt, 226 x 1536, 30 blocks, haze, no null context'."""
        arch = ARCHS[self.arch].label if self.arch in ARCHS else self.arch
        blocks = blocks_text(self.blocks)
        shape = " x ".join(str(s) for s in self.prompt.shape)
        degradations = ", ".join(self.provenance.get("degradations") or []) or "unspecified degradation"
        null = ("null context present" if self.has_null_context
                else "no null context (the empty prompt must be supplied)")
        return f"{arch} {self.mode} prompt, {shape}, {blocks}, {degradations}, {null}"

    def validate(self, path=None, name: str | None = None) -> "RestorationPrompt":
        """Raise PromptFileError (naming `path`, or `name` when there is no file) if the contents are
        inconsistent; return self otherwise."""
        def err(kind, problem, fix):
            return fail(kind, problem, fix, path=path, name=name)

        remake = "Re-train or re-export the prompt with unlock-restore"
        if not isinstance(self.arch, str) or self.arch not in ARCHS:
            raise err("metadata", f"its model family {self.arch!r} is unknown (known: {', '.join(ARCHS)})",
                      f"Use a prompt made for {', '.join(a.label for a in ARCHS.values())}, or update unlock-restore")
        info = ARCHS[self.arch]
        # The family's text-encoder width (the null context and context prompts); where it varies between the
        # family's models (None), the prompt's own, checked against the model when applied.
        text = info.text_width
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise err("metadata", f"its mode {self.mode!r} is unknown (known: {', '.join(MODES)})",
                      "Update unlock-restore, or re-export the prompt")
        blocks = self.blocks
        if (not isinstance(blocks, dict) or set(blocks) != set(info.block_keys)
                or not all(type(v) is int and v >= 0 for v in blocks.values()) or sum(blocks.values()) < 1):
            want = ", ".join(f"'{k}': <count>" for k in info.block_keys)
            raise err("metadata", f"its block layout {blocks!r} does not fit {info.label} (expected {{{want}}})",
                      remake)

        tensors = {"prompt": self.prompt, "gates": self.gates, "null_context": self.null_context,
                   "pooled": self.pooled}
        for key, t in tensors.items():
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise err("dtype", f"'{key}' is a {type(t).__name__}, not a tensor", remake)
            if t.dtype not in FLOAT_DTYPES:
                raise err("dtype", f"tensor '{key}' has dtype {str(t.dtype).replace('torch.', '')}; "
                          "prompts must be float32, float16 or bfloat16",
                          "Re-save the prompt with floating-point tensors (e.g. tensor.float())")

        p = self.prompt
        if p is None or p.dim() != 2 or p.shape[0] < 1 or p.shape[1] < 1:
            got = "missing" if p is None else f"of shape {tuple(p.shape)}"
            raise err("shape", f"tensor 'prompt' is {got}; expected (tokens K, width D)", remake)
        K, D = p.shape
        if text is None:
            text = D if self.mode == "context" else (self.null_context.shape[-1] if self.null_context is not None
                                                     and self.null_context.dim() == 2 else None)
        if info.pad_left and K != info.tokens:
            raise err("shape", f"tensor 'prompt' has {K} tokens, but {info.label} always reads exactly {info.tokens} "
                      f"text tokens, so its prompts have K = {info.tokens}", remake)
        if self.mode == "gated":
            if self.gates is None:
                raise err("shape", "it has no 'gates' tensor but its mode is 'gated' (one gate per block needed)",
                          remake)
            if tuple(self.gates.shape) != (self.n_blocks,):
                raise err("shape", f"tensor 'gates' has shape {tuple(self.gates.shape)} but the prompt is for "
                          f"{self.n_blocks} blocks; expected ({self.n_blocks},)",
                          "The file was edited or written by another tool; re-export it with unlock-restore")
        else:
            if self.gates is not None:
                raise err("shape", "it has a 'gates' tensor but its mode is 'context' (context prompts have no "
                          "gates)", remake)
            if D != text:
                raise err("shape", f"tensor 'prompt' has shape {(K, D)}; a context-mode prompt must be "
                          f"{text} wide (expected ({K}, {text}))", remake)
        if self.null_context is not None and tuple(self.null_context.shape) != (K, text):
            raise err("shape", f"tensor 'null_context' has shape {tuple(self.null_context.shape)}; expected "
                      f"({K}, {text}): the empty prompt encoded to {K} tokens by the {text}-wide text "
                      "encoder", "Re-encode the empty prompt \"\" with the model's text encoder and re-save")
        if self.pooled is not None:
            if info.pooled_width is None:
                raise err("shape", f"it has a 'pooled' tensor but {info.label} uses no pooled text vector",
                          "Remove it: only FLUX prompts carry the pooled CLIP vector")
            if tuple(self.pooled.shape) != (info.pooled_width,):
                raise err("shape", f"tensor 'pooled' has shape {tuple(self.pooled.shape)}; expected "
                          f"({info.pooled_width},): the CLIP-L pooled vector of the empty prompt",
                          "Re-encode the empty prompt \"\" with FLUX's CLIP-L and re-save")
        for key, t in tensors.items():
            if t is not None and not bool(torch.isfinite(t).all()):
                bad = int((~torch.isfinite(t)).sum())
                raise err("nonfinite", f"tensor '{key}' contains {bad} NaN or infinite value(s) (training "
                          "diverged or the file was damaged)",
                          "Use an earlier checkpoint of this prompt, or re-train with a lower learning rate")

        if not _is_number(self.t0) or not 0.0 < self.t0 < 1.0:
            raise err("metadata", f"its start time t0={self.t0!r} is not between 0 and 1 (exclusive)",
                      "Set t0 to a value such as 0.4")
        if type(self.steps) is not int or self.steps < 1:
            raise err("metadata", f"its step count steps={self.steps!r} is not a whole number >= 1",
                      "Set steps to a value such as 20")
        if self.guidance is not None and (not _is_number(self.guidance) or self.guidance <= 0):
            raise err("metadata", f"its guidance {self.guidance!r} is not a positive number",
                      "Set guidance to 1.0 (the value FLUX prompts are trained with)")
        if self.time_index is not None and self.time_index not in TIME_INDEX:
            raise err("metadata", f"its time index {self.time_index!r} is unknown (known: {', '.join(TIME_INDEX)})",
                      "Update unlock-restore, or re-export the prompt")
        if info.guidance is None and self.guidance is not None:
            raise err("metadata", f"it sets guidance={self.guidance} but {info.label} has no guidance input",
                      f"Leave guidance empty for {info.label} prompts")
        if self.time_index == "official" and info.time_grid is None:
            raise err("metadata", f"its time index is 'official' but {info.label} has no official prompts to be "
                      "timed like", "Set time_index to 'continuous' (how unlock-restore trains them)")
        prov = self.provenance
        if not isinstance(prov, dict) or not isinstance(prov.get("degradations"), list) or not all(
                isinstance(d, str) for d in prov["degradations"]):
            raise err("metadata", "its provenance must be a dict whose 'degradations' is a list of names",
                      remake)
        try:
            json.dumps(prov)
        except (TypeError, ValueError) as e:
            raise err("metadata", f"its provenance cannot be stored as JSON ({e})",
                      "Keep provenance to plain strings, numbers, lists and dicts") from None
        return self


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
