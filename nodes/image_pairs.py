"""Load Image Pairs: <input>/<folder>/clean/* and <input>/<folder>/degraded/* with matching names -> two IMAGE
batches (clean, degraded), the pair count and the pair names. For training and evaluating restoration prompts."""
from __future__ import annotations

import os

import folder_paths
import torch
from comfy_api.latest import io

from .input_files import IMAGE_EXTENSIONS, folder_stamp, is_image_name, resolve_input_folder
from .input_files import load_rgb as _load_rgb

NODE = "Load Image Pairs"
SUBFOLDERS = ("clean", "degraded")
MAX_LISTED = 5


def _fail(message: str) -> ValueError:
    return ValueError(f"{NODE}: {message}")


def _layout(folder: str) -> str:
    return (f"expected layout: input/{folder}/clean/<name>.png and input/{folder}/degraded/<name>.png, one file per "
            f"pair with the same name (extension may differ; {', '.join(e[1:] for e in IMAGE_EXTENSIONS)})")


def resolve_folder(folder: str) -> tuple[str, str]:
    return resolve_input_folder(NODE, folder)


def _images_in(directory: str, shown: str) -> dict[str, str]:
    """{stem: file name} of the image files directly in `directory` (hidden files and other types ignored)."""
    found: dict[str, str] = {}
    for entry in sorted(os.listdir(directory)):
        stem = os.path.splitext(entry)[0]
        if not is_image_name(entry) or not os.path.isfile(os.path.join(directory, entry)):
            continue
        if stem in found:
            raise _fail(f"'{shown}' holds two images named '{stem}' ({found[stem]}, {entry}); pairs are matched by "
                        "name without extension, so keep one.")
        found[stem] = entry
    return found


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED])
    return shown + (f", ... and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def find_pairs(folder: str) -> tuple[str, str, list[tuple[str, str, str]]]:
    """(display name, directory, [(stem, clean file, degraded file)] sorted by name) of a pairs folder."""
    name, directory = resolve_folder(folder)
    if not os.path.isdir(directory):
        raise _fail(f"no folder '{name}' in ComfyUI's input directory ({folder_paths.get_input_directory()}); "
                    f"{_layout(name)}.")
    missing = [sub for sub in SUBFOLDERS if not os.path.isdir(os.path.join(directory, sub))]
    if missing:
        raise _fail(f"'{name}' has no {' and no '.join(f'{m}/' for m in missing)} sub-folder; {_layout(name)}.")
    clean = _images_in(os.path.join(directory, "clean"), f"{name}/clean")
    degraded = _images_in(os.path.join(directory, "degraded"), f"{name}/degraded")
    only_clean = sorted(clean[s] for s in set(clean) - set(degraded))
    only_degraded = sorted(degraded[s] for s in set(degraded) - set(clean))
    if not clean and not degraded:
        raise _fail(f"no images in '{name}/clean' or '{name}/degraded'; {_layout(name)}.")
    if only_clean or only_degraded:
        parts = []
        if only_clean:
            parts.append(f"{len(only_clean)} in clean/ without a degraded match ({_listing(only_clean)})")
        if only_degraded:
            parts.append(f"{len(only_degraded)} in degraded/ without a clean match ({_listing(only_degraded)})")
        raise _fail(f"unmatched files in '{name}': {'; '.join(parts)}. Every clean image needs a degraded image with "
                    "the same name (extension may differ): rename or remove the unmatched ones.")
    return name, directory, [(s, clean[s], degraded[s]) for s in sorted(clean)]


def load_rgb(path: str, shown: str) -> torch.Tensor:
    return _load_rgb(NODE, path, shown)


def _size(t: torch.Tensor) -> str:
    return f"{t.shape[1]}x{t.shape[0]}"


def load_pairs(folder: str, max_pairs: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(clean (N, H, W, 3), degraded (N, H, W, 3), names) of the first max_pairs pairs (0 = all), sorted by name."""
    name, directory, pairs = find_pairs(folder)
    if max_pairs and max_pairs > 0:
        pairs = pairs[:max_pairs]
    clean, degraded = [], []
    for stem, c_file, d_file in pairs:
        c = load_rgb(os.path.join(directory, "clean", c_file), f"{name}/clean/{c_file}")
        d = load_rgb(os.path.join(directory, "degraded", d_file), f"{name}/degraded/{d_file}")
        if c.shape != d.shape:
            raise _fail(f"pair '{stem}' has a clean image of {_size(c)} but a degraded image of {_size(d)} (width x "
                        "height); both images of a pair must have the same size.")
        clean.append(c)
        degraded.append(d)
    sizes: dict[str, list[str]] = {}
    for (stem, _, _), c in zip(pairs, clean):
        sizes.setdefault(_size(c), []).append(stem)
    if len(sizes) > 1:
        found = "; ".join(f"{size} ({len(stems)} pair{'s' if len(stems) > 1 else ''}, e.g. '{stems[0]}')"
                          for size, stems in sorted(sizes.items(), key=lambda kv: -len(kv[1])))
        raise _fail(f"the pairs in '{name}' have different sizes: {found}. All pairs must share one size (they form "
                    "one batch): crop or resize them to one size first.")
    return torch.stack(clean), torch.stack(degraded), [stem for stem, _, _ in pairs]


class UnlockImagePairs(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnlockImagePairs",
            display_name=NODE,
            category="unlock-restore/data",
            description="Loads matching clean/degraded images from a folder in ComfyUI's input directory "
                        "(<folder>/clean/* and <folder>/degraded/*, matched by file name) as two image batches, "
                        "in name order. All images must have the same size.",
            inputs=[
                io.String.Input("folder", default="pairs",
                                tooltip="A folder inside ComfyUI's input directory, e.g. 'pairs/haze', holding "
                                "clean/ and degraded/ sub-folders with the same file names (png, jpg, jpeg, webp, "
                                "bmp; the extension may differ between the two). Cannot leave the input "
                                "directory."),
                io.Int.Input("max_pairs", default=0, min=0, max=1_000_000,
                             tooltip="Load at most this many pairs (the first ones in name order); 0 loads all."),
            ],
            outputs=[
                io.Image.Output(display_name="clean", tooltip="The clean images, one per pair, in name order."),
                io.Image.Output(display_name="degraded", tooltip="The degraded images, in the same order."),
                io.Int.Output(display_name="count", tooltip="How many pairs were loaded."),
                io.String.Output(display_name="names", tooltip="The pair names (file names without extension), "
                                 "one per line, in batch order."),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, folder, max_pairs):
        # Re-load when files in the folder are added, removed or rewritten.
        try:
            _, directory = resolve_folder(folder)
            stamp = [(sub, folder_stamp(os.path.join(directory, sub))) for sub in SUBFOLDERS]
            return repr((folder, max_pairs, stamp))
        except (OSError, ValueError) as e:
            return repr((folder, max_pairs, str(e)))

    @classmethod
    def execute(cls, folder, max_pairs=0) -> io.NodeOutput:
        clean, degraded, names = load_pairs(folder, max_pairs)
        return io.NodeOutput(clean, degraded, len(names), "\n".join(names))
