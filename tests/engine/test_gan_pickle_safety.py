"""Hand-made malicious pickles against every GAN reader of pickled files: NVlabs network pickles
(convert_pickle), Lightning checkpoints (lightning_ckpt), StackGAN's embeddings pickle and AttnGAN/DF-GAN's
captions.pickle. Each must be refused, or read into inert stand-ins, without running anything and without
changing any function or class that later loads use."""

import collections
import zipfile
from pathlib import Path

import pytest
import torch

from engine.gan.convert_dfgan import read_vocabulary
from engine.gan.convert_pickle import ALLOWED, read_network_pickle
from engine.gan.convert_stackgan import read_embeddings
from engine.gan.lightning_ckpt import StandIn, read_checkpoint

# Pickle opcodes, written by hand so a file can name any global (pickle.dumps would refuse most of these).
EMPTY_DICT, SETITEM, TUPLE1, TUPLE2, REDUCE, BUILD, POP, STOP, NONE, BINPERSID = (
    b"}", b"s", b"\x85", b"\x86", b"R", b"b", b"0", b".", b"N", b"Q")


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def string(text: str) -> bytes:
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def call(module: str, name: str, argument: str) -> bytes:
    return global_op(module, name) + string(argument) + TUPLE1 + REDUCE


def top_dict(value: bytes) -> bytes:
    """{"state_dict": {}, "x": value}: the shape both readers expect."""
    return EMPTY_DICT + string("state_dict") + EMPTY_DICT + SETITEM + string("x") + value + SETITEM + STOP


def as_checkpoint(data_pkl: bytes, path: Path) -> Path:
    """A torch.save zip file whose data.pkl is replaced by the given pickle."""
    torch.save({"state_dict": {"w": torch.ones(1)}}, path)
    with zipfile.ZipFile(path) as source:
        records = {info.filename: source.read(info) for info in source.infolist()}
    with zipfile.ZipFile(path, "w") as target:
        for name, data in records.items():
            target.writestr(name, data_pkl if name.endswith("/data.pkl") else data)
    return path


def read_both(payload: bytes, tmp_path: Path) -> dict[str, object]:
    """What each reader does with the payload: its result, or the exception it raised."""
    (tmp_path / "network.pkl").write_bytes(payload)
    outcomes: dict[str, object] = {}
    for reader, read, path in (("nvlabs", read_network_pickle, tmp_path / "network.pkl"),
                               ("ckpt", read_checkpoint, as_checkpoint(payload, tmp_path / "last.ckpt"))):
        try:
            outcomes[reader] = read(path)
        except Exception as error:  # noqa: BLE001 - which exception each reader raises is not the point
            outcomes[reader] = error
    return outcomes


CODE_RUNNERS = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                ("subprocess", "getoutput"), ("builtins", "getattr"), ("copy_reg", "_reconstructor"),
                ("torch", "load"), ("numpy", "load"), ("torch._utils", "_rebuild_from_type_v2"),
                ("builtins", "__import__"), ("pickle", "loads")]


@pytest.mark.parametrize("module, name", CODE_RUNNERS)
def test_globals_that_run_code_are_refused_by_name(module, name, tmp_path):
    marker = tmp_path / "ran"
    outcomes = read_both(top_dict(call(module, name, f"touch {marker}")), tmp_path)
    for reader, outcome in outcomes.items():
        assert isinstance(outcome, Exception) and name in str(outcome), (reader, outcome)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("argparse", "_os.system"), ("argparse", "_sys.modules"),
                                          ("typing", "_eval_type"), ("typing", "sys.modules"),
                                          ("omegaconf", "OmegaConf.create"), ("omegaconf._utils", "os.system"),
                                          ("pytorch_lightning.utilities", "os.system")])
def test_bookkeeping_modules_give_inert_stand_ins(module, name, tmp_path):
    """Lightning checkpoints may name these modules' classes: each name becomes a StandIn that records its
    arguments, even where the real attribute would be os.system; NVlabs pickles refuse them."""
    marker = tmp_path / "ran"
    outcomes = read_both(top_dict(call(module, name, f"touch {marker}")), tmp_path)
    assert isinstance(outcomes["nvlabs"], Exception) and name in str(outcomes["nvlabs"])
    stand_in = outcomes["ckpt"]["x"]
    assert isinstance(stand_in, StandIn) and stand_in.args == (f"touch {marker}",)
    assert not marker.exists()


def attributes(value: object) -> dict[str, object]:
    return {key: getattr(value, key, None) for key in ("__defaults__", "__kwdefaults__", "__getattr__", "probe")}


@pytest.mark.parametrize("key", sorted(ALLOWED) + [("collections", "defaultdict")], ids=".".join)
def test_build_cannot_change_an_allowed_global(key, tmp_path):
    """BUILD sets attributes on the object under it: on an allowed function or class itself it would change
    every later load in the process (e.g. _rebuild_tensor_v2's metadata default)."""
    value = ALLOWED.get(key, collections.defaultdict)
    before = attributes(value)
    slots = (EMPTY_DICT + string("__getattr__") + global_op("builtins", "set") + SETITEM
             + string("probe") + global_op("builtins", "set") + SETITEM
             + string("__defaults__") + NONE + TUPLE1 + SETITEM)
    read_both(top_dict(global_op(*key) + NONE + slots + TUPLE2 + BUILD), tmp_path)
    assert attributes(value) == before


def test_nested_persistent_ids_are_refused(tmp_path):
    """A checkpoint's storage reference naming os.system as its storage type."""
    marker = tmp_path / "ran"
    reference = (b"(" + string("storage") + call("os", "system", f"touch {marker}") + string("0") + string("cpu")
                 + b"K\x01t" + BINPERSID)
    with pytest.raises(Exception, match="system"):
        read_checkpoint(as_checkpoint(top_dict(reference), tmp_path / "last.ckpt"))
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [("os", "system"), ("numpy", "load"), ("numpy.lib.npyio", "load"),
                                          ("_codecs", "decode"), ("builtins", "getattr")])
def test_embeddings_and_captions_pickles_refuse_code(module, name, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "evil.pickle").write_bytes(top_dict(call(module, name, f"touch {marker}")))
    for read in (read_embeddings, read_vocabulary):
        with pytest.raises(Exception, match=name):
            read(tmp_path / "evil.pickle")
    assert not marker.exists()
