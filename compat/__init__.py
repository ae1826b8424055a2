"""ComfyUI's Python surface for plug-ins, as thin views over Atelier's runtime.

Custom-node packs written for ComfyUI import ``folder_paths``, ``comfy.*``, ``comfy_extras.*``, ``comfy_api``,
``node_helpers``, ``latent_preview``, ``nodes`` and ``server``. The modules with ComfyUI's names live in
``compat/comfyui/``, which the plug-in loader puts on ``sys.path``; ``nodes`` and ``server`` are Atelier's own
modules, which answer ComfyUI's names through ``compat.nodes_view`` and ``compat.server_view``. Every one of them
is a view: state lives on the ``Runtime`` they are bound to (``compat.host``), never in a second implementation.
"""

from pathlib import Path

COMFYUI_MODULES = Path(__file__).resolve().parent / "comfyui"
