"""SD1.5 VAE decode time on this machine against ComfyUI, with full-size random weights.

The VAE is built in the SD1.5 file's layout and dtype (fp16, from ../shared/reference/sd15/sd15_keys.json when
present, else ``VAEConfig()``), held as the loaders hold it and decoded through ``engine.sd.vae.VAE``, as the
VAEDecode node does: in bf16 where the CPU has native bf16, else fp32. The fp32 path (``Devices(cpu_bf16=False)``)
is timed beside it and the difference to it reported. Prints the CPU, seconds per decode (best run after a
warm-up, of at least ``--repeats`` runs and ``--min-seconds``), the ratio to ComfyUI 0.3.64's figures on a
2-core AVX512-BF16/AMX CPU, and achieved GFLOP/s beside the CPU's matmul peak in the same dtype. Other processes
on a 2-core machine move these figures a lot: each line ends with the load average; run it when ``uptime``
shows little load.

    .venv/bin/python bench/bench_vae.py                       # 256² and 512², both paths
    .venv/bin/python bench/bench_vae.py --sizes 256 --paths auto --blocks --profile
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.device import Devices  # noqa: E402
from engine.sd.materialize import build_with_weights  # noqa: E402
from engine.sd.vae import VAE, AutoencoderKL, VAEConfig, detect_vae_config, vae_compute_dtype  # noqa: E402

SD15_KEYS = ROOT.parent / "shared" / "reference" / "sd15" / "sd15_keys.json"
VAE_PREFIX = "first_stage_model."
COMFYUI_SECONDS = {256: 3.95, 512: 18.8}  # ComfyUI 0.3.64, one latent, 2-core AVX512-BF16/AMX CPU
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_description() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    present = " ".join(f for f in FLAGS if f in flags) or "none of " + " ".join(FLAGS)
    return f"{model}; {os.cpu_count()} CPUs; flags: {present}"


@functools.cache
def sd15_config() -> VAEConfig:
    if not SD15_KEYS.exists():
        return VAEConfig()
    tensors = json.loads(SD15_KEYS.read_text())["tensors"]
    shapes = {k[len(VAE_PREFIX) :]: v["shape"] for k, v in tensors.items() if k.startswith(VAE_PREFIX)}
    return detect_vae_config({k: torch.empty(shape, device="meta") for k, shape in shapes.items()})


def random_vae(config: VAEConfig, devices: Devices) -> VAE:
    """Default-initialised weights of an fp16 file, held as the loaders hold them on the CPU: in the dtype the VAE
    computes in (``engine.sd.components.vae_dtypes``)."""
    torch.manual_seed(0)
    held = vae_compute_dtype(torch.float16, torch.device("cpu"), devices)
    sd = {k: v.to(torch.float16).to(held) for k, v in AutoencoderKL(config).state_dict().items()}
    return VAE(build_with_weights(lambda: AutoencoderKL(config), sd), devices=devices)


def timed(fn: Callable[[], torch.Tensor], repeats: int, min_seconds: float = 0.0) -> tuple[float, torch.Tensor]:
    """Best wall time after one warm-up run, of at least ``repeats`` runs and ``min_seconds`` of running (other
    processes on a small machine come and go: the best run is the one they disturbed least), and the result."""
    result = fn()
    best, runs, began = float("inf"), 0, time.perf_counter()
    while runs < repeats or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        result = fn()
        best, runs = min(best, time.perf_counter() - start), runs + 1
    return best, result


def peak_flops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / timed(lambda: a @ b, repeats, min_seconds=2.0)[0]


def decode_flops(config: VAEConfig, latent: int) -> int:
    """FLOPs of one decode, counted on the meta device (nothing is computed)."""
    with torch.device("meta"):
        model = AutoencoderKL(config)
        z = torch.empty(1, config.embed_dim, latent, latent)
    with FlopCounterMode(display=False) as counter:
        model.decode(z)
    return counter.get_total_flops()


def compute_dtype(vae: VAE) -> torch.dtype:
    return next(vae._compute_model().parameters()).dtype


@contextmanager
def block_timer(model: AutoencoderKL) -> Iterator[dict[str, float]]:
    """Seconds spent in each part of the decoder (summed over calls), via forward hooks."""
    decoder = model.decoder
    parts: dict[str, nn.Module] = {"conv_in": decoder.conv_in, "mid": decoder.mid, "conv_out": decoder.conv_out}
    for i, level in enumerate(decoder.up):
        for j, block in enumerate(level.block):
            parts[f"up.{i}.block.{j}"] = block
        if hasattr(level, "upsample"):
            parts[f"up.{i}.upsample"] = level.upsample
    totals = dict.fromkeys(parts, 0.0)
    handles = []
    for name, module in parts.items():
        starts: list[float] = []
        handles.append(module.register_forward_pre_hook(lambda _m, _i, s=starts: s.append(time.perf_counter())))
        handles.append(module.register_forward_hook(
            lambda _m, _i, _o, s=starts, n=name: totals.__setitem__(n, totals[n] + time.perf_counter() - s.pop())))
    try:
        yield totals
    finally:
        for handle in handles:
            handle.remove()


def report_blocks(vae: VAE, z: torch.Tensor) -> None:
    with block_timer(vae._compute_model()) as totals:
        start = time.perf_counter()
        vae.decode(z)
        total = time.perf_counter() - start
    for name, seconds in totals.items():
        print(f"    {name:18} {seconds:6.3f} s  {seconds / total:5.1%}")


def report_profile(vae: VAE, z: torch.Tensor, rows: int = 20) -> None:
    """The ops that took the most time (self CPU time, grouped by input shapes)."""
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        vae.decode(z)
    events = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    for e in events[:rows]:
        shapes = ", ".join(str(s) for s in e.input_shapes if s)
        print(f"    {e.self_cpu_time_total / 1e6:6.3f} s {e.self_cpu_time_total / total:5.1%} "
              f"{e.count:3}x {e.key:28} {shapes}")


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> str:
    """Max and RMS difference relative to the reference's max and RMS, and in 8-bit pixel levels."""
    diff = (out - reference).flatten()
    ref = reference.flatten()
    return (f"vs fp32: max {diff.abs().max() / ref.abs().max():.1e} rel, rms {diff.norm() / ref.norm():.1e} rel, "
            f"max {diff.abs().max() * 255:.1f}/255, mean {diff.abs().mean() * 255:.2f}/255")


def summary(size: int, path: str, dtype: torch.dtype, seconds: float, peak: float) -> str:
    line = f"decode {size}x{size} {path} ({str(dtype)[6:]}): {seconds:6.2f} s"
    if size in COMFYUI_SECONDS:
        line += f", {seconds / COMFYUI_SECONDS[size]:.2f}x ComfyUI's {COMFYUI_SECONDS[size]} s"
    rate = decode_flops(sd15_config(), size // 8) / seconds
    return line + f"; {rate / 1e9:.0f} GFLOP/s = {rate / peak:.0%} of matmul peak"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=10.0, help="keep timing a size at least this long")
    parser.add_argument("--paths", nargs="+", choices=("auto", "fp32"), default=["auto", "fp32"],
                        help="auto: the dtype the engine picks for fp16 weights; fp32: bf16 turned off")
    parser.add_argument("--blocks", action="store_true", help="time each decoder block once per size")
    parser.add_argument("--profile", action="store_true", help="torch.profiler table of one decode per size")
    args = parser.parse_args()

    print(f"CPU: {cpu_description()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    config = sd15_config()
    peaks: dict[torch.dtype, float] = {}
    reference: dict[int, torch.Tensor] = {}
    for path in sorted(args.paths, key=lambda p: p != "fp32"):  # the fp32 reference first
        vae = random_vae(config, Devices(cpu_only=True, cpu_bf16=False if path == "fp32" else None))
        dtype = compute_dtype(vae)
        if dtype not in peaks:
            peaks[dtype] = peak_flops(dtype)
            print(f"matmul peak {str(dtype)[6:]}: {peaks[dtype] / 1e9:.1f} GFLOP/s", flush=True)
        for size in args.sizes:
            z = torch.randn(1, config.z_channels, size // 8, size // 8, generator=torch.Generator().manual_seed(size))
            seconds, image = timed(lambda v=vae, z=z: v.decode(z), args.repeats, args.min_seconds)
            line = summary(size, path, dtype, seconds, peaks[dtype])
            if path != "fp32" and size in reference:
                line += f"; {relative_error(image, reference[size])}"
            reference.setdefault(size, image)
            print(line, f"(load {os.getloadavg()[0]:.2f})", flush=True)
            if args.blocks:
                report_blocks(vae, z)
            if args.profile:
                report_profile(vae, z)


if __name__ == "__main__":
    main()
