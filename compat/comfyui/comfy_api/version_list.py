"""ComfyUI's ``comfy_api.version_list``: the API versions, newest first."""

from comfy_api.latest import ComfyAPI_latest
from comfy_api.v0_0_1 import ComfyAPIAdapter_v0_0_1
from comfy_api.v0_0_2 import ComfyAPIAdapter_v0_0_2

supported_versions = [ComfyAPI_latest, ComfyAPIAdapter_v0_0_2, ComfyAPIAdapter_v0_0_1]
