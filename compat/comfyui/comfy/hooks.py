"""ComfyUI's ``comfy.hooks``: scheduled and conditioning-bound model patches (hook LoRAs, hook keyframes,
transformer-option hooks). Atelier's sampler has no hooks system, so this module is an honest partial stand-in.

Real: the enums (``EnumHookMode``, ``EnumHookType``, ``EnumWeightTarget``, ``EnumHookScope``, same values), so
packs can name them. Stand-ins (``compat.stand_ins``): the hook classes (``Hook``, ``WeightHook``,
``ObjectPatchHook``, ``AdditionalModelsHook``, ``TransformerOptionsHook`` = ``WrapperHook``, ``InjectionsHook``,
``HookGroup``, ``HookKeyframe``, ``HookKeyframeGroup``) exist for annotations, ``isinstance`` and subclassing, and
building one raises ``NotImplementedError``, as do the functions that make or attach hooks.
"""

from __future__ import annotations

import enum

from compat.stand_ins import unsupported_class, unsupported_function

_LACKS = "Atelier's sampler has no hooks system; use LoRA loaders and conditioning ranges instead"


class EnumHookMode(enum.Enum):
    MinVram = "minvram"
    MaxSpeed = "maxspeed"


class EnumHookType(enum.Enum):
    Weight = "weight"
    ObjectPatch = "object_patch"
    AdditionalModels = "add_models"
    TransformerOptions = "transformer_options"
    Injections = "add_injections"


class EnumWeightTarget(enum.Enum):
    Model = "model"
    Clip = "clip"


class EnumHookScope(enum.Enum):
    AllConditioning = "all_conditioning"
    HookedOnly = "hooked_only"


Hook = unsupported_class(__name__, "Hook", _LACKS)
WeightHook = unsupported_class(__name__, "WeightHook", _LACKS, (Hook,))
ObjectPatchHook = unsupported_class(__name__, "ObjectPatchHook", _LACKS, (Hook,))
AdditionalModelsHook = unsupported_class(__name__, "AdditionalModelsHook", _LACKS, (Hook,))
TransformerOptionsHook = unsupported_class(__name__, "TransformerOptionsHook", _LACKS, (Hook,))
WrapperHook = TransformerOptionsHook  # ComfyUI's alias
InjectionsHook = unsupported_class(__name__, "InjectionsHook", _LACKS, (Hook,))
HookGroup = unsupported_class(__name__, "HookGroup", _LACKS)
HookKeyframe = unsupported_class(__name__, "HookKeyframe", _LACKS)
HookKeyframeGroup = unsupported_class(__name__, "HookKeyframeGroup", _LACKS)

create_hook_lora = unsupported_function(__name__, "create_hook_lora", _LACKS)
create_hook_model_as_lora = unsupported_function(__name__, "create_hook_model_as_lora", _LACKS)
load_hook_lora_for_models = unsupported_function(__name__, "load_hook_lora_for_models", _LACKS)
set_hooks_for_conditioning = unsupported_function(__name__, "set_hooks_for_conditioning", _LACKS)
conditioning_set_values_with_hooks = unsupported_function(__name__, "conditioning_set_values_with_hooks", _LACKS)
create_transformer_options_from_hooks = unsupported_function(__name__, "create_transformer_options_from_hooks",
                                                             _LACKS)
