"""A1111 hypernetworks against a hand-written copy of A1111's ``HypernetworkModule`` on identical random weights,
the files A1111 writes (read weights-only), and the patch on a tiny UNet's attentions.

Tolerance: 1e-6 absolute (both in float32, the same operations in the same order).
"""

from __future__ import annotations

import pytest
import safetensors.torch
import torch
from torch import nn

from engine.device import Devices
from engine.sd.components import unet_from_state_dict
from engine.sd.hypernetwork import HypernetworkError, read_hypernetwork
from tests.factories import tiny_unet_state_dict

TOL = 1e-6
A1111_ACTIVATIONS = {"linear": nn.Identity, "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "elu": nn.ELU,
                     "swish": nn.Hardswish, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "mish": nn.Mish,
                     "softsign": nn.Softsign}


class A1111HypernetworkModule(nn.Module):
    """A1111's ``modules/hypernetworks/hypernetwork.py`` ``HypernetworkModule`` (construction and forward), written
    out here as the reference: Linear, activation (not after the last layer unless activate_output), LayerNorm,
    Dropout from the dropout structure; ``x + linear(x) * multiplier`` in eval mode."""

    def __init__(self, dim: int, layer_structure: list[float], activation_func: str, add_layer_norm: bool,
                 activate_output: bool, dropout_structure: list[float]) -> None:
        super().__init__()
        self.multiplier = 1.0
        linears: list[nn.Module] = []
        for i in range(len(layer_structure) - 1):
            linears.append(nn.Linear(int(dim * layer_structure[i]), int(dim * layer_structure[i + 1])))
            if activation_func == "linear" or (i >= len(layer_structure) - 2 and not activate_output):
                pass
            else:
                linears.append(A1111_ACTIVATIONS[activation_func]())
            if add_layer_norm:
                linears.append(nn.LayerNorm(int(dim * layer_structure[i + 1])))
            if dropout_structure[i + 1] > 0:
                linears.append(nn.Dropout(p=dropout_structure[i + 1]))
        self.linear = nn.Sequential(*linears)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear(x) * (self.multiplier if not self.training else 1)


CASES = [
    # (layer_structure, activation, layer norm, activate_output, dropout)
    ([1, 2, 1], "linear", False, False, [0, 0, 0]),
    ([1, 2, 1], "relu", False, False, [0, 0.3, 0]),
    ([1, 1.5, 2, 1], "swish", True, False, [0, 0.3, 0.3, 0]),
    ([1, 2, 1], "mish", True, True, [0, 0, 0]),
    ([1, 0.5, 1], "tanh", False, True, [0, 0.1, 0]),
]
WIDTHS = (32, 64)  # the tiny UNet's attention input widths (its two levels and its 32-wide text context)


def a1111_file(layer_structure, activation, layer_norm, activate_output, dropout, seed: int = 0):
    """What A1111's ``Hypernetwork.save`` writes, and the reference modules by width."""
    torch.manual_seed(seed)
    modules = {}
    data: dict = {}
    for width in WIDTHS:
        pair = [A1111HypernetworkModule(width, layer_structure, activation, layer_norm, activate_output, dropout)
                for _ in range(2)]
        for module in pair:
            for parameter in module.parameters():
                nn.init.normal_(parameter, std=0.3)
            module.eval()
        modules[width] = pair
        data[width] = [module.state_dict() for module in pair]
    data.update({"step": 1000, "name": "tiny", "layer_structure": layer_structure, "activation_func": activation,
                 "is_layer_norm": layer_norm, "weight_initialization": "Normal", "sd_checkpoint": "abc123",
                 "sd_checkpoint_name": "v1-5-pruned-emaonly", "activate_output": activate_output,
                 "use_dropout": any(dropout), "dropout_structure": dropout, "last_layer_dropout": False,
                 "optional_info": None})
    return data, modules


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("strength", [1.0, 0.6])
def test_modules_match_a1111(tmp_path, case, strength):
    data, reference = a1111_file(*case)
    torch.save(data, tmp_path / "tiny.pt")
    patch = read_hypernetwork(tmp_path / "tiny.pt").patch(strength)
    gen = torch.Generator().manual_seed(1)
    for width, (keys, values) in reference.items():
        q, k, v = (torch.randn(2, 7, width, generator=gen) for _ in range(3))
        keys.multiplier = values.multiplier = strength
        with torch.no_grad():
            q_out, k_out, v_out = patch(q, k, v, {})
            assert torch.equal(q_out, q)
            assert (k_out - keys(k)).abs().max() < TOL
            assert (v_out - values(v)).abs().max() < TOL


def test_widths_without_modules_are_left_alone(tmp_path):
    data, _ = a1111_file(*CASES[1])
    torch.save(data, tmp_path / "tiny.pt")
    patch = read_hypernetwork(tmp_path / "tiny.pt").patch(1.0)
    k = torch.randn(1, 3, 48)
    assert patch(k, k, k, {})[1] is k


def test_novelai_layout_and_safetensors_read_alike(tmp_path):
    data, reference = a1111_file(*CASES[0])
    old = {width: [{name.replace("linear.0", "linear1").replace("linear.1", "linear2"): value
                    for name, value in sd.items()} for sd in data[width]] for width in WIDTHS}
    torch.save(old, tmp_path / "nai.pt")  # NovelAI's files: linear1/linear2, no options
    flat = {f"{width}.{index}.{name}": value.contiguous() for width in WIDTHS
            for index, sd in enumerate(data[width]) for name, value in sd.items()}
    safetensors.torch.save_file(flat, str(tmp_path / "tiny.safetensors"), metadata={"activation_func": "linear"})
    k = torch.randn(1, 5, 32)
    expected = reference[32][0](k)
    for name in ("nai.pt", "tiny.safetensors"):
        assert (read_hypernetwork(tmp_path / name).patch(1.0)(k, k, k, {})[1] - expected).abs().max() < TOL


class Payload:
    """Pickled by reference: a weights-only load must refuse it (it could run code)."""


def test_files_with_other_objects_and_unknown_activations_are_refused(tmp_path):
    data, _ = a1111_file(*CASES[0])
    torch.save({**data, "extra": Payload()}, tmp_path / "code.pt")
    with pytest.raises(HypernetworkError, match="refused: torch.load\\(weights_only=True\\)"):
        read_hypernetwork(tmp_path / "code.pt")
    torch.save({**data, "activation_func": "gelu"}, tmp_path / "gelu.pt")
    with pytest.raises(HypernetworkError, match="gelu.pt: unsupported activation function 'gelu'"):
        read_hypernetwork(tmp_path / "gelu.pt")
    torch.save({"step": 3}, tmp_path / "empty.pt")
    with pytest.raises(HypernetworkError, match="no modules"):
        read_hypernetwork(tmp_path / "empty.pt")


def test_the_patch_changes_both_attentions_of_a_unet(tmp_path):
    """As ComfyUI's HypernetworkLoader: attn1 and attn2 patches; strength 0 is the plain model."""
    data, _ = a1111_file(*CASES[1])
    torch.save(data, tmp_path / "tiny.pt")
    hypernetwork = read_hypernetwork(tmp_path / "tiny.pt")
    model = unet_from_state_dict(tiny_unet_state_dict(0), devices=Devices(cpu_only=True, cpu_bf16=False))
    x, sigma = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2)), torch.tensor([3.0])
    context = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(3))
    plain = model.apply(x, sigma, context)
    outputs = {}
    for name, strength, kinds in [("zero", 0.0, ("attn1", "attn2")), ("attn2", 1.0, ("attn2",)),
                                  ("both", 1.0, ("attn1", "attn2"))]:
        patched = model.clone()
        for kind in kinds:
            getattr(patched, f"set_model_{kind}_patch")(hypernetwork.patch(strength))
        outputs[name] = patched.apply(x, sigma, context)
    assert torch.allclose(outputs["zero"], plain, atol=1e-6)
    assert (outputs["attn2"] - plain).abs().max() > 1e-3
    assert (outputs["both"] - outputs["attn2"]).abs().max() > 1e-3
    assert torch.equal(model.apply(x, sigma, context), plain)  # the loaded model is unchanged
