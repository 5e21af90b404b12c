#!/usr/bin/env python3
"""The small public-domain sample inputs shipped with the workflows (workflows/inputs/), rebuilt from a seed.

    python tools/make_samples.py [--out workflows/inputs]

Sources are scikit-image's bundled photos (no download); licences in SOURCES and in the folder's README.md.
Degradations are the pack's own (imaging/degradations.py, what the Degrade Image node runs), so the samples show
exactly what the training workflows teach the prompts to remove. Needs torch, numpy, pillow, scikit-image, kornia
and PyAV (ComfyUI's Python has all of them).

The files are small on purpose: the tiny-model demo and the tests run every workflow on a 2-core CPU. Real
restoration works at any size; replace them with your own images and videos.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# scikit-image data name -> (what it shows, licence as scikit-image's docstring states it)
SOURCES = {
    "astronaut": ("Eileen Collins, NASA", "public domain (NASA)"),
    "coffee": ("a cup of coffee, Rachel Michetti", "CC0"),
    "rocket": ("Falcon 9 launch, SpaceX", "public domain (SpaceX)"),
    "hubble_deep_field": ("Hubble eXtreme Deep Field, NASA", "public domain (NASA)"),
    "chelsea": ("Chelsea the cat, Stefan van der Walt", "CC0"),
}
TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "hubble_deep_field")  # the training folder
VALIDATION_PHOTO = "chelsea"  # held out: never in the training folder
SIZE = 256
CLIP_SIZE, CLIP_FRAMES, CLIP_FPS = 128, 17, 8  # 17 = 4k + 1, Wan's native frame count
SEED = 7


def _photo(name: str, size: int):
    """A centred square crop of a scikit-image photo, resized: float (H, W, 3) in [0, 1]."""
    import numpy as np
    from PIL import Image
    from skimage import data

    img = getattr(data, name)()
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = Image.fromarray(img[top:top + s, left:left + s]).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(crop, dtype=np.float32) / 255.0


def _pan(name: str, size: int, frames: int):
    """A slow left-to-right pan over a photo (the clip's content): float (T, size, size, 3)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    img = data.__dict__[name]()
    h, w = img.shape[:2]
    scale = size * 1.25 / h  # the frame sees 80% of the height; the pan crosses a quarter of the width
    big = np.asarray(Image.fromarray(img).resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS),
                     dtype=np.float32) / 255.0
    top = (big.shape[0] - size) // 2
    span = min(big.shape[1] - size, size // 2)
    return np.stack([big[top:top + size, round(i * span / (frames - 1)):][:, :size] for i in range(frames)])


def _degrade(images, steps, per_frame_seed: bool):
    """images (B, H, W, 3) -> degraded with the pack's chain. per_frame_seed=False gives every frame the same
    draws (a static haze over a video), True gives each frame its own (falling rain)."""
    import torch

    from unlock_restore.imaging.degradations import degrade_chain

    x = torch.from_numpy(images)
    if per_frame_seed:
        return degrade_chain(x, steps, SEED).numpy()
    return torch.cat([degrade_chain(x[i:i + 1], steps, SEED) for i in range(x.shape[0])]).numpy()


def _save_png(array, path: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)).save(path, optimize=True)


def _save_mp4(frames, path: Path, fps: int) -> None:
    """H.264 in yuv420p at high quality: small, and opens everywhere (ComfyUI's Load Video uses PyAV too)."""
    import av
    import numpy as np

    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "veryslow"}
        for f in frames:
            img = av.VideoFrame.from_ndarray((np.clip(f, 0, 1) * 255).round().astype(np.uint8), format="rgb24")
            out.mux(stream.encode(img))
        out.mux(stream.encode())


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    clean = out / "unlock_clean_photos"
    clean.mkdir(exist_ok=True)
    for name in TRAIN_PHOTOS:
        _save_png(_photo(name, SIZE), clean / f"{name}.png")
        written.append(clean / f"{name}.png")
    _save_png(_photo(VALIDATION_PHOTO, SIZE), out / "unlock_validation_photo.png")
    hazy = _degrade(_photo("astronaut", SIZE)[None], [("haze", 0.8)], per_frame_seed=False)[0]
    _save_png(hazy, out / "unlock_hazy_photo.png")
    rainy = _degrade(_pan("coffee", CLIP_SIZE, CLIP_FRAMES), [("rain", 0.5)], per_frame_seed=True)
    _save_mp4(rainy, out / "unlock_rainy_clip.mp4", CLIP_FPS)
    mixed = _degrade(_pan("chelsea", CLIP_SIZE, CLIP_FRAMES), [("haze", 0.5)], per_frame_seed=False)
    mixed = _degrade(mixed, [("none", 0), ("rain", 0.4)], per_frame_seed=True)
    _save_mp4(mixed, out / "unlock_hazy_rainy_clip.mp4", CLIP_FPS)
    written += [out / n for n in ("unlock_validation_photo.png", "unlock_hazy_photo.png", "unlock_rainy_clip.mp4",
                                  "unlock_hazy_rainy_clip.mp4")]
    (out / "README.md").write_text(_readme())
    return written


def _readme() -> str:
    rows = "\n".join(f"| `{name}` | {what} | {licence} |" for name, (what, licence) in SOURCES.items())
    return f"""# Sample inputs for the workflows

Made by `python tools/make_samples.py` from photos bundled with scikit-image (no download), degraded with the
pack's own Degrade Image implementation. Copy this folder's contents into `ComfyUI/input` to run the workflows as
shipped.

| file | made from | degradation |
| --- | --- | --- |
| `unlock_clean_photos/` | {", ".join(TRAIN_PHOTOS)}, {SIZE} px centre crops | none (training folder) |
| `unlock_validation_photo.png` | {VALIDATION_PHOTO} | none (held out from training) |
| `unlock_hazy_photo.png` | astronaut | haze 0.8 |
| `unlock_rainy_clip.mp4` | a pan over coffee, {CLIP_FRAMES} frames, {CLIP_SIZE} px, {CLIP_FPS} fps | rain 0.5, new streaks per frame |
| `unlock_hazy_rainy_clip.mp4` | a pan over chelsea, {CLIP_FRAMES} frames | haze 0.5 then rain 0.4 |

| scikit-image photo | what | licence |
| --- | --- | --- |
{rows}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "workflows" / "inputs")
    args = ap.parse_args()
    # The pack imported as a package (its modules use relative imports), without putting the repo on sys.path.
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix="unlock-samples-"))
    (parent / "unlock_restore").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(parent))
    for path in build(args.out):
        print(f"{path.relative_to(args.out)}: {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
