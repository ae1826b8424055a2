"""ComfyUI's ``comfy.utils``, ``comfy.model_management``, ``comfy.cli_args``, ``comfy.comfy_types`` and
``comfy.float`` as views of Atelier's runtime, context and engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from compat.host import install_path
from core.context import ExecutionContext, Interrupted, InterruptFlag, enter_context, leave_context
from core.folders import Folders
from engine.sd.state_dict import WeightsFileError
from runtime import Settings, build_runtime

install_path()

import comfy.float  # noqa: E402
import comfy.model_management as mm  # noqa: E402
import comfy.utils  # noqa: E402
from comfy.cli_args import LatentPreviewMethod, args  # noqa: E402
from comfy.comfy_types import IO, ComfyNodeABC, FileLocator, InputTypeDict  # noqa: E402,F401

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def __call__(self, value, total, preview) -> None:
        self.calls.append((value, total, preview))


def running_context(runtime, sink) -> ExecutionContext:
    return ExecutionContext("prompt", "7", runtime.folders, runtime.models, runtime.devices, runtime.interrupt, sink)


# ProgressBar


def test_progress_bar_reports_through_the_running_context(comfy_runtime):
    from PIL import Image

    sink = Recorder()
    token = enter_context(running_context(comfy_runtime, sink))
    try:
        bar = comfy.utils.ProgressBar(4)
        bar.update(1)
        bar.update(2)
        bar.update_absolute(9)  # clamped to the total, as in ComfyUI
        big = Image.new("RGB", (64, 32))
        bar.update_absolute(2, 5, ("JPEG", big, 16))
    finally:
        leave_context(token)
    assert [call[:2] for call in sink.calls] == [(1, 4), (3, 4), (4, 4), (2, 5)]
    preview = sink.calls[-1][2]
    assert preview.size == (16, 8) and big.size == (64, 32)


def test_progress_bar_raises_atelier_interrupt(comfy_runtime):
    sink = Recorder()
    token = enter_context(running_context(comfy_runtime, sink))
    try:
        bar = comfy.utils.ProgressBar(3)
        bar.update(1)
        comfy_runtime.interrupt.set()
        with pytest.raises(Interrupted):
            bar.update(1)
    finally:
        leave_context(token)
        comfy_runtime.interrupt.clear()
    assert len(sink.calls) == 1
    # In a thread without a node (a pack's own worker thread) the runtime's flag still stops it.
    comfy.utils.ProgressBar(2).update(1)
    comfy_runtime.interrupt.set()
    with pytest.raises(mm.InterruptProcessingException):
        comfy.utils.ProgressBar(2).update(1)
    comfy_runtime.interrupt.clear()


def test_progress_bar_global_hook_and_switch(comfy_runtime):
    seen = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, node_id)))
    comfy.utils.ProgressBar(2, node_id="5").update(1)
    comfy.utils.set_progress_bar_global_hook(None)
    comfy.utils.ProgressBar(2).update(1)
    assert seen == [(1, "5")]
    assert comfy.utils.PROGRESS_BAR_ENABLED is True
    comfy.utils.set_progress_bar_enabled(False)
    assert comfy.utils.PROGRESS_BAR_ENABLED is False


# Weights files


def test_load_torch_file_safetensors_with_metadata(tmp_path):
    sd = {"a.weight": torch.randn(3, 2), "b": torch.arange(4, dtype=torch.int64)}
    path = tmp_path / "w.safetensors"
    comfy.utils.save_torch_file(sd, str(path), metadata={"format": "pt", "name": "test"})
    loaded, metadata = comfy.utils.load_torch_file(str(path), return_metadata=True)
    assert metadata == {"format": "pt", "name": "test"}
    assert loaded.keys() == sd.keys() and all(torch.equal(loaded[k], sd[k]) for k in sd)
    assert torch.equal(comfy.utils.load_torch_file(str(path))["a.weight"], sd["a.weight"])
    assert comfy.utils.safetensors_header(str(path)).startswith(b"{")
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError):
        comfy.utils.load_torch_file(str(tmp_path / "bad.safetensors"))


def test_load_torch_file_pickles_weights_only(tmp_path):
    weights = {"x": torch.ones(2)}
    torch.save({"state_dict": weights, "epoch": 3}, tmp_path / "wrapped.ckpt")
    assert torch.equal(comfy.utils.load_torch_file(str(tmp_path / "wrapped.ckpt"))["x"], weights["x"])
    torch.save({"only": {"y": torch.zeros(1)}}, tmp_path / "single.pt")
    assert list(comfy.utils.load_torch_file(str(tmp_path / "single.pt"))) == ["y"]
    loaded, metadata = comfy.utils.load_torch_file(str(tmp_path / "single.pt"), return_metadata=True)
    assert metadata is None

    marker = tmp_path / "code-ran"
    torch.save({"evil": RunsCode(str(marker))}, tmp_path / "evil.pt")
    assert not marker.exists()
    for safe_load in (False, True):  # ComfyUI's unsafe path does not exist here
        with pytest.raises(WeightsFileError):
            comfy.utils.load_torch_file(str(tmp_path / "evil.pt"), safe_load=safe_load)
    assert not marker.exists()


class RunsCode:
    """A pickle that would create a file when unpickled with code allowed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


# State dicts and modules


def test_state_dict_helpers():
    sd = {"a.x": torch.zeros(2, 3), "a.y": torch.zeros(4, dtype=torch.float16), "b.z": torch.zeros(1)}
    assert comfy.utils.calculate_parameters(sd) == 11
    assert comfy.utils.calculate_parameters(sd, "a.") == 10
    assert comfy.utils.weight_dtype(sd, "a.") == torch.float32
    assert comfy.utils.weight_dtype(sd, "nothing.") is None
    renamed = comfy.utils.state_dict_prefix_replace(dict(sd), {"a.": "model.a."})
    assert sorted(renamed) == ["b.z", "model.a.x", "model.a.y"]
    only = comfy.utils.state_dict_prefix_replace(dict(sd), {"a.": ""}, filter_keys=True)
    assert sorted(only) == ["x", "y"]
    assert sorted(comfy.utils.state_dict_key_replace(dict(sd), {"b.z": "c"})) == ["a.x", "a.y", "c"]

    module = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert comfy.utils.get_attr(module, "0.weight") is module[0].weight
    old = comfy.utils.set_attr_param(module, "0.bias", torch.ones(2))
    assert isinstance(module[0].bias, torch.nn.Parameter) and torch.equal(module[0].bias, torch.ones(2))
    assert old is not module[0].bias
    weight = module[0].weight
    comfy.utils.copy_to_param(module, "0.weight", torch.full((2, 2), 3.0))
    assert module[0].weight is weight and torch.equal(weight, torch.full((2, 2), 3.0))
    assert mm.module_size(module) == 6 * 4


def test_unet_to_diffusers_agrees_with_atelier_names():
    from engine.sd.unet_names import ldm_to_diffusers
    from tests.factories import TINY_SDXL_UNET, TINY_UNET, tiny_unet_state_dict

    for config in (TINY_UNET, TINY_SDXL_UNET):
        levels = len(config.channel_mult)
        comfy_config = {
            "num_res_blocks": [config.num_res_blocks] * levels, "channel_mult": config.channel_mult,
            "transformer_depth": [d for d in config.transformer_depth for _ in range(config.num_res_blocks)],
            "transformer_depth_output": [d for d in config.transformer_depth
                                         for _ in range(config.num_res_blocks + 1)],
            "transformer_depth_middle": config.transformer_depth_middle,
        }
        keys = list(tiny_unet_state_dict(0, config))
        atelier = ldm_to_diffusers(config, keys)
        comfy_map = comfy.utils.unet_to_diffusers(comfy_config)
        # ComfyUI also names SDXL's label embedding class_embedding (diffusers' older name); Atelier uses the other.
        used = [(ldm, diffusers) for diffusers, ldm in comfy_map.items()
                if ldm in atelier and not diffusers.startswith("class_embedding.")]
        assert used and all(atelier[ldm] == diffusers for ldm, diffusers in used)
        missing = set(keys) - set(comfy_map.values())
        assert not missing, sorted(missing)[:5]
    assert ("input_blocks.0.0.weight", "conv_in.weight") in comfy.utils.UNET_MAP_BASIC
    assert comfy.utils.UNET_MAP_RESNET["in_layers.2.weight"] == "conv1.weight"
    assert "attn2.to_out.0.bias" in comfy.utils.TRANSFORMER_BLOCKS and len(comfy.utils.TRANSFORMER_BLOCKS) == 20
    assert comfy.utils.unet_to_diffusers({}) == {}


def test_batch_helpers():
    t = torch.arange(3).reshape(3, 1)
    assert comfy.utils.repeat_to_batch_size(t, 7).flatten().tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert comfy.utils.repeat_to_batch_size(t, 2).flatten().tolist() == [0, 1]
    assert comfy.utils.repeat_to_batch_size(t.T, 5, dim=1).flatten().tolist() == [0, 1, 2, 0, 1]
    assert comfy.utils.resize_to_batch_size(t, 6).flatten().tolist() == [0, 0, 1, 1, 2, 2]
    assert comfy.utils.resize_to_batch_size(torch.arange(5), 3).tolist() == [0, 2, 4]
    assert comfy.utils.resize_list_to_batch_size(["a", "b"], 4) == ["a", "a", "b", "b"]


# Resizing and tiling


@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "area", "bicubic"])
def test_common_upscale_is_torch_interpolation(method):
    samples = torch.rand(2, 4, 8, 12) * 3 - 1  # latents are not clamped
    out = comfy.utils.common_upscale(samples, 20, 10, method, "disabled")
    assert torch.allclose(out, F.interpolate(samples, size=(10, 20), mode=method))
    video = torch.rand(1, 4, 3, 8, 12)  # [B, C, T, H, W]: each frame resized
    resized = comfy.utils.common_upscale(video, 6, 4, method, "disabled")
    assert resized.shape == (1, 4, 3, 4, 6)
    assert torch.allclose(resized[:, :, 1], F.interpolate(video[:, :, 1], size=(4, 6), mode=method))


def test_common_upscale_crop_and_lanczos_match_atelier_image_scale():
    from engine.image_ops import resize

    image = torch.rand(1, 12, 20, 3)  # IMAGE [B, H, W, C]
    for method in ("bilinear", "lanczos"):
        ours = comfy.utils.common_upscale(image.movedim(-1, 1), 8, 8, method, "center").movedim(1, -1)
        assert torch.allclose(ours.clamp(0, 1), resize(image, 8, 8, method, "center"), atol=1e-6)
    cropped = comfy.utils.common_upscale(image.movedim(-1, 1), 12, 12, "nearest-exact", "center")
    assert torch.equal(cropped, image[:, :, 4:16].movedim(-1, 1))  # ComfyUI's crop: 4 columns off each side
    assert comfy.utils.lanczos(image.movedim(-1, 1), 10, 6).shape == (1, 3, 6, 10)
    assert comfy.utils.bislerp(torch.rand(1, 4, 8, 8), 16, 16).shape == (1, 4, 16, 16)


def test_tiled_scale_matches_the_whole_image_and_counts_steps(comfy_runtime):
    samples = torch.rand(2, 3, 40, 56)

    def upscale(x):
        return F.interpolate(x, scale_factor=2, mode="nearest")

    steps = comfy.utils.get_tiled_scale_steps(56, 40, 16, 16, 4)
    assert steps == 3 * 5  # rows ceil(36/12), columns ceil(52/12)
    sink = Recorder()
    token = enter_context(running_context(comfy_runtime, sink))
    try:
        bar = comfy.utils.ProgressBar(steps * 2)
        out = comfy.utils.tiled_scale(samples, upscale, 16, 16, 4, upscale_amount=2, out_channels=3, pbar=bar)
    finally:
        leave_context(token)
    assert out.shape == (2, 3, 80, 112)
    assert torch.allclose(out, upscale(samples), atol=1e-6)
    assert sink.calls[-1][:2] == (steps * 2, steps * 2) and len(sink.calls) == steps * 2
    with pytest.raises(NotImplementedError, match="two dimensions"):
        comfy.utils.tiled_scale_multidim(torch.rand(1, 1, 8, 8, 8), upscale, tile=(4, 4, 4))
    mask = comfy.utils.reshape_mask(torch.ones(1, 4, 4), (3, 2, 8, 8))
    assert mask.shape == (3, 2, 8, 8)


# model_management


def test_devices_and_dtypes_come_from_the_runtime_policy(tmp_path):
    runtime = build_runtime(Settings(folders=Folders.under(tmp_path), cpu_only=True))
    try:
        cpu = torch.device("cpu")
        assert mm.get_torch_device() == runtime.devices.compute_device() == cpu
        assert mm.unet_offload_device() == mm.text_encoder_offload_device() == cpu
        assert mm.vae_device() == mm.text_encoder_device() == mm.intermediate_device() == cpu
        assert mm.cpu_mode() and mm.vram_state == mm.VRAMState.DISABLED and mm.cpu_state == mm.CPUState.CPU
        assert mm.get_torch_device_name(cpu) == "cpu"
        expected = runtime.devices.compute_dtype(torch.float16, cpu)
        assert mm.unet_dtype() == mm.text_encoder_dtype() == expected
        assert mm.should_use_fp16() is False
        assert mm.should_use_bf16() == runtime.devices.cpu_bf16_enabled()
        assert mm.unet_dtype(supported_dtypes=[torch.float32]) == torch.float32
        assert mm.unet_manual_cast(torch.float32, cpu) is None
        assert mm.unet_manual_cast(torch.float16, cpu) == expected
        assert mm.vae_dtype() in (torch.bfloat16, torch.float32) and mm.intermediate_dtype() == torch.float32
        assert mm.pick_weight_dtype(None, torch.float16) == torch.float16
        assert mm.pick_weight_dtype(torch.float32, torch.float16) == torch.float16
        assert mm.get_autocast_device(cpu) == "cpu" and mm.is_device_cpu(cpu) and not mm.is_device_mps(cpu)
        assert not (mm.is_intel_xpu() or mm.is_directml_enabled() or mm.XFORMERS_IS_AVAILABLE)
        assert mm.OOM_EXCEPTION is torch.cuda.OutOfMemoryError
        assert args.cpu is True
    finally:
        runtime.close()


def test_cast_and_memory_queries(comfy_runtime):
    t = torch.ones(3)
    assert mm.cast_to(t) is t
    assert mm.cast_to(t, dtype=torch.float16).dtype == torch.float16
    assert mm.cast_to(t, copy=True) is not t
    assert mm.cast_to_device(t, torch.device("cpu"), torch.bfloat16).dtype == torch.bfloat16
    cpu = torch.device("cpu")
    free, torch_free = mm.get_free_memory(cpu, torch_free_too=True)
    assert mm.get_free_memory(cpu) > 0 and free >= torch_free
    assert mm.get_total_memory(cpu) >= mm.get_free_memory(cpu) * 0.5
    with pytest.raises(ValueError):
        mm.raise_non_oom(ValueError("not memory"))
    mm.raise_non_oom(torch.cuda.OutOfMemoryError("oom"))
    mm.soft_empty_cache()
    assert mm.load_models_gpu([object()]) is None and mm.loaded_models() == []


def test_freeing_goes_through_the_runtime(comfy_runtime, tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x" * 16)
    comfy_runtime.models.load(path, "test", lambda p: torch.zeros(4))
    assert len(comfy_runtime.models) == 1
    mm.unload_all_models()
    request = comfy_runtime.worker.slots[0].free_request
    assert request.unload_models and not request.free_memory
    assert len(comfy_runtime.models) == 1  # carried out by the worker between prompts
    mm.free_memory(1 << 62, torch.device("cpu"))  # more than any machine has: every cached model leaves
    assert len(comfy_runtime.models) == 0


def test_interrupts_are_the_runtime_flag(comfy_runtime):
    assert mm.InterruptProcessingException is Interrupted
    assert not mm.processing_interrupted()
    mm.throw_exception_if_processing_interrupted()
    mm.interrupt_current_processing()
    assert comfy_runtime.interrupt.is_set() and mm.processing_interrupted()
    with pytest.raises(Interrupted):
        mm.throw_exception_if_processing_interrupted()
    mm.interrupt_current_processing(False)
    assert not comfy_runtime.interrupt.is_set()
    own = InterruptFlag()  # a running node's context answers first
    own.set()
    token = enter_context(ExecutionContext("p", "1", comfy_runtime.folders, comfy_runtime.models,
                                           comfy_runtime.devices, own))
    try:
        with pytest.raises(mm.InterruptProcessingException):
            mm.throw_exception_if_processing_interrupted()
    finally:
        leave_context(token)


# cli_args, comfy_types, comfy.float


def test_cli_args_reflect_the_runtime(comfy_runtime):
    folders = comfy_runtime.folders
    assert args.output_directory == str(folders.output_dir) and args.input_directory == str(folders.input_dir)
    assert args.cpu is False and args.port == 8188 and args.listen == "127.0.0.1"
    assert args.preview_method == LatentPreviewMethod.NoPreviews and args.disable_smart_memory is False
    assert vars(args)["user_directory"] == str(folders.user_dir)
    args.fast.add("changed")
    assert args.fast == set()  # defaults are copies
    args.preview_size = 256
    assert args.preview_size == 256
    with pytest.raises(AttributeError):
        args.not_an_option  # noqa: B018


def test_io_types_compare_as_comfyui():
    assert IO.IMAGE == "IMAGE" and str(IO.LATENT) == "LATENT"
    # ComfyUI's type check is `input_type != output_type`: "*" and unions are "not different" from their members.
    assert (IO.ANY != "IMAGE") is False and (IO.IMAGE != "*") is False
    assert (IO.NUMBER != "INT") is False and IO.NUMBER != "STRING"
    assert IO.IMAGE != "MASK" and IO.IMAGE != 3
    assert {IO.MODEL: 1}["MODEL"] == 1
    import comfy.comfy_types.node_typing as node_typing

    assert node_typing.IO is IO and issubclass(node_typing.ComfyNodeABC, object)
    assert node_typing.CheckLazyMixin().check_lazy_status(a=None, b=1) == ["a"]


def test_float_casts():
    value = torch.tensor([1.0, 2.5, 1e-3])
    assert comfy.float.stochastic_rounding(value, torch.bfloat16).dtype == torch.bfloat16
    assert torch.equal(comfy.float.stochastic_rounding(value, torch.float8_e4m3fn), value.to(torch.float8_e4m3fn))
    with pytest.raises(NotImplementedError):
        comfy.float.manual_stochastic_round_to_float8(value, torch.float8_e4m3fn)


def test_modules_import_without_torch():
    code = ("import sys; sys.path.insert(0, '.'); import compat.host; compat.host.install_path(); "
            "import folder_paths, comfy.utils, comfy.model_management, comfy.cli_args, comfy.comfy_types, "
            "comfy.float; from comfy.comfy_types.node_typing import IO; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_save_torch_file_round_trip(tmp_path):
    sd = {"w": torch.randn(2, 2)}
    comfy.utils.save_torch_file(sd, str(tmp_path / "s.safetensors"))
    assert torch.equal(safetensors.torch.load_file(str(tmp_path / "s.safetensors"))["w"], sd["w"])
