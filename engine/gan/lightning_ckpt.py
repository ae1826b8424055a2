"""The tensors of a PyTorch Lightning ``.ckpt`` file, read without running pickled code.

A Lightning checkpoint is a ``torch.save`` dict: ``state_dict`` plus training state (``epoch``, ``global_step``,
``optimizer_states``, ``callbacks`` keyed by callback classes, ``hyper_parameters`` as OmegaConf or argparse
objects). ``torch.load(weights_only=True)`` refuses those classes, so after it fails this reader unpickles with an
allow-list: tensors and plain data are rebuilt as usual; classes of Lightning, OmegaConf, argparse and typing (what
training state holds) become inert stand-ins that only record what they were given, and are never called; any other
class refuses the file with its name. Only ``state_dict``'s tensors are kept.
"""

from __future__ import annotations

import _compat_pickle
import collections
import pickle
import types
from pathlib import Path
from typing import Any

import torch

from engine.gan.convert_pickle import ALLOWED, RefusedPickle, private_copy

# Modules whose classes a training checkpoint may hold in its bookkeeping; they become StandIns.
STAND_IN_MODULES = ("pytorch_lightning", "lightning", "lightning_fabric", "omegaconf", "typing", "argparse")
STAND_IN_BUILTINS = ("object", "dict", "list", "tuple", "str", "int", "float", "bool", "type", "NoneType")


class StandIn(dict):
    """An inert object for a bookkeeping class: it keeps its arguments, items and state and does nothing else."""

    qualified_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.args, self.kwargs, self.items_list, self.state = args, kwargs, [], None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items_list.append(item)

    def extend(self, items: Any) -> None:
        self.items_list.extend(items)

    def __hash__(self) -> int:  # callbacks are dict keys
        return id(self)


class CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stand_ins: dict[tuple[str, str], type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol 2 writes Python 2's names, as pickle reads
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in ALLOWED:
            return private_copy(ALLOWED[(module, name)])
        if module == "collections" and name == "defaultdict":
            return collections.defaultdict
        if module.split(".")[0] in STAND_IN_MODULES or (module == "builtins" and name in STAND_IN_BUILTINS):
            return self.stand_ins.setdefault((module, name), type(name, (StandIn,), {
                "qualified_name": f"{module}.{name}"}))
        raise RefusedPickle(f"refused to load {module}.{name}: a checkpoint may hold tensors, plain data and "
                            "Lightning/OmegaConf bookkeeping only")


# torch.load's pickle_module: torch wraps this Unpickler (adding its storage handling) and calls its find_class.
SAFE_PICKLE = types.SimpleNamespace(Unpickler=CheckpointUnpickler,
                                    load=lambda handle, **kwargs: CheckpointUnpickler(handle, **kwargs).load(),
                                    __name__="engine.gan.lightning_ckpt")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dict: weights-only when torch allows it, else through the allow-list."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=SAFE_PICKLE)
    if not isinstance(data, dict):
        raise RefusedPickle(f"{path.name} does not hold a dict")
    return data


def checkpoint_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """``state_dict``'s tensors (or the top level's, for a bare state dict)."""
    path = Path(path)
    data = read_checkpoint(path)
    sd = data.get("state_dict", data)
    if not isinstance(sd, dict):
        raise RefusedPickle(f"{path.name}: its state_dict is not a dict")
    return {key: value for key, value in sd.items() if isinstance(key, str) and isinstance(value, torch.Tensor)}
