"""Prompt dataset readers (COCO, CUB, PartiPrompts, CSV, JSONL, TXT), selection, shards and clear errors, on tiny
files written by each test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.folders import KIND_EXTENSIONS
from engine.datasets import prompts
from engine.datasets.prompts import (
    EXTENSIONS,
    detect_format,
    is_cub_folder,
    list_datasets,
    read_prompts,
    select_items,
    shard_items,
    shard_range,
)

COCO = {
    "images": [{"id": 2, "file_name": "COCO_val2014_000000000002.jpg"},
               {"id": 1, "file_name": "COCO_val2014_000000000001.jpg"}],
    "annotations": [{"image_id": 2, "id": 21, "caption": "a dog on a sofa"},
                    {"image_id": 1, "id": 12, "caption": " a red bus parked \n"},
                    {"image_id": 3, "id": 30, "caption": "a lone caption"},
                    {"image_id": 1, "id": 10, "caption": "a bus on a street"},
                    {"image_id": 2, "id": 20, "caption": "a puppy asleep"},
                    {"image_id": 1, "id": 11, "caption": "a double decker bus"}],
}


def write_coco(path: Path, data: dict = COCO) -> Path:
    path.write_text(json.dumps(data))
    return path


def write_cub(root: Path) -> Path:
    folder = root / "text_c10"
    for group, image, lines in [("002.Laysan_Albatross", "Laysan_0001", ["a white bird", "a bird with a hook"]),
                                ("001.Black_footed_Albatross", "Black_0002", ["a dark bird", "", "a bird gliding"]),
                                ("001.Black_footed_Albatross", "Black_0001", ["a brown bird", "a large seabird"])]:
        (folder / group).mkdir(parents=True, exist_ok=True)
        (folder / group / f"{image}.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_coco_every_caption_in_image_then_caption_id_order(tmp_path):
    items = read_prompts(write_coco(tmp_path / "captions_val2014.json"), one_per_image=False)
    assert [item.metadata["caption_id"] for item in items] == [10, 11, 12, 20, 21, 30]
    assert items[2].text == "a red bus parked"  # stripped
    assert items[0].metadata == {"image_id": 1, "caption_id": 10, "file_name": "COCO_val2014_000000000001.jpg"}
    assert items[5].metadata == {"image_id": 3, "caption_id": 30}  # not in "images": no file name


def test_coco_one_caption_per_image_is_a_seeded_pick(tmp_path):
    path = write_coco(tmp_path / "captions_val2017.json")
    picked = read_prompts(path, "coco", one_per_image=True, seed=5)
    assert [item.metadata["image_id"] for item in picked] == [1, 2, 3]
    assert read_prompts(path, "coco", one_per_image=True, seed=5) == picked
    bus = {"a bus on a street", "a double decker bus", "a red bus parked"}
    picks = {read_prompts(path, one_per_image=True, seed=seed)[0].text for seed in range(30)}
    assert picks == bus  # the seed decides, and every caption can be picked
    # an image's pick does not depend on the other images in the file
    alone = {"annotations": [a for a in COCO["annotations"] if a["image_id"] == 1]}
    assert read_prompts(write_coco(tmp_path / "alone.json", alone), seed=5)[0].text == picked[0].text


def test_cub_folder_in_class_then_file_order(tmp_path):
    folder = write_cub(tmp_path)
    assert detect_format(folder) == "cub" and is_cub_folder(folder) and not is_cub_folder(tmp_path)
    items = read_prompts(folder, one_per_image=False)
    assert [(i.metadata["image"], i.metadata["line"]) for i in items] == [
        ("Black_0001", 0), ("Black_0001", 1), ("Black_0002", 0), ("Black_0002", 2), ("Laysan_0001", 0),
        ("Laysan_0001", 1)]
    assert items[3] == prompts.PromptItem("a bird gliding", {"class": "001.Black_footed_Albatross",
                                                             "image": "Black_0002", "line": 2})
    one = read_prompts(folder, one_per_image=True, seed=3)
    assert [i.metadata["image"] for i in one] == ["Black_0001", "Black_0002", "Laysan_0001"]
    assert one == read_prompts(folder, one_per_image=True, seed=3)
    assert {read_prompts(folder, seed=seed)[1].text for seed in range(30)} == {"a dark bird", "a bird gliding"}


def test_partiprompts_tsv_with_quoted_fields(tmp_path):
    path = tmp_path / "PartiPrompts.tsv"
    path.write_text('Prompt\tCategory\tChallenge\tNote\n'
                    'bond\tAbstract\tBasic\t\n'
                    '"A sign that says ""Hello"", in red"\tWorld Knowledge\tWriting & Symbols\tquoted\n'
                    '\tArts\tBasic\tan empty prompt is skipped\n'
                    '"a tab\tinside quotes"\tPeople\tComplex\t\n')
    items = read_prompts(path)
    assert [item.text for item in items] == ["bond", 'A sign that says "Hello", in red', "a tab\tinside quotes"]
    assert items[1].metadata == {"category": "World Knowledge", "challenge": "Writing & Symbols"}


def test_the_official_unquoted_partiprompts_keeps_a_prompt_that_starts_with_a_quote(tmp_path):
    # google-research/parti's PartiPrompts.tsv quotes no field; this prompt (a text-rendering one) starts with a quote
    path = tmp_path / "PartiPrompts.tsv"
    prompts = ['"G I G G L E" painted in thick colorful lettering as graffiti.',
               'A robot painted as graffiti. The words "Fly an airplane" are written on the wall.']
    path.write_text(f"Prompt\tCategory\tChallenge\tNote\n{prompts[0]}\tIllustrations\tWriting & Symbols\t\n"
                    f"{prompts[1]}\tArts\tComplex\t\n")
    assert [item.text for item in read_prompts(path)] == prompts


def test_a_csv_quote_that_closes_a_field_early_is_refused_not_dropped(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('prompt\nfine\n"Hello" world, in red\n')
    with pytest.raises(ValueError, match=r"bad.csv: not a readable CSV file \(line 3: "):
        read_prompts(path)


def test_csv_prompt_column_by_name_or_the_first(tmp_path):
    named = tmp_path / "named.csv"
    named.write_text('id,Caption,style\n7,"a cat, sleeping",photo\n8,,empty\n9,a fox,painting\n')
    items = read_prompts(named)
    assert items == [prompts.PromptItem("a cat, sleeping", {"id": "7", "style": "photo"}),
                     prompts.PromptItem("a fox", {"id": "9", "style": "painting"})]
    first = tmp_path / "first.csv"
    first.write_text("description,score\na lake at dawn,3\n")
    assert read_prompts(first) == [prompts.PromptItem("a lake at dawn", {"score": "3"})]


def test_jsonl_objects_and_strings(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"Prompt": "a castle", "id": 4, "tags": ["old"]}\n\n"a bare string"\n{"text": " "}\n')
    assert read_prompts(path) == [prompts.PromptItem("a castle", {"id": 4, "tags": ["old"]}),
                                  prompts.PromptItem("a bare string", {})]


def test_txt_lines_without_comments(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# a comment\na cat\n\n   \na dog  \n  # indented comment\n")
    assert read_prompts(path) == [prompts.PromptItem("a cat", {"line": 2}), prompts.PromptItem("a dog", {"line": 5})]


def test_select_slices_and_shuffles_deterministically():
    items = list(range(20))
    assert select_items(items, 3, 4, None) == [3, 4, 5, 6]
    assert select_items(items, 15, 0, None) == [15, 16, 17, 18, 19]
    assert select_items(items, 25, 5, None) == []
    shuffled = select_items(items, 0, 0, 7)
    assert shuffled == select_items(items, 0, 0, 7) and sorted(shuffled) == items and shuffled != items
    assert select_items(items, 0, 0, 8) != shuffled
    assert select_items(items, 5, 10, 7) == shuffled[5:15]  # the slice is taken after the shuffle
    with pytest.raises(ValueError, match="start and count"):
        select_items(items, -1, 0, None)


def test_shards_cover_the_items_once():
    assert (shard_items(10, 4), shard_items(8, 4), shard_items(0, 4), shard_items(10, 0)) == (3, 2, 1, 1)
    assert [list(shard_range(10, 4, k)) for k in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(shard_range(10, 0, 0)) == list(range(10))
    with pytest.raises(ValueError, match="shard 3 does not exist: 10 items in shards of 4 make 3 shards"):
        shard_range(10, 4, 3)


def test_listing_shows_files_and_cub_folders_not_their_captions(tmp_path):
    write_cub(tmp_path / "birds")
    (tmp_path / "coco").mkdir()
    write_coco(tmp_path / "coco" / "captions_val2014.json")
    (tmp_path / "list.txt").write_text("a\n")
    (tmp_path / "weights.safetensors").write_bytes(b"")
    (tmp_path / ".hidden.txt").write_text("a\n")
    assert list_datasets(tmp_path) == ["birds/text_c10/", "coco/captions_val2014.json", "list.txt"]
    assert set(KIND_EXTENSIONS["datasets"]) == set(EXTENSIONS)  # models/datasets lists what the readers read


def test_errors_name_the_file_and_what_was_expected(tmp_path, monkeypatch):
    cases = {
        "latin1.txt": ("caf\xe9\n".encode("latin-1"), "latin1.txt: not UTF-8 text"),
        "broken.json": (b'{"annotations": [', "broken.json: not valid JSON"),
        "list.json": (b'["a", "b"]', 'list.json: expected COCO captions, a JSON object with an "annotations"'),
        "caption.json": (b'{"annotations": [{"image_id": 1}]}', "caption.json: annotation 0 is not a COCO caption"),
        "parti.tsv": (b"Text\tCategory\nx\ty\n", "parti.tsv: expected PartiPrompts' tab-separated header"),
        "bad.jsonl": (b'{"prompt": "ok"}\n{"name": "no prompt"}\n', "bad.jsonl, line 2: expected a JSON string"),
        "worse.jsonl": (b'"ok"\n{oops\n', "worse.jsonl, line 2: not JSON"),
        "prompts.xml": (b"<a/>", r"prompts.xml: no prompt dataset format reads .xml"),
        "empty.csv": (b"", "empty.csv: expected a CSV file with a header row"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("[", r"\[")):
            read_prompts(tmp_path / name)
    (tmp_path / "no_captions" / "class").mkdir(parents=True)
    with pytest.raises(ValueError, match="no_captions: expected a CUB caption folder"):
        read_prompts(tmp_path / "no_captions")
    with pytest.raises(ValueError, match="unknown prompt dataset format 'yaml'"):
        read_prompts(tmp_path / "empty.csv", "yaml")
    monkeypatch.setattr(prompts, "MAX_FILE_BYTES", 4)
    (tmp_path / "big.txt").write_text("a long prompt\n")
    with pytest.raises(ValueError, match="big.txt: .* MiB, more than the .* MiB a prompt dataset file may have"):
        read_prompts(tmp_path / "big.txt")
