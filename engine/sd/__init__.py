"""Stable Diffusion components: UNet, VAE, CLIP text encoders, checkpoint loading and model detection."""
