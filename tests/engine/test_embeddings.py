"""Textual-inversion embeddings: ``embedding:NAME`` in a prompt puts the file's vectors where the name was.

An embedding made of the token vectors of known words must encode exactly as those words do; each file format
is read without unpickling code; a missing or mismatched file is a clear error.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from engine.sd.clip import load_clip_from_state_dict
from engine.sd.embeddings import load_embedding
from engine.sd.tokenizer import encode_text
from tests.engine.test_clip import checkpoint_keys, reference


@pytest.fixture(scope="module")
def clip():
    return load_clip_from_state_dict(checkpoint_keys(reference()))


def word_vectors(clip, words: str) -> torch.Tensor:
    table = clip.model.get_input_embeddings().weight.detach()
    return table[encode_text(words)].clone()


def lookup(table: dict[str, torch.Tensor]):
    def vectors(name: str, width: int) -> torch.Tensor:
        if name not in table:
            raise FileNotFoundError(name)
        return table[name]
    return vectors


def test_an_embedding_encodes_as_the_words_it_holds(clip):
    table = {"redcat": word_vectors(clip, "red cat"), "sky": word_vectors(clip, "blue sky")}
    for text, words in [("a photo of embedding:redcat", "a photo of red cat"),
                        ("embedding:redcat, under a embedding:sky.", "red cat, under a blue sky."),
                        ("a (embedding:redcat:1.3) on grass", "a (red cat:1.3) on grass")]:
        cond, pooled = clip.encode_text(text, lookup(table))
        expected_cond, expected_pooled = clip.encode_text(words)
        assert torch.allclose(cond, expected_cond, atol=1e-5), text
        assert torch.allclose(pooled, expected_pooled, atol=1e-5), text
    plain, _ = clip.encode_text("a photo of a dog", lookup(table))
    assert not torch.allclose(plain, clip.encode_text("a photo of embedding:redcat", lookup(table))[0])


def test_without_a_lookup_the_text_is_plain_words(clip):
    cond, _ = clip.encode_text("embedding:redcat")
    assert torch.equal(cond, clip.encode_text("embedding:redcat", None)[0])


def test_a_missing_embedding_is_an_error(clip):
    with pytest.raises(FileNotFoundError, match="nothere"):
        clip.encode_text("a photo of embedding:nothere", lookup({}))


@pytest.mark.parametrize("name,content", [
    ("a1111.pt", lambda v: {"string_to_token": {"*": 265}, "string_to_param": {"*": torch.nn.Parameter(v)},
                            "name": "a1111", "step": 3000}),
    ("a1111.safetensors", lambda v: {"emb_params": v}),
    ("diffusers.bin", lambda v: {"<concept>": v[0]}),
    ("sdxl.safetensors", lambda v: {"clip_g": torch.zeros(len(v), 1280), "clip_l": v}),
])
def test_file_formats(tmp_path, name, content):
    vectors = torch.randn(2, 32)
    data = content(vectors)
    path = tmp_path / name
    if name.endswith(".safetensors"):
        save_file(data, str(path))
    else:
        torch.save(data, path)
    loaded = load_embedding(path, 32)
    expected = vectors[:1] if name == "diffusers.bin" else vectors
    assert torch.equal(loaded, expected)


def test_an_embedding_for_another_model_family_is_refused(tmp_path):
    save_file({"emb_params": torch.randn(4, 1024)}, str(tmp_path / "sd2.safetensors"))
    with pytest.raises(ValueError, match="1024 wide but this text encoder is 32 wide"):
        load_embedding(tmp_path / "sd2.safetensors", 32)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"string_to_param": {"*": Exploit()}}, tmp_path / "evil.pt")
    with pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        load_embedding(tmp_path / "evil.pt", 32)
