"""CFG++ samplers (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free Guidance"), ComfyUI's math:
each step denoises to the guided prediction and renoises along the unconditional one.

They see the unconditional prediction as ComfyUI's do: through a post-CFG function added to the guidance's model
options for this run, with CFG's shortcut at scale 1 disabled so the unconditional prediction always exists. A
denoiser whose model options can be replaced (``with_model_options``: Atelier's guided denoisers) gets that function;
a plain denoiser has no guidance, so its prediction is its own unconditional one and each sampler is its base.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.sampling.samplers import Callback, Denoiser, Noise, _batch, _report, _sigma, _t, ancestral_step, to_d
from engine.sd.model_options import add_sampler_function


class UncondCapture:
    """A post-CFG function that remembers the latest unconditional prediction and changes nothing."""

    def __init__(self) -> None:
        self.latest: torch.Tensor | None = None

    def __call__(self, args: dict[str, Any]) -> torch.Tensor:
        self.latest = args["uncond_denoised"]
        return args["denoised"]


def with_uncond(model: Denoiser) -> tuple[Denoiser, UncondCapture]:
    """``model`` reporting its unconditional prediction of each call to the returned capture."""
    capture = UncondCapture()
    with_model_options = getattr(model, "with_model_options", None)
    if with_model_options is None:
        def unguided(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            capture.latest = model(x, sigma)
            return capture.latest

        return unguided, capture
    options = dict(model.model_options)  # type: ignore[attr-defined]
    add_sampler_function(options, "sampler_post_cfg_function", capture, disable_cfg1_optimization=True)
    guided = with_model_options(options)

    def capturing(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        capture.latest = None
        denoised = guided(x, sigma)
        if capture.latest is None:
            raise RuntimeError("a CFG++ sampler needs the unconditional prediction, but this denoiser's guidance "
                               "did not call the post-CFG functions of its model options")
        return denoised

    return capturing, capture


def euler_ancestral_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                           noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    model, uncond = with_uncond(model)
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        x = denoised + to_d(x, sigmas[i], uncond.latest) * sigma_down
        if eta > 0 and s_noise > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def euler_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                 noise: Noise | None = None) -> torch.Tensor:
    return euler_ancestral_cfg_pp(model, x, sigmas, callback, noise, eta=0.0, s_noise=0.0)


def dpmpp_2s_ancestral_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                              noise: Noise | None = None, eta: float = 1.0, s_noise: float = 1.0) -> torch.Tensor:
    """DPM-Solver++(2S) ancestral, CFG++. As in ComfyUI, the final update shifts x by the first prediction minus the
    unconditional prediction of the midpoint evaluation (the latest one)."""
    model, uncond = with_uncond(model)
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        _report(callback, i, x, sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised + to_d(x, sigmas[i], uncond.latest) * sigma_down
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (_sigma(s) / _sigma(t)) * (x + (denoised - uncond.latest)) - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, _batch(_sigma(s), x))
            x = (_sigma(t_next) / _sigma(t)) * (x + (denoised - uncond.latest)) - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0 and noise is not None:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


def dpmpp_2m_cfg_pp(model: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, callback: Callback = None,
                    noise: Noise | None = None) -> torch.Tensor:
    """DPM-Solver++(2M), CFG++."""
    model, uncond = with_uncond(model)
    old_uncond = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, _batch(sigmas[i], x))
        _report(callback, i, x, sigmas[i], denoised)
        t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
        h = t_next - t
        mix = -torch.exp(-h) * uncond.latest
        if old_uncond is not None and sigmas[i + 1] != 0:
            r = (t - _t(sigmas[i - 1])) / h
            mix = mix - torch.expm1(-h) * (1 / (2 * r)) * (denoised - old_uncond)
        x = denoised + mix + torch.exp(-h) * x
        old_uncond = uncond.latest
    return x
