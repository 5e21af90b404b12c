"""Reading user images from ComfyUI's input directory, for the data nodes (Load Image Pairs, Load Image Folder):
folders that cannot leave input/, image files read as ComfyUI's LoadImage reads them, errors that name the node."""
from __future__ import annotations

import os

import folder_paths
import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def resolve_input_folder(node: str, folder: str) -> tuple[str, str]:
    """(the display name, the resolved directory) of a folder given relative to ComfyUI's input directory.
    Paths that resolve outside the input directory ('..', absolute paths, links leading out) are refused."""
    raw = (folder or "").strip()
    name = raw if os.path.isabs(raw) else raw.replace("\\", "/").rstrip("/")
    root = os.path.realpath(folder_paths.get_input_directory())
    target = os.path.realpath(os.path.join(root, name))
    try:
        inside = os.path.commonpath([root, target]) == root
    except ValueError:  # different drives on Windows
        inside = False
    if not inside:
        raise ValueError(f"{node}: the folder {folder!r} leads outside ComfyUI's input directory ({root}). Give a "
                         f"path relative to the input directory, e.g. 'pairs/haze', without '..'.")
    return name or ".", target


def is_image_name(entry: str) -> bool:
    return not entry.startswith(".") and os.path.splitext(entry)[1].lower() in IMAGE_EXTENSIONS


def load_rgb(node: str, path: str, shown: str) -> torch.Tensor:
    """One image file -> (H, W, 3) float32 in [0, 1] (EXIF orientation applied, converted to RGB)."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode.startswith("I"):  # 16/32-bit integer images, as ComfyUI's LoadImage reads them
                im = im.convert("I").point(lambda v: v * (1 / 255))
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"{node}: cannot read '{shown}' as an image ({type(e).__name__}: {e}). Replace or remove "
                         "it.") from e
    return torch.from_numpy(arr.copy())


def folder_stamp(directory: str) -> list[tuple]:
    """(name, mtime, size) of every entry: a fingerprint that changes when files are added, removed or rewritten."""
    stamp = []
    for entry in sorted(os.listdir(directory)):
        st = os.stat(os.path.join(directory, entry))
        stamp.append((entry, st.st_mtime_ns, st.st_size))
    return stamp
