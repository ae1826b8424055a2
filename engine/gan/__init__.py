"""GAN generators behind one interface: the GAN socket carries a ``GANGenerator``.

Architectures: DCGAN (``dcgan.py``), StyleGAN2/ADA (``stylegan2.py``), DF-GAN text-to-image (``dfgan.py``).
Files: ``.safetensors`` in ``models/gan/``, detected by ``files.load_gan``; NVlabs network pickles become such
files through ``python -m engine.gan.convert_pickle``, DF-GAN releases through ``engine.gan.convert_dfgan``.
"""

from engine.gan.files import GANError, gan_from_state_dict, load_gan, save_gan
from engine.gan.generator import NOISE_MODES, GANGenerator
from engine.gan.stylegan2 import StyleGAN2Config

__all__ = ["NOISE_MODES", "GANError", "GANGenerator", "StyleGAN2Config", "gan_from_state_dict", "load_gan",
           "save_gan"]
