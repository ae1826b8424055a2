"""Atelier's torch engine: Stable Diffusion models, samplers, LoRA, ControlNet, GANs and metrics.

The engine knows nothing of graphs, nodes or servers: every function takes tensors and modules and returns
tensors and modules. Nodes in ``nodes/`` are thin typed adapters over it.
"""
