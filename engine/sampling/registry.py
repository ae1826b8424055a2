"""The functions behind the sampler names (``engine.sampling.names``, ComfyUI's, in its order)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.sampling import cfg_pp, multistep, samplers, stochastic
from engine.sampling.dpm_solver import dpm_adaptive, dpm_fast
from engine.sampling.names import SAMPLER_NAMES
from engine.sampling.sa_solver import sa_solver, sa_solver_pece
from engine.sampling.unipc import uni_pc, uni_pc_bh2


def _dpmpp_2m_sde_heun(model: samplers.Denoiser, x: torch.Tensor, sigmas: torch.Tensor,
                       callback: samplers.Callback = None, noise: samplers.Noise | None = None) -> torch.Tensor:
    return samplers.dpmpp_2m_sde(model, x, sigmas, callback, noise, solver_type="heun")


# The "_gpu" samplers are their base samplers with the Brownian noise drawn on the compute device instead of the
# CPU (DEVICE_NOISE_SAMPLERS); on the CPU they are the same.
IMPLEMENTED: dict[str, Callable] = {
    "euler": samplers.euler,
    "euler_cfg_pp": cfg_pp.euler_cfg_pp,
    "euler_ancestral": samplers.euler_ancestral,
    "euler_ancestral_cfg_pp": cfg_pp.euler_ancestral_cfg_pp,
    "heun": samplers.heun,
    "heunpp2": samplers.heunpp2,
    "dpm_2": samplers.dpm_2,
    "dpm_2_ancestral": samplers.dpm_2_ancestral,
    "lms": samplers.lms,
    "dpm_fast": dpm_fast,
    "dpm_adaptive": dpm_adaptive,
    "dpmpp_2s_ancestral": samplers.dpmpp_2s_ancestral,
    "dpmpp_2s_ancestral_cfg_pp": cfg_pp.dpmpp_2s_ancestral_cfg_pp,
    "dpmpp_sde": samplers.dpmpp_sde,
    "dpmpp_sde_gpu": samplers.dpmpp_sde,
    "dpmpp_2m": samplers.dpmpp_2m,
    "dpmpp_2m_cfg_pp": cfg_pp.dpmpp_2m_cfg_pp,
    "dpmpp_2m_sde": samplers.dpmpp_2m_sde,
    "dpmpp_2m_sde_gpu": samplers.dpmpp_2m_sde,
    "dpmpp_2m_sde_heun": _dpmpp_2m_sde_heun,
    "dpmpp_2m_sde_heun_gpu": _dpmpp_2m_sde_heun,
    "dpmpp_3m_sde": samplers.dpmpp_3m_sde,
    "dpmpp_3m_sde_gpu": samplers.dpmpp_3m_sde,
    "ddpm": samplers.ddpm,
    "lcm": samplers.lcm,
    "ipndm": samplers.ipndm,
    "ipndm_v": multistep.ipndm_v,
    "deis": multistep.deis,
    "res_multistep": multistep.res_multistep,
    "res_multistep_cfg_pp": multistep.res_multistep_cfg_pp,
    "res_multistep_ancestral": multistep.res_multistep_ancestral,
    "res_multistep_ancestral_cfg_pp": multistep.res_multistep_ancestral_cfg_pp,
    "gradient_estimation": multistep.gradient_estimation,
    "gradient_estimation_cfg_pp": multistep.gradient_estimation_cfg_pp,
    "er_sde": stochastic.er_sde,
    "seeds_2": stochastic.seeds_2,
    "seeds_3": stochastic.seeds_3,
    "sa_solver": sa_solver,
    "sa_solver_pece": sa_solver_pece,
    "ddim": samplers.euler,  # ComfyUI's "ddim" is Euler over the DDIM-style schedule the user picks
    "uni_pc": uni_pc,
    "uni_pc_bh2": uni_pc_bh2,
}
DISCARD_PENULTIMATE = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}
DEVICE_NOISE_SAMPLERS = {"dpmpp_sde_gpu", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde_gpu"}
SDE_SAMPLERS = {"dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"} | DEVICE_NOISE_SAMPLERS


def sampler_function(name: str) -> Callable:
    if name not in IMPLEMENTED:
        raise ValueError(f"unknown sampler {name!r}; available: {', '.join(SAMPLER_NAMES)}")
    return IMPLEMENTED[name]
