"""Public-domain / CC0 photos bundled inside registry packages (no download): the train and held-out image sets.

Pretraining and prompt training use TRAIN only; every evaluation uses HELD_OUT only (disjoint source photos,
not just disjoint crops). Grayscale images are replicated to RGB. Licences as stated in scikit-image's
data/README.txt and the skimage.data docstrings.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LICENCES = {
    "astronaut": "public domain (NASA)",
    "coffee": "CC0 (Rachel Michetti)",
    "hubble_deep_field": "public domain (NASA / ESA)",
    "immunohistochemistry": "no known copyright restrictions",
    "retina": "CC0 1.0 (Mikael Häggström)",
    "camera": "CC0 (Lav Varshney)",
    "brick": "CC0 (CC0Textures)",
    "grass": "CC0 (CC0Textures)",
    "gravel": "CC0 (CC0Textures)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "rocket": "public domain (SpaceX)",
    "coins": "no known copyright restrictions (Brooklyn Museum)",
}
# Version 2 (issue 15): every other public-domain / CC0 photo the registry packages ship, checked one by one.
# scikit-image also ships clock, text and cell (above); PyWavelets ships ascent (and aero, with no licence stated,
# and the old copyrighted cameraman: left out); matplotlib's sample data ships grace_hopper. Left out: scikit-image's
# moon, page and stereo_motorcycle (no licence stated), microaneurysms (102 px: below every training scale), horse
# (a binary silhouette); scikit-learn's china.jpg and flower.jpg (CC BY 2.0, not CC0); mahotas' lena (copyrighted),
# luispedro, DepartmentStore and nuclear (no licence stated); imagecorruptions' frost textures (no licence stated).
LICENCES.update({
    "clock": "public domain (Stefan van der Walt)",
    "text": "public domain",
    "cell": "CC0 (Stéfan van der Walt)",
    "ascent": "public domain (public-domain-image.com; PyWavelets' pywt.data)",
    "grace_hopper": "public domain (US Navy photograph; matplotlib's sample data)",
})
SOURCES = {"ascent": "PyWavelets", "grace_hopper": "matplotlib"}  # the rest: scikit-image

# Version 1: what the committed flux_small.safetensors was pretrained on and docs/reproduction.md evaluates.
TRAIN = ["astronaut", "coffee", "hubble_deep_field", "immunohistochemistry", "retina", "camera", "brick", "grass",
         "gravel"]
HELD_OUT = ["chelsea", "rocket", "coins"]
# Version 2: the new photos split so that HELD_OUT_V2 has five photos and still holds none TRAIN had (the version 1
# prior is scored on it uncontaminated).
TRAIN_V2 = TRAIN + ["clock", "text", "cell"]
HELD_OUT_V2 = HELD_OUT + ["grace_hopper", "ascent"]
assert not set(TRAIN) & set(HELD_OUT) and not set(TRAIN_V2) & set(HELD_OUT_V2)


def photo(name: str) -> torch.Tensor:
    """(H, W, 3) float in [0, 1]."""
    import numpy as np

    if name == "ascent":
        import pywt.data

        arr = pywt.data.ascent()
    elif name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            arr = np.asarray(Image.open(f).convert("RGB"))
    else:
        import skimage.data

        arr = getattr(skimage.data, name)()
    arr = torch.from_numpy(np.array(arr, copy=True)).float() / 255.0
    return arr[..., None].expand(-1, -1, 3).contiguous() if arr.ndim == 2 else arr[..., :3]


def resized(img: torch.Tensor, short: int, multiple: int = 4) -> torch.Tensor:
    """Area-downscaled so the shorter side is `short`, both sides cut to a multiple of `multiple` (centred)."""
    h, w = img.shape[:2]
    size = (round(h * short / min(h, w)), round(w * short / min(h, w)))
    out = F.interpolate(img.movedim(-1, 0)[None], size=size, mode="area")[0].movedim(0, -1)
    h2, w2 = size[0] // multiple * multiple, size[1] // multiple * multiple
    top, left = (size[0] - h2) // 2, (size[1] - w2) // 2
    return out[top:top + h2, left:left + w2].clamp(0, 1)


def random_crops(images: list[torch.Tensor], n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """(n, size, size, 3): a uniformly chosen image and position each, random flips and quarter turns."""
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        h, w = img.shape[:2]
        top = int(torch.randint(h - size + 1, (1,), generator=gen))
        left = int(torch.randint(w - size + 1, (1,), generator=gen))
        crop = img[top:top + size, left:left + size]
        if torch.rand((), generator=gen) < 0.5:
            crop = crop.flip(1)
        crop = torch.rot90(crop, int(torch.randint(4, (1,), generator=gen)), dims=(0, 1))
        out.append(crop)
    return torch.stack(out)
