"""Our CLIP text model against transformers' CLIPTextModel with the same random weights."""

from __future__ import annotations

import torch
from transformers import CLIPTextConfig, CLIPTextModel

from engine.sd.clip import load_clip_from_state_dict
from engine.sd.tokenizer import ClipTokenizer

CONFIG = CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=3,
                        num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                        bos_token_id=49406, eos_token_id=49407)
TOL = 1e-5


def reference() -> CLIPTextModel:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CLIPTextModel(CONFIG).eval()


def ids(text: str) -> torch.Tensor:
    return torch.tensor([[token for token, _ in window] for window in ClipTokenizer().tokenize(text)])


def checkpoint_keys(model: CLIPTextModel) -> dict[str, torch.Tensor]:
    """The weights as SD checkpoints name them (``text_model.*``, with ``position_ids``)."""
    sd = {("text_model." + k if not k.startswith("text_model.") else k): v for k, v in model.state_dict().items()}
    sd["text_model.embeddings.position_ids"] = torch.arange(77)[None].float()
    return sd


def test_unweighted_prompt_and_pooled_output_match():
    ref = reference()
    clip = load_clip_from_state_dict(checkpoint_keys(ref))
    cond, pooled = clip.encode_text("a photo of an astronaut riding a horse")
    with torch.no_grad():
        out = ref(input_ids=ids("a photo of an astronaut riding a horse"))
    assert cond.shape == (1, 77, 32)
    assert (cond - out.last_hidden_state).abs().max() < TOL
    assert (pooled - out.pooler_output).abs().max() < TOL


def test_clip_skip_is_the_penultimate_layer_through_the_final_norm():
    ref = reference()
    clip = load_clip_from_state_dict(checkpoint_keys(ref)).clone()
    clip.set_last_layer(-2)
    cond, _ = clip.encode_text("a red car")
    with torch.no_grad():
        out = ref(input_ids=ids("a red car"), output_hidden_states=True)
        expected = getattr(ref, "text_model", ref).final_layer_norm(out.hidden_states[-2])
    assert (cond - expected).abs().max() < TOL
    base, _ = load_clip_from_state_dict(checkpoint_keys(ref)).encode_text("a red car")
    assert (base - cond).abs().max() > 1e-3


def test_weights_move_tokens_away_from_the_empty_prompt():
    ref = reference()
    clip = load_clip_from_state_dict(checkpoint_keys(ref))
    cond, _ = clip.encode_text("a (red:1.5) car")
    with torch.no_grad():
        plain = ref(input_ids=ids("a red car")).last_hidden_state
        empty = ref(input_ids=ids("")).last_hidden_state
    expected = plain.clone()
    expected[:, 2] = (plain[:, 2] - empty[:, 2]) * 1.5 + empty[:, 2]
    assert (cond - expected).abs().max() < TOL


def test_long_prompts_concatenate_windows():
    clip = load_clip_from_state_dict(checkpoint_keys(reference()))
    cond, _ = clip.encode_text(" ".join(["tree"] * 100))
    assert cond.shape == (1, 154, 32)


def test_patches_live_on_clones_only():
    ref = reference()
    clip = load_clip_from_state_dict(checkpoint_keys(ref))
    before, _ = clip.encode_text("a cat")
    patched = clip.clone()
    key = "text_model.encoder.layers.0.self_attn.q_proj.weight"
    assert key in patched.weight_keys()
    patched.add_patch(key, lambda w: w * 3.0)
    after, _ = patched.encode_text("a cat")
    again, _ = clip.encode_text("a cat")
    assert (after - before).abs().max() > 1e-4
    assert torch.equal(again, before)


def test_a_half_precision_file_computes_in_another_dtype_with_every_buffer():
    """fp16 weights run on the CPU through a converted compute copy; it must carry ``position_ids`` too."""
    ref = reference()
    clip = load_clip_from_state_dict({k: v.half() for k, v in checkpoint_keys(ref).items()})
    compute = clip._compute_model()
    assert compute is not clip.model and not any(b.is_meta for b in compute.buffers())
    cond, _ = clip.encode_text("a photo of an astronaut riding a horse")
    with torch.no_grad():
        out = ref(input_ids=ids("a photo of an astronaut riding a horse")).last_hidden_state
    # fp16 storage, then bf16 (or fp32) compute: agreement to the precision of the weights, not exact.
    assert torch.isfinite(cond).all()
    assert (cond - out).abs().max() < 0.1 * out.abs().max()


def test_a_layer_deeper_than_the_encoder_is_its_last_layer():
    ref = reference()
    clip = load_clip_from_state_dict(checkpoint_keys(ref)).clone()
    last, _ = clip.encode_text("a red car")
    clip.set_last_layer(-CONFIG.num_hidden_layers - 1)  # e.g. -13 on SDXL's 12-layer CLIP-L
    assert torch.equal(clip.encode_text("a red car")[0], last)
    clip.set_last_layer(-24)
    assert torch.equal(clip.encode_text("a red car")[0], last)
