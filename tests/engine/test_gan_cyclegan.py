"""CycleGAN and pix2pix generators against the facts of junyanz/pytorch-CycleGAN-and-pix2pix's networks.py (not
on PyPI): parameter counts computed by hand, every key name and shape, outputs equal to the test's own transcription
of the reference classes on identical random weights (eval and train mode, dropout included), hand-checked cases,
the reference's pre- and post-processing, and file reading."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from engine.gan.cyclegan import TranslatorSpec, build_translator_network, detect_spec
from engine.gan.files import GANError
from engine.gan.translate import ImageTranslator, load_translator, translator_from_state_dict

# --- The reference, transcribed from models/networks.py (ResnetGenerator, ResnetBlock, UnetGenerator,
# UnetSkipConnectionBlock, get_norm_layer) with its class structure, so its state_dict keys are the files' keys.


def reference_norm(norm: str):
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return lambda channels: nn.Identity()


def uses_bias(norm_layer) -> bool:
    return isinstance(norm_layer, functools.partial) and norm_layer.func == nn.InstanceNorm2d


class RefResnetBlock(nn.Module):
    def __init__(self, dim, norm_layer, use_dropout, use_bias):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias), norm_layer(dim),
                 nn.ReLU(True)]
        if use_dropout:
            block.append(nn.Dropout(0.5))
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm_layer, use_dropout, n_blocks):
        super().__init__()
        use_bias = uses_bias(norm_layer)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
                 norm_layer(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                      norm_layer(ngf * mult * 2), nn.ReLU(True)]
        model += [RefResnetBlock(ngf * 4, norm_layer, use_dropout, use_bias) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2, padding=1,
                                         output_padding=1, bias=use_bias),
                      norm_layer(int(ngf * mult / 2)), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class RefUnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        use_bias = uses_bias(norm_layer)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu, downnorm = nn.LeakyReLU(0.2, True), norm_layer(inner_nc)
        uprelu, upnorm = nn.ReLU(True), norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


class RefUnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf, norm_layer, use_dropout):
        super().__init__()
        block = RefUnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = RefUnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer,
                                               use_dropout=use_dropout)
        block = RefUnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = RefUnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = RefUnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = RefUnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True,
                                                norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


def define_g(net_g: str, norm: str, use_dropout: bool, ngf: int = 64, input_nc: int = 3, output_nc: int = 3):
    """The reference's ``define_G`` without the init (weights are set by the tests)."""
    norm_layer = reference_norm(norm)
    if net_g.startswith("resnet"):
        blocks = int(net_g.removeprefix("resnet_").removesuffix("blocks"))
        return RefResnetGenerator(input_nc, output_nc, ngf, norm_layer, use_dropout, blocks)
    downs = {"unet_128": 7, "unet_256": 8}[net_g]
    return RefUnetGenerator(input_nc, output_nc, downs, ngf, norm_layer, use_dropout)


def randomized(net: nn.Module, seed: int) -> nn.Module:
    """Random weights, and batch-norm statistics away from 0/1, so that every tensor matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                scale = 0.2 if name.endswith(("running_mean", "bias")) else 1.0 / math.sqrt(max(tensor[0].numel(), 1))
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * scale)
    return net.eval()


# --- Parameter counts, computed by hand from the layer definitions (ngf=64, RGB in and out)

CONV7_IN, CONV7_OUT = 3 * 64 * 49, 64 * 3 * 49 + 3  # the output conv always has a bias
RESNET_BLOCK = 2 * 256 * 256 * 9  # two 3x3 convs at ngf*4
RESNET_CONVS = CONV7_IN + 64 * 128 * 9 + 128 * 256 * 9 + 256 * 128 * 9 + 128 * 64 * 9 + CONV7_OUT
RESNET_INSTANCE_BIASES = 64 + 128 + 256 + 128 + 64  # convs before an instance norm carry biases
RESNET_BLOCK_INSTANCE_BIASES = 2 * 256
RESNET_BATCH_AFFINE = 2 * (64 + 128 + 256 + 128 + 64)  # BatchNorm weight + bias
RESNET_BLOCK_BATCH_AFFINE = 2 * 2 * 256


def resnet_params(blocks: int, norm: str) -> int:
    if norm == "instance":
        return RESNET_CONVS + RESNET_INSTANCE_BIASES + blocks * (RESNET_BLOCK + RESNET_BLOCK_INSTANCE_BIASES)
    return RESNET_CONVS + RESNET_BATCH_AFFINE + blocks * (RESNET_BLOCK + RESNET_BLOCK_BATCH_AFFINE)


def unet_level(outer: int, inner: int, skip: bool = True) -> int:
    """Down conv outer->inner and up conv (2*inner or inner)->outer, 4x4, with batch norm after each (2C each)."""
    return outer * inner * 16 + (2 * inner if skip else inner) * outer * 16 + 2 * inner * skip + 2 * outer


def unet_params(downs: int) -> int:
    outermost = 3 * 64 * 16 + 128 * 3 * 16 + 3  # no norm; the up conv has a bias
    middle = unet_level(64, 128) + unet_level(128, 256) + unet_level(256, 512)
    return outermost + middle + (downs - 5) * unet_level(512, 512) + unet_level(512, 512, skip=False)


PUBLISHED = {  # as the reference prints them ("Total number of parameters : 11.378 M", "54.414 M")
    ("resnet_9blocks", "instance"): 11_378_179, ("resnet_6blocks", "instance"): 7_837_699,
    ("unet_256", "batch"): 54_413_955, ("unet_128", "batch"): 41_828_995,
}


def spec_of(net_g: str, norm: str, use_dropout: bool = False, ngf: int = 64) -> TranslatorSpec:
    kind, size = net_g.split("_")
    depth = int(size.removesuffix("blocks")) if kind == "resnet" else int(math.log2(int(size)))
    return TranslatorSpec(kind, depth, norm, use_dropout, ngf)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(("net_g", "norm"), list(PUBLISHED))
def test_parameter_counts_are_the_published_networks(net_g, norm):
    spec = spec_of(net_g, norm)
    by_hand = resnet_params(spec.depth, norm) if spec.architecture == "resnet" else unet_params(spec.depth)
    ours = build_translator_network(spec)
    assert by_hand == PUBLISHED[(net_g, norm)] == parameter_count(ours) == parameter_count(define_g(net_g, norm, False))


def test_the_other_norms_count_by_hand_too():
    assert parameter_count(build_translator_network(spec_of("resnet_9blocks", "batch"))) == resnet_params(9, "batch")
    norm_channels = (128 + 64) + (256 + 128) + (512 + 256) + 3 * (512 + 512) + 512  # down and up norms per level
    conv_biases = 64 + (128 + 64) + (256 + 128) + (512 + 256) + 3 * (512 + 512) + (512 + 512)  # all but the last
    unet_instance = unet_params(8) - 2 * norm_channels + conv_biases
    assert parameter_count(build_translator_network(spec_of("unet_256", "instance"))) == unet_instance


# --- Key layouts: every key name and shape, against the reference and against names in published files

LAYOUTS = [("resnet_9blocks", "instance", False), ("resnet_6blocks", "instance", False),
           ("resnet_9blocks", "batch", True), ("resnet_6blocks", "none", True), ("unet_256", "batch", True),
           ("unet_128", "batch", True), ("unet_256", "instance", False), ("unet_128", "none", True)]


@pytest.mark.parametrize(("net_g", "norm", "dropout"), LAYOUTS)
def test_every_key_and_shape_is_the_reference_and_the_spec_is_read_back(net_g, norm, dropout):
    reference = define_g(net_g, norm, dropout).state_dict()
    ours = build_translator_network(spec_of(net_g, norm, dropout)).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in reference.items()}
    assert detect_spec(reference, unet_dropout=dropout) == spec_of(net_g, norm, dropout)


def test_names_of_the_published_files():
    horse2zebra = build_translator_network(spec_of("resnet_9blocks", "instance")).state_dict()
    assert len(horse2zebra) == 48 and not any("running" in key for key in horse2zebra)
    assert tuple(horse2zebra["model.1.weight"].shape) == (64, 3, 7, 7)
    assert tuple(horse2zebra["model.10.conv_block.5.weight"].shape) == (256, 256, 3, 3)
    assert tuple(horse2zebra["model.19.weight"].shape) == (256, 128, 3, 3)  # ConvTranspose2d: [in, out, k, k]
    assert tuple(horse2zebra["model.26.weight"].shape) == (3, 64, 7, 7)
    facades = build_translator_network(spec_of("unet_256", "batch", True)).state_dict()
    innermost = "model.model.1" + ".model.3" * 6
    assert tuple(facades[f"{innermost}.model.1.weight"].shape) == (512, 512, 4, 4)
    assert tuple(facades[f"{innermost}.model.4.running_var"].shape) == (512,)
    assert tuple(facades["model.model.1.model.2.running_mean"].shape) == (128,)
    assert tuple(facades["model.model.3.weight"].shape) == (128, 3, 4, 4) and "model.model.3.bias" in facades
    assert "model.model.0.bias" not in facades  # convs before a batch norm have no bias


# --- Outputs against the reference on identical random weights


def pair(net_g: str, norm: str, dropout: bool, ngf: int = 64, seed: int = 0) -> tuple[nn.Module, ImageTranslator]:
    reference = randomized(define_g(net_g, norm, dropout, ngf), seed)
    return reference, translator_from_state_dict(dict(reference.state_dict()), {"use_dropout": dropout}, net_g)


def inputs(size: int, count: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize(("net_g", "norm", "dropout", "size"), [
    ("resnet_9blocks", "instance", False, 64), ("resnet_6blocks", "batch", True, 64),
    ("unet_256", "batch", True, 256), ("unet_128", "instance", False, 128)])
def test_eval_outputs_equal_the_reference(net_g, norm, dropout, size):
    reference, ours = pair(net_g, norm, dropout)
    x = inputs(size)
    with torch.no_grad():
        expected = reference(x)
    got = ours.run(x, "eval", 0)
    assert expected.std() > 0.05  # not saturated
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


@pytest.mark.parametrize(("net_g", "norm", "size"), [("unet_256", "batch", 256), ("resnet_6blocks", "batch", 32)])
def test_train_mode_equals_the_reference_test_script_with_the_same_seed(net_g, norm, size):
    reference, ours = pair(net_g, norm, True, ngf=16)
    x = inputs(size, count=1)
    reference.train()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        expected = reference(x)
    stored = {k: v.clone() for k, v in ours.network.state_dict().items()}
    got = ours.run(x, "train", 5)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    assert not torch.allclose(got, ours.run(x, "train", 6), atol=1e-3)  # other dropout masks
    assert not torch.allclose(got, ours.run(x, "eval", 5), atol=1e-3)
    after = ours.network.state_dict()
    assert all(torch.equal(after[k], v) for k, v in stored.items())  # running statistics untouched
    assert not ours.network.training


# --- Hand-checked cases


def test_a_zero_network_outputs_tanh_of_the_last_bias():
    spec = TranslatorSpec("resnet", 2, "instance", False, ngf=4)
    network = build_translator_network(spec)
    with torch.no_grad():
        for tensor in network.state_dict().values():
            tensor.zero_()
        network.model[-2].bias.copy_(torch.tensor([math.atanh(0.5), 0.0, math.atanh(-0.5)]))
    image = ImageTranslator(spec, network).translate(torch.rand(1, 20, 24, 3), size=0)
    assert image.shape == (1, 20, 24, 3)
    assert torch.allclose(image, torch.tensor([0.75, 0.5, 0.25]).expand(1, 20, 24, 3), atol=1e-6)


def test_train_mode_batch_norm_is_each_images_own_standardisation():
    """In train mode (the reference's batch of one) a batch norm standardises each image with its own statistics,
    and leaves the stored ones alone."""
    spec = TranslatorSpec("resnet", 1, "batch", False, ngf=4)
    norm = build_translator_network(spec).model[2]
    with torch.no_grad():
        norm.weight.fill_(2.0), norm.bias.fill_(1.0), norm.running_mean.fill_(100.0)
    x = torch.tensor([1.0, 2.0, 3.0, 6.0]).reshape(1, 1, 2, 2).repeat(1, 4, 1, 1)
    norm.train()
    out = norm(x)[0, 0].flatten()
    mean, var = 3.0, (4 + 1 + 0 + 9) / 4  # biased variance, as batch norm normalises
    assert torch.allclose(out, torch.tensor([(v - mean) / math.sqrt(var + 1e-5) * 2 + 1 for v in (1, 2, 3, 6)]))
    assert norm.running_mean[0] == 100.0


def test_pre_processing_is_the_reference_transform():
    """Resize((256, 256), BICUBIC) on the 8-bit image, ToTensor, Normalize((0.5,)*3, (0.5,)*3)."""
    translator = pair("resnet_6blocks", "instance", False, ngf=4)[1]
    pixels = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    image = torch.from_numpy(pixels).float() / 255
    resized = np.asarray(Image.fromarray(pixels).resize((256, 256), Image.BICUBIC), dtype=np.float32) / 255
    expected = (torch.from_numpy(resized).permute(2, 0, 1)[None] - 0.5) / 0.5
    assert torch.equal(translator.prepare(image, 256), expected)
    assert translator.prepare(image, 0).shape == (1, 3, 40, 32)  # each side rounded to a multiple of 4
    kept = translator.prepare(torch.tensor([[[0.0, 1.0, 51 / 255]]]).expand(4, 4, 3), 0)
    assert kept[0, :, 0, 0].tolist() == pytest.approx([-1.0, 1.0, -0.6])


def test_images_of_a_batch_are_independent_and_sizes_round_to_the_networks_multiple():
    translator = pair("unet_128", "batch", True, ngf=8)[1]
    images = torch.rand(3, 100, 90, 3, generator=torch.Generator().manual_seed(2))
    batch = translator.translate(images, size=0, mode="train", seed=10)
    assert batch.shape == (3, 128, 128, 3)
    alone = translator.translate(images[2:], size=0, mode="train", seed=12)
    assert torch.equal(batch[2:], alone)
    evaluated = translator.translate(images, size=200, mode="eval")
    assert evaluated.shape == (3, 256, 256, 3)
    assert torch.allclose(evaluated[1:2], translator.translate(images[1:2], 200), atol=1e-6)


def test_cyclegan_gives_the_same_images_in_both_modes():
    translator = pair("resnet_6blocks", "instance", False, ngf=8)[1]
    images = torch.rand(2, 32, 32, 3, generator=torch.Generator().manual_seed(3))
    train, evaluated = translator.translate(images, 32, "train", 1), translator.translate(images, 32, "eval")
    assert torch.allclose(train, evaluated, atol=1e-6)  # batches of one and of two round apart in the last bits


def test_greyscale_generators_read_luma_and_write_grey():
    network = randomized(define_g("resnet_6blocks", "instance", False, ngf=4, input_nc=1, output_nc=1), 4)
    translator = translator_from_state_dict(dict(network.state_dict()))
    assert (translator.spec.input_nc, translator.spec.output_nc) == (1, 1)
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    luma = np.asarray(Image.fromarray(pixels).convert("L"), dtype=np.float32)[None, None] / 255
    with torch.no_grad():
        expected = (network((torch.from_numpy(luma) - 0.5) / 0.5)[0, 0] + 1) / 2
    image = translator.translate(torch.from_numpy(pixels)[None].float() / 255, size=0)
    assert torch.allclose(image[0, :, :, 0], expected, atol=1e-5) and torch.equal(image[..., 0], image[..., 2])


# --- Files


def test_pth_state_dicts_load_weights_only_with_legacy_instance_norm_buffers(tmp_path):
    reference = randomized(define_g("resnet_6blocks", "instance", False, ngf=8), 5)
    sd = dict(reference.state_dict())
    sd["model.2.running_mean"], sd["model.2.running_var"] = torch.zeros(8), torch.ones(8)  # saved before 0.4
    torch.save(sd, tmp_path / "latest_net_G.pth")
    loaded = load_translator(tmp_path / "latest_net_G.pth")
    assert loaded.spec == spec_of("resnet_6blocks", "instance", ngf=8) and loaded.name == "latest_net_G.pth"
    x = inputs(32, count=1)
    with torch.no_grad():
        assert torch.allclose(loaded.run(x, "eval", 0), reference(x), atol=1e-5)


def test_dataparallel_prefix_safetensors_and_dropout_setting_beside_the_file(tmp_path):
    reference = randomized(define_g("unet_128", "batch", False, ngf=8), 6)
    save_file({f"module.{k}": v.contiguous() for k, v in reference.state_dict().items()},
              str(tmp_path / "edges2shoes.safetensors"))
    assert load_translator(tmp_path / "edges2shoes.safetensors").spec.use_dropout  # pix2pix's default
    (tmp_path / "edges2shoes.json").write_text(json.dumps({"use_dropout": False}))
    loaded = load_translator(tmp_path / "edges2shoes.safetensors")
    assert loaded.spec == spec_of("unet_128", "batch", False, ngf=8)
    x = inputs(128, count=1)
    reference.train()
    with torch.no_grad():
        assert torch.allclose(loaded.run(x, "train", 0), reference(x), atol=1e-5)  # no dropout: deterministic


class Payload:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_files_that_are_not_generators_are_refused_without_running_code(tmp_path, capsys):
    torch.save({"model.1.weight": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(GANError, match="evil.pth"):
        load_translator(tmp_path / "evil.pth")
    assert "unpickled code ran" not in capsys.readouterr().out
    torch.save({"main.0.weight": torch.zeros(4, 8, 4, 4)}, tmp_path / "dcgan.pth")
    with pytest.raises(GANError, match="not a CycleGAN/pix2pix generator"):
        load_translator(tmp_path / "dcgan.pth")
    sd = dict(define_g("resnet_6blocks", "instance", False, ngf=8).state_dict())
    sd["model.4.weight"] = torch.zeros(16, 9, 3, 3)
    with pytest.raises(GANError, match="resnet_6blocks"):
        translator_from_state_dict(sd, name="broken.pth")
