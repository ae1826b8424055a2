"""SD2.x and SDXL: OpenCLIP text encoders against diffusers' converter + transformers, SDXL's size-conditioned UNet
against diffusers' ``text_time`` UNet, and single-file checkpoints of each family loading end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModelWithProjection

from engine.sd import families
from engine.sd.checkpoint import checkpoint_family, checkpoint_state_dict, read_checkpoint
from engine.sd.clip import SD2_STYLE, SDXL_G_STYLE, load_clip_from_state_dict
from engine.sd.dual_clip import DualClip
from engine.sd.latent_format import SD15, SDXL
from engine.sd.openclip_convert import hf_to_openclip, openclip_to_hf
from engine.sd.state_dict import load_state_dict
from engine.sd.tokenizer import ClipTokenizer
from engine.sd.unet import UNetModel, detect_unet_config
from tests.engine.test_unet import assert_close, diffusers_config
from tests.factories import (
    TINY_OPENCLIP_WIDTH,
    TINY_SDXL_UNET,
    random_module,
    tiny_openclip_state_dict,
    write_tiny_sd2_checkpoint,
    write_tiny_sd15_inpaint_checkpoint,
    write_tiny_sdxl_checkpoint,
    write_tiny_sdxl_refiner_checkpoint,
)

diffusers = pytest.importorskip("diffusers")
from diffusers.loaders.single_file_utils import (  # noqa: E402
    convert_ldm_unet_checkpoint,
    convert_open_clip_checkpoint,
)

TOL = 1e-5
PROMPT = "a watercolor painting of a lighthouse at dusk"


def reference_openclip(sd: dict[str, torch.Tensor]) -> CLIPTextModelWithProjection:
    """transformers' CLIP text model holding ``sd`` as diffusers converts OpenCLIP checkpoints."""
    width = TINY_OPENCLIP_WIDTH
    config = CLIPTextConfig(vocab_size=49408, hidden_size=width, intermediate_size=4 * width, num_hidden_layers=3,
                            num_attention_heads=2, max_position_embeddings=77, hidden_act="gelu",
                            projection_dim=width, bos_token_id=49406, eos_token_id=49407)
    model = CLIPTextModelWithProjection(config).eval()
    prefix = "conditioner.embedders.1.model."  # under SD2's prefix diffusers drops the projection, which SD2 ignores
    converted = convert_open_clip_checkpoint(model, {prefix + k: v for k, v in sd.items()}, prefix)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert not unexpected and all("position_ids" in key for key in missing), (missing, unexpected)
    return model


def zero_padded_ids(text: str) -> torch.Tensor:
    return torch.tensor([[token for token, _ in window] for window in ClipTokenizer(pad_token=0).tokenize(text)])


def test_openclip_names_round_trip() -> None:
    sd = tiny_openclip_state_dict()
    back = hf_to_openclip(openclip_to_hf(sd))
    assert set(back) == set(sd) - {"logit_scale"}
    assert all(torch.equal(back[key], sd[key]) for key in back)


@pytest.mark.parametrize("style", [SD2_STYLE, SDXL_G_STYLE], ids=["sd2-penultimate-normed", "sdxl-penultimate-raw"])
def test_openclip_encoder_matches_transformers(style) -> None:
    sd = tiny_openclip_state_dict()
    ours = load_clip_from_state_dict(openclip_to_hf(sd), style)
    reference = reference_openclip(sd)
    cond, pooled = ours.encode_text(PROMPT)
    ids = zero_padded_ids(PROMPT)
    with torch.no_grad():
        out = reference(input_ids=ids, output_hidden_states=True)
        hidden = out.hidden_states[-2]
        if style.norm_hidden:
            hidden = reference.text_model.final_layer_norm(hidden)
    assert cond.shape == (1, 77, TINY_OPENCLIP_WIDTH)
    assert (cond - hidden).abs().max() < TOL
    assert (pooled - out.text_embeds).abs().max() < TOL
    unprojected = out.last_hidden_state[0, int((ids[0] == 49407).nonzero()[0])]
    assert (pooled - unprojected).abs().max() > 1e-3, "the projection must matter for the test to mean much"


def test_sdxl_encoders_join_along_features_and_pool_from_bigg(tmp_path: Path) -> None:
    model, clip, _ = read_checkpoint(write_tiny_sdxl_checkpoint(tmp_path / "xl.safetensors"))
    assert isinstance(clip, DualClip)
    cond, pooled = clip.encode_text(PROMPT)
    cond_l, _ = clip.encoders["clip_l"].encode_text(PROMPT)
    cond_g, pooled_g = clip.encoders["clip_g"].encode_text(PROMPT)
    assert torch.equal(cond, torch.cat([cond_l, cond_g], dim=-1)) and torch.equal(pooled, pooled_g)
    assert cond.shape[-1] == model.unet.config.context_dim
    long_l, _ = clip.encode_pair("a cat", " ".join(["word"] * 100))  # CLIP-L needs two windows, bigG one
    assert long_l.shape[1] == 154


def sdxl_pair(unet_config=TINY_SDXL_UNET) -> tuple[UNetModel, torch.nn.Module]:
    """Our SDXL-style UNet and diffusers' (``text_time`` class embedding) with the same random weights."""
    ours = random_module(UNetModel, unet_config, 0)
    config = diffusers_config(unet_config)
    config.pop("class_embed_type")
    config["projection_class_embeddings_input_dim"] = unet_config.adm_in_channels
    config.update(addition_embed_type="text_time", addition_time_embed_dim=256,
                  transformer_layers_per_block=list(unet_config.transformer_depth))
    theirs = diffusers.UNet2DConditionModel(**config).eval()
    ldm = {"model.diffusion_model." + k: v for k, v in ours.state_dict().items()}
    theirs.load_state_dict(convert_ldm_unet_checkpoint(ldm, config), strict=True)
    return ours, theirs


def test_sdxl_unet_with_size_conditioning_matches_diffusers(tmp_path: Path) -> None:
    ours, theirs = sdxl_pair()
    from engine.sd.components import unet_from_state_dict

    model = unet_from_state_dict(ours.state_dict(), families.SDXL)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 8, 12, generator=gen)
    context = torch.randn(2, 7, TINY_SDXL_UNET.context_dim, generator=gen)
    pooled = torch.randn(1, 32, generator=gen)
    options = {"pooled_output": pooled, "width": 1024, "height": 768, "crop_w": 16, "crop_h": 8,
               "target_width": 1152, "target_height": 896}
    y, concat = model.extra_inputs(options, torch.zeros_like(x), None, negative=False)
    assert concat is None and y.shape == (1, TINY_SDXL_UNET.adm_in_channels)
    t = torch.tensor([999.0, 250.0])
    with torch.no_grad():
        expected = theirs(x, t, encoder_hidden_states=context, added_cond_kwargs={
            "text_embeds": pooled.expand(2, -1),
            "time_ids": torch.tensor([[768.0, 1024.0, 8.0, 16.0, 896.0, 1152.0]]).expand(2, -1)}).sample
        got = ours(x, t, context, y=y.expand(2, -1))
    assert_close(got, expected)
    # Without explicit sizes the latent's own pixel size is used (x is 8x12 latent pixels: 64x96 px).
    y_default, _ = model.extra_inputs({"pooled_output": pooled}, torch.zeros_like(x), None, negative=False)
    y_sized, _ = model.extra_inputs({"pooled_output": pooled, "width": 96, "height": 64}, torch.zeros_like(x), None,
                                    negative=False)
    assert torch.equal(y_default, y_sized) and not torch.equal(y_default, y)


@pytest.mark.parametrize(("writer", "family", "latent_format", "clip_type"), [
    (write_tiny_sd2_checkpoint, "sd2", SD15, "ClipTextModel"),
    (write_tiny_sdxl_checkpoint, "sdxl", SDXL, "DualClip"),
    (write_tiny_sdxl_refiner_checkpoint, "sdxl_refiner", SDXL, "ClipTextModel"),
    (write_tiny_sd15_inpaint_checkpoint, "sd1", SD15, "ClipTextModel"),
])
def test_each_family_loads_samples_and_saves_back(tmp_path: Path, writer, family, latent_format, clip_type) -> None:
    path = writer(tmp_path / "model.safetensors", dtype=torch.float16)
    sd = load_state_dict(path)
    assert checkpoint_family(sd, path).name == family
    model, clip, vae = read_checkpoint(path)
    assert model.family is families.family_named(family)
    assert (model.latent_format, type(clip).__name__) == (latent_format, clip_type)
    cond, pooled = clip.encode_text("a red fox")
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    y, concat = model.extra_inputs({"pooled_output": pooled}, latent, None, negative=True)
    out = model.apply(latent, torch.tensor([1.5]), cond, y=y, concat=concat)
    assert out.shape == latent.shape and torch.isfinite(out).all()
    saved = checkpoint_state_dict(model, clip, vae)
    unused = ("betas", "alphas_cumprod", "position_ids", "logit_scale")  # schedule buffers, CLIP's image-side scale
    written = {k: v for k, v in sd.items() if not k.endswith(unused)}
    assert set(saved) == set(written)
    # The file's weights in the file's dtypes; on a bf16 CPU they were held as bf16, so within bf16's rounding.
    assert all(saved[k].dtype == written[k].dtype for k in written)
    assert all(torch.allclose(saved[k].float(), written[k].float(), rtol=2**-8, atol=0) for k in written)


def test_inpainting_model_sees_mask_and_masked_image(tmp_path: Path) -> None:
    model, clip, _ = read_checkpoint(write_tiny_sd15_inpaint_checkpoint(tmp_path / "inpaint.safetensors"))
    assert model.is_inpainting
    latent = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    _, blank = model.extra_inputs({}, latent, None, negative=False)
    assert blank.shape == (2, 5, 8, 8) and torch.equal(blank[:, 0], torch.ones(2, 8, 8))
    assert torch.allclose(blank[0, 1:, 0, 0], torch.tensor([0.8223, -0.6876, 0.6364, 0.1380]))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1.0
    image = torch.randn(1, 4, 8, 8)
    _, given = model.extra_inputs({"concat_mask": mask, "concat_latent_image": image}, latent, None, negative=False)
    assert torch.equal(given[:, 0], torch.nn.functional.interpolate(mask[None], size=(8, 8), mode="bilinear")[0]
                       .round().expand(2, -1, -1))
    assert torch.allclose(given[:, 1:], SD15.process_in(image).expand(2, -1, -1, -1))
    _, from_sampler = model.extra_inputs({}, latent, mask, negative=False)
    assert torch.equal(from_sampler[:, 1:], latent)
    cond = clip.encode_text("a cat")[0].expand(2, -1, -1)
    sigma = torch.tensor([2.0])
    assert not torch.allclose(model.apply(latent, sigma, cond, concat=blank), model.apply(latent, sigma, cond,
                                                                                          concat=given))


def test_sampling_type_is_read_as_comfyui_reads_it() -> None:
    from engine.sd.components import CheckpointError, sampling_type

    key = "output_blocks.11.1.transformer_blocks.0.norm1.bias"
    gen = torch.Generator().manual_seed(0)
    four, nine = torch.zeros(320, 4, 3, 3), torch.zeros(320, 9, 3, 3)
    spread, narrow = 0.2 * torch.randn(640, generator=gen), 0.02 * torch.randn(640, generator=gen)
    assert sampling_type({key: spread, "input_blocks.0.0.weight": four}, families.SD2) == ("v_prediction", False)
    assert sampling_type({key: narrow, "input_blocks.0.0.weight": four}, families.SD2) == ("eps", False)
    inpainting = {key: spread, "input_blocks.0.0.weight": nine}  # SD 2.0 inpainting is eps
    assert sampling_type(inpainting, families.SD2) == ("eps", False)
    assert sampling_type({}, families.SDXL, ["v_pred", "ztsnr"]) == ("v_prediction", True)
    assert sampling_type({}, families.SDXL) == ("eps", False)
    assert sampling_type({}, families.SD1, ["v_pred"]) == ("eps", False)
    with pytest.raises(CheckpointError, match="EDM"):
        sampling_type({}, families.SDXL, ["edm_mean", "edm_std"])


def test_marker_keys_in_a_checkpoint_set_its_schedule(tmp_path: Path) -> None:
    from engine.sd.components import CheckpointError

    sd = load_state_dict(write_tiny_sdxl_checkpoint(tmp_path / "base.safetensors"))
    path = tmp_path / "vpred.safetensors"
    save_file({**sd, "v_pred": torch.tensor([]), "ztsnr": torch.tensor([])}, str(path))
    model, _, _ = read_checkpoint(path)
    assert model.model_sampling.prediction == "v_prediction"
    assert float(model.model_sampling.sigma_max) > 4000  # zero terminal SNR: the last step is almost pure noise
    save_file({**sd, "edm_mean": torch.zeros(1, 4, 1, 1), "edm_std": torch.ones(1, 4, 1, 1)},
              str(tmp_path / "edm.safetensors"))
    with pytest.raises(CheckpointError, match=r"edm\.safetensors: EDM-schedule models"):
        read_checkpoint(tmp_path / "edm.safetensors")


def test_sdxl_controlnet_guides_sampling_and_strength_zero_is_none(tmp_path: Path) -> None:
    from engine.controlnet import ControlNet, ControlNetHint
    from engine.sampling.ksampler import sample

    model, clip, _ = read_checkpoint(write_tiny_sdxl_checkpoint(tmp_path / "xl.safetensors"))
    net = random_module(lambda config: ControlNet(config, 3, (8, 8, 16, 16, 16, 16, 32)), TINY_SDXL_UNET, 4)
    cond, pooled = clip.encode_text("a house")
    empty, empty_pooled = clip.encode_text("")
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))

    def run(strength: float | None) -> torch.Tensor:
        options = {"pooled_output": pooled}
        if strength is not None:
            options["control"] = ControlNetHint(net, image, strength)
        return sample(model, noise, [[cond, options]], [[empty, {"pooled_output": empty_pooled}]], 5.0, "euler",
                      "normal", 3, torch.zeros(1, 4, 8, 8))

    plain = run(None)
    scale = plain.abs().max()
    assert (run(0.0) - plain).abs().max() / scale < 1e-5  # separate batches with a ControlNet: float rounding only
    assert (run(1.0) - plain).abs().max() / scale > 1e-3


def test_unet_only_files_are_told_apart_by_their_published_sizes() -> None:
    from dataclasses import replace

    from engine.sd.unet_config import UNetConfig

    sdxl = UNetConfig(channel_mult=(1, 2, 4), transformer_depth=(0, 2, 10), transformer_depth_middle=10,
                      context_dim=2048, num_head_channels=64, use_linear_in_transformer=True, adm_in_channels=2816)
    refiner = replace(sdxl, model_channels=384, channel_mult=(1, 2, 4, 4), transformer_depth=(0, 4, 4, 0),
                      transformer_depth_middle=4, context_dim=1280, adm_in_channels=2560)
    sd2 = UNetConfig(context_dim=1024, num_head_channels=64, use_linear_in_transformer=True)
    found = [families.family_of_unet(c).name for c in (UNetConfig(), sd2, sdxl, refiner)]
    assert found == ["sd1", "sd2", "sdxl", "sdxl_refiner"]
    assert families.family_of_unet(TINY_SDXL_UNET) is families.SDXL


def openclip_meta(width: int, layers: int) -> dict[str, torch.Tensor]:
    """An OpenCLIP text tower's tensor names and shapes (as in SD2 / SDXL files), on the meta device."""
    shapes = {"token_embedding.weight": (49408, width), "positional_embedding": (77, width),
              "ln_final.weight": (width,), "ln_final.bias": (width,), "text_projection": (width, width),
              "logit_scale": ()}
    for i in range(layers):
        p = f"transformer.resblocks.{i}."
        shapes.update({p + "ln_1.weight": (width,), p + "ln_1.bias": (width,), p + "ln_2.weight": (width,),
                       p + "ln_2.bias": (width,), p + "attn.in_proj_weight": (3 * width, width),
                       p + "attn.in_proj_bias": (3 * width,), p + "attn.out_proj.weight": (width, width),
                       p + "attn.out_proj.bias": (width,), p + "mlp.c_fc.weight": (4 * width, width),
                       p + "mlp.c_fc.bias": (4 * width,), p + "mlp.c_proj.weight": (width, 4 * width),
                       p + "mlp.c_proj.bias": (width,)})
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize(("width", "layers", "heads", "parameters"), [
    (1024, 24, 16, 354_032_640),  # OpenCLIP ViT-H/14's text tower (SD2.x)
    (1280, 32, 20, 694_659_840),  # OpenCLIP ViT-bigG/14's (SDXL's text_encoder_2)
])
def test_real_openclip_towers_are_read_with_their_published_sizes(width, layers, heads, parameters) -> None:
    from engine.sd.clip import clip_config

    hf = openclip_to_hf(openclip_meta(width, layers))
    config = clip_config(hf, "gelu")
    assert (config.num_hidden_layers, config.num_attention_heads, config.projection_dim) == (layers, heads, width)
    with torch.device("meta"):
        model = CLIPTextModelWithProjection(config)
    own = {("text_model." + k if not k.startswith(("text_model.", "text_projection.")) else k): tuple(v.shape)
           for k, v in model.state_dict().items() if not k.endswith("position_ids")}
    assert own == {k: tuple(v.shape) for k, v in hf.items()}
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_real_sd2_unet_is_detected_with_its_published_size() -> None:
    from engine.sd.unet_config import UNetConfig

    config = UNetConfig(context_dim=1024, num_head_channels=64, use_linear_in_transformer=True)
    with torch.device("meta"):
        unet = UNetModel(config)
    assert sum(p.numel() for p in unet.parameters()) == 865_910_724  # SD 2.x's UNet
    detected = detect_unet_config(unet.state_dict())
    assert detected == config and families.family_of_unet(detected) is families.SD2


def test_an_embedding_that_fits_one_sdxl_encoder_is_left_out_of_the_other(tmp_path: Path, caplog) -> None:
    from engine.sd.embeddings import EmbeddingMismatch

    _, clip, _ = read_checkpoint(write_tiny_sdxl_checkpoint(tmp_path / "xl.safetensors"))
    clip_l, clip_g = clip.encoders["clip_l"], clip.encoders["clip_g"]
    vectors = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    calls = []

    def only_the_second(name: str, width: int) -> torch.Tensor:  # both tiny encoders are 32 wide: go by call order
        calls.append(name)
        if len(calls) == 1:
            raise EmbeddingMismatch(f"embedding {name} is 768 wide")
        return vectors

    cond, _ = clip.encode_text("a photo, embedding:style", only_the_second)
    assert "fits only one" in caplog.text
    expected_l, _ = clip_l.encode_text("a photo, ")
    expected_g, _ = clip_g.encode_text("a photo, embedding:style", lambda name, width: vectors)
    assert torch.allclose(cond[..., :32], expected_l, atol=1e-6) and torch.allclose(cond[..., 32:], expected_g,
                                                                                    atol=1e-6)

    def fits_neither(name: str, width: int) -> torch.Tensor:
        raise EmbeddingMismatch(f"embedding {name} is 1024 wide")

    with pytest.raises(EmbeddingMismatch, match="1024 wide"):
        clip.encode_text("embedding:style", fits_neither)
