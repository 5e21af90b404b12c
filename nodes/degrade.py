"""Degrade Image: synthetic degradations (noise, blurs, haze, rain, snow, low light, JPEG, downscale), seeded,
up to three in a row: training pairs from a user's own clean photos."""
from comfy_api.latest import io

from ..imaging.degradations import DEGRADATIONS, STRENGTH_DOC, DegradationError, degrade_chain

NODE = "Degrade Image"
NONE = "none"

_STRENGTH_TOOLTIP = ("0 leaves the image unchanged, 1 is a heavy degradation. Per degradation (s = strength, "
                     "sizes relative to the image's shorter side):\n"
                     + "\n".join(f"- {name}: {doc}" for name, doc in STRENGTH_DOC.items()))


def _strength(name: str, which: str, optional: bool = False):
    return io.Float.Input(name, default=0.5, min=0.0, max=1.0, step=0.01, optional=optional,
                          tooltip=f"Strength of {which}. {_STRENGTH_TOOLTIP}")


class UnlockDegrade(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockDegrade",
            display_name=NODE,
            category="unlock-restore/data",
            description="Synthetic degradations for making clean/degraded training pairs from your own photos: "
                        "noise, motion or defocus blur, haze, rain, snow, low light, JPEG, downscaling. Up to three "
                        "are applied in order. The same seed gives the same result; every image of a batch gets "
                        "its own random draws.",
            inputs=[
                io.Image.Input("image", tooltip="The clean image(s) to degrade (a batch is degraded image by image)."),
                io.Combo.Input("degradation", options=list(DEGRADATIONS), default="haze",
                               tooltip="The degradation applied first. See 'strength' for what each one does."),
                _strength("strength", "the first degradation"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Random seed for noise, streaks, flakes, blur angle and airlight. The same "
                             "seed and settings give bit-identical output."),
                io.Combo.Input("degradation_2", options=[NONE, *DEGRADATIONS], default=NONE, optional=True,
                               tooltip="An optional second degradation, applied after the first (e.g. low_light "
                               "then gaussian_noise). 'none' skips it."),
                _strength("strength_2", "the second degradation", optional=True),
                io.Combo.Input("degradation_3", options=[NONE, *DEGRADATIONS], default=NONE, optional=True,
                               tooltip="An optional third degradation, applied last (e.g. jpeg). 'none' skips it."),
                _strength("strength_3", "the third degradation", optional=True),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="The degraded image(s): same size, in [0, 1].")],
        )

    @classmethod
    def execute(cls, image, degradation, strength, seed, degradation_2=NONE, strength_2=0.5, degradation_3=NONE,
                strength_3=0.5) -> io.NodeOutput:
        if degradation == NONE:
            raise ValueError(f"{NODE}: the first degradation cannot be 'none'; choose one of "
                             f"{', '.join(DEGRADATIONS)}.")
        steps = [(degradation, strength), (degradation_2 or NONE, strength_2), (degradation_3 or NONE, strength_3)]
        try:
            return io.NodeOutput(degrade_chain(image, steps, seed))
        except DegradationError as e:
            raise DegradationError(f"{NODE}: {e}") from e
