"""GAN generators behind one interface: the GAN socket carries a ``GANGenerator``.

Architectures: DCGAN (``dcgan.py``), StyleGAN2/ADA (``stylegan2.py``), StyleGAN3 (``stylegan3.py``, its
filtered leaky ReLU in ``filtered_lrelu.py``), DF-GAN text-to-image (``dfgan.py``), AttnGAN (``attngan.py``) and
StackGAN++ (``stackgan.py``), whose stage trees share ``stacked.py``; DF-GAN and AttnGAN share the DAMSM text
encoder (``damsm.py``).
Files: ``.safetensors`` in ``models/gan/``, detected by ``files.load_gan``; NVlabs network pickles become such
files through ``python -m engine.gan.convert_pickle``, DF-GAN, AttnGAN and StackGAN++ releases through
``engine.gan.convert_dfgan``, ``convert_attngan`` and ``convert_stackgan``.
Not behind the GAN socket: CycleGAN and pix2pix image-to-image generators (``cyclegan.py``, read and run by
``translate.py``) and taming-transformers' VQGAN autoencoders (``vqgan.py``, files in ``vqgan_files.py``, Lightning
checkpoints read by ``lightning_ckpt.py`` without running pickled code).

The names below are imported when first used, so that ``engine.gan.names`` (what the GAN nodes list) is read
without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.gan.files import GANError, gan_from_state_dict, load_gan, save_gan
    from engine.gan.generator import GANGenerator
    from engine.gan.names import NOISE_MODES
    from engine.gan.stylegan2 import StyleGAN2Config

_HOMES = {
    "GANError": "engine.gan.files", "gan_from_state_dict": "engine.gan.files", "load_gan": "engine.gan.files",
    "save_gan": "engine.gan.files", "GANGenerator": "engine.gan.generator", "NOISE_MODES": "engine.gan.names",
    "StyleGAN2Config": "engine.gan.stylegan2",
}

__all__ = ["NOISE_MODES", "GANError", "GANGenerator", "StyleGAN2Config", "gan_from_state_dict", "load_gan",
           "save_gan"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'engine.gan' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
