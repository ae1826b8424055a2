"""Stable Diffusion 1.5 speed and memory on this machine, with full-size random weights.

Prints: the CPU's peak matmul rate, seconds per UNet step (batch 2, i.e. one CFG step) at 256² and 512²
in fp32 / bf16, with and without channels_last, the fraction of peak those reach, VAE decode time at 256²,
and checkpoint load time and peak RSS (a random fp16 checkpoint is written to a temp file first).

    .venv/bin/python bench/bench_sd.py            # everything (several minutes on 2 cores)
    .venv/bin/python bench/bench_sd.py --sizes 256 --skip-load
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import safetensors.torch
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.device import Devices  # noqa: E402
from engine.sd.checkpoint import read_checkpoint  # noqa: E402
from engine.sd.families import SD1, UNET_PREFIX, VAE_PREFIX  # noqa: E402
from engine.sd.materialize import compute_copy  # noqa: E402
from engine.sd.unet import UNetConfig, UNetModel  # noqa: E402
from engine.sd.vae import AutoencoderKL, VAEConfig  # noqa: E402

SD15_KEYS = ROOT.parent / "shared" / "reference" / "sd15" / "sd15_keys.json"
GIB = 1024**3
CLIP_PREFIX = SD1.text_encoders[0].prefix


def timed(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    """Best wall time of ``repeats`` runs after one warm-up run, and the result."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> str:
    """Max and RMS difference to the fp32 result, relative to the reference's max and RMS."""
    diff = (out.float() - reference).flatten()
    ref = reference.flatten()
    return f"max {diff.abs().max() / ref.abs().max():.1e}, rms {diff.norm() / ref.norm():.1e} vs fp32"


def peak_flops(dtype: torch.dtype, n: int = 2048) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / timed(lambda: a @ b, 5)[0]


def unet_flops(config: UNetConfig, latent: int, batch: int = 2) -> int:
    """FLOPs of one UNet forward, counted on the meta device (nothing is computed)."""
    with torch.device("meta"):
        unet = UNetModel(config)
        x = torch.empty(batch, 4, latent, latent)
        t = torch.empty(batch)
        ctx = torch.empty(batch, 77, config.context_dim)
    with FlopCounterMode(display=False) as counter:
        unet(x, t, ctx)
    return counter.get_total_flops()


def rss_gib() -> str:
    """Current and peak resident memory of this process."""
    status = Path("/proc/self/status").read_text().splitlines()
    kib = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmRSS", "VmHWM"))}
    return f"{kib['VmRSS'] / 1024**2:.2f} GiB now, {kib['VmHWM'] / 1024**2:.2f} GiB peak"


def random_checkpoint(path: Path) -> None:
    """A full-size SD1.5 fp16 checkpoint: default-initialised UNet and VAE, random CLIP of the real shapes."""
    sd: dict[str, torch.Tensor] = {}
    torch.manual_seed(0)
    factories: list[tuple[str, Callable[[], torch.nn.Module]]] = [
        (UNET_PREFIX, lambda: UNetModel(UNetConfig())),
        (VAE_PREFIX, lambda: AutoencoderKL(VAEConfig())),
    ]
    for prefix, factory in factories:
        sd.update({prefix + k: v.half() for k, v in factory().state_dict().items()})
    tensors = json.loads(SD15_KEYS.read_text())["tensors"]
    for key, info in tensors.items():
        if key.startswith(CLIP_PREFIX):
            if info["dtype"] == "I64":
                sd[key] = torch.arange(77)[None]
            else:
                sd[key] = (torch.randn(info["shape"]) * 0.02).half()
    safetensors.torch.save_file(sd, str(path))


def measure_load(path: Path) -> dict[str, object]:
    """Run in a child process so its peak RSS is the loader's alone."""
    devices = Devices(cpu_only=True)
    start = time.perf_counter()
    model, _clip, wrapper = read_checkpoint(path, devices)
    unet = model.unet
    load_s = time.perf_counter() - start
    rss_load = rss_gib()
    dtype = devices.compute_dtype(next(unet.parameters()).dtype, torch.device("cpu"))
    start = time.perf_counter()
    runner = compute_copy(unet, torch.device("cpu"), dtype)  # the UNet itself when held in its compute dtype
    copy_s = time.perf_counter() - start
    with torch.inference_mode():
        runner(
            torch.randn(2, 4, 32, 32, dtype=dtype), torch.tensor([500.0, 500.0]), torch.randn(2, 77, 768, dtype=dtype)
        )
    rss_step = rss_gib()
    wrapper.decode(torch.randn(1, 4, 32, 32))
    return {
        "load_s": load_s,
        "loaded": "read_checkpoint (UNet, VAE, CLIP)",
        "unet_dtype": str(next(unet.parameters()).dtype),
        "unet_compute_dtype": str(dtype),
        "compute_copy_s": copy_s,
        "rss_after_load": rss_load,
        "rss_after_unet_step": rss_step,
        "rss_after_vae_decode": rss_gib(),
    }


def bench_unet(sizes: list[int], repeats: int, peak: dict[torch.dtype, float]) -> None:
    torch.manual_seed(0)
    base = UNetModel(UNetConfig()).eval().requires_grad_(False)
    ctx = torch.randn(2, 77, 768)
    t = torch.tensor([999.0, 999.0])
    reference: dict[int, torch.Tensor] = {}
    for dtype in (torch.float32, torch.bfloat16):
        unet = compute_copy(base, torch.device("cpu"), dtype)
        for channels_last in (False, True):
            if channels_last:
                unet = unet.to(memory_format=torch.channels_last)
            for size in sizes:
                latent = size // 8
                x = torch.randn(2, 4, latent, latent, generator=torch.Generator().manual_seed(size)).to(dtype)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                c = ctx.to(dtype)
                with torch.inference_mode():
                    seconds, out = timed(lambda u=unet, x=x, c=c: u(x, t, c), repeats)
                reference.setdefault(size, out.float())
                flops = unet_flops(UNetConfig(), latent)
                print(
                    f"UNet step {size}x{size} batch 2 {str(dtype)[6:]:8} channels_last={channels_last!s:5}: "
                    f"{seconds:6.2f} s  ({flops / seconds / 1e9:6.1f} GFLOP/s, "
                    f"{flops / seconds / peak[dtype]:5.1%} of {str(dtype)[6:]} matmul peak); "
                    f"{relative_error(out, reference[size])}",
                    flush=True,
                )
        del unet


def bench_vae(repeats: int) -> None:
    torch.manual_seed(0)
    model = AutoencoderKL(VAEConfig()).eval().requires_grad_(False)
    z = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    reference = None
    for dtype in (torch.float32, torch.bfloat16):
        runner = compute_copy(model, torch.device("cpu"), dtype)
        with torch.inference_mode():
            seconds, out = timed(lambda r=runner, d=dtype: r.decode(z.to(d)), repeats)
        reference = out.float() if reference is None else reference
        pixels = ((out.float() - reference) / 2).abs().max().item()  # -1..1 output -> 0..1 image units
        print(
            f"VAE decode 256x256 {str(dtype)[6:]:8}: {seconds:6.2f} s; {relative_error(out, reference)}, "
            f"max pixel difference {pixels * 255:.1f}/255",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--load-only", action="store_true", help="only the checkpoint load figures")
    parser.add_argument("--load-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_child:
        print(json.dumps(measure_load(args.load_child)))
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    peak = {dtype: peak_flops(dtype) for dtype in (torch.float32, torch.bfloat16)}
    for dtype, rate in peak.items():
        print(f"matmul peak {str(dtype)[6:]:8}: {rate / 1e9:7.1f} GFLOP/s", flush=True)
    if not args.skip_load:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sd15_random_fp16.safetensors"
            start = time.perf_counter()
            random_checkpoint(path)
            print(f"wrote {path.stat().st_size / GIB:.2f} GiB checkpoint in {time.perf_counter() - start:.1f} s")
            child = [sys.executable, __file__, "--load-child", str(path)]
            result = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
            print("checkpoint read (fp16 file):", json.dumps(result), flush=True)
    if not args.load_only:
        bench_vae(args.repeats)
        bench_unet(args.sizes, args.repeats, peak)


if __name__ == "__main__":
    main()
