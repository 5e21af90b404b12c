"""Tier 2 (in-process host): the pack classifies a MODEL by its exact host class and sampling type, and refuses the
families it does not support (LongCat-Image, Wan VACE, ...) in Apply, Restore and Train with a message that
names the family and what is supported, instead of a confusing width error or a failure deep inside the model."""
import pytest
import torch

from harness.reference import make_prompt
from harness.small_models import small_flux, small_wan, small_wan_variant

SUPPORTED_WORDS = ("FLUX.1", "Wan 2.1 / 2.2 text-to-video")


def _refusals(comfy_host, model, prompt):
    """(node name, the error text) of Apply, Restore and Train given `model`."""
    img = torch.rand(1, 64, 64, 3)
    calls = {
        "Apply Restoration Prompt": lambda: comfy_host.node("UnlockPromptApply").execute(
            model=model, restoration_prompt=prompt, strength=1.0),
        "Restore (Bridge)": lambda: comfy_host.node("UnlockRestore").execute(
            model=model, vae=None, restoration_prompt=prompt, image=img, t0=0.4, steps=2, seed=0),
        "Train Restoration Prompt": lambda: comfy_host.node("UnlockPromptTrain").execute(
            model=model, vae=None, clean_images=img, degraded_images=img, steps=1, learning_rate=1e-3,
            batch_size=1, resolution=0, t0=0.4, seed=0, mode="gated", objective="bridge", save_name=""),
    }
    out = {}
    for node, call in calls.items():
        with pytest.raises(ValueError) as e:
            call()
        out[node] = str(e.value)
    return out


def _assert_refused(comfy_host, model, prompt, family):
    for node, msg in _refusals(comfy_host, model, prompt).items():
        assert msg.startswith(f"{node}: the connected MODEL is {family}"), msg
        assert "does not support" in msg or "sampling" in msg, msg
        for w in SUPPORTED_WORDS:
            assert w in msg, (w, msg)
        assert "width" not in msg, msg  # not the confusing shape error a subclass used to get


def test_longcat_image_is_refused_by_name(comfy_host):
    """FLUX.2 is supported (tests/test_families.py); LongCat-Image, another subclass of Flux whose text stream is
    laid out differently, is another family."""
    import comfy.model_base

    if not hasattr(comfy.model_base, "LongCatImage"):
        pytest.skip("LONGCAT-IMAGE SKIPPED: this host has no LongCatImage class; the test runs on v0.20.1")
    model = small_flux()
    model.model.__class__ = comfy.model_base.LongCatImage
    assert isinstance(model.model, comfy.model_base.Flux)  # the subclass an isinstance check would let through
    _assert_refused(comfy_host, model, make_prompt("flux", 64, {"double": 2, "single": 2}),
                    "LongCat-Image (LongCatImage")


@pytest.mark.parametrize("cls", ["WAN21_Vace", "WAN21_Camera"])
def test_wan_subclasses_are_other_families(comfy_host, cls):
    model = small_wan_variant(cls)
    _assert_refused(comfy_host, model, make_prompt("wan21", 64, {"blocks": 2}), f"Wan ")


def test_supported_classes_are_accepted(comfy_host):
    from unlock_restore.nodes.model_info import model_info

    assert model_info(small_flux()).arch == "flux"
    assert model_info(small_wan()).arch == "wan21"


def test_img_to_img_flow_sampling_is_not_a_bridge(comfy_host):
    """A model whose sampling subclasses CONST but is not plain flow (IMG_TO_IMG_FLOW, e.g. Wan FlowRVS, returns the
    latent from noise_scaling) is refused by Bridge Schedule and by Apply."""
    import comfy.model_base

    if not hasattr(comfy.model_base.ModelType, "IMG_TO_IMG_FLOW"):
        pytest.skip("IMG_TO_IMG_FLOW SKIPPED: this host (ComfyUI < 0.8) has no such sampling type")
    model = small_wan()
    model.model.model_type = comfy.model_base.ModelType.IMG_TO_IMG_FLOW
    model.add_object_patch("model_sampling", comfy.model_base.model_sampling(model.model.model_config,
                                                                             comfy.model_base.ModelType.IMG_TO_IMG_FLOW))
    with pytest.raises(ValueError, match=r"^Bridge Schedule: .*IMG_TO_IMG_FLOW, so it is not a flow-matching model"):
        comfy_host.node("UnlockBridgeSigmas").execute(model=model, t0=0.4, steps=4, t_min=1e-4)
    with pytest.raises(ValueError, match=r"^Apply Restoration Prompt: .*IMG_TO_IMG_FLOW sampling"):
        comfy_host.node("UnlockPromptApply").execute(model=model, restoration_prompt=make_prompt(
            "wan21", 64, {"blocks": 2}), strength=1.0)
    # The stock sampling of a supported model passes the same check.
    comfy_host.node("UnlockBridgeSigmas").execute(model=small_wan(), t0=0.4, steps=4, t_min=1e-4)
