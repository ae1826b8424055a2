"""Hypernetworks, GLIGEN and InstructPix2Pix on this CPU: seconds per CFG step (cond and uncond) of a full-size
SD1.5 UNet with random weights at 512², plain and with each add-on, and the images per second that makes at
``--steps`` steps (the UNet dominates; the VAE decode is left out, as in bench_sd.py).

The hypernetwork has A1111's usual shape (layer structure 1, 2, 1, ReLU, widths 320, 640, 768, 1280), the GLIGEN
model the published SD1.4 layout (16 fusers, 768-wide grounding tokens, 2 boxes), the IP2P UNet 8 input channels.

    .venv/bin/python bench/bench_sd_addons.py            # 512², 20 steps
    .venv/bin/python bench/bench_sd_addons.py --size 256 --repeats 1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import cpu_summary  # noqa: E402
from engine.device import Devices  # noqa: E402
from engine.sampling.guidance import GuidedDenoiser  # noqa: E402
from engine.sampling.model_sampling import ModelSamplingDiscrete  # noqa: E402
from engine.sd.families import SD1  # noqa: E402
from engine.sd.gligen import GatedSelfAttentionDense, PositionNet, gligen_from_state_dict  # noqa: E402
from engine.sd.hypernetwork import hypernetwork_from_dict  # noqa: E402
from engine.sd.model import DiffusionModel  # noqa: E402
from engine.sd.unet import UNetConfig, UNetModel  # noqa: E402

CPU = Devices(cpu_only=True, cpu_bf16=False)


def model(in_channels: int = 4) -> DiffusionModel:
    unet = UNetModel(UNetConfig(in_channels=in_channels)).eval().requires_grad_(False)
    return DiffusionModel(unet, ModelSamplingDiscrete(), SD1.latent_format, SD1, CPU)


def hypernetwork_file() -> dict:
    def mlp(width: int) -> dict[str, torch.Tensor]:
        layers = torch.nn.Sequential(torch.nn.Linear(width, 2 * width), torch.nn.ReLU(),
                                     torch.nn.Linear(2 * width, width))
        return {f"linear.{k}": v for k, v in layers.state_dict().items()}

    return {width: [mlp(width), mlp(width)] for width in (320, 640, 768, 1280)} | {"activation_func": "relu"}


def gligen_file(unet: UNetModel) -> dict[str, torch.Tensor]:
    sd: dict[str, torch.Tensor] = {}
    for key, weight in unet.state_dict().items():
        if key.endswith(".attn1.to_q.weight"):
            owner = key[: -len(".attn1.to_q.weight")]
            fuser = GatedSelfAttentionDense(weight.shape[1], 768)
            torch.nn.init.constant_(fuser.alpha_attn, 0.5)
            sd.update({f"{owner}.fuser.{k}": v for k, v in fuser.state_dict().items()})
    sd.update({f"position_net.{k}": v for k, v in PositionNet(768, 768).state_dict().items()})
    return sd


def step_seconds(diffusion: DiffusionModel, positive: list, negative: list, latent: torch.Tensor,
                 repeats: int) -> float:
    denoiser = GuidedDenoiser(diffusion, positive, negative, 7.0, latent_image=latent)
    x, sigma = torch.randn_like(latent), torch.tensor([7.0])
    denoiser(x, sigma)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        denoiser(x, sigma)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"CPU: {cpu_summary()}; torch threads {torch.get_num_threads()}")
    latent = torch.zeros(1, 4, args.size // 8, args.size // 8)
    text, empty = torch.randn(1, 77, 768), torch.randn(1, 77, 768)
    plain = model()
    hyper = plain.clone()
    patch = hypernetwork_from_dict(hypernetwork_file()).patch(1.0)
    hyper.set_model_attn1_patch(patch)
    hyper.set_model_attn2_patch(patch)
    gligen = gligen_from_state_dict(gligen_file(plain.unet))
    boxes = ("position", gligen, [(torch.randn(1, 768), 24, 32, 8, 0), (torch.randn(1, 768), 24, 32, 8, 32)])
    image = {"concat_latent_image": torch.randn_like(latent)}
    runs = {
        "plain": (plain, [[text, {}]], [[empty, {}]]),
        "hypernetwork": (hyper, [[text, {}]], [[empty, {}]]),
        "GLIGEN (2 boxes)": (plain, [[text, {"gligen": boxes}]], [[empty, {}]]),
        "InstructPix2Pix": (model(in_channels=8), [[text, image]], [[empty, image]]),
    }
    print(f"SD1.5 UNet, fp32, {args.size}², cond + uncond per step, {args.steps} steps per image:")
    base = None
    for label, (diffusion, positive, negative) in runs.items():
        seconds = step_seconds(diffusion, positive, negative, latent, args.repeats)
        base = base or seconds
        print(f"  {label:18s} {seconds:6.2f} s/step  ({seconds / base - 1:+.0%})  "
              f"{1 / (seconds * args.steps):.4f} images/s")


if __name__ == "__main__":
    main()
