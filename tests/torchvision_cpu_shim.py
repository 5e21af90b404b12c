"""Test-environment-only start-up hook (installed as a .pth by tests/run.sh, never part of the pack).

The only torchvision wheel pip finds for torch 2.13 here is CUDA-linked; its import dies with
"operator torchvision::nms does not exist". ComfyUI imports torchvision at start-up, so declare the two
op schemas before torchvision is first imported; its pure-Python parts then import (comfyui-host.md).
"""
try:
    import torch

    _lib = torch.library.Library("torchvision", "DEF")  # kept alive for the process lifetime
    _lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
except Exception:  # a CPU torchvision build or a second definition: nothing to shim
    pass
