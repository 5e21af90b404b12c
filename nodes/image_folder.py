"""Load Image Folder: every image in <input>/<folder> as ONE IMAGE batch at a common size, in name or seeded order,
for training (Degrade Image makes the degraded copies). The pack's own loader: ComfyUI's LoadImageSetFromFolderNode
is gone from v0.20 and its successor outputs a list (Degrade and Train would run once per image)."""
from __future__ import annotations

import logging
import os
import random

import folder_paths
import torch
from comfy_api.latest import io

from ..imaging.spatial import FIT_MODES, fit_image
from .input_files import IMAGE_EXTENSIONS, folder_stamp, is_image_name, load_rgb, resolve_input_folder

NODE = "Load Image Folder"
ORDERS = ("name", "shuffled")
MAX_LISTED = 5
log = logging.getLogger("unlock_restore")


def _fail(message: str) -> ValueError:
    return ValueError(f"{NODE}: {message}")


def list_images(folder: str) -> tuple[str, str, list[str], list[str]]:
    """(display name, directory, image file names sorted by name, other entries) of a folder in input/."""
    name, directory = resolve_input_folder(NODE, folder)
    if not os.path.isdir(directory):
        raise _fail(f"no folder '{name}' in ComfyUI's input directory ({folder_paths.get_input_directory()}). Put "
                    f"your images in input/{name}/ (png, jpg, jpeg, webp, bmp), or give the folder's name relative "
                    "to the input directory.")
    images, other = [], []
    for entry in sorted(os.listdir(directory)):
        if entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        if os.path.isfile(path) and is_image_name(entry):
            images.append(entry)
        else:
            other.append(entry + ("/" if os.path.isdir(path) else ""))
    if not images:
        found = f" (it holds only {', '.join(other[:MAX_LISTED])}{' ...' if len(other) > MAX_LISTED else ''})" \
            if other else " (it is empty)"
        raise _fail(f"no images in 'input/{name}'{found}. Put the clean photos there as "
                    f"{', '.join(e[1:] for e in IMAGE_EXTENSIONS)} files; sub-folders are not read.")
    return name, directory, images, other


def load_folder(folder: str, width: int = 0, height: int = 0, fit: str = "crop", order: str = "name",
                seed: int = 0, max_images: int = 0) -> tuple[torch.Tensor, list[str]]:
    """(images (N, H, W, 3), file names in batch order). width/height 0: the batch's first image's."""
    if fit not in FIT_MODES:
        raise _fail(f"fit must be one of {', '.join(FIT_MODES)}, got {fit!r}.")
    if order not in ORDERS:
        raise _fail(f"order must be one of {', '.join(ORDERS)}, got {order!r}.")
    name, directory, files, other = list_images(folder)
    if other:
        log.info("unlock-restore: %s skipped %d non-image entries in input/%s", NODE, len(other), name)
    if order == "shuffled":
        files = list(files)
        random.Random(int(seed)).shuffle(files)  # a seeded order: the same seed gives the same batch
    if max_images and max_images > 0:
        files = files[:max_images]
    images = [load_rgb(NODE, os.path.join(directory, f), f"input/{name}/{f}") for f in files]
    w = int(width) or int(images[0].shape[1])
    h = int(height) or int(images[0].shape[0])
    return torch.stack([fit_image(im, w, h, fit) for im in images]), files


class UnlockImageFolder(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockImageFolder",
            display_name=NODE,
            category="unlock-restore/data",
            description="Loads every image in a folder of ComfyUI's input directory as one image batch at a common "
                        "size (centre crop or resize), in name order or a seeded shuffle. For training: connect it "
                        "to Degrade Image and Train Restoration Prompt.",
            inputs=[
                io.String.Input("folder", default="unlock_clean_photos",
                                tooltip="A folder inside ComfyUI's input directory, e.g. 'my_photos' or "
                                "'photos/beach' (png, jpg, jpeg, webp, bmp; other files and sub-folders are "
                                "skipped). Cannot leave the input directory."),
                io.Int.Input("width", default=0, min=0, max=16384, step=8,
                             tooltip="Width of every image in the batch; 0 takes the first loaded image's."),
                io.Int.Input("height", default=0, min=0, max=16384, step=8,
                             tooltip="Height of every image in the batch; 0 takes the first loaded image's."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                               tooltip="crop: scale each image to cover the size, keeping its aspect ratio, and cut "
                               "the centre (no distortion). resize: stretch to the size."),
                io.Combo.Input("order", options=list(ORDERS), default="name",
                               tooltip="name: file-name order. shuffled: a random order fixed by the seed (with "
                               "max_images, a seeded random subset)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
                             tooltip="The shuffle's seed (used when order is shuffled)."),
                io.Int.Input("max_images", default=0, min=0, max=1_000_000,
                             tooltip="Load at most this many images (after ordering); 0 loads all."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="One batch: every image at width x height."),
                io.Int.Output(display_name="count", tooltip="How many images were loaded."),
                io.String.Output(display_name="names", tooltip="The file names, one per line, in batch order."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, folder, width=0, height=0, fit="crop", order="name", seed=0, max_images=0):
        # Re-load when files in the folder are added, removed or rewritten.
        try:
            _, directory = resolve_input_folder(NODE, folder)
            stamp = folder_stamp(directory)
        except (OSError, ValueError) as e:
            stamp = str(e)
        return repr((folder, width, height, fit, order, seed, max_images, stamp))

    @classmethod
    def execute(cls, folder, width=0, height=0, fit="crop", order="name", seed=0, max_images=0) -> io.NodeOutput:
        images, names = load_folder(folder, width, height, fit, order, seed, max_images)
        return io.NodeOutput(images, len(names), "\n".join(names))
