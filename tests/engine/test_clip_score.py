"""CLIP score against torchmetrics' implementation, on the same tiny random CLIP model and images.

torchmetrics prepares images with transformers' CLIPImageProcessor (PIL bicubic resize, centre crop,
normalisation) and takes text through a processor; transformers' CLIPTokenizer needs vocabulary files this
machine does not have, so the reference gets token ids from our tokenizer (itself checked against
transformers' and OpenAI's tokenizers in test_tokenizer.py).
"""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

from engine.metrics.clip_score import load_clip_scorer
from engine.sd.tokenizer import BOS, EOS, encode_text

clip_score_module = pytest.importorskip("torchmetrics.functional.multimodal.clip_score")
SIZE = 32
TOL = 1e-3  # relative, on scores around tens


def tiny_clip() -> CLIPModel:
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, bos_token_id=BOS, eos_token_id=EOS),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2,
                           image_size=SIZE, patch_size=8),
        projection_dim=16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CLIPModel(config).eval()


class ReferenceModel(torch.nn.Module):
    """transformers 5 returns model outputs from get_*_features; torchmetrics 1.9 expects the projected tensor."""

    def __init__(self, model: CLIPModel) -> None:
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, pixel_values):
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    def get_text_features(self, input_ids, attention_mask):
        return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output


class ReferenceProcessor:
    def __init__(self) -> None:
        self.images = CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})

    def __call__(self, images=None, text=None, **_):
        if images is not None:
            return self.images(images=[image.numpy() for image in images], return_tensors="pt",
                               input_data_format="channels_first")
        rows = [[BOS, *encode_text(t), EOS] for t in text]
        width = max(map(len, rows))
        return {"input_ids": torch.tensor([row + [EOS] * (width - len(row)) for row in rows]),
                "attention_mask": torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "clip-tiny"
    tiny_clip().save_pretrained(path)
    return path


def test_scores_match_torchmetrics(folder):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 48, 40, 3), generator=generator, dtype=torch.uint8)  # resized and cropped
    prompts = ["a red bird on a branch", "a photo of a cat", "the digit seven", "an astronaut riding a horse"]
    ours = load_clip_scorer(folder).scores(images.float() / 255, prompts)
    reference, count = clip_score_module._clip_score_update(
        list(images.permute(0, 3, 1, 2)), prompts, ReferenceModel(tiny_clip()), ReferenceProcessor())
    assert count == 4
    expected = reference.detach().clamp(min=0)
    assert (expected > 0).any() and not torch.allclose(expected, expected.mean().expand(4))
    assert torch.allclose(ours, expected, rtol=TOL, atol=TOL * float(expected.abs().max())), (ours, expected)


def test_one_prompt_for_every_image_and_a_clear_error_for_a_mismatch(folder):
    scorer = load_clip_scorer(folder)
    images = torch.rand(3, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(1))
    one = scorer.scores(images, ["a photo of a cat"])
    assert torch.allclose(one, scorer.scores(images, ["a photo of a cat"] * 3))
    with pytest.raises(ValueError, match="2 prompts for 3 images"):
        scorer.scores(images, ["a", "b"])


def test_a_folder_without_weights_says_what_it_needs(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json and model.safetensors"):
        load_clip_scorer(tmp_path)
