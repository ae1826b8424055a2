"""ComfyUI's ``folder_paths`` as a view of the bound runtime's folders: reads and writes reach ``core.folders``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compat.host import install_path
from core.folders import Folders, PathEscapeError

install_path()

import folder_paths  # noqa: E402  (ComfyUI's module name, importable once compat/comfyui is on sys.path)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_globals_are_the_runtime_folders(comfy_runtime):
    folders = comfy_runtime.folders
    assert folder_paths.models_dir == str(folders.models_dir)
    assert folder_paths.base_path == str(folders.models_dir.parent)
    assert folder_paths.input_directory == folder_paths.get_input_directory() == str(folders.input_dir)
    assert folder_paths.output_directory == folder_paths.get_output_directory() == str(folders.output_dir)
    assert folder_paths.temp_directory == folder_paths.get_temp_directory() == str(folders.temp_dir)
    assert folder_paths.get_user_directory() == str(folders.user_dir)
    assert folder_paths.get_directory_by_type("output") == str(folders.output_dir)
    assert folder_paths.get_directory_by_type("models") is None
    assert ".safetensors" in folder_paths.supported_pt_extensions
    with pytest.raises(AttributeError):
        folder_paths.no_such_name  # noqa: B018


def test_listing_and_full_paths_match_atelier(comfy_runtime):
    folders = comfy_runtime.folders
    touch(folders.models_dir / "checkpoints" / "sub" / "b.safetensors")
    touch(folders.models_dir / "checkpoints" / "a.ckpt")
    touch(folders.models_dir / "checkpoints" / "notes.txt")
    touch(folders.models_dir / "unet" / "u.safetensors")
    assert folder_paths.get_filename_list("checkpoints") == ["a.ckpt", "sub/b.safetensors"]
    assert folder_paths.get_filename_list("checkpoints") == folders.list_models("checkpoints")
    assert folder_paths.get_filename_list("unet") == ["u.safetensors"]  # legacy name
    names, times, _ = folder_paths.get_filename_list_("checkpoints")
    assert names == ["a.ckpt", "sub/b.safetensors"] and str(folders.models_dir / "checkpoints") in times
    assert folder_paths.get_full_path("checkpoints", "sub/b.safetensors") == \
        str(folders.model_path("checkpoints", "sub/b.safetensors"))
    assert folder_paths.get_full_path("checkpoints", "missing.ckpt") is None
    assert folder_paths.get_full_path("no_such_kind", "a.ckpt") is None
    assert folder_paths.get_full_path("checkpoints", "../../input/x.png") is None  # never leaves its folder
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        folder_paths.get_full_path_or_raise("checkpoints", "missing.ckpt")
    assert folder_paths.get_folder_paths("clip") == [str(folders.models_dir / "text_encoders"),
                                                     str(folders.models_dir / "clip")]
    with pytest.raises(KeyError):
        folder_paths.get_folder_paths("no_such_kind")


def test_a_new_kind_registered_through_the_mapping(comfy_runtime):
    folders = comfy_runtime.folders
    own = folders.models_dir / "my_kind"
    touch(own / "x.mine")
    touch(own / "ignored.safetensors")
    folder_paths.folder_names_and_paths["my_kind"] = ([str(own)], {".mine"})
    assert "my_kind" in folder_paths.folder_names_and_paths
    assert folder_paths.get_filename_list("my_kind") == ["x.mine"]
    assert folders.list_models("my_kind") == ["x.mine"]  # Atelier's own folders see it
    paths, extensions = folder_paths.folder_names_and_paths["my_kind"]
    assert paths == [str(own)] and extensions == {".mine"}

    extra = touch(folders.models_dir / "elsewhere" / "y.mine").parent
    paths.append(str(extra))  # the list is live, as ComfyUI's is
    assert folder_paths.get_filename_list("my_kind") == ["x.mine", "y.mine"]
    assert folder_paths.get_full_path("my_kind", "y.mine") == str((extra / "y.mine").resolve())

    # Redefining a kind with a wider set of extensions, as packs do with "current | {...}".
    current_paths, current_extensions = folder_paths.folder_names_and_paths["my_kind"]
    folder_paths.folder_names_and_paths["my_kind"] = (current_paths, current_extensions | {".safetensors"})
    assert folder_paths.get_filename_list("my_kind") == ["ignored.safetensors", "x.mine", "y.mine"]
    del folder_paths.folder_names_and_paths["my_kind"]
    assert "my_kind" not in folder_paths.folder_names_and_paths


def test_add_model_folder_path(comfy_runtime):
    folders = comfy_runtime.folders
    first = touch(folders.models_dir / "first" / "f.safetensors").parent
    last = touch(folders.models_dir / "last" / "l.safetensors").parent
    folder_paths.add_model_folder_path("checkpoints", str(last))
    folder_paths.add_model_folder_path("checkpoints", str(first), is_default=True)
    assert folders.model_dirs("checkpoints") == [first, folders.models_dir / "checkpoints", last]
    assert folder_paths.get_filename_list("checkpoints") == ["f.safetensors", "l.safetensors"]
    folder_paths.add_model_folder_path("checkpoints", str(last), is_default=True)  # moves it to the front
    assert folders.model_dirs("checkpoints")[0] == last

    folder_paths.add_model_folder_path("brand_new", str(first))  # an unknown kind lists every file
    touch(first / "notes.txt")
    assert folder_paths.get_filename_list("brand_new") == ["f.safetensors", "notes.txt"]


def test_comfy_kinds_atelier_does_not_use_and_custom_nodes(comfy_runtime, tmp_path):
    for kind in ("configs", "hypernetworks", "style_models", "gligen", "upscale_models", "custom_nodes"):
        assert kind in folder_paths.folder_names_and_paths, kind
    assert folder_paths.get_filename_list("hypernetworks") == []
    assert folder_paths.folder_names_and_paths["configs"][1] == {".yaml"}
    assert folder_paths.get_folder_paths("custom_nodes") == [str(p) for p in comfy_runtime.settings.custom_node_dirs]


def test_kinds_filter_by_the_last_suffix_as_comfyui(comfy_runtime):
    """ComfyUI keeps a file when its last suffix is one of the kind's: ``""`` means no suffix (classifiers), and
    diffusers' ``"folder"`` matches no file."""
    models = comfy_runtime.folders.models_dir
    for name in ("classifiers/plain", "classifiers/model.pt", "diffusers/unet/config.json", "diffusers/a_folder",
                 "configs/v1.yaml", "configs/v1.yaml.bak", "checkpoints/x.SAFETENSORS",
                 "checkpoints/x.safetensors.txt"):
        touch(models / name)
    assert folder_paths.get_filename_list("classifiers") == ["plain"]
    assert folder_paths.get_filename_list("diffusers") == []
    assert folder_paths.get_filename_list("configs") == ["v1.yaml"]
    assert folder_paths.get_filename_list("checkpoints") == ["x.SAFETENSORS"]


def test_annotated_paths_stay_in_their_folder(comfy_runtime):
    folders = comfy_runtime.folders
    touch(folders.output_dir / "x.png")
    assert folder_paths.annotated_filepath("x.png [output]") == ("x.png", str(folders.output_dir))
    assert folder_paths.annotated_filepath("x.png") == ("x.png", None)
    assert folder_paths.get_annotated_filepath("x.png [output]") == str((folders.output_dir / "x.png").resolve())
    assert folder_paths.get_annotated_filepath("sub/y.png") == str((folders.input_dir / "sub" / "y.png").resolve())
    assert folder_paths.get_annotated_filepath("y.png", str(folders.temp_dir)) == \
        str((folders.temp_dir / "y.png").resolve())
    assert folder_paths.exists_annotated_filepath("x.png [output]")
    assert not folder_paths.exists_annotated_filepath("x.png")
    assert not folder_paths.exists_annotated_filepath("../output/x.png")
    with pytest.raises(PathEscapeError):
        folder_paths.get_annotated_filepath("../../etc/passwd [input]")


def test_save_image_path_counts_as_comfyui(comfy_runtime):
    out = str(comfy_runtime.folders.output_dir)
    folder, name, counter, subfolder, prefix = folder_paths.get_save_image_path("shots/run", out, 64, 32)
    assert (folder, name, counter, subfolder, prefix) == (os.path.join(out, "shots"), "run", 1, "shots", "shots/run")
    assert os.path.isdir(folder)  # created when missing
    for existing in ("run_00001_.png", "run_00007_.png", "run_00009.png", "run_x_.png", "runner_00050_.png",
                     "other_00099_.png"):
        touch(Path(folder) / existing)
    # ComfyUI reads the number up to the next "_": "run_00009.png" counts as 0 and "run_x_" too.
    assert folder_paths.get_save_image_path("shots/run", out)[2] == 8
    assert folder_paths.get_save_image_path("%width%x%height%", out, 64, 32)[1:] == ("64x32", 1, "", "64x32")
    with pytest.raises(PathEscapeError):
        folder_paths.get_save_image_path("../escape/run", out)


def test_filters_and_search(tmp_path):
    touch(tmp_path / "a.PNG")
    touch(tmp_path / ".git" / "ignored.png")
    touch(tmp_path / "sub" / "b.safetensors")
    files, dirs = folder_paths.recursive_search(str(tmp_path), excluded_dir_names=[".git"])
    assert sorted(files) == ["a.PNG", os.path.join("sub", "b.safetensors")]
    assert str(tmp_path / "sub") in dirs and str(tmp_path / ".git") not in dirs
    assert folder_paths.filter_files_extensions(files, {".png"}) == ["a.PNG"]
    assert folder_paths.filter_files_extensions(files, []) == sorted(files)
    assert folder_paths.filter_files_content_types(["a.png", "b.webp", "c.mp4", "d.txt"], ["image"]) == \
        ["a.png", "b.webp"]
    assert folder_paths.map_legacy("unet") == "diffusion_models"


def test_core_folders_kinds_keep_their_behaviour(tmp_path):
    """The per-instance kinds leave Atelier's built-in ones alone until one is edited; yaml files may name a
    plug-in's kind, as in ComfyUI."""
    folders = Folders.under(tmp_path)
    assert folders.model_kinds == {}
    assert folders.model_extensions("checkpoints") == folders.model_extensions("loras")
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text("mine:\n  base_path: shared\n  ipadapter: models/ipadapter\n  checkpoints: ckpts\n")
    folders.load_extra_model_paths(config)
    assert folders.model_dirs("ipadapter") == [tmp_path / "shared" / "models" / "ipadapter"]
    assert folders.model_dirs("checkpoints")[-1] == tmp_path / "shared" / "ckpts"
    assert "checkpoints" not in folders.model_kinds
    other = Folders.under(tmp_path / "other")
    assert "ipadapter" not in other.model_kind_names()  # kinds belong to one Folders
