"""The choices the GAN nodes offer; plain data, so listing the nodes needs no torch."""

NOISE_MODES = ("const", "random", "none")  # StyleGAN2's per-layer noise: fixed, fresh each call, or off
GAN_EXTENSIONS = (".safetensors",)  # network pickles are converted first (engine.gan.convert_pickle)
TRANSLATOR_EXTENSIONS = (".pth", ".pt", ".safetensors")  # CycleGAN/pix2pix generators: state dicts read weights-only
TRANSLATE_MODES = ("train", "eval")  # the reference test.py's default (no --eval), or running statistics
