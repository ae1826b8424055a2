"""SDXL base speed and memory on this machine, with full-size random weights (no SDXL file is needed).

Prints seconds per UNet step (batch 2 = one CFG step, with the pooled-text + size vector ``y``) at the sizes asked
for, in bf16 with channels_last (the fastest CPU setting for SD1.5, see bench_sd.py), the fraction of the bf16
matmul peak that reaches, and the process's resident memory.

    .venv/bin/python bench/bench_sdxl.py               # 512² and 1024² (a few minutes on 2 cores)
    .venv/bin/python bench/bench_sdxl.py --sizes 512
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sd import peak_flops, rss_gib, timed, unet_flops  # noqa: E402
from engine.sd.model_inputs import adm_vector, sdxl_adm  # noqa: E402
from engine.sd.unet import UNetConfig, UNetModel  # noqa: E402

SDXL_BASE = UNetConfig(channel_mult=(1, 2, 4), transformer_depth=(0, 2, 10), transformer_depth_middle=10,
                       context_dim=2048, num_head_channels=64, use_linear_in_transformer=True, adm_in_channels=2816)


def random_bf16_unet() -> UNetModel:
    """Built in bf16 directly, so the 2.6-billion-parameter UNet never exists in fp32 (10 GiB)."""
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        unet = UNetModel(SDXL_BASE)
    finally:
        torch.set_default_dtype(previous)
    return unet.eval().requires_grad_(False).to(memory_format=torch.channels_last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    peak = peak_flops(torch.bfloat16)
    print(f"bf16 matmul peak: {peak / 1e9:.0f} GFLOP/s on {torch.get_num_threads()} threads", flush=True)
    unet = random_bf16_unet()
    params = sum(p.numel() for p in unet.parameters())
    print(f"SDXL base UNet: {params:,} parameters in bf16; {rss_gib()}", flush=True)
    context = torch.randn(2, 77, 2048, dtype=torch.bfloat16)
    t = torch.tensor([999.0, 999.0])
    for size in args.sizes:
        latent = size // 8
        pooled = {"pooled_output": torch.randn(1, 1280)}
        y = adm_vector(pooled, sdxl_adm(pooled, size, size, False), 2816).expand(2, -1).to(torch.bfloat16)
        x = torch.randn(2, 4, latent, latent).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            seconds, _ = timed(lambda x=x, y=y: unet(x, t, context, y=y), args.repeats)
        flops = unet_flops(SDXL_BASE, latent)
        print(f"UNet step {size}x{size} batch 2 bf16 channels_last: {seconds:6.2f} s "
              f"({flops / seconds / 1e9:6.1f} GFLOP/s, {flops / seconds / peak:5.1%} of peak); {rss_gib()}",
              flush=True)


if __name__ == "__main__":
    main()
