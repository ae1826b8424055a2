"""Peak memory of a txt2img run of a full-size SD 1.5 fp16 checkpoint (random weights in the real layout) through
the engine API, against ComfyUI's figures on the same run.

A random checkpoint is written to a temporary file once (in its own process). Each measurement is a fresh process
that reads the checkpoint, encodes a prompt, samples a few steps at 256² and decodes, records its peak resident
memory (VmHWM), then does the same at 512². Only one process holding a full-size model runs at a time.

    .venv/bin/python bench/bench_memory.py                 # one measurement (about 2 minutes on 2 cores)
    .venv/bin/python bench/bench_memory.py --repeats 3
    .venv/bin/python bench/bench_memory.py --checkpoint /tmp/sd15.safetensors   # reuse (or keep) the file
    .venv/bin/python bench/bench_memory.py --engine-root /tmp/old   # another checkout's engine/ (e.g. git archive)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMFYUI_GB = {256: 6.95, 512: 7.55}  # ComfyUI's VmHWM after the same 256² and 512² runs
TARGET_RATIO = 0.6
FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")
PROMPT = "a photograph of an astronaut riding a horse"


def peak_bytes() -> int:
    """This process's peak resident memory (VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def cpu_description() -> tuple[str, list[str]]:
    text = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return model, [flag for flag in FLAGS if flag in flags]


def write_checkpoint(path: Path) -> None:
    """The full-size random SD 1.5 fp16 checkpoint of bench_sd.py, written by a child process (building it takes
    several GB, which must be gone before a measurement starts)."""
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import bench_sd; " \
           f"bench_sd.random_checkpoint(__import__('pathlib').Path({str(path)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True)


def measure(path: Path, sizes: list[int], steps: int) -> dict[str, Any]:
    """Runs in a fresh process: read, encode, sample and decode at each size; VmHWM after each."""
    import torch

    from engine.device import Devices
    from engine.sampling.ksampler import sample
    from engine.sampling.noise import prepare_noise
    from engine.sd.checkpoint import read_checkpoint

    result: dict[str, Any] = {"threads": torch.get_num_threads(), "torch": torch.__version__}
    start = time.perf_counter()
    devices = Devices()
    model, clip, vae = read_checkpoint(path, devices)
    result["load_s"] = round(time.perf_counter() - start, 1)
    result["peak_after_load"] = peak_bytes()
    result["unet_dtype"] = str(next(model.unet.parameters()).dtype)
    result["unet_compute_dtype"] = str(devices.compute_dtype(torch.float16))
    result["vae_dtype"] = str(next(vae.model.parameters()).dtype)
    cond, pooled = clip.encode_text(PROMPT)
    empty, empty_pooled = clip.encode_text("")
    positive, negative = [[cond, {"pooled_output": pooled}]], [[empty, {"pooled_output": empty_pooled}]]
    for size in sizes:
        start = time.perf_counter()
        latent = torch.zeros(1, 4, size // 8, size // 8)
        noise = prepare_noise(latent, 0)
        samples = sample(model, noise, positive, negative, 7.0, "euler", "normal", steps, latent)
        image = vae.decode(samples)
        assert image.shape == (1, size, size, 3) and torch.isfinite(image).all()
        result[f"seconds_{size}"] = round(time.perf_counter() - start, 1)
        result[f"peak_after_{size}"] = peak_bytes()
    return result


def report(results: list[dict[str, Any]], sizes: list[int]) -> None:
    model, flags = cpu_description()
    print(f"CPU: {model}; flags: {', '.join(flags) or 'none of ' + ', '.join(FLAGS)}; "
          f"torch {results[0]['torch']}, {results[0]['threads']} threads")
    print(f"UNet held in {results[0]['unet_dtype']} (fp16 computes in {results[0]['unet_compute_dtype']}), "
          f"VAE in {results[0]['vae_dtype']}")
    for index, result in enumerate(results):
        line = [f"run {index + 1}: read {result['load_s']} s, peak {result['peak_after_load'] / 1e9:.2f} GB"]
        for size in sizes:
            peak = result[f"peak_after_{size}"]
            reference = COMFYUI_GB.get(size)
            comfy = f", {peak / 1e9 / reference:.2f}x ComfyUI's {reference} GB" if reference else ""
            line.append(f"after {size}² ({result[f'seconds_{size}']} s): {peak / 1e9:.2f} GB ({peak / 2**30:.2f} GiB)"
                        + comfy)
        print("; ".join(line), flush=True)
    compared = [size for size in sizes if size in COMFYUI_GB]
    worst = {size: max(r[f"peak_after_{size}"] for r in results) / 1e9 for size in compared}
    met = all(worst[size] <= TARGET_RATIO * COMFYUI_GB[size] for size in compared)
    targets = ", ".join(f"{TARGET_RATIO * COMFYUI_GB[size]:.2f} GB after {size}²" for size in compared)
    print(f"target ≤ {TARGET_RATIO}x ComfyUI ({targets}): {'met' if met else 'NOT met'} "
          "(GB = 10^9 bytes; VmHWM counts KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="measurements, each in a fresh process")
    parser.add_argument("--checkpoint", type=Path, help="use this file, writing it first if it does not exist")
    parser.add_argument("--engine-root", type=Path, default=ROOT, help="the checkout whose engine/ is measured")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.engine_root))
        print(json.dumps(measure(args.child, args.sizes, args.steps)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = args.checkpoint or Path(tmp) / "sd15_random_fp16.safetensors"
        if not path.exists():
            start = time.perf_counter()
            write_checkpoint(path)
            print(f"wrote {path.stat().st_size / 1e9:.2f} GB random SD 1.5 fp16 checkpoint in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
        results = []
        for _ in range(args.repeats):
            child = [sys.executable, __file__, "--child", str(path), "--engine-root", str(args.engine_root),
                     "--steps", str(args.steps), "--sizes", *map(str, args.sizes)]
            out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    report(results, args.sizes)


if __name__ == "__main__":
    main()
