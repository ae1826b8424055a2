"""Tokenizer ids against OpenAI's reference tokenizer (clip-anytorch) and transformers' CLIPTokenizer built
offline from the same vocabulary file; ComfyUI's weighting and 77-token windows."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from engine.sd.prompt_weights import parse_prompt
from engine.sd.tokenizer import BOS, EOS, ClipTokenizer, encode_text

PROMPTS = [
    "a photo of a cat",
    "masterpiece, best quality, 1girl, (detailed eyes:1.3), [soft lighting], \\(escaped\\)",
    "A Painting of a Lighthouse at Dusk!!! — oil on canvas; 35mm, f/1.8",
    "café crème brûlée, naïve façade, Ærøskøbing",
    "東京の夜景、ネオン 🌃🚀 and emoji 😀",
    "   lots   of\twhitespace \n and newlines  ",
    " ".join(f"word{i}" for i in range(120)),
]


def simple_tokenizer_module():
    """OpenAI's simple_tokenizer.py from clip-anytorch, loaded alone (the package's __init__ needs more)."""
    spec = importlib.util.find_spec("clip")
    if spec is None or spec.origin is None:
        pytest.skip("clip-anytorch (the reference tokenizer) is not installed")
    path = Path(spec.origin).with_name("simple_tokenizer.py")
    module_spec = importlib.util.spec_from_file_location("reference_simple_tokenizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def clip_reference():
    return simple_tokenizer_module().SimpleTokenizer()


@pytest.mark.parametrize("text", PROMPTS)
def test_ids_match_openais_reference_tokenizer(text):
    assert encode_text(text) == clip_reference().encode(text)


def hf_tokenizer(tmp_path: Path):
    """transformers' CLIPTokenizer from OpenAI's bpe_simple_vocab_16e6 file, shipped in clip-anytorch."""
    transformers = pytest.importorskip("transformers")
    simple_tokenizer = simple_tokenizer_module()
    bpe = Path(simple_tokenizer.__file__).with_name("bpe_simple_vocab_16e6.txt.gz")
    with gzip.open(bpe) as handle:
        merges = handle.read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    alphabet = list(simple_tokenizer.bytes_to_unicode().values())
    vocab = alphabet + [v + "</w>" for v in alphabet] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (tmp_path / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return transformers.CLIPTokenizer(vocab=str(tmp_path / "vocab.json"), merges=str(tmp_path / "merges.txt"))


def test_ids_match_transformers_clip_tokenizer(tmp_path):
    tokenizer = hf_tokenizer(tmp_path)
    for text in PROMPTS[:4] + PROMPTS[-1:]:  # ASCII and Latin text: both normalise these identically
        assert [BOS, *encode_text(text), EOS] == tokenizer(text)["input_ids"], text


def test_weight_parsing_follows_comfyui():
    assert parse_prompt("a (b) c") == [("a ", 1.0), ("b", 1.1), (" c", 1.0)]
    assert parse_prompt("(b:1.5)") == [("b", 1.5)]
    weights = dict(parse_prompt("((b))"))
    assert abs(weights["b"] - 1.21) < 1e-9
    assert parse_prompt("((b:0.5))") == [("b", 0.5)]  # an explicit weight replaces, it does not multiply
    assert parse_prompt("[b]") == [("[b]", 1.0)]  # square brackets are text in ComfyUI
    assert parse_prompt("\\(literal\\) (x:2)") == [("(literal) ", 1.0), ("x", 2.0)]
    assert parse_prompt("(a:notanumber)") == [("a:notanumber", 1.1)]
    assert parse_prompt("a) (b)") == [("a) (b)", 1.0)]  # unbalanced: split exactly as ComfyUI does


def test_windows_of_77_with_bos_eos_and_weights():
    windows = ClipTokenizer().tokenize("a (red:1.4) car")
    assert len(windows) == 1 and len(windows[0]) == 77
    assert windows[0][0] == (BOS, 1.0) and windows[0][4] == (EOS, 1.0) and windows[0][-1] == (EOS, 1.0)
    assert [w for _, w in windows[0][1:4]] == [1.0, 1.4, 1.0]
    assert ClipTokenizer(pad_token=0).tokenize("x")[0][-1] == (0, 1.0)


def test_long_prompts_split_into_windows_keeping_short_segments_whole():
    text = " ".join(["word"] * 74) + ", (a blue sky:1.2)"
    windows = ClipTokenizer().tokenize(text)
    assert len(windows) == 2
    first_ids = [t for t, _ in windows[0]]
    blue = encode_text("a blue sky")
    assert blue[0] not in first_ids  # the short weighted segment moved whole to the next window
    assert [w for t, w in windows[1] if t in blue] == [1.2] * len(blue)
    long_segment = ClipTokenizer().tokenize("(" + " ".join(["cat"] * 100) + ":0.9)")
    assert len(long_segment) == 2 and sum(t == encode_text("cat")[0] for t, _ in long_segment[0]) == 75
