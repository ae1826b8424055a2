"""Prompt datasets: the captions or prompts a dataset run generates from, read into ``PromptItem``s.

Where the files go: ``models/datasets/`` (the ``datasets`` model folder; ``extra_model_paths.yaml`` may add folders
under the key ``datasets``), in subfolders if you like; Atelier's shipped examples (``examples/datasets/``) are listed
after them. ``list_datasets`` lists every file with an ending of ``EXTENSIONS`` and every CUB text folder.

Formats (``detect_format`` picks one from the path: a folder is CUB, otherwise the file's ending decides):

- ``coco`` (``.json``): COCO captions, ``captions_train2014.json``, ``captions_val2014.json``,
  ``captions_val2017.json``: ``{"images": [{"id", "file_name"}], "annotations": [{"image_id", "id", "caption"}]}``.
  metadata: image_id, caption_id, and file_name when ``images`` lists it.
- ``cub`` (a folder): the ``text_c10`` layout of StackGAN/AttnGAN, ``<folder>/<class>/<image>.txt`` with one caption
  a line (ten per image). metadata: class (the class folder), image (the file's stem), line (0-based line number).
- ``partiprompts`` (``.tsv``): ``PartiPrompts.tsv``, tab-separated with the header ``Prompt Category Challenge
  Note``, read with the csv module (quoted fields may hold tabs or newlines); a file that is not valid quoted TSV,
  as the official one, is split at tabs alone, so its quotes stay in the prompts. metadata: category, challenge.
- ``csv`` (``.csv``; a ``.tsv`` read as csv is split at tabs): a header row; the prompt is the column named prompt,
  caption or text (any case, in that preference), else the first column. metadata: the other columns.
- ``jsonl`` (``.jsonl``): one JSON object a line with a prompt, caption or text key (any case), or one JSON string a
  line. metadata: the object's other keys.
- ``txt`` (``.txt``): one prompt a line; empty lines and lines starting with ``#`` are skipped. metadata: line
  (1-based line number).

Texts are stripped of surrounding whitespace and items whose text is empty are skipped, in every format.

COCO and CUB have several captions per image. With ``one_per_image`` each image gives one item (COCO-30k style):
images in image id order (COCO) or class folder then file name order (CUB), the caption picked by
``random.Random(f"{seed}:{image}").choice``, so an image's caption depends only on the seed and the image, never on
which other images the file holds. Otherwise every caption is an item, in the same image order (an image's COCO
captions by caption id, its CUB captions by line).

A run then takes ``select_items(items, start, count, shuffle_seed)``: the items in file order, or with a shuffle
seed in the order ``random.Random(shuffle_seed).shuffle`` leaves them (Python's Mersenne Twister: the same order on
every machine), then the slice ``[start : start + count]`` (count 0: to the end). An item's global index is its
position in that selected list, and a shard of size ``s`` is the index range ``shard_range`` gives (shard ``k``:
``k*s .. k*s+s-1``), so how a run is sharded never changes which prompt an index has.

Files must be UTF-8 and at most ``MAX_FILE_BYTES``; a file that is not what its format expects is a ValueError
naming the file and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

MAX_FILE_BYTES = 256 << 20  # COCO's largest captions file (captions_train2017.json) is about 90 MiB
FORMATS = ("auto", "coco", "cub", "partiprompts", "csv", "jsonl", "txt")
CAPTION_MODES = ("one per image", "all")
EXTENSIONS = {".json": "coco", ".tsv": "partiprompts", ".csv": "csv", ".jsonl": "jsonl", ".txt": "txt"}
TEXT_KEYS = ("prompt", "caption", "text")  # the column or key holding the prompt, most preferred first


@dataclass(frozen=True)
class PromptItem:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def read_prompts(path: Path, format: str = "auto", one_per_image: bool = True, seed: int = 0) -> list[PromptItem]:
    """The items of a dataset file or CUB folder in file order; ``one_per_image`` and ``seed`` matter only for the
    formats with several captions per image (COCO, CUB)."""
    chosen = detect_format(path) if format == "auto" else format
    if chosen == "coco":
        return read_coco(path, one_per_image, seed)
    if chosen == "cub":
        return read_cub(path, one_per_image, seed)
    readers = {"partiprompts": read_partiprompts, "csv": read_csv, "jsonl": read_jsonl, "txt": read_txt}
    if chosen not in readers:
        raise ValueError(f"unknown prompt dataset format {format!r}; expected one of {', '.join(FORMATS)}")
    return readers[chosen](path)


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "cub"
    chosen = EXTENSIONS.get(path.suffix.lower())
    if chosen is None:
        endings = ", ".join(f"{ending} ({name})" for ending, name in EXTENSIONS.items())
        raise ValueError(f"{path}: no prompt dataset format reads {path.suffix or 'files without an ending'}; "
                         f"expected a CUB caption folder or a file ending in {endings}")
    return chosen


def read_coco(path: Path, one_per_image: bool = True, seed: int = 0) -> list[PromptItem]:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise ValueError(f'{path}: expected COCO captions, a JSON object with an "annotations" list of '
                         '{"image_id", "id", "caption"} (as captions_val2014.json)')
    images = data.get("images") if isinstance(data.get("images"), list) else []
    file_names = {image["id"]: image["file_name"] for image in images
                  if isinstance(image, dict) and "id" in image and "file_name" in image}
    captions: dict[Any, list[tuple[Any, str]]] = {}  # image id -> (caption id, caption)
    for number, annotation in enumerate(data["annotations"]):
        image_id, caption_id, text = _coco_caption(annotation, number, path)
        captions.setdefault(image_id, []).append((caption_id, text))
    items = []
    for image_id in sorted(captions, key=_id_order):
        found = [(caption_id, text.strip()) for caption_id, text in sorted(captions[image_id], key=_first_id_order)
                 if text.strip()]
        if one_per_image and found:
            found = [random.Random(f"{seed}:{image_id}").choice(found)]
        extra = {"file_name": file_names[image_id]} if image_id in file_names else {}
        items.extend(PromptItem(text, {"image_id": image_id, "caption_id": caption_id, **extra})
                     for caption_id, text in found)
    return items


def _coco_caption(annotation: Any, number: int, path: Path) -> tuple[Any, Any, str]:
    """(image id, caption id, caption) of annotation ``number``; a caption without an id gets its position."""
    if isinstance(annotation, dict):
        image_id, caption_id, text = annotation.get("image_id"), annotation.get("id", number), annotation.get("caption")
        if isinstance(image_id, (int, str)) and isinstance(caption_id, (int, str)) and isinstance(text, str):
            return image_id, caption_id, text
    raise ValueError(f'{path}: annotation {number} is not a COCO caption {{"image_id", "id", "caption"}}')


def read_cub(folder: Path, one_per_image: bool = True, seed: int = 0) -> list[PromptItem]:
    if not folder.is_dir():
        raise ValueError(f"{folder}: expected a CUB caption folder, <folder>/<class>/<image>.txt")
    classes = sorted((entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith(".")),
                     key=lambda entry: entry.name)
    files = [(group.name, file) for group in classes
             for file in sorted(group.glob("*.txt"), key=lambda file: file.name) if file.is_file()]
    if not files:
        raise ValueError(f"{folder}: expected a CUB caption folder (the text_c10 layout): class folders of "
                         "<image>.txt files, one caption a line; its subfolders hold no .txt file")
    items = []
    for group, file in files:
        found = [(number, line.strip()) for number, line in enumerate(_read_text(file).splitlines()) if line.strip()]
        if one_per_image and found:
            found = [random.Random(f"{seed}:{group}/{file.stem}").choice(found)]
        items.extend(PromptItem(text, {"class": group, "image": file.stem, "line": number}) for number, text in found)
    return items


def read_partiprompts(path: Path) -> list[PromptItem]:
    rows = _read_rows(path, "\t")
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if "prompt" not in header:
        raise ValueError(f"{path}: expected PartiPrompts' tab-separated header Prompt, Category, Challenge, Note")
    wanted = [header.index(name) for name in ("category", "challenge") if name in header]
    return _table_items(rows[1:], header, header.index("prompt"), wanted)


def read_csv(path: Path) -> list[PromptItem]:
    rows = _read_rows(path, "\t" if path.suffix.lower() == ".tsv" else ",")
    if not rows:
        raise ValueError(f"{path}: expected a CSV file with a header row and a prompt, caption or text column; "
                         "it is empty")
    header = [name.strip() for name in rows[0]]
    key = _text_key(header)
    column = header.index(key) if key is not None else 0
    return _table_items(rows[1:], header, column, [index for index in range(len(header)) if index != column])


def read_jsonl(path: Path) -> list[PromptItem]:
    items = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error.msg})") from None
        text, metadata = _jsonl_item(value, f"{path}, line {number}")
        if text.strip():
            items.append(PromptItem(text.strip(), metadata))
    return items


def read_txt(path: Path) -> list[PromptItem]:
    lines = enumerate(_read_text(path).splitlines(), 1)
    return [PromptItem(line.strip(), {"line": number}) for number, line in lines
            if line.strip() and not line.strip().startswith("#")]


def select_items(items: Sequence[T], start: int, count: int, shuffle_seed: int | None) -> list[T]:
    """``items[start : start + count]`` (count 0: to the end) in file order, or in the order
    ``random.Random(shuffle_seed).shuffle`` gives them when a shuffle seed is given."""
    if start < 0 or count < 0:
        raise ValueError(f"start and count must be 0 or more (got start {start}, count {count})")
    order = list(items)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    return order[start:start + count] if count else order[start:]


def shard_items(n_items: int, shard_size: int) -> int:
    """How many shards ``n_items`` make in shards of ``shard_size`` (0: no sharding, one shard); at least one."""
    if shard_size <= 0:
        return 1
    return max(1, -(-n_items // shard_size))


def shard_range(n_items: int, shard_size: int, shard: int) -> range:
    """The global item indices of shard ``shard`` (0-based): ``shard*size .. shard*size + size - 1``, the last
    shard shorter."""
    shards = shard_items(n_items, shard_size)
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} does not exist: {n_items} items in shards of {shard_size} make {shards} "
                         f"shard{'s' if shards != 1 else ''}, numbered from 0")
    if shard_size <= 0:
        return range(n_items)
    return range(shard * shard_size, min(n_items, (shard + 1) * shard_size))


def list_datasets(root: Path) -> list[str]:
    """The datasets below ``root``, as paths relative to it with ``/``: files with a dataset ending, and CUB caption
    folders (ending in ``/``; their own .txt files are not listed one by one). Hidden names are skipped."""
    if not root.is_dir():
        return []
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        files = [name for name in files if not name.startswith(".")]
        relative = Path(folder).relative_to(root).as_posix()
        if relative != "." and _looks_like_cub(Path(folder), dirs, files):
            found.append(relative + "/")
            dirs[:] = []
            continue
        prefix = "" if relative == "." else relative + "/"
        found.extend(prefix + name for name in files if os.path.splitext(name)[1].lower() in EXTENSIONS)
    return sorted(found)


def is_cub_folder(folder: Path) -> bool:
    """Whether ``folder`` looks like a CUB caption folder: subfolders, no dataset file of its own, and .txt files in
    its first subfolder."""
    if not folder.is_dir():
        return False
    entries = [entry for entry in os.scandir(folder) if not entry.name.startswith(".")]
    dirs = sorted(entry.name for entry in entries if entry.is_dir())
    return _looks_like_cub(folder, dirs, [entry.name for entry in entries if entry.is_file()])


def _looks_like_cub(folder: Path, dirs: list[str], files: list[str]) -> bool:
    if not dirs or any(os.path.splitext(name)[1].lower() in EXTENSIONS for name in files):
        return False
    with os.scandir(folder / dirs[0]) as inner:
        return any(entry.name.endswith(".txt") and entry.is_file() for entry in inner)


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {size / 2**20:.0f} MiB, more than the {MAX_FILE_BYTES >> 20} MiB a prompt "
                         "dataset file may have")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte {error.start} cannot be decoded); save it as UTF-8") from None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})") from None


def _read_rows(path: Path, delimiter: str) -> list[list[str]]:
    """The non-empty rows of a delimited file, quoted fields as the csv module reads them (strictly: a quote that
    closes a field early is an error, not dropped). A TSV file that is not valid quoted TSV is split at tabs alone:
    the official PartiPrompts.tsv quotes nothing, and one of its prompts starts with a quoted word
    ('"G I G G L E" painted ...')."""
    text = _read_text(path)
    quotings = [csv.QUOTE_MINIMAL, csv.QUOTE_NONE] if delimiter == "\t" else [csv.QUOTE_MINIMAL]
    for quoting in quotings:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
        try:
            return [row for row in reader if row]
        except csv.Error as error:
            problem = f"line {reader.line_num}: {error}"
    raise ValueError(f"{path}: not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file ({problem})")


def _table_items(rows: list[list[str]], header: list[str], column: int, metadata: list[int]) -> list[PromptItem]:
    items = []
    for row in rows:
        text = row[column].strip() if column < len(row) else ""
        if text:
            items.append(PromptItem(text, {header[index]: row[index] for index in metadata if index < len(row)}))
    return items


def _text_key(names: Sequence[str]) -> str | None:
    """The name among ``names`` that holds the prompt: prompt, caption or text in any case, in that preference."""
    lowered = {name.lower(): name for name in reversed(names)}  # the first of equal names wins
    return next((lowered[key] for key in TEXT_KEYS if key in lowered), None)


def _jsonl_item(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(value, str):
        return value, {}
    key = _text_key(list(value)) if isinstance(value, dict) else None
    if key is None or not isinstance(value[key], str):
        raise ValueError(f"{where}: expected a JSON string or an object with a prompt, caption or text string")
    return value[key], {name: entry for name, entry in value.items() if name != key}


def _id_order(value: Any) -> tuple[bool, Any]:
    """Numbers before strings, each in their own order (COCO's ids are numbers; other files may use strings)."""
    return isinstance(value, str), value


def _first_id_order(pair: tuple[Any, str]) -> tuple[bool, Any]:
    return _id_order(pair[0])
