"""ComfyUI's ``comfy_extras.nodes_custom_sampler``: the custom-sampling nodes (SamplerCustom, SamplerCustomAdvanced,
the schedulers, KSamplerSelect, the guiders and noise nodes, where Atelier has them), and the NOISE and GUIDER objects
packs make directly, which are Atelier's own (``engine.sampling.custom``, ``engine.sampling.guiders``).

Each node class is a view of the Atelier node with that id, built by ``compat.v1_classes``; a node Atelier lacks is
a stand-in that raises ``NotImplementedError`` when run.
"""

from compat.v1_classes import ExtrasModule
from engine.sampling.custom import EmptyNoise as Noise_EmptyNoise  # noqa: F401, N812 - ComfyUI's names
from engine.sampling.custom import RandomNoise as Noise_RandomNoise  # noqa: F401, N812
from engine.sampling.guiders import BasicGuider as Guider_Basic  # noqa: F401, N812
from engine.sampling.guiders import DualCFGGuider as Guider_DualCFG  # noqa: F401, N812

_classes = ExtrasModule(__name__)
NODE_CLASS_MAPPINGS = _classes.mappings()
__getattr__ = _classes.attribute
