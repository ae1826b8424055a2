"""Model folders, extra_model_paths.yaml and path confinement."""

from __future__ import annotations

import pytest

from core.folders import Folders, PathEscapeError, safe_join


def test_safe_join_refuses_escapes(tmp_path):
    assert safe_join(tmp_path, "a", "b.png") == (tmp_path / "a" / "b.png").resolve()
    for parts in [("..", "x"), ("/etc/passwd",), ("a/../../x",), ("\\windows",)]:
        with pytest.raises(PathEscapeError):
            safe_join(tmp_path, *parts)


def test_symlink_out_of_the_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "base"
    base.mkdir()
    (base / "link").symlink_to(outside)
    with pytest.raises(PathEscapeError):
        safe_join(base, "link", "file")


def test_model_listing_and_extra_paths(tmp_path):
    folders = Folders.under(tmp_path)
    folders.create()
    (folders.models_dir / "checkpoints" / "sub").mkdir()
    (folders.models_dir / "checkpoints" / "sub" / "b.safetensors").write_bytes(b"")
    (folders.models_dir / "checkpoints" / "a.ckpt").write_bytes(b"")
    (folders.models_dir / "checkpoints" / "notes.txt").write_text("not a model")
    other = tmp_path / "webui" / "models" / "Stable-diffusion"
    other.mkdir(parents=True)
    (other / "c.safetensors").write_bytes(b"")
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text("a1111:\n  base_path: webui\n  checkpoints: models/Stable-diffusion\n  unknown_key: x\n")
    folders.load_extra_model_paths(config)
    assert folders.list_models("checkpoints") == ["a.ckpt", "c.safetensors", "sub/b.safetensors"]
    assert folders.model_path("checkpoints", "c.safetensors") == (other / "c.safetensors").resolve()
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        folders.model_path("checkpoints", "missing.safetensors")
    with pytest.raises(PathEscapeError):
        folders.model_path("checkpoints", "../../etc/passwd")
    assert folders.list_models("unet") == []  # legacy name maps to diffusion_models
