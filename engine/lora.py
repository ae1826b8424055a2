"""LoRA-family files as weight patches: LoRA/LoCon, LoHa, LoKr and full diffs, in kohya, LDM, diffusers and
PEFT naming.

A file is read into ``WeightUpdate``s keyed by the weight they change. Nothing is applied here: the caller adds
``update.patch(strength)`` to a *clone* of a model, so the cached base model is never modified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch

Target = tuple[str, str]  # ("unet" | "clip", weight key in that model's state dict)
WeightPatch = Callable[[torch.Tensor], torch.Tensor]

LORA_PAIRS = (  # (up, down) tensor names after the module prefix
    (".lora_up.weight", ".lora_down.weight"),
    (".lora_B.weight", ".lora_A.weight"),
    ("_lora.up.weight", "_lora.down.weight"),
    (".lora.up.weight", ".lora.down.weight"),
    (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
)


@dataclass
class WeightUpdate:
    """One weight's change, computed lazily from the file's tensors."""

    kind: str  # "lora" | "loha" | "lokr" | "diff"
    tensors: dict[str, torch.Tensor]
    alpha: float | None = None

    def scale(self) -> float:
        rank = self._rank()
        return 1.0 if self.alpha is None or rank is None else self.alpha / rank

    def _rank(self) -> int | None:
        t = self.tensors
        if self.kind == "lora":
            return int(t["down"].shape[0])
        if self.kind == "loha":
            return int(t["w1_b"].shape[0])
        if self.kind == "lokr":
            for name in ("w1_b", "w2_b"):
                if name in t:
                    return int(t[name].shape[0])
        return None

    def delta(self, shape: torch.Size) -> torch.Tensor:
        """The update for a weight of ``shape``, in float32, before strength."""
        t = {name: tensor.float() for name, tensor in self.tensors.items()}
        if self.kind == "lora":
            change = _lora_delta(t)
        elif self.kind == "loha":
            change = _loha_delta(t)
        elif self.kind == "lokr":
            change = _lokr_delta(t)
        else:
            change = t["diff"]
        return change.reshape(shape) * self.scale()

    def patch(self, strength: float) -> WeightPatch:
        def apply(weight: torch.Tensor) -> torch.Tensor:
            change = self.delta(weight.shape).to(weight.device)
            return (weight.float() + strength * change).to(weight.dtype)

        return apply


def _lora_delta(t: dict[str, torch.Tensor]) -> torch.Tensor:
    up, down = t["up"].flatten(1), t["down"].flatten(1)
    if "mid" in t:  # LoCon with a Tucker core: up (out, r), mid (r, r, kh, kw), down (r, in)
        return torch.einsum("ijkl,jr,pi->prkl", t["mid"], down, up)
    return up @ down


def _loha_delta(t: dict[str, torch.Tensor]) -> torch.Tensor:
    if "t1" in t:
        w1 = torch.einsum("ijkl,jr,ip->prkl", t["t1"], t["w1_b"], t["w1_a"])
        w2 = torch.einsum("ijkl,jr,ip->prkl", t["t2"], t["w2_b"], t["w2_a"])
    else:
        w1, w2 = t["w1_a"] @ t["w1_b"], t["w2_a"] @ t["w2_b"]
    return w1 * w2


def _lokr_delta(t: dict[str, torch.Tensor]) -> torch.Tensor:
    w1 = t["w1"] if "w1" in t else t["w1_a"] @ t["w1_b"]
    if "w2" in t:
        w2 = t["w2"]
    elif "t2" in t:
        w2 = torch.einsum("ijkl,jr,ip->prkl", t["t2"], t["w2_b"], t["w2_a"])
    else:
        w2 = t["w2_a"] @ t["w2_b"]
    if w2.ndim == 4:
        w1 = w1[:, :, None, None]
    return torch.kron(w1, w2)


@dataclass
class LoraFile:
    updates: dict[Target, WeightUpdate] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)  # tensors in the file that patch nothing we have


def key_map(unet_keys: Mapping[str, str], clip_keys: Iterable[str]) -> dict[str, Target]:
    """Every module name a LoRA file may use -> the weight it patches.

    ``unet_keys`` maps each LDM UNet weight key to its diffusers name; ``clip_keys`` are the text encoder's
    (Hugging Face) weight keys, under ``clip_l.``/``clip_g.`` for SDXL's pair.
    """
    names: dict[str, Target] = {}
    for ldm, diffusers in unet_keys.items():
        if not ldm.endswith(".weight"):
            continue
        base, dbase = ldm[: -len(".weight")], diffusers[: -len(".weight")]
        for name in ("lora_unet_" + base.replace(".", "_"), "lora_unet_" + dbase.replace(".", "_"),
                     "diffusion_model." + base, "unet." + dbase, dbase, "lycoris_" + dbase.replace(".", "_")):
            names[name] = ("unet", ldm)
    for key in clip_keys:
        if not key.endswith(".weight") or ".layers." not in key:
            continue
        encoder, _, hf = key.partition(".") if key.startswith(("clip_l.", "clip_g.")) else ("", "", key)
        base = hf[: -len(".weight")]
        flat = base.replace(".", "_")
        # kohya numbers SDXL's encoders te1 (CLIP-L) and te2 (bigG); diffusers calls them text_encoder(_2).
        if encoder == "clip_g":
            aliases = ("lora_te2_" + flat, "text_encoder_2." + base)
        else:
            aliases = ("lora_te_" + flat, "lora_te1_" + flat, "text_encoder." + base, "text_encoders." + base)
        for name in aliases:
            names[name] = ("clip", key)
    return names


def parse_lora(sd: Mapping[str, torch.Tensor], names: Mapping[str, Target]) -> LoraFile:
    result = LoraFile()
    used: set[str] = set()
    for prefix, target in names.items():
        update = read_update(sd, prefix, used)
        if update is not None:
            result.updates[target] = update
        bias = sd.get(prefix + ".diff_b")
        if bias is not None:
            used.add(prefix + ".diff_b")
            bias_key = target[1][: -len(".weight")] + ".bias"
            result.updates[(target[0], bias_key)] = WeightUpdate("diff", {"diff": bias})
    result.unmatched = sorted(key for key in sd if key not in used)
    return result


def read_update(sd: Mapping[str, torch.Tensor], prefix: str, used: set[str]) -> WeightUpdate | None:
    """The update stored under the module name ``prefix`` (None when there is none); adds the tensor names it
    read to ``used``."""
    alpha_key = prefix + ".alpha"
    alpha = float(sd[alpha_key].item()) if alpha_key in sd else None

    def take(**names: str) -> dict[str, torch.Tensor]:
        keys = {short: prefix + suffix for short, suffix in names.items() if prefix + suffix in sd}
        used.update(keys.values())
        if alpha is not None:
            used.add(alpha_key)
        return {short: sd[key] for short, key in keys.items()}

    for up, down in LORA_PAIRS:
        if prefix + up in sd and prefix + down in sd:
            return WeightUpdate("lora", take(up=up, down=down, mid=".lora_mid.weight"), alpha)
    if prefix + ".hada_w1_a" in sd:
        tensors = take(w1_a=".hada_w1_a", w1_b=".hada_w1_b", w2_a=".hada_w2_a", w2_b=".hada_w2_b",
                       t1=".hada_t1", t2=".hada_t2")
        return WeightUpdate("loha", tensors, alpha)
    if prefix + ".lokr_w1" in sd or prefix + ".lokr_w1_a" in sd:
        tensors = take(w1=".lokr_w1", w1_a=".lokr_w1_a", w1_b=".lokr_w1_b", w2=".lokr_w2", w2_a=".lokr_w2_a",
                       w2_b=".lokr_w2_b", t2=".lokr_t2")
        return WeightUpdate("lokr", tensors, alpha)
    if prefix + ".diff" in sd:
        return WeightUpdate("diff", take(diff=".diff"))
    return None


def model_key_map(model: object | None, clip: object | None) -> dict[str, Target]:
    """The LoRA names of a DiffusionModel's UNet and a ClipTextModel's encoder (either may be None)."""
    from engine.sd.unet_names import ldm_to_diffusers

    unet_keys: dict[str, str] = {}
    if model is not None:
        unet = model.unet  # type: ignore[attr-defined]
        unet_keys = ldm_to_diffusers(unet.config, list(unet.state_dict()))
    clip_keys = clip.weight_keys() if clip is not None else []  # type: ignore[attr-defined]
    return key_map(unet_keys, clip_keys)


def apply_lora(model: object | None, clip: object | None, lora: LoraFile, strength_model: float,
               strength_clip: float) -> tuple[object | None, object | None]:
    """Clones of ``model`` and ``clip`` carrying the LoRA's patches; the originals are untouched."""
    new_model = model.clone() if model is not None and strength_model else model  # type: ignore[attr-defined]
    new_clip = clip.clone() if clip is not None and strength_clip else clip  # type: ignore[attr-defined]
    for (kind, key), update in lora.updates.items():
        if kind == "unet" and new_model is not model:
            new_model.add_patch(key, update.patch(strength_model))  # type: ignore[union-attr]
        elif kind == "clip" and new_clip is not clip:
            new_clip.add_patch(key, update.patch(strength_clip))  # type: ignore[union-attr]
    return new_model, new_clip
