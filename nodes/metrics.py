"""Restoration Metrics: PSNR and SSIM of restored images against references (scikit-image, optional)."""
import math

from comfy_api.latest import io, ui

from ..imaging.metrics import MetricInputError, MissingScikitImage, convention, mean_metrics, psnr_ssim

NODE = "Restoration Metrics"


def _db(psnr: float) -> str:
    return "inf dB (identical)" if math.isinf(psnr) else f"{psnr:.2f} dB"


def _show_on_node(cls, text: str) -> None:
    """Display the text on the node in the UI (the frontend shows a node's progress text, not its ui 'text')."""
    node_id = getattr(getattr(cls, "hidden", None), "unique_id", None)
    try:
        from server import PromptServer  # ComfyUI's server module (absent when the node is run outside a server)
    except ImportError:
        return
    instance = getattr(PromptServer, "instance", None)
    if node_id is not None and instance is not None:
        instance.send_progress_text(text, node_id)


def metrics_text(results: list[tuple[float, float]], y_channel: bool, resize_to_512: bool) -> str:
    """The text shown on the node: means, the convention used, then one line per image."""
    psnr, ssim = mean_metrics(results)
    n = len(results)
    lines = [f"PSNR {_db(psnr)}   SSIM {ssim:.4f}   (mean of {n} image{'s' if n > 1 else ''})",
             f"{convention(y_channel, resize_to_512)}"]
    if n > 1:
        lines += [f"  #{i + 1}: PSNR {_db(p)}, SSIM {s:.4f}" for i, (p, s) in enumerate(results)]
    return "\n".join(lines)


class UnlockMetrics(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockMetrics",
            display_name=NODE,
            category="unlock-restore/data",
            description="PSNR and SSIM of restored images against their references, as the official evaluation "
                        "computes them (scikit-image, data range 1, SSIM on RGB). Shows the numbers on the node "
                        "and returns the batch means. Needs scikit-image installed in ComfyUI's Python.",
            inputs=[
                io.Image.Input("restored", tooltip="The restored (or degraded) images to score."),
                io.Image.Input("reference", tooltip="The clean reference images, one per restored image, same "
                               "order and (unless resize_to_512) same size."),
                io.Boolean.Input("y_channel", default=False, optional=True,
                                 tooltip="Measure on the luma Y of BT.601 YCbCr (studio range, as MATLAB "
                                 "rgb2ycbcr: the 'PSNR-Y' of many restoration papers) instead of RGB. Off: RGB, "
                                 "the official protocol."),
                io.Boolean.Input("resize_to_512", default=False, optional=True,
                                 tooltip="Resize both images to 512x512 (bicubic) before measuring, as the "
                                 "official evaluation does. Off: native size (sizes must match)."),
            ],
            outputs=[
                io.Float.Output(display_name="psnr", tooltip="Mean PSNR over the batch in dB (inf if identical)."),
                io.Float.Output(display_name="ssim", tooltip="Mean SSIM over the batch (1 = identical)."),
            ],
            is_output_node=True,
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, restored, reference, y_channel=False, resize_to_512=False) -> io.NodeOutput:
        try:
            results = psnr_ssim(restored, reference, y_channel=y_channel, resize_to_512=resize_to_512)
        except MissingScikitImage as e:
            raise MissingScikitImage(f"{NODE}: {e}") from e
        except MetricInputError as e:
            raise MetricInputError(f"{NODE}: {e}") from e
        psnr, ssim = mean_metrics(results)
        text = metrics_text(results, y_channel, resize_to_512)
        _show_on_node(cls, text)
        # ui text: recorded in the history (API clients, PreviewAny-style consumers) with the numbers.
        return io.NodeOutput(psnr, ssim, ui=ui.PreviewText(text))
