"""ComfyUI's ``comfy.utils``: progress bars, weights files, resizing, tiling and state-dict helpers, as views of
Atelier's engine and of the running node's context.

``ProgressBar`` reports through ``core.context.current_context().progress`` (the editor's progress bar, and the
point where Atelier's interrupt stops the node); ``load_torch_file`` never unpickles code (safetensors, or
``torch.load(weights_only=True)``); resizing is ``engine.image_ops`` and tiling ``engine.sd.tiling``. torch and the
engine are imported inside the functions, so packs import this module cheaply.

Partial: ``bislerp`` resizes bilinearly (Atelier's engine has no spherical interpolation; its own latent upscale
does the same), ``tiled_scale_multidim`` tiles two dimensions with a numeric scale (no 1-D/3-D tiling, callable
scales or downscaling), and tiles are blended with the engine's linear ramps rather than ComfyUI's feathering.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from core.context import Interrupted, current_context

if TYPE_CHECKING:
    import torch

# The LDM <-> diffusers names of a UNet's weights, as ComfyUI's tables give them (for packs converting LoRAs or
# ControlNets); they are checked against Atelier's own map, engine.sd.unet_names, by the tests.
UNET_MAP_ATTENTIONS = {f"{layer}.{param}" for layer in ("proj_in", "proj_out", "norm") for param in ("weight", "bias")}
TRANSFORMER_BLOCKS = (
    {f"norm{i}.{param}" for i in (1, 2, 3) for param in ("weight", "bias")}
    | {f"attn{i}.to_{x}.weight" for i in (1, 2) for x in ("q", "k", "v")}
    | {f"attn{i}.to_out.0.{param}" for i in (1, 2) for param in ("weight", "bias")}
    | {f"ff.net.{layer}.{param}" for layer in ("0.proj", "2") for param in ("weight", "bias")}
)


def _resnet_map() -> dict[str, str]:
    from engine.sd.unet_names import RESNET_RENAMES

    return {f"{ldm}.{param}": f"{diffusers}.{param}" for ldm, diffusers in RESNET_RENAMES.items()
            for param in ("weight", "bias")}


def _basic_map() -> set[tuple[str, str]]:
    from engine.sd.unet_names import FIXED

    pairs = set(FIXED.items())
    pairs |= {(ldm, diffusers.replace("add_embedding", "class_embedding"))
              for ldm, diffusers in FIXED.items() if ldm.startswith("label_emb")}
    return {(f"{ldm}.{param}", f"{diffusers}.{param}") for ldm, diffusers in pairs for param in ("weight", "bias")}


def __getattr__(name: str) -> Any:
    """Tables derived from the engine's UNet names, and the progress switches kept on the runtime."""
    if name == "UNET_MAP_RESNET":
        return _resnet_map()
    if name == "UNET_MAP_BASIC":
        return _basic_map()
    if name == "PROGRESS_BAR_ENABLED":
        return _progress_settings().get("enabled", True)
    if name == "PROGRESS_BAR_HOOK":
        return _progress_settings().get("hook")
    raise AttributeError(f"module 'comfy.utils' has no attribute {name!r}")


# Weights files


def load_torch_file(ckpt: str, safe_load: bool = False, device: Any = None, return_metadata: bool = False) -> Any:
    """A weights file's tensors (``{key: tensor}``), on ``device`` (default: the CPU); with ``return_metadata`` also
    the safetensors metadata (None for other files). Pickle-based files are read with ``weights_only=True`` whatever
    ``safe_load`` says, and a ``state_dict`` wrapper (or a single wrapping key) is unwrapped as ComfyUI does."""
    import torch

    from engine.sd.state_dict import SAFETENSORS_SUFFIXES, WeightsFileError, load_state_dict

    device = torch.device(device) if device is not None else torch.device("cpu")
    metadata = None
    if str(ckpt).lower().endswith(SAFETENSORS_SUFFIXES):
        sd: Any = load_state_dict(ckpt)
        if return_metadata:
            metadata = _safetensors_metadata(ckpt)
    else:
        try:
            data = torch.load(ckpt, map_location=device, weights_only=True)  # never runs code from the file
        except Exception as e:
            raise WeightsFileError(f"{ckpt}: cannot be read as a weights-only torch file ({e})") from e
        sd = _unwrap(data)
    if device.type != "cpu" and isinstance(sd, dict):
        sd = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in sd.items()}
    return (sd, metadata) if return_metadata else sd


def _unwrap(data: Any) -> Any:
    if isinstance(data, Mapping) and "state_dict" in data:
        return data["state_dict"]
    if isinstance(data, Mapping) and len(data) == 1:
        inner = next(iter(data.values()))
        return inner if isinstance(inner, dict) else data
    return data


def _safetensors_metadata(path: str) -> dict[str, str] | None:
    import safetensors

    with safetensors.safe_open(str(path), framework="pt") as f:
        return f.metadata()


def save_torch_file(sd: Mapping[str, torch.Tensor], ckpt: str, metadata: dict[str, str] | None = None) -> None:
    """Write tensors as a safetensors file."""
    import safetensors.torch

    safetensors.torch.save_file(dict(sd), str(ckpt), metadata=metadata)


def safetensors_header(safetensors_path: str, max_size: int = 100 * 1024 * 1024) -> bytes | None:
    """The raw JSON header of a safetensors file (None when it is larger than ``max_size``)."""
    with open(safetensors_path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        return None if length > max_size else f.read(length)


# State dicts and modules


def calculate_parameters(sd: Mapping[str, torch.Tensor], prefix: str = "") -> int:
    return sum(w.nelement() for k, w in sd.items() if k.startswith(prefix))


def weight_dtype(sd: Mapping[str, torch.Tensor], prefix: str = "") -> torch.dtype | None:
    """The dtype holding the most elements among the keys under ``prefix`` (None when there are none)."""
    counts: dict[Any, int] = {}
    for key, w in sd.items():
        if key.startswith(prefix):
            counts[w.dtype] = counts.get(w.dtype, 0) + w.numel()
    return max(counts, key=counts.__getitem__) if counts else None


def state_dict_key_replace(state_dict: dict, keys_to_replace: Mapping[str, str]) -> dict:
    """Rename keys in place."""
    for old, new in keys_to_replace.items():
        if old in state_dict:
            state_dict[new] = state_dict.pop(old)
    return state_dict


def state_dict_prefix_replace(state_dict: dict, replace_prefix: Mapping[str, str], filter_keys: bool = False) -> dict:
    """Replace key prefixes (in place; with ``filter_keys`` into a new dict of the renamed keys only)."""
    out = {} if filter_keys else state_dict
    for old, new in replace_prefix.items():
        for key in [k for k in state_dict if k.startswith(old)]:
            out[new + key[len(old):]] = state_dict.pop(key)
    return out


def convert_sd_to(state_dict: dict, dtype: torch.dtype) -> dict:
    for key in list(state_dict):
        state_dict[key] = state_dict[key].to(dtype)
    return state_dict


def get_attr(obj: Any, attr: str) -> Any:
    """``obj.a.b.c`` for ``attr="a.b.c"``."""
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


def set_attr(obj: Any, attr: str, value: Any) -> Any:
    """Set ``obj.a.b.c = value``; returns the previous value."""
    *path, last = attr.split(".")
    owner = get_attr(obj, ".".join(path)) if path else obj
    previous = getattr(owner, last)
    setattr(owner, last, value)
    return previous


def set_attr_param(obj: Any, attr: str, value: torch.Tensor) -> Any:
    import torch

    return set_attr(obj, attr, torch.nn.Parameter(value, requires_grad=False))


def copy_to_param(obj: Any, attr: str, value: torch.Tensor) -> None:
    """Copy ``value`` into the existing tensor at ``attr`` (in place)."""
    get_attr(obj, attr).data.copy_(value)


def unet_to_diffusers(unet_config: Mapping[str, Any]) -> dict[str, str]:
    """``{diffusers key: LDM key}`` for a UNet described by ComfyUI's config dict (``num_res_blocks`` and
    ``transformer_depth`` per block, ``transformer_depth_output``, ``transformer_depth_middle``)."""
    if "num_res_blocks" not in unet_config:
        return {}
    res_blocks = list(unet_config["num_res_blocks"])
    depths = list(unet_config["transformer_depth"])
    depths_out = list(unet_config["transformer_depth_output"])
    levels = len(unet_config["channel_mult"])
    resnet, mapping = _resnet_map(), {}

    def block(diffusers: str, ldm: str, depth: int) -> None:  # an attention block of ``depth`` transformers
        if depth > 0:
            mapping.update({f"{diffusers}.{name}": f"{ldm}.{name}" for name in UNET_MAP_ATTENTIONS})
            for t in range(depth):
                mapping.update({f"{diffusers}.transformer_blocks.{t}.{name}": f"{ldm}.transformer_blocks.{t}.{name}"
                                for name in TRANSFORMER_BLOCKS})

    def resnet_at(diffusers: str, ldm: str) -> None:
        mapping.update({f"{diffusers}.{new}": f"{ldm}.{old}" for old, new in resnet.items()})

    index = 1
    for level in range(levels):
        for i in range(res_blocks[level]):
            resnet_at(f"down_blocks.{level}.resnets.{i}", f"input_blocks.{index}.0")
            block(f"down_blocks.{level}.attentions.{i}", f"input_blocks.{index}.1", depths.pop(0))
            index += 1
        for param in ("weight", "bias"):
            mapping[f"down_blocks.{level}.downsamplers.0.conv.{param}"] = f"input_blocks.{index}.0.op.{param}"
        index += 1
    block("mid_block.attentions.0", "middle_block.1", unet_config.get("transformer_depth_middle") or 0)
    for i, n in enumerate((0, 2)):
        resnet_at(f"mid_block.resnets.{i}", f"middle_block.{n}")
    index = 0
    for level, count in enumerate(reversed(res_blocks)):
        for i in range(count + 1):
            resnet_at(f"up_blocks.{level}.resnets.{i}", f"output_blocks.{index}.0")
            depth = depths_out.pop()
            block(f"up_blocks.{level}.attentions.{i}", f"output_blocks.{index}.1", depth)
            if i == count:
                slot = 2 if depth > 0 else 1
                for param in ("weight", "bias"):
                    ldm_key = f"output_blocks.{index}.{slot}.conv.{param}"
                    mapping[f"up_blocks.{level}.upsamplers.0.conv.{param}"] = ldm_key
            index += 1
    mapping.update({diffusers: ldm for ldm, diffusers in _basic_map()})
    return mapping


# Batches


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int, dim: int = 0) -> torch.Tensor:
    """``tensor`` cut or repeated along ``dim`` to ``batch_size``."""
    size = tensor.shape[dim]
    if size < batch_size:
        repeats = [1] * tensor.dim()
        repeats[dim] = math.ceil(batch_size / size)
        tensor = tensor.repeat(repeats)
    return tensor.narrow(dim, 0, batch_size) if tensor.shape[dim] != batch_size else tensor


def resize_to_batch_size(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """A batch of ``batch_size`` items picked evenly from ``tensor``'s batch."""
    from engine.sd.model_inputs import resize_to_batch

    return resize_to_batch(tensor, batch_size)


def resize_list_to_batch_size(items: list, batch_size: int) -> list:
    from engine.sd.model_inputs import batch_indices

    if len(items) in (batch_size, 0):
        return items
    return [items[i] for i in batch_indices(len(items), batch_size)]


# Resizing


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """A channels-first batch resized with Lanczos (through PIL, as the engine's IMAGE resize)."""
    from engine.image_ops import resize

    resized = resize(samples.movedim(1, -1).float().cpu(), width, height, "lanczos")
    return resized.movedim(-1, 1).to(samples.device, samples.dtype)


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Partial: resized bilinearly, as Atelier's own latent upscale treats ``bislerp``."""
    from engine.image_ops import resize_samples

    return resize_samples(samples, width, height, "bislerp", "disabled")


def common_upscale(samples: torch.Tensor, width: int, height: int, upscale_method: str, crop: str) -> torch.Tensor:
    """A channels-first batch ``[B, C, H, W]`` (or ``[B, C, T, H, W]``) resized to ``width`` x ``height`` with one
    of ComfyUI's methods; ``crop="center"`` crops to the new aspect ratio first (engine.image_ops)."""
    from engine.image_ops import resize, resize_samples

    shape = tuple(samples.shape)
    flat = samples
    if len(shape) > 4:  # frames become batch items
        flat = samples.reshape(shape[0], shape[1], -1, shape[-2], shape[-1]).movedim(2, 1)
        flat = flat.reshape(-1, shape[1], shape[-2], shape[-1])
    if upscale_method == "lanczos":
        out = resize(flat.movedim(1, -1).float().cpu(), width, height, "lanczos", crop)
        out = out.movedim(-1, 1).to(flat.device, flat.dtype)
    else:
        out = resize_samples(flat, width, height, upscale_method, crop)
    if len(shape) <= 4:
        return out
    out = out.reshape((shape[0], -1, shape[1], height, width)).movedim(2, 1)
    return out.reshape(shape[:-2] + (height, width))


# Tiling


def get_tiled_scale_steps(width: int, height: int, tile_x: int, tile_y: int, overlap: int) -> int:
    """How many tiles ``tiled_scale`` runs over one image."""
    rows = 1 if height <= tile_y else math.ceil((height - overlap) / (tile_y - overlap))
    cols = 1 if width <= tile_x else math.ceil((width - overlap) / (tile_x - overlap))
    return rows * cols


def tiled_scale_multidim(samples: torch.Tensor, function: Callable[[torch.Tensor], torch.Tensor],
                         tile: tuple[int, ...] = (64, 64), overlap: int = 8, upscale_amount: float = 4,
                         out_channels: int = 3, output_device: Any = "cpu", downscale: bool = False,
                         index_formulas: Any = None, pbar: ProgressBar | None = None) -> torch.Tensor:
    """``function`` applied tile by tile to each image of ``samples`` [B, C, H, W] and blended
    (``engine.sd.tiling.tiled_map``); ``pbar`` advances once per tile. Two dimensions with a numeric scale only."""
    import torch

    from engine.sd.tiling import tiled_map

    if len(tile) != 2 or downscale or callable(upscale_amount) or isinstance(upscale_amount, (tuple, list)) \
            or isinstance(overlap, (tuple, list)) or index_formulas is not None:
        raise NotImplementedError("comfy.utils.tiled_scale_multidim: Atelier's engine tiles two dimensions with one "
                                  "numeric upscale factor (no 1-D/3-D tiles, per-dimension or callable scales, "
                                  "downscaling or index formulas)")
    size = min(tile)  # the engine's tiles are square
    on_tile = (lambda done, total: pbar.update(1)) if pbar is not None else None
    with torch.inference_mode():
        images = [tiled_map(samples[b:b + 1], function, size, overlap, upscale_amount, out_channels,
                            on_tile=on_tile).to(output_device) for b in range(samples.shape[0])]
    return torch.cat(images)


def tiled_scale(samples: torch.Tensor, function: Callable[[torch.Tensor], torch.Tensor], tile_x: int = 64,
                tile_y: int = 64, overlap: int = 8, upscale_amount: float = 4, out_channels: int = 3,
                output_device: Any = "cpu", pbar: ProgressBar | None = None) -> torch.Tensor:
    return tiled_scale_multidim(samples, function, (tile_y, tile_x), overlap=overlap, upscale_amount=upscale_amount,
                                out_channels=out_channels, output_device=output_device, pbar=pbar)


def reshape_mask(input_mask: torch.Tensor, output_shape: tuple[int, ...]) -> torch.Tensor:
    """A mask resized (bilinearly) to ``output_shape`` [B, C, H, W]'s size, its channels and batch repeated."""
    import torch.nn.functional as F

    if len(output_shape) != 4:
        raise NotImplementedError("comfy.utils.reshape_mask: Atelier handles image masks ([B, C, H, W]) only")
    mask = F.interpolate(input_mask.reshape(-1, 1, input_mask.shape[-2], input_mask.shape[-1]),
                         size=output_shape[2:], mode="bilinear")
    if mask.shape[1] < output_shape[1]:
        mask = mask.repeat(1, output_shape[1], 1, 1)[:, :output_shape[1]]
    return repeat_to_batch_size(mask, output_shape[0])


# Progress


def _progress_settings() -> dict[str, Any]:
    from compat.host import NotBound, host

    try:
        return host().extras.setdefault("comfy.utils.progress", {})
    except NotBound:
        return {}


def set_progress_bar_enabled(enabled: bool) -> None:
    """ComfyUI's console progress switch; Atelier keeps the value (its editor's progress is always on)."""
    _progress_settings()["enabled"] = enabled


def set_progress_bar_global_hook(function: Callable[..., Any] | None) -> None:
    """Record a hook that every new ``ProgressBar`` also calls, ``hook(value, total, preview, node_id=...)``."""
    _progress_settings()["hook"] = function


class ProgressBar:
    """A node's progress, shown on the node in the editor (``progress`` websocket messages). Each update is also
    where an interrupt stops the node: it raises ``core.context.Interrupted``.

    ``preview``: ComfyUI's ``("JPEG", PIL image, max size)`` (or a PIL image), shown on the node.
    """

    def __init__(self, total: int, node_id: str | None = None) -> None:
        self.total = total
        self.current = 0
        self.node_id = node_id
        self.hook = _progress_settings().get("hook")

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        if total is not None:
            self.total = total
        self.current = min(value, self.total)
        if self.hook is not None:
            self.hook(self.current, self.total, preview, node_id=self.node_id)
        context = current_context()
        if context is not None:
            context.progress(self.current, self.total, _preview_image(preview))
        else:
            _check_runtime_interrupt()

    def update(self, value: int) -> None:
        self.update_absolute(self.current + value)


def _preview_image(preview: Any) -> Any:
    """The PIL image of ComfyUI's preview tuple, shrunk to its maximum size."""
    if not isinstance(preview, tuple):
        return preview
    image = preview[1]
    max_size = preview[2] if len(preview) > 2 else None
    if max_size and max(image.size) > max_size:
        image = image.copy()
        image.thumbnail((max_size, max_size))
    return image


def _check_runtime_interrupt() -> None:
    """Outside a node's thread (a worker thread a pack started) the runtime's flag still stops the work."""
    from compat.host import NotBound, runtime

    try:
        interrupted = runtime().interrupt.is_set()
    except NotBound:
        return
    if interrupted:
        raise Interrupted()
