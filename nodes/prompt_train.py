"""Train Restoration Prompt: learn a prompt against the loaded model, inside ComfyUI."""
import os
import time

from comfy_api.latest import io, ui

from ..bridge import EXPERTS
from .folders import save_path
from .model_info import SUPPORTED_MODELS_HINT
from .training import PromptTrainer, loss_graph, train
from .types import RestorationPromptType

NODE = "Train Restoration Prompt"


class UnlockPromptTrain(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockPromptTrain",
            display_name=NODE,
            category="unlock-restore/training",
            description="Learns a restoration prompt from paired clean/degraded images against the connected FLUX "
                        "or Wan model. Only the prompt learns; the model's weights stay unchanged. Checkpoints are "
                        "saved to models/prompt_embeds as it trains. The network is given the official code's time "
                        "index (as when restoring); a resumed prompt keeps the one it was trained with. Training "
                        "turns the loaded model's inference-mode weight tensors into ordinary frozen tensors with the "
                        "same values (autograd cannot save inference tensors), in place and without a copy: other "
                        "nodes sharing that MODEL give the same results, and the model stays so until it is "
                        "unloaded.",
            not_idempotent=True,  # queueing the same graph again trains again
            is_output_node=True,
            is_experimental=True,
            inputs=[
                io.Model.Input("model", tooltip=f"The model to unlock (it stays frozen), {SUPPORTED_MODELS_HINT}."),
                io.Vae.Input("vae", tooltip="The model's VAE, to encode the training pairs."),
                io.Image.Input("clean_images", tooltip="Clean targets, paired one to one with degraded_images."),
                io.Image.Input("degraded_images", tooltip="The same scenes degraded (Load Image Pairs, or Degrade "
                               "Image applied to clean_images)."),
                io.Int.Input("steps", default=500, min=1, max=1_000_000,
                             tooltip="Optimisation steps to run (added to a resumed prompt's count)."),
                io.Float.Input("learning_rate", default=1e-3, min=1e-7, max=1.0, step=1e-4, round=False,
                               tooltip="AdamW learning rate for the prompt and gates."),
                io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="Pairs per step."),
                io.Int.Input("resolution", default=512, min=0, max=4096, step=16,
                             tooltip="Random square crops of this many pixels per step (0: whole images). "
                             "Smaller crops train faster and use less memory."),
                io.Float.Input("t0", default=0.4, min=0.01, max=1.0, step=0.01,
                               tooltip="Bridge start time: train with the t0 you will restore with."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
                             tooltip="Seeds initialisation, batches, times and noise."),
                io.Combo.Input("mode", options=["gated", "context"], default="gated",
                               tooltip="gated: the official injection (a prompt in every block with a learned "
                               "gate). context: a residual on the text encoding (plain CONDITIONING)."),
                io.Combo.Input("objective", options=["bridge", "naive"], default="bridge",
                               tooltip="bridge: train on the diffusion-bridge states the sampler visits (the "
                               "method). naive: the ordinary forward process on the degraded input (ablation)."),
                RestorationPromptType.Input("restoration_prompt", optional=True,
                                            tooltip="Resume from this prompt (e.g. a checkpoint); its step count "
                                            "continues."),
                io.String.Input("save_name", default="trained_prompt",
                                tooltip="File name in models/prompt_embeds for checkpoints and the result. Empty: "
                                "do not save."),
                io.Int.Input("checkpoint_every", default=100, min=0, max=1_000_000,
                             tooltip="Save a checkpoint every N steps (0: only at the end and on interrupt)."),
                io.Boolean.Input("gradient_checkpointing", default=False,
                                 tooltip="Recompute each block in the backward pass: much less memory, about a "
                                 "third slower, same gradients."),
                io.Conditioning.Input("conditioning", optional=True,
                                      tooltip="The EMPTY text encoded with the model's text encoder; stored as the "
                                      "prompt's null context (for FLUX exact only at exactly `tokens` tokens: "
                                      "prefer the clip input). Without either a zero context is used (tests only)."),
                io.Int.Input("tokens", default=0, min=0, max=1024,
                             tooltip="Prompt length K (0: the model's default, 512 FLUX / 226 Wan)."),
                io.String.Input("degradation", default="",
                                tooltip="Label(s) stored in the prompt, e.g. 'haze' or 'rain, lowlight'."),
                io.Image.Input("validation_clean", optional=True,
                               tooltip="Optional held-out clean image(s), not in the training pairs. With "
                               "validation_degraded, the result is restored and scored (PSNR/SSIM) at the end."),
                io.Image.Input("validation_degraded", optional=True,
                               tooltip="The degraded version of validation_clean."),
                io.Boolean.Input("overwrite", default=False, optional=True,
                                 tooltip="Replace an existing file named save_name. Off: a run refuses to start "
                                 "rather than replace another prompt. Resuming from that same file (connected "
                                 "through Load Restoration Prompt) always continues in it."),
                io.Clip.Input("clip", optional=True,
                              tooltip="The model's text encoder: the empty text is encoded here at the prompt's "
                              "token count (FLUX: T5 over exactly K tokens, unmasked, as the official code) and "
                              "stored as the prompt's null context. Used instead of conditioning when both are "
                              "connected."),
                io.Combo.Input("loss", options=["x0", "velocity"], default="x0", optional=True,
                               tooltip="How errors are weighted. x0: the clean-image prediction's error, the same "
                               "at every t (the default). velocity: the flow-matching velocity's error, the x0 "
                               "error divided by t^2, so small t counts far more; with objective naive its target "
                               "grows like 1/t and training can diverge (the node stops with the last good "
                               "prompt kept)."),
                io.Combo.Input("expert", options=list(EXPERTS), default="all", optional=True,
                               tooltip="Two-expert models (Wan 2.2 T2V-A14B) only: all trains on the whole bridge "
                               "(t from t_min to t0). high_noise trains the high-noise expert (connect it to "
                               "model) on the times it runs, expert_boundary to t0 (t0 must be above the "
                               "boundary); low_noise the low-noise expert below the boundary. Restore takes the "
                               "two prompts on restoration_prompt and high_noise_prompt."),
                io.Float.Input("expert_boundary", default=0.875, min=0.01, max=0.99, step=0.005, optional=True,
                               tooltip="With expert high_noise or low_noise: the sigma where the experts switch "
                               "(0.875 for Wan 2.2 T2V-A14B)."),
            ],
            outputs=[RestorationPromptType.Output(display_name="restoration_prompt"),
                     io.Image.Output(display_name="loss_graph")],
        )

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        # A fresh fingerprint every time: queueing the same graph again trains again instead of returning the
        # cached result (not_idempotent alone only stops reuse between nodes of one graph).
        return time.time_ns()

    @classmethod
    def execute(cls, model, vae, clean_images, degraded_images, steps, learning_rate, batch_size, resolution, t0,
                seed, mode, objective, restoration_prompt=None, save_name="trained_prompt", checkpoint_every=100,
                gradient_checkpointing=False, conditioning=None, tokens=0, degradation="", validation_clean=None,
                validation_degraded=None, overwrite=False, clip=None, loss="x0", expert="all",
                expert_boundary=0.875) -> io.NodeOutput:
        path = save_path(NODE, save_name) if save_name.strip() else None
        if (validation_clean is None) != (validation_degraded is None):
            raise ValueError(f"{NODE}: connect both validation_clean and validation_degraded (a held-out pair), or "
                             "neither.")
        if validation_clean is not None and validation_clean.shape != validation_degraded.shape:
            raise ValueError(f"{NODE}: validation_clean {tuple(validation_clean.shape)} and validation_degraded "
                             f"{tuple(validation_degraded.shape)} differ in shape; connect a matching pair.")
        if path and os.path.exists(path) and not overwrite and not _is_source(restoration_prompt, path):
            raise FileExistsError(
                f"{NODE}: models/prompt_embeds/{os.path.basename(path)} already exists ({path}); training would "
                "replace it. Choose another save_name, or turn on overwrite to replace it. To continue training "
                "that prompt, load it with Load Restoration Prompt and connect it to restoration_prompt.")
        trainer = PromptTrainer(model, vae, clean_images, degraded_images, mode=mode, objective=objective, t0=t0,
                                seed=seed, node=NODE, init=restoration_prompt, tokens=tokens,
                                conditioning=conditioning, clip=clip, resolution=resolution,
                                gradient_checkpointing=gradient_checkpointing, degradation=degradation,
                                loss=loss, expert=expert, expert_boundary=expert_boundary)
        settings = {"learning_rate": learning_rate, "batch_size": batch_size, "resolution": resolution,
                    "seed": seed, "gradient_checkpointing": bool(gradient_checkpointing)}
        prompt, before, after = train(trainer, steps, learning_rate, batch_size, checkpoint_every, path, settings)
        if path:
            prompt.source_path = os.path.abspath(path)  # it is that file's content: training it on continues there
        text = (f"{prompt.describe()}. Step {trainer.steps_done}. Held-out loss {before:.6f} -> {after:.6f}"
                f"{'; saved ' + path if path else ''}.")
        if validation_clean is not None and validation_degraded is not None and expert == "high_noise":
            text += (" Validation skipped: a high-noise expert's prompt restores only together with the low-noise "
                     "expert (Restore with high_noise_model and high_noise_prompt).")
        elif validation_clean is not None and validation_degraded is not None:
            text += " " + _validate(model, vae, prompt, validation_clean, validation_degraded, t0, seed)
        return io.NodeOutput(prompt, loss_graph(trainer.history), ui=ui.PreviewText(text))


def _is_source(prompt, path: str) -> bool:
    """True when `prompt` was loaded from `path` (resuming writes onto its own file)."""
    source = getattr(prompt, "source_path", None)
    try:
        return bool(source) and os.path.samefile(source, path)
    except OSError:
        return False


def _validate(model, vae, prompt, clean, degraded, t0: float, seed: int) -> str:
    """Restore the held-out pair with the trained prompt (the Restore node's path) and score it against the
    degraded input, with the official metrics. Without scikit-image it says how to get the numbers."""
    from ..imaging.metrics import MissingScikitImage, psnr_ssim
    from .restoring import restore

    restored = restore(model, vae, prompt, degraded, t0, prompt.steps, seed)
    try:
        before = psnr_ssim(degraded[..., :3], clean[..., :3])
        after = psnr_ssim(restored[..., :3], clean[..., :3])
    except MissingScikitImage:
        return "Validation metrics need scikit-image (pip install scikit-image into ComfyUI's Python)."
    mean = lambda rows, i: sum(r[i] for r in rows) / len(rows)  # noqa: E731
    return (f"Validation ({clean.shape[0]} held-out image(s), {prompt.steps} steps): PSNR {mean(before, 0):.2f} -> "
            f"{mean(after, 0):.2f} dB, SSIM {mean(before, 1):.4f} -> {mean(after, 1):.4f} (degraded -> restored).")
