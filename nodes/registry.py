"""The one list of nodes this pack registers. Node ids are a public contract: never rename or remove one."""
from comfy_api.latest import ComfyExtension, io

from .bridge_sampler import UnlockBridgeSampler, UnlockBridgeSigmas
from .degrade import UnlockDegrade
from .expert_guider import UnlockExpertGuider
from .folders import register_model_folders
from .image_folder import UnlockImageFolder
from .image_pairs import UnlockImagePairs
from .input_checks import guard_inputs
from .metrics import UnlockMetrics
from .prompt_apply import UnlockPromptApply
from .prompt_import import UnlockPromptImport
from .prompt_loader import UnlockPromptLoader
from .prompt_mix import UnlockPromptMix
from .prompt_train import UnlockPromptTrain
from .restore import UnlockRestore

NODES: list[type[io.ComfyNode]] = [
    UnlockPromptLoader,
    UnlockPromptApply,
    UnlockPromptMix,
    UnlockPromptImport,
    UnlockBridgeSampler,
    UnlockBridgeSigmas,
    UnlockRestore,
    UnlockPromptTrain,
    UnlockImagePairs,
    UnlockDegrade,
    UnlockMetrics,
    UnlockImageFolder,  # appended: ids and order above are a public contract
    UnlockExpertGuider,
]


for _node in NODES:  # finite floats and listed combo values, checked before any node runs
    guard_inputs(_node)


class UnlockRestoreExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


__all__ = ["NODES", "UnlockRestoreExtension", "register_model_folders"]
